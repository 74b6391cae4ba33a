"""The mod_python3 adapter and entry shim under a test double of FreeSWITCH's
``session`` (tests/doubles/fs_session.py)."""

from __future__ import annotations

import gc
import sys
import threading
import types
import weakref
from pathlib import Path

import pytest
from doubles.fs_session import FakeAPI, FakeSession

from voiceai_ivr import modpython
from voiceai_ivr.channel.apps import detect_speech_arg
from voiceai_ivr.channel.base import DTMF, SILENCE, SPEECH
from voiceai_ivr.channel.modpython import ModPythonChannel
from voiceai_ivr.config import Config
from voiceai_ivr.errors import CallGone, SpeechUnavailable, ValidationError
from voiceai_ivr.flows.minimal import GOODBYE, GREETING, NO_DIGITS, minimal_flow
from voiceai_ivr.stores.db import Database


def test_minimal_flow_runs_through_the_adapter() -> None:
    session = FakeSession([{"dtmf": "12#"}])
    channel = ModPythonChannel(session)
    minimal_flow(channel, tts_engine="flite", tts_voice="kal")
    assert session.answered
    assert session.variables["tts_engine"] == "flite" and session.variables["tts_voice"] == "kal"
    # the first key ended the greeting; the rest came from the DTMF queue
    assert session.played() == [GREETING, "say:Você digitou 1 2. Obrigado.", GOODBYE]
    assert ("key", GREETING) in session.log
    assert not session.ready()
    assert session.variables["hangup_cause"] == "NORMAL_CLEARING"
    # every prompt was the playback application, ended by any key
    assert session.applications("playback") == session.played()
    assert session.variables["playback_terminators"] == "any"


def test_minimal_flow_with_no_input() -> None:
    session = FakeSession([{"silence": True}])
    minimal_flow(ModPythonChannel(session))
    assert session.played() == [GREETING, NO_DIGITS, GOODBYE]


def test_no_deprecated_session_call() -> None:
    session = FakeSession()
    channel = ModPythonChannel(session)
    channel.set_tts("tts_commandline", "pt-br")
    # FreeSWITCH logs "[ERR] set_tts_parms is deprecated" for session.set_tts_parms
    assert not [m for m, _ in session.log if m in ("set_tts_parms", "set_tts_params")]
    assert (session.variables["tts_engine"], session.variables["tts_voice"]) == ("tts_commandline", "pt-br")


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
    channel.close()


def test_timed_hangup_during_a_prompt() -> None:
    session = FakeSession([{"dtmf": "1"}, {"hangup": {"after": 1.5}}], media_seconds=1.0)
    channel = ModPythonChannel(session)
    assert channel.collect_digits("say:menu") == "1"
    channel.play("say:um")  # 1 s of the 1.5 s
    with pytest.raises(CallGone) as err:
        channel.play("say:dois")  # hangs up in the middle of this one
    assert err.value.cause == "NORMAL_CLEARING"


def test_listen_reads_speech_keys_and_silence() -> None:
    session = FakeSession([{"say": "quero falar com o financeiro"}, {"dtmf": "23"}, {"silence": True}])
    channel = ModPythonChannel(session, listen_engine="unimrcp", grammar="builtin:grammar/boolean",
                               digit_timeout_s=2.0)
    heard = channel.listen("say:Como posso ajudar? Diga: o setor, ou o ramal.", slot="intent", timeout_s=4)
    assert heard.kind == SPEECH and heard.text == "quero falar com o financeiro"
    assert heard.confidence == pytest.approx(0.9)
    # the source is not quoted: FreeSWITCH hands everything before "detect:" to the file layer
    (arg,) = session.applications("play_and_detect_speech")
    assert arg == detect_speech_arg("say:Como posso ajudar? Diga: o setor, ou o ramal.", engine="unimrcp",
                                    grammar="builtin:grammar/boolean", slot="intent", timeout_s=4,
                                    recognition_timeout_s=15)
    assert arg.startswith("say:Como posso ajudar? Diga: o setor, ou o ramal. detect:unimrcp {")
    assert "no-input-timeout=4000" in arg and arg.endswith("}builtin:grammar/boolean")
    assert ("setVariable", "voiceai_slot=intent") in session.log
    keys = channel.listen("say:Digite", slot="menu", max_digits=2)
    assert keys.kind == DTMF and keys.text == "23"  # "2" ended the recognition, "3" followed
    nothing = channel.listen("say:Alô?", slot="intent")
    assert nothing.kind == SILENCE and not nothing.heard


