"""Which engine each language gets (and why), ``config check``, ``prompts render``,
``speech cleanup``, the new settings' validation, and the simulator's ``record``."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.config import Config, check_config
from voiceai_ivr.speech.plan import Visibility, choose_recognizer, choose_synthesizer

from .servers import SpeechStandIn

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
SEEN = Visibility(True, "FreeSWITCH reads it (file_exists)")
UNSEEN = Visibility(False, "FreeSWITCH cannot see it")


def cfg(**speech: Any) -> Config:
    c = Config()
    for k, v in speech.items():
        setattr(c.speech, k, v)
    return c


@needs_espeak
def test_auto_on_a_fresh_install_speaks_portuguese_with_espeak_never_flite() -> None:
    fresh = cfg()
    pt = choose_synthesizer(fresh, "pt-BR", SEEN, {"flite"})
    assert (pt.engine, pt.voice, pt.problem) == ("espeak-ng", "pt-br", "")
    # an admin's flite voice for Portuguese is English: auto does not take it
    flite = choose_synthesizer(cfg(tts_voice={"pt-BR": "kal"}), "pt-BR", SEEN, {"flite"})
    assert flite.engine == "espeak-ng"
    # an admin's Portuguese FreeSWITCH voice is their choice
    mine = choose_synthesizer(cfg(tts_engine="tts_commandline", tts_voice={"pt-BR": "pt-br"}), "pt-BR", SEEN,
                              {"flite", "tts_commandline"})
    assert (mine.engine, mine.voice) == ("freeswitch", "tts_commandline/pt-br")
    assert choose_synthesizer(cfg(tts_url="http://127.0.0.1:9/v1", tts_model="tts-1"), "pt-BR", SEEN,
                              None).engine == "http"


def test_nothing_portuguese_available_is_a_problem_that_says_what_to_install(tmp_path: Path) -> None:
    none = cfg(espeak_command=str(tmp_path / "missing"))
    pt = choose_synthesizer(none, "pt-BR", SEEN, {"flite"})
    assert pt.engine == "freeswitch" and "apt-get install espeak-ng" in pt.problem
    en = choose_synthesizer(none, "en-US", SEEN, {"flite"})
    assert en.engine == "freeswitch" and en.problem == ""  # English voice for English text


@needs_espeak
def test_espeak_needs_freeswitch_to_see_the_audio_directory() -> None:
    pt = choose_synthesizer(cfg(), "pt-BR", UNSEEN, {"flite"})
    assert pt.engine == "freeswitch" and "cannot see" in pt.problem
    explicit = choose_synthesizer(cfg(synthesizer="espeak-ng"), "pt-BR", UNSEEN, None)
    assert explicit.engine == "espeak-ng" and "cannot see" in explicit.problem


def test_recognizer_auto() -> None:
    url = cfg(asr_url="http://127.0.0.1:9/v1", asr_model="whisper-1")
    assert choose_recognizer(url, SEEN, True).engine == "freeswitch"  # the PBX has the ASR module
    assert choose_recognizer(url, SEEN, False).engine == "http"
    assert choose_recognizer(url, UNSEEN, False).engine == "freeswitch"
    assert "asr_url" in choose_recognizer(cfg(), SEEN, False).reason
    forced = choose_recognizer(cfg(recognizer="http", asr_url="http://x/v1", asr_model="m"), UNSEEN, False)
    assert forced.engine == "http" and "records the answers" in forced.problem


@pytest.mark.parametrize(("speech", "problem"), [
    ({"synthesizer": "festival"}, "speech.synthesizer: must be auto, espeak-ng, http or freeswitch"),
    ({"recognizer": "http"}, "speech.recognizer: http needs speech.asr_url and speech.asr_model"),
    ({"audio_dir": "/var/lib/voice ai"}, "speech.audio_dir: must be a path without spaces"),
    ({"tts_url": "ftp://x"}, "speech.tts_url: must start with http:// or https://"),
    ({"record_silence_seconds": 0}, "speech.record_silence_seconds: must be 1-10"),
    ({"espeak_voice": {"pt-PT": "pt"}}, "speech.espeak_voice.pt-PT: unknown language"),
    ({"keep_recordings_hours": -1}, "speech.keep_recordings_hours: must be 0 or more"),
])
def test_bad_speech_settings_are_named(tmp_path: Path, speech: dict[str, Any], problem: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"speech": speech}))
    _cfg, problems = check_config(path, env={})
    assert any(p.startswith(problem) for p in problems), problems


def test_api_keys_come_from_the_environment_and_are_never_shown(tmp_path: Path) -> None:
    env = {"VOICEAI_TTS_API_KEY": "sk-tts-SECRET-1234", "VOICEAI_ASR_API_KEY": "sk-asr-SECRET-5678"}
    loaded, problems = check_config(None, env=env)
    assert problems == [] and loaded.speech.tts_api_key == env["VOICEAI_TTS_API_KEY"]
    shown = json.dumps(loaded.redacted())
    assert "SECRET" not in shown and "SECRET" not in repr(loaded)


def _env(config: Config) -> dict[str, str]:
    return {"VOICEAI_DATABASE_DSN": config.database.dsn, "VOICEAI_DATA_DIR": config.database.data_dir,
            "VOICEAI_CONFIG": "", "VOICEAI_ESL_PORT": "1"}  # no PBX there: the check says it assumed


@needs_espeak
def test_config_check_says_which_engine_each_language_uses_and_why(config: Config) -> None:
    result = CliRunner().invoke(cli, ["config", "check"], env=_env(config))
    assert result.exit_code == 0, result.output
    assert "speech: prompts in pt-BR: espeak-ng voice pt-br (installed at" in result.output
    assert "not asked; assumed visible (same host)" in result.output
    assert "callers' speech: freeswitch" in result.output


def test_config_check_fails_without_a_portuguese_voice(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"speech": {"espeak_command": str(tmp_path / "no-espeak")}}))
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "check"], env=_env(config))
    assert result.exit_code == 1
    assert "no pt-BR voice available" in result.output and "apt-get install espeak-ng" in result.output


@needs_espeak
def test_prompts_render_renders_both_languages_on_a_fresh_install(config: Config) -> None:
    """No secretaries yet: every prompt that needs none, in both languages."""
    result = CliRunner().invoke(cli, ["prompts", "render", "--json"], env=_env(config))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["engines"] == {"pt-BR": "espeak-ng", "en-US": "espeak-ng"}
    assert summary["failed"] == [] and summary["rendered"] > 40
    assert {s["key"] for s in summary["skipped"]} >= {"greeting", "connecting"}
    root = Path(summary["audio_dir"])
    files = list(root.rglob("*.wav"))
    assert len(files) == summary["rendered"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    again = CliRunner().invoke(cli, ["prompts", "render", "--json"], env=_env(config))
    assert json.loads(again.output.strip().splitlines()[-1])["cached"] == summary["rendered"]


def test_prompts_render_reports_what_it_could_not_render(config: Config) -> None:
    with SpeechStandIn(status=500) as service:
        path = Path(config.database.data_dir) / "c.yaml"
        path.write_text(json.dumps({"speech": {"synthesizer": "http", "tts_url": service.url, "tts_model": "tts-1",
                                               "tts_timeout": 2}}))
        result = CliRunner().invoke(cli, ["--config", str(path), "prompts", "render", "--json", "--no-directory",
                                          "--language", "en-US"], env=_env(config))
    assert result.exit_code == 1
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["failed"] and all("HTTP 500" in f["error"] for f in summary["failed"])


def test_speech_cleanup_applies_the_retention(config: Config) -> None:
    from voiceai_ivr.speech.cache import AudioStore

    store = AudioStore(Path(config.database.data_dir) / "speech")
    rec = store.recording_path("call-1", 1)
    old = time.time() - 48 * 3600
    os.utime(rec, (old, old))
    kept = store.recording_path("call-2", 1)
    result = CliRunner().invoke(cli, ["speech", "cleanup", "--json"], env=_env(config))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["recordings_deleted"] == 1 and not rec.exists() and kept.exists()


def test_the_simulator_answers_record_and_an_empty_recording_is_a_keyed_turn(config: Config) -> None:
    """The simulator's ``record`` writes nothing: the answer cannot be heard, the
    turn is played again keyed and the call goes on; the service is never asked."""
    from voiceai_sim.scenario import parse_scenario
    from voiceai_sim.stack import simulate

    scenarios = Path(__file__).resolve().parent.parent / "scenarios"
    with SpeechStandIn() as service:
        config.speech.recognizer = "http"
        config.speech.asr_url = service.url
        config.speech.asr_model = "whisper-1"
        doc = {"domain": "demo.local", "did": "8000", "caller": "+5511998765432", "at": "2026-11-24T10:30:00-03:00",
               "directory": "directory.yaml", "caller_inputs": [{"say": "comercial"}, {"dtmf": "3"}],
               "agents": {"1003": {"behavior": "answer", "answer_after": 1, "accept": True}}}
        result = simulate(config, parse_scenario(doc, name="record", source_dir=scenarios), scale=0.05,
                          timeout=60).to_json()
        assert service.count() == 0
    assert result["outcome"] == "transferred", result
    kinds = [t.get("kind") for t in result["transcript"]]
    assert "record" in kinds and kinds.index("record") < kinds.index("dtmf"), result["transcript"]
