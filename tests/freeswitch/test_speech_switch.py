"""Prompt audio and speech recognition without FreeSWITCH speech modules, on the real
switch (issue 14): the kit has no ASR module for the configured engine
(``asr_engine: unimrcp``), so callers are heard through FreeSWITCH ``record`` and a
local OpenAI-compatible transcription stand-in (``tests/speech/servers.py``: it
recognises the known clips the test caller speaks); prompts are espeak-ng WAVs
from the speech cache, played with ``playback``.

The test caller speaks by playing a known espeak-ng clip on its own leg
(``uuid_broadcast A clip.wav aleg``) while the IVR records its leg. Outcomes come
from FreeSWITCH's events (the applications run on the IVR's leg, their
completions, bridges), the files in the audio directory, the call log the product
wrote, the stand-in's request log and ``/metrics``.

DIDs 8300-8399 are this module's: 8300 the working setup (``synthesizer`` and
``recognizer`` left on ``auto``), 8301 a synthesizer too slow to answer and a slow
transcription service, 8302 a transcription service that is down.
"""

from __future__ import annotations

import random
import socket
import stat
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from freeswitch.harness import DOMAIN, Call, Deployment, Seen, Switchboard, deploy, drop_database
from speech.servers import KnownAudio, SpeechStandIn, espeak_wav

from voiceai_ivr.speech.audio import parse_wav
from voiceai_ivr.speech.cache import AudioStore

pytestmark = pytest.mark.timeout(240)

SPEED = 200
DIRECTORY: dict[str, Any] = {
    "domain": DOMAIN,
    "timezone": "America/Sao_Paulo",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "secretaries": [{
        "name": "Recepção", "dids": ["8300"], "language": "pt-BR", "announce": True,
        "music_on_hold": "local_stream://moh", "fallback": "Financeiro", "callback": True, "ring_timeout": 8,
    }],
    "destinations": [
        {"name": "Financeiro", "aliases": ["financeiro", "boleto"], "type": "extension", "target": "1001",
         "menu_key": 1},
        {"name": "Comercial", "aliases": ["vendas"], "type": "extension", "target": "1003", "menu_key": 2},
        {"name": "Plantão", "type": "extension", "target": "1005", "menu_key": 3},
    ],
}
CLIPS = ("financeiro", "quero falar com o comercial")
_METRICS_PORT: dict[str, int] = {}


def _directory(did: str) -> dict[str, Any]:
    return dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[did])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The caller's voice: espeak-ng clips FreeSWITCH can play on the caller's leg."""
    folder = Path(tmp_path_factory.mktemp("clips"))
    out = {}
    for text in CLIPS:
        path = folder / (text.replace(" ", "_") + ".wav")
        path.write_bytes(espeak_wav(text, "pt-br", 160))
        out[text] = path
    return out


def _known(clips: dict[str, Path]) -> KnownAudio:
    known = KnownAudio()
    for text, path in clips.items():
        known.add(text, path.read_bytes())
    return known


def _up(board: Switchboard, admin_uri: str, workdir: Path, did: str, speech: dict[str, Any],
        metrics_port: int = 0) -> Deployment:
    config = {"speech": dict({"asr_engine": "unimrcp", "listen_timeout": 5.0, "reprompts": 1,
                              "espeak_speed": SPEED, "asr_model": "whisper-1"}, **speech)}
    dep = deploy(workdir, admin_uri, directory=_directory(did), did=did, config=config)
    dep.start_serve(*(("--metrics-port", str(metrics_port)) if metrics_port else ()))
    return dep


def _down(board: Switchboard, admin_uri: str, dep: Deployment) -> None:
    dep.stop_serve()
    dep.remove_dialplan()
    board.api("reloadxml")
    drop_database(admin_uri, dep.dsn)


@pytest.fixture(scope="module")
def service(clips: dict[str, Path]) -> Iterator[SpeechStandIn]:
    with SpeechStandIn(_known(clips)) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def working(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
            service: SpeechStandIn) -> Iterator[Deployment]:
    """8300: synthesizer and recognizer on auto: espeak-ng (installed, FreeSWITCH sees
    the audio directory) and http (no unimrcp on the kit, asr_url set)."""
    port = _METRICS_PORT["8300"] = _free_port()
    dep = _up(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("speech-ok")), "8300",
              {"asr_url": service.url}, metrics_port=port)
    try:
        yield dep
    finally:
        _down(switchboard, pg_admin_uri, dep)


@pytest.fixture(scope="module")
def slow_service(clips: dict[str, Path]) -> Iterator[SpeechStandIn]:
    with SpeechStandIn(_known(clips), delay=4.0) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def degraded(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
             slow_service: SpeechStandIn) -> Iterator[Deployment]:
    """8301: espeak-ng that never finishes in time (a wrapper that sleeps), FreeSWITCH's
    tts_commandline speaking Portuguese as the fallback, a transcription service
    slower than asr_timeout."""
    workdir = Path(tmp_path_factory.mktemp("speech-degraded"))
    slow = workdir / "slow-espeak"
    slow.write_text('#!/bin/sh\ncase "$1" in --voices*) exec espeak-ng "$@";; esac\nsleep 10\n')
    slow.chmod(0o755)
    dep = _up(switchboard, pg_admin_uri, workdir, "8301", {
        "synthesizer": "espeak-ng", "espeak_command": str(slow), "synth_timeout": 1.0,
        "tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
        "recognizer": "http", "asr_url": slow_service.url, "asr_timeout": 1.5})
    try:
        yield dep
    finally:
        _down(switchboard, pg_admin_uri, dep)


@pytest.fixture(scope="module")
def deaf(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[Deployment]:
    """8302: the transcription service is down (nothing listens on its port)."""
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    dep = _up(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("speech-deaf")), "8302",
              {"asr_url": dead, "asr_timeout": 2.0})
    try:
        yield dep
    finally:
        _down(switchboard, pg_admin_uri, dep)


# --------------------------------------------------------------------------- helpers


def audio_store(dep: Deployment) -> AudioStore:
    """``speech.audio_dir`` left empty: ``<data dir>/speech``; deploy() puts the data
    directory in the deployment's folder."""
    return AudioStore(Path(dep.workdir) / "data" / "speech")