def test_listen_reads_json_results_as_mod_test_returns_them() -> None:
    session = FakeSession([{"say": "falar com o suporte"}, {"silence": True}], asr_format="json")
    channel = ModPythonChannel(session, listen_engine="test")
    heard = channel.listen("say:Diga", slot="intent")
    assert (heard.kind, heard.text) == (SPEECH, "falar com o suporte")
    assert channel.listen("say:Alô?", slot="intent").kind == SILENCE


def test_asr_init_error_raises_speech_unavailable_and_the_keyed_turn_works() -> None:
    # FreeSWITCH without the ASR module: play_and_detect_speech answers ASR INIT ERROR
    session = FakeSession([{"dtmf": "2"}], asr_engines=())
    channel = ModPythonChannel(session, listen_engine="unimrcp")
    channel.answer()
    with pytest.raises(SpeechUnavailable) as err:
        channel.listen("say:Para vendas tecle 1, suporte 2.", slot="intent")
    assert err.value.engine == "unimrcp"
    assert "ASR INIT ERROR" in str(err.value)
    assert session.inputs == [{"dtmf": "2"}]  # nothing was asked: the caller heard nothing yet
    keyed = channel.listen("say:Para vendas tecle 1, suporte 2.", slot="intent", speech=False, timeout_s=5)
    assert (keyed.kind, keyed.text) == (DTMF, "2")
    assert session.played() == ["say:Para vendas tecle 1, suporte 2."]


def test_keyed_listen_collects_up_to_max_digits_and_ends_on_hash() -> None:
    session = FakeSession([{"dtmf": "12345"}, {"dtmf": "7#9"}, {"silence": True}])
    channel = ModPythonChannel(session, digit_timeout_s=2.0)
    channel.answer()
    first = channel.listen("say:ramal", slot="ext", speech=False, max_digits=4)
    assert (first.kind, first.text) == (DTMF, "1234")
    # "5" is the caller's type-ahead: the next turn starts with it and plays nothing
    second = channel.listen("say:confirme", slot="confirm", speech=False, max_digits=1)
    assert (second.kind, second.text) == (DTMF, "5")
    assert session.heard_prompts() == ["say:ramal"]  # "confirme" was cut at its first frame
    third = channel.listen("say:outro", slot="ext", speech=False, max_digits=4)
    assert (third.kind, third.text) == (DTMF, "7")  # "#" ended it
    assert channel.listen("say:outro", slot="ext", speech=False, max_digits=4).text == "9"  # type-ahead
    silent = channel.listen("say:alô", slot="ext", speech=False, timeout_s=3)
    assert silent.kind == SILENCE
    # the first key is awaited timeout_s after the prompt, later ones the inter-digit timeout
    waits = [d for m, d in session.log if m == "getDigits"]
    assert waits[-1] == "1  3000 2000"  # one key: no terminator (# would be the key)


def test_keys_pressed_during_a_statement_are_the_next_turns_input() -> None:
    session = FakeSession([])
    channel = ModPythonChannel(session)
    channel.answer()
    session.press("3")  # the caller keys ahead while the IVR talks
    channel.play("say:Bem-vindo à Acme.")  # the key ends the statement and is kept
    assert ("cut", "say:Bem-vindo à Acme.") in session.log
    heard = channel.listen("say:Como posso ajudar?", slot="intent", speech=True)
    assert (heard.kind, heard.text) == (DTMF, "3")
    assert session.applications("play_and_detect_speech") == []  # nothing asked again
    session.press("9")
    assert channel.collect_digits("say:Digite", max_digits=1) == "9"
    assert session.played()[-1] == "say:Digite"  # a key waiting in FreeSWITCH's queue ends it at once


def test_a_one_key_turn_takes_hash_as_the_key() -> None:
    session = FakeSession([{"dtmf": "#"}])
    channel = ModPythonChannel(session)
    channel.answer()
    assert channel.collect_digits("say:tecle sustenido", max_digits=1, terminators="#") == "#"


def test_interruptible_play_returns_the_key() -> None:
    session = FakeSession([])
    channel = ModPythonChannel(session)
    channel.answer()
    session.press("5")
    assert channel.play("say:aperte qualquer tecla", interruptible=True) == "5"
    assert channel.play("say:sem tecla", interruptible=True) == ""


