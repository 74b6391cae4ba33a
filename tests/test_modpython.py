"""The mod_python3 adapter and entry shim under a test double of FreeSWITCH's
``session`` (tests/doubles/fs_session.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from doubles.fs_session import FakeAPI, FakeSession

from voiceai_ivr import modpython
from voiceai_ivr.channel.base import DTMF, SILENCE, SPEECH
from voiceai_ivr.channel.modpython import ModPythonChannel
from voiceai_ivr.config import Config
from voiceai_ivr.errors import CallGone, ValidationError
from voiceai_ivr.flows.minimal import GOODBYE, GREETING, NO_DIGITS, minimal_flow
from voiceai_ivr.stores.db import Database


def test_minimal_flow_runs_through_the_adapter() -> None:
    session = FakeSession([{"dtmf": "12#"}])
    channel = ModPythonChannel(session)
    minimal_flow(channel, tts_engine="flite", tts_voice="kal")
    assert session.answered
    assert session.tts == ("flite", "kal")
    assert session.variables["tts_engine"] == "flite" and session.variables["tts_voice"] == "kal"
    assert session.played() == [GREETING, "say:Você digitou 1 2. Obrigado.", GOODBYE]
    assert not session.ready()
    assert session.variables["hangup_cause"] == "NORMAL_CLEARING"
    assert session.variables["voiceai_digits"] == "12"


def test_minimal_flow_with_no_input() -> None:
    session = FakeSession([{"silence": True}])
    minimal_flow(ModPythonChannel(session))
    assert session.played() == [GREETING, NO_DIGITS, GOODBYE]


def test_caller_hangup_while_listening_raises_call_gone() -> None:
    session = FakeSession([{"hangup": True}])
    channel = ModPythonChannel(session)
    fired = threading.Event()
    channel.on_hangup(fired.set)
    with pytest.raises(CallGone):
        minimal_flow(channel)
    assert fired.is_set()
    assert not channel.is_up()
    # every verb refuses once the leg is gone; hangup never raises
    with pytest.raises(CallGone):
        channel.play("say:olá")
    with pytest.raises(CallGone):
        channel.get_var("uuid")
    channel.hangup()
    seen = []
    channel.on_hangup(lambda: seen.append(1))  # already gone: runs at once
    assert seen == [1]


def test_timed_hangup_during_a_prompt() -> None:
    session = FakeSession([{"dtmf": "1"}, {"hangup": {"after": 1.5}}], media_seconds=1.0)
    channel = ModPythonChannel(session)
    assert channel.collect_digits("say:menu") == "1"
    channel.play("say:um")  # 1 s of the 1.5 s
    with pytest.raises(CallGone) as err:
        channel.play("say:dois")  # hangs up in the middle of this one
    assert err.value.cause == "NORMAL_CLEARING"


def test_listen_reads_speech_dtmf_and_silence() -> None:
    session = FakeSession([{"say": "quero falar com o financeiro"}, {"dtmf": "23"}, {"silence": True}])
    channel = ModPythonChannel(session, listen_engine="unimrcp", grammar="builtin:grammar/boolean")
    heard = channel.listen("say:Como posso ajudar?", slot="intent", timeout_s=4)
    assert heard.kind == SPEECH and heard.text == "quero falar com o financeiro"
    assert heard.confidence == pytest.approx(0.9)
    assert session.variables["voiceai_slot"] == "intent"
    app = next(d for m, d in session.log if m == "execute")
    assert app == (
        "play_and_detect_speech 'say:Como posso ajudar?' detect:unimrcp "
        "{no-input-timeout=4000,recognition-timeout=15000}builtin:grammar/boolean"
    )
    keys = channel.listen("say:Digite", slot="menu", max_digits=1)
    assert keys.kind == DTMF and keys.text == "2"
    nothing = channel.listen("say:Alô?", slot="intent")
    assert nothing.kind == SILENCE and not nothing.heard


def test_variables_execute_and_interruptible_play() -> None:
    session = FakeSession([{"dtmf": "5"}], variables={"voiceai_domain": "demo.local", "empty": "_undef_"})
    channel = ModPythonChannel(session)
    assert channel.uuid == session.uuid
    assert channel.data["variable_voiceai_domain"] == "demo.local"
    assert channel.data["Caller-Caller-ID-Number"] == "+5511998765432"
    assert channel.data.get("variable_missing") is None
    assert channel.data.get("variable_empty") is None
    assert channel.get_var("missing") is None
    channel.set_var("voiceai_note", "linha\ncom ${perigo}")
    assert "${" not in (channel.get_var("voiceai_note") or "")
    assert "\n" not in (channel.get_var("voiceai_note") or "")
    assert channel.execute("set", "foo=bar") == "_none_"
    assert channel.get_var("foo") == "bar"
    assert channel.play("say:aperte qualquer tecla", interruptible=True) == "5"
    with pytest.raises(ValidationError):
        channel.execute("set;evil", "x")
    with pytest.raises(ValidationError):
        channel.set_var("bad name", "x")
    with pytest.raises(ValidationError):
        channel.play("/tmp/x.wav' evil")


def test_hangup_hook_fires_once_from_the_watcher_while_the_flow_waits_elsewhere() -> None:
    session = FakeSession()
    channel = ModPythonChannel(session, watch_interval=0.05)
    calls: list[int] = []
    gone = threading.Event()

    def on_gone() -> None:
        calls.append(1)
        gone.set()

    channel.on_hangup(on_gone)
    session.hang_up_now()  # caller leaves while the flow waits on something else
    assert gone.wait(2.0)
    assert not channel.is_up()
    channel.close()
    assert calls == [1]


def test_api_goes_through_freeswitch_api() -> None:
    api = FakeAPI({"uuid_exists": "true"})
    channel = ModPythonChannel(FakeSession(), api)
    assert channel.api("uuid_exists abc") == "true"
    assert api.commands == ["uuid_exists abc"]
    with pytest.raises(ValidationError):
        channel.api("status\nexit")


# --------------------------------------------------------------------------- the shim


def test_shim_never_lets_an_exception_escape(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [not, a, mapping]\n")
    session = FakeSession([{"dtmf": "1"}])
    modpython.handler(session, str(bad))  # ConfigError inside: logged, call hung up
    assert not session.ready()
    assert session.variables["hangup_cause"] == "NORMAL_TEMPORARY_FAILURE"


def test_shim_runs_the_minimal_flow_when_the_app_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend voiceai_ivr.app is not installed: the shim must fall back by itself.
    import sys

    monkeypatch.setitem(sys.modules, "voiceai_ivr.app", None)  # import now raises ModuleNotFoundError
    config = tmp_path / "voiceai.yaml"
    config.write_text("speech:\n  tts_engine: flite\n")
    session = FakeSession([{"dtmf": "7#"}])
    modpython.handler(session, str(config))
    assert session.played() == [GREETING, "say:Você digitou 7. Obrigado.", GOODBYE]
    assert session.variables["hangup_cause"] == "NORMAL_CLEARING"


# --------------------------------------------------------------------------- the real flow


SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def test_real_conversation_runs_through_the_adapter(db: Database, config: Config) -> None:
    """tests/scenarios/out_of_hours.yaml, under mod_python3 instead of the socket."""
    import yaml
    from doubles.fake_esl import FakeFreeSwitch

    from voiceai_ivr.app import build_services, call_handler
    from voiceai_ivr.domain.destinations import parse_directory
    from voiceai_ivr.esl.inbound import InboundClient
    from voiceai_ivr.stores import calls
    from voiceai_ivr.stores.directory import import_directory
    from voiceai_ivr.switch import Switch

    scenario = yaml.safe_load((SCENARIOS / "out_of_hours.yaml").read_text(encoding="utf-8"))
    import_directory(db, parse_directory(yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))))
    config.server.allow_clock_override = True
    session = FakeSession(
        scenario["caller_inputs"],
        variables={
            "voiceai_domain": scenario["domain"],
            "voiceai_did": scenario["did"],
            "destination_number": scenario["did"],
            "caller_id_number": scenario["caller"],
            "voiceai_clock": scenario["at"],
        },
    )
    with FakeFreeSwitch() as fs:
        client = InboundClient("127.0.0.1", fs.port, "ClueCon", timeout=5.0).connect()
        try:
            services = build_services(config, db=db, switch=Switch(client, timeout=5.0), mode="python", metrics=False)
            handle = call_handler(config, services=services)
            channel = ModPythonChannel(session)
            handle(channel)
            channel.close()
        finally:
            client.close()
    assert not [c for c in fs.commands if c.startswith("api originate") or c.startswith("bgapi originate")]
    assert session.inputs == []  # every scripted input was heard
    assert not session.ready()
    with db.cursor() as cur:
        row = calls.get_call(cur, session.uuid)
    assert row is not None
    assert row["outcome"] == scenario["expect"]["outcome"]