def events_of(dep: Deployment, call: Call) -> list[dict[str, Any]]:
    return list((dep.call_row(call.b)["details"] or {}).get("events") or [])


def first(events: list[dict[str, Any]], event: str, **match: Any) -> dict[str, Any]:
    for e in events:
        if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
            return e
    raise AssertionError(f"no {event} {match} in the call log: {events}")


def wait_app(call: Call, app: str, timeout: float = 40.0, *, since: Optional[int] = None,
             done: bool = False) -> Seen:
    name = "CHANNEL_EXECUTE_COMPLETE" if done else "CHANNEL_EXECUTE"
    seen = call.board.wait_event(lambda e: e.name == name and e.uuid == call.b and e.app == app, timeout,
                                 since=call.mark if since is None else since)
    assert seen is not None, f"{app} never {'completed' if done else 'started'}; prompts: {call.prompts()}"
    return seen


def speak(call: Call, clip: Path) -> None:
    """The caller says the clip: played on the caller's own leg, heard by the IVR's."""
    reply = call.board.api(f"uuid_broadcast {call.a} {clip} aleg")
    assert reply.startswith("+OK"), reply


def finish(call: Call) -> None:
    call.hangup()
    call.wait_gone(15)


def check_private(path: Path, root: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, oct(path.stat().st_mode)
    folder = path.parent
    while folder != root.parent:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, (folder, oct(folder.stat().st_mode))
        folder = folder.parent


# --------------------------------------------------------------------------- 8300: working


def test_greeting_in_a_portuguese_voice_synthesized_once_then_cached(switchboard: Switchboard,
                                                                    working: Deployment) -> None:
    store = audio_store(working)
    heard = []
    for _ in range(2):
        call = switchboard.call("8300")
        call.wait_listen("intent")
        prompt = call.wait_prompt_started()
        played = wait_app(call, "playback", done=True, since=prompt.i)
        wait_app(call, "record", since=prompt.i)
        finish(call)
        greeting = first(events_of(working, call), "listen", key="greeting")
        path = Path(prompt.data)
        heard.append((greeting, path, path.stat(), played.h.get("Application-Response")))
    (g1, p1, st1, r1), (g2, p2, st2, r2) = heard
    assert prompt.app == "playback" and r1 == r2 == "FILE PLAYED", (r1, r2)
    # Portuguese, spoken by espeak-ng's pt-br voice: the file is that text's cache entry.
    assert g1["text"].startswith("Olá! Você ligou para Recepção") and "Diga o nome" in g1["text"], g1
    assert p1 == store.tts_path("pt-BR", "pt-br", f"espeak-ng:{SPEED}", g1["text"]), p1
    wav = parse_wav(p1.read_bytes())
    assert wav.rate == 16000 and wav.seconds > 3, (wav.rate, wav.seconds)
    check_private(p1, store.root)
    # Synthesized by the first call; the second plays the very same file, not rewritten.
    assert (g1["audio"], g2["audio"]) == ("synthesized", "cache"), (g1, g2)
    assert p2 == p1 and (st2.st_ino, st2.st_mtime_ns) == (st1.st_ino, st1.st_mtime_ns)


def test_prompts_render_fills_the_cache_ahead_of_calls(working: Deployment) -> None:
    import json

    proc = working.cli("prompts", "render", "--language", "pt-BR", timeout=300)
    summary = json.loads(proc.stdout)
    assert summary["engines"] == {"pt-BR": "espeak-ng"} and summary["failed"] == [], summary
    assert summary["rendered"] + summary["cached"] >= 30, summary
    assert "callback.offer_caller_id" in summary["dynamic"]["pt-BR"], summary
    store = audio_store(working)
    for text in ("Um momento, vou transferir sua ligação para Financeiro.",
                 "Comercial está em outra ligação no momento.", "Obrigado pela ligação. Até logo!"):
        assert store.lookup("pt-BR", "pt-br", f"espeak-ng:{SPEED}", text) is not None, text


def test_spoken_answer_recorded_transcribed_and_transferred(switchboard: Switchboard, working: Deployment,
                                                            service: SpeechStandIn,
                                                            clips: dict[str, Path]) -> None:
    asked = service.count("/audio/transcriptions")
    call = switchboard.call("8300")
    call.wait_listen("intent")
    record = wait_app(call, "record")
    path, limit, threshold, silence = record.data.split(" ")
    assert (limit, threshold, silence) == ("10", "200", "2"), record.data
    speak(call, clips["financeiro"])
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 60,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    assert service.count("/audio/transcriptions") == asked + 1
    sent = service.requests[-1]
    assert sent.answer == "financeiro" and sent.fields.get("language") == "pt", (sent.answer, sent.fields)
    assert sent.fields.get("model") == "whisper-1"
    finish(call)
    attempt = working.attempts(call.b)
    assert [(a["destination_name"], a["status"]) for a in attempt] == [("Financeiro", "accepted")], attempt
    events = events_of(working, call)
    assert first(events, "heard", slot="intent")["kind"] == "speech"
    assert first(events, "heard", slot="intent")["text"] == "financeiro"
    latency = first(events, "latency", answer="http")
    # from the end of the caller's speech: the 2 s silence window that ended the
    # recording, then transcription, understanding and the next prompt's audio
    assert 2.0 <= latency["seconds"] < 4.0, latency
    # The answer FreeSWITCH recorded is kept (keep_recordings_hours), private.
    recording = Path(path)
    assert recording.is_file() and recording.stat().st_size > 8000
    check_private(recording, audio_store(working).root)
    url = f"http://127.0.0.1:{_METRICS_PORT['8300']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as metrics:
        text = metrics.read().decode()
    assert 'voiceai_ivr_turn_latency_seconds_count{recognizer="http"' in text, text[-2000:]
    assert 'voiceai_ivr_transcriptions_total{outcome="ok"}' in text


def test_keys_pressed_during_the_recording_are_the_answer(switchboard: Switchboard, working: Deployment,
                                                          service: SpeechStandIn) -> None:
    asked = service.count("/audio/transcriptions")
    call = switchboard.call("8300")
    call.wait_listen("intent")
    record = wait_app(call, "record")
    time.sleep(0.5)
    pressed = time.monotonic()
    call.press("3")  # Plantão: offline
    ended = wait_app(call, "record", done=True, since=record.i, timeout=5)
    assert ended.t - pressed < 1.5, "the key did not end the recording"
    told = switchboard.wait_event(lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == call.b
                                  and e.app == "playback" and e.i > ended.i, 30, since=ended.i)
    assert told is not None
    deadline = time.monotonic() + 30
    while not working.attempts(call.b) and time.monotonic() < deadline:
        time.sleep(0.2)
    finish(call)
    attempt = working.attempts(call.b)
    assert [(a["destination_name"], a["status"]) for a in attempt] == [("Plantão", "offline")], attempt
    heard = first(events_of(working, call), "heard", slot="intent")
    assert (heard["kind"], heard["text"]) == ("dtmf", "3"), heard
    assert service.count("/audio/transcriptions") == asked, "a keyed answer must not be transcribed"
    # The partial recording was thrown away.
    assert not list((audio_store(working).rec_root).glob(f"*/{call.b}-*.wav"))


def test_dynamic_text_is_synthesized_during_the_call(switchboard: Switchboard, working: Deployment) -> None:
    caller = "55119" + "".join(random.choice("0123456789") for _ in range(8))
    call = switchboard.call("8300", caller=caller)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press("2")  # Comercial: busy -> what next?
    call.wait_listen("after_failure")
    call.wait_prompt_started()
    call.press("1")  # a callback
    call.wait_listen("confirm_caller_id")
    offer = call.wait_prompt_started()
    finish(call)
    event = first(events_of(working, call), "listen", key="callback.offer_caller_id")
    assert caller[-4:] in event["text"] and event["audio"] == "synthesized", event
    store = audio_store(working)
    assert Path(offer.data) == store.tts_path("pt-BR", "pt-br", f"espeak-ng:{SPEED}", event["text"])
    check_private(Path(offer.data), store.root)


# --------------------------------------------------------------------------- 8301: degraded


def test_synthesizer_too_slow_falls_back_to_freeswitch_speech(switchboard: Switchboard,
                                                              degraded: Deployment) -> None:
    call = switchboard.call("8301")
    call.wait_listen("intent")
    answered = next(e for e in call.events(call.b) if e.name == "CHANNEL_ANSWER")
    prompt = call.wait_prompt_started()
    assert prompt.data.startswith("say:Olá! Você ligou para Recepção"), prompt.data
    assert prompt.t - answered.t < 4.0, f"the caller waited {prompt.t - answered.t:.1f}s in silence"
    played = wait_app(call, "playback", done=True, since=prompt.i)
    assert played.h.get("Application-Response") == "FILE PLAYED"
    finish(call)
    greeting = first(events_of(degraded, call), "listen", key="greeting")
    assert greeting["audio"] == "fallback", greeting
    # tts_commandline ran espeak-ng with pt-br: a Portuguese voice in the fallback too.
    assert not list(audio_store(degraded).tts_root.glob("**/*.wav"))


def test_slow_transcription_becomes_a_keyed_turn(switchboard: Switchboard, degraded: Deployment,
                                                 slow_service: SpeechStandIn, clips: dict[str, Path]) -> None:
    call = switchboard.call("8301")
    call.wait_listen("intent")
    record = wait_app(call, "record")
    speak(call, clips["financeiro"])
    keyed = call.wait_prompt(r"Tecle 1 para Financeiro", 30, since=record.i)
    assert "Diga" not in keyed.data, keyed.data
    recorded = wait_app(call, "record", done=True, since=record.i)
    # bounded: asr_timeout, then (the synthesizer being down) at most synth_timeout, plus a margin
    assert keyed.t - recorded.t < 1.5 + 1.0 + 1.0, f"keyed prompt {keyed.t - recorded.t:.1f}s after the recording"
    call.press("3")
    deadline = time.monotonic() + 30
    while not degraded.attempts(call.b) and time.monotonic() < deadline:
        time.sleep(0.2)
    finish(call)
    assert slow_service.count("/audio/transcriptions") >= 1
    events = events_of(degraded, call)
    first(events, "transcription_failed", slot="intent")
    assert first(events, "heard", slot="intent")["kind"] == "dtmf"
    assert [a["destination_name"] for a in degraded.attempts(call.b)] == ["Plantão"]


# --------------------------------------------------------------------------- 8302: service down


def test_transcription_service_down_becomes_a_keyed_turn(switchboard: Switchboard, deaf: Deployment,
                                                         clips: dict[str, Path]) -> None:
    call = switchboard.call("8302")
    call.wait_listen("intent")
    record = wait_app(call, "record")
    speak(call, clips["quero falar com o comercial"])
    recorded = wait_app(call, "record", done=True, since=record.i)
    again = wait_app(call, "playback", since=recorded.i, timeout=15)
    assert again.t - recorded.t < 2.0 + 1.0, f"keyed prompt {again.t - recorded.t:.1f}s after the recording"
    call.press("1")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 60,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    finish(call)
    events = events_of(deaf, call)
    failed = first(events, "transcription_failed", slot="intent")
    assert "unreachable" in failed["error"], failed
    keyed = [e for e in events if e.get("event") == "listen" and e.get("keyed")]
    assert keyed and "Tecle 1 para Financeiro" in keyed[0]["text"], events
    assert Path(again.data) == audio_store(deaf).tts_path("pt-BR", "pt-br", f"espeak-ng:{SPEED}",
                                                         keyed[0]["text"])
    assert [a["status"] for a in deaf.attempts(call.b)] == ["accepted"]