def test_variables_and_execute() -> None:
    session = FakeSession(variables={"voiceai_domain": "demo.local", "empty": "_undef_"})
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
    channel.execute("set", "foo=bar")
    assert channel.get_var("foo") == "bar"
    with pytest.raises(ValidationError):
        channel.execute("set;evil", "x")
    with pytest.raises(ValidationError):
        channel.set_var("bad name", "x")
    with pytest.raises(ValidationError):
        channel.play("/tmp/x.wav' evil")
    with pytest.raises(ValidationError):
        channel.listen("say:x", slot="bad slot")


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


def test_a_bridge_takes_the_leg_without_a_hangup() -> None:
    session = FakeSession()
    channel = ModPythonChannel(session)
    channel.answer()
    session.transfer_now()  # uuid_bridge: CF_TRANSFER
    assert not channel.is_up()
    with pytest.raises(CallGone) as err:
        channel.play("say:x")
    assert err.value.cause == "TRANSFERRED"
    channel.hangup()  # must not hang the bridged call up
    assert "hangup_cause" not in session.variables


def test_api_goes_through_freeswitch_api() -> None:
    api = FakeAPI({"uuid_exists": "true"})
    channel = ModPythonChannel(FakeSession(), api)
    assert channel.api("uuid_exists abc") == "true"
    assert api.commands == ["uuid_exists abc"]
    with pytest.raises(ValidationError):
        channel.api("status\nexit")


def test_the_hook_does_not_keep_the_session_alive() -> None:
    """mod_python3 keeps the hook in C++, out of the garbage collector's sight: if it
    referenced the adapter (and so the session), the session object would never die
    and FreeSWITCH would keep the channel forever."""
    session = FakeSession([{"dtmf": "1"}])
    channel = ModPythonChannel(session)
    channel.on_hangup(lambda: None)
    minimal_flow(channel)
    channel.close()
    alive = weakref.ref(channel)
    hook = session._hook
    assert hook is not None
    del channel
    gc.collect()
    assert alive() is None  # the hook alone does not keep the adapter
    hook(session, "hangup")  # a late hook call is harmless
    closed = ModPythonChannel(FakeSession())
    closed.close()
    assert not closed.is_up()
    assert closed.data.get("variable_anything") is None
    with pytest.raises(CallGone):
        closed.play("say:x")


def test_close_lets_go_of_the_session() -> None:
    session = FakeSession([{"dtmf": "1"}])
    channel = ModPythonChannel(session, watch_interval=0.05)
    channel.on_hangup(lambda: None)  # starts the watcher thread
    minimal_flow(channel)
    channel.close()
    referrers = [r for r in gc.get_referrers(session) if r is not session.__dict__]
    assert not [r for r in referrers if isinstance(r, dict) and r.get("session") is session]
    assert channel.session is not session
    assert not [t for t in threading.enumerate() if t.name == f"modpython-hangup-{session.uuid[:8]}"]


# --------------------------------------------------------------------------- the shim


def test_args_name_the_config_file(tmp_path: Path) -> None:
    assert modpython.parse_args("") is None
    assert modpython.parse_args(None) is None
    assert modpython.parse_args("config=/etc/voiceai-ivr/voiceai.yaml") == "/etc/voiceai-ivr/voiceai.yaml"
    assert modpython.parse_args("/etc/voiceai-ivr/voiceai.yaml") == "/etc/voiceai-ivr/voiceai.yaml"
    with pytest.raises(ValidationError, match="config=FILE"):
        modpython.parse_args("conf=/x.yaml")
    with pytest.raises(ValidationError, match="twice"):
        modpython.parse_args("config=/a.yaml config=/b.yaml")
    # relative names become absolute, so a caller's leg and its agent legs name the file alike
    assert modpython.config_file("config=x.yaml", env={}) == str(Path("x.yaml").resolve())
    assert modpython.config_file("", env={"VOICEAI_CONFIG": "/etc/v.yaml"}) == "/etc/v.yaml"
    assert modpython.config_file(None, env={}) is None


def test_shim_never_lets_an_exception_escape(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: [not, a, mapping]\n")
    session = FakeSession([{"dtmf": "1"}])
    modpython.handler(session, f"config={bad}")  # ConfigError inside: logged, call hung up
    assert not session.ready()
    assert session.variables["hangup_cause"] == "NORMAL_TEMPORARY_FAILURE"
    session = FakeSession()
    modpython.handler(session, "mode=agent")  # a bad argument: refused, hung up
    assert session.variables["hangup_cause"] == "NORMAL_TEMPORARY_FAILURE"


def test_shim_runs_the_minimal_flow_when_the_app_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend voiceai_ivr.app is not installed: the shim must fall back by itself.
    monkeypatch.setitem(sys.modules, "voiceai_ivr.app", None)  # import now raises ModuleNotFoundError
    config = tmp_path / "voiceai.yaml"
    config.write_text("speech:\n  tts_engine: flite\n")
    session = FakeSession([{"dtmf": "7#"}])
    modpython.handler(session, f"config={config}")
    assert session.played() == [GREETING, "say:Você digitou 7. Obrigado.", GOODBYE]
    assert session.variables["hangup_cause"] == "NORMAL_CLEARING"


def test_shim_writes_failures_to_the_freeswitch_console(monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[tuple[str, str]] = []
    fake = types.SimpleNamespace(consoleLog=lambda level, text: lines.append((level, text)))
    monkeypatch.setitem(sys.modules, "freeswitch", fake)
    modpython.handler(FakeSession(), "config=/nonexistent/voiceai.yaml")
    assert lines and lines[0][0] == "err" and "call handler failed" in lines[0][1]


class _Stream:
    """mod_python3's api ``stream``."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


class _Closable:
    def __init__(self, closed: list[str], name: str) -> None:
        self.closed, self.name = closed, name

    def close(self) -> None:
        self.closed.append(self.name)


def test_api_status_and_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fs_cli -x "python voiceai_ivr.modpython status|reload"``: reload closes the
    handlers FreeSWITCH's Python holds and forgets the package's modules, so the next
    call runs the code on disk and reads its configuration file again."""
    from voiceai_ivr import app

    closed: list[str] = []
    services = types.SimpleNamespace(db=_Closable(closed, "db"),
                                     switch=types.SimpleNamespace(transport=_Closable(closed, "esl")))
    monkeypatch.setattr(app, "_SHARED", {"/etc/voiceai-ivr/voiceai.yaml|python": types.SimpleNamespace(
        services=services)})
    out = _Stream()
    modpython.fsapi("na", out, None, "status")
    assert out.text == "/etc/voiceai-ivr/voiceai.yaml|python\n"
    saved = {k: v for k, v in sys.modules.items() if k == "voiceai_ivr" or k.startswith("voiceai_ivr.")}
    try:
        out = _Stream()
        modpython.fsapi("na", out, None, "reload")
        assert out.text.startswith("+OK released 1 handler(s)")
        assert sorted(closed) == ["db", "esl"]
        assert not [k for k in sys.modules if k.startswith("voiceai_ivr")]
    finally:
        sys.modules.update(saved)
    assert app._SHARED == {}
    out = _Stream()
    modpython.fsapi("na", out, None, "status")
    assert out.text == "no handler loaded\n"
    out = _Stream()
    modpython.fsapi("na", out, None, "drop tables")
    assert out.text.startswith("-USAGE")


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


def test_record_answer_records_or_takes_keys() -> None:
    session = FakeSession([{"say": "minha internet caiu"}, {"dtmf": "1"}, {"silence": True}])
    channel = ModPythonChannel(session)
    channel.answer()
    assert channel.record_answer("say:Diga o motivo após o sinal.", "/tmp/voiceai/r1.wav", slot="reason") == (
        "/tmp/voiceai/r1.wav", "")
    assert session.applications("record") == ["/tmp/voiceai/r1.wav 10 200 2"]
    assert session.recordings == [("/tmp/voiceai/r1.wav", "minha internet caiu")]
    # a key during the prompt answers the turn: nothing is recorded
    assert channel.record_answer("say:Diga o motivo, ou tecle 1 para pular.", "/tmp/voiceai/r2.wav",
                                 slot="reason") == (None, "1")
    assert len(session.applications("record")) == 1
    assert channel.record_answer("say:Diga o motivo.", "/tmp/voiceai/r3.wav", slot="reason") == (None, "")
    session.press("2")  # type-ahead: answered before the prompt
    assert channel.record_answer("say:Diga o motivo.", "/tmp/voiceai/r4.wav", slot="reason") == (None, "2")
    with pytest.raises(ValidationError):
        channel.record_answer("say:x", "relative.wav")
