"""ESLChannel: the verbs as the simulator expects them on the wire, over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from esl.peer import FakeCall
from voiceai_ivr.channel.base import DTMF, SILENCE, SPEECH, Channel, HoldBound, ListenResult
from voiceai_ivr.channel.esl import ESLChannel, parse_nlsml
from voiceai_ivr.errors import SpeechUnavailable, ValidationError
from voiceai_ivr.esl.outbound import OutboundServer


@pytest.fixture
def run_flow() -> Iterator[Callable[..., tuple[FakeCall, dict[str, Any]]]]:
    servers: list[OutboundServer] = []

    def run(flow: Callable[[Channel, dict[str, Any]], None], **call_kwargs: Any) -> tuple[FakeCall, dict[str, Any]]:
        out: dict[str, Any] = {}

        def handler(session: Any) -> None:
            ch = ESLChannel(session, listen_engine="unimrcp", grammar="builtin:speech/transcribe",
                            digit_timeout_s=0.3)
            try:
                flow(ch, out)
            except BaseException as exc:
                out["error"] = exc
                raise

        server = OutboundServer("127.0.0.1", 0, handler, max_calls=10).start()
        servers.append(server)
        call = FakeCall(server.address, **call_kwargs)
        call.start()
        call.join(15)
        assert not call.is_alive() and call.error is None, call.error
        return call, out

    yield run
    for s in servers:
        s.stop(1)


def test_listen_speech_follows_the_convention(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["r"] = ch.listen("say:Como posso ajudar?", timeout_s=4, slot="intent")

    call, out = run_flow(flow, inputs=[{"speech": "quero falar com o financeiro"}])
    assert out["r"] == ListenResult(SPEECH, "quero falar com o financeiro", 0.87)
    assert call.apps[0] == ("set", "voiceai_slot=intent")
    # The file part unquoted: FreeSWITCH hands everything before "detect:" to the
    # file layer verbatim (quotes would become part of the file name).
    assert call.apps[1] == ("play_and_detect_speech", "say:Como posso ajudar? detect:unimrcp "
                            "{start-input-timers=false,no-input-timeout=4000,recognition-timeout=15000}builtin:speech/transcribe")


def test_listen_reads_json_results(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["r"] = ch.listen("say:Como posso ajudar?", slot="intent")

    _, out = run_flow(flow, inputs=[{"speech": "falar com o suporte"}], asr_format="json")
    assert out["r"] == ListenResult(SPEECH, "falar com o suporte", 0.873)


def test_listen_dtmf_ends_the_prompt_and_collects_keys(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        out["r"] = ch.listen("say:Digite", max_digits=2, grammar="builtin:grammar/boolean", slot="yes_no")

    call, out = run_flow(flow, inputs=[{"digits": "12"}])
    assert out["r"] == ListenResult(DTMF, "12")
    assert call.apps[1] == ("set", "playback_terminators=any")
    # FreeSWITCH ends the prompt on the key itself: no uuid_break races its end.
    assert not any(c.startswith("api uuid_break") for c in call.commands)


def test_asr_init_error_raises_speech_unavailable(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        try:
            ch.listen("say:Oi", slot="intent")
        except SpeechUnavailable as exc:
            out["engine"] = exc.engine
        out["keyed"] = ch.listen("say:Tecle", slot="intent", speech=False, timeout_s=2)

    call, out = run_flow(flow, inputs=[{"digits": "3"}], asr_engines=())
    assert out["engine"] == "unimrcp" and out["keyed"] == ListenResult(DTMF, "3")
    assert [a for a, _ in call.apps] == ["set", "play_and_detect_speech", "set", "playback", "set"]


def test_keyed_listen_and_no_input(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        out["keys"] = ch.listen("say:Tecle o ramal", slot="intent", speech=False, max_digits=4, timeout_s=2)
        out["none"] = ch.listen("say:De novo", slot="intent", speech=False, timeout_s=0.3)

    call, out = run_flow(flow, inputs=[{"digits": "12#"}, {"silence": True}])
    assert out["keys"] == ListenResult(DTMF, "12") and out["none"] == ListenResult(SILENCE)
    assert call.apps[2:5] == [("set", "voiceai_slot=intent"), ("playback", "say:Tecle o ramal"),
                              ("set", "voiceai_slot=")]


def test_keys_pressed_during_a_prompt_are_the_next_turn(run_flow: Callable[..., Any]) -> None:
    """Type-ahead: the caller keyed during an announcement; the next question is
    answered at once (and not played), nothing is thrown away."""

    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        ch.play("say:Desculpe, não ouvi nada.")
        out["r"] = ch.listen("say:Com quem deseja falar?", slot="intent")

    call, out = run_flow(flow, press_during_playback="2")
    assert out["r"] == ListenResult(DTMF, "2")
    assert not any(app == "play_and_detect_speech" for app, _ in call.apps)


def test_hold_music_stop_is_verified(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        out["own"] = ch.start_hold("local_stream://moh")
        out["stopped"] = ch.stop_hold()
        ch.play("say:Ocupado")

    call, out = run_flow(flow)
    assert out == {"own": True, "stopped": True}
    apps = list(call.apps)
    assert apps[2:6] == [("set", "playback_terminators=none"), ("playback", "local_stream://moh"),
                         ("set", "playback_terminators=any"), ("playback", "say:Ocupado")]
    assert any(c.startswith("api uuid_break ") for c in call.commands)


BOUND = HoldBound(30, "8000", "public")


def _hold_with_bound(ch: Channel, out: dict) -> None:
    ch.answer()
    out["own"] = ch.start_hold("local_stream://moh", BOUND)
    out["stopped"] = ch.stop_hold()
    ch.play("say:Ocupado")


def test_hold_bound_armed_ahead_of_the_music_and_removed_ahead_of_the_break(run_flow: Callable[..., Any]) -> None:
    call, out = run_flow(_hold_with_bound)
    assert out == {"own": True, "stopped": True}
    arm = call.commands.index(f"api sched_transfer +30 {call.uuid} 8000 XML public")
    # the bound, then the music's two executes (one write): armed before the music is queued
    assert call.commands[arm + 1:arm + 3] == ["sendmsg", "sendmsg"], call.commands
    assert call.apps[2:4] == [("set", "playback_terminators=none"), ("playback", "local_stream://moh")]
    remove = call.commands.index(f"api sched_del {call.uuid}")
    assert remove > arm and call.commands[remove + 1] == f"api uuid_break {call.uuid}", call.commands
    assert call.commands.count(f"api sched_del {call.uuid}") == 1
    assert call.scheduled == []


@pytest.mark.parametrize("refusals", [1, 2])
def test_hold_bound_removal_refused_is_retried_then_logged(run_flow: Callable[..., Any], refusals: int,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    call, out = run_flow(_hold_with_bound, api_answers={"sched_del": ["-ERR timeout\n"] * refusals})
    assert out == {"own": True, "stopped": True}  # the music stopped all the same
    assert call.commands.count(f"api sched_del {call.uuid}") == 2
    failed = [r for r in caplog.records if "hold bound not removed" in r.getMessage()]
    if refusals == 1:
        assert call.scheduled == [] and not failed
    else:
        assert len(failed) == 1 and failed[0].levelname == "ERROR" and "30s" in failed[0].getMessage()
    assert call.apps[-1] == ("playback", "say:Ocupado")


def test_hold_bound_refused_the_music_plays_anyway(run_flow: Callable[..., Any],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    call, out = run_flow(_hold_with_bound, api_answers={"sched_transfer": ["-ERR No such channel!\n"]})
    assert out == {"own": True, "stopped": True}
    assert ("playback", "local_stream://moh") in call.apps
    assert any("hold not bounded by FreeSWITCH" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_set_var_nowait_is_uuid_setvar_on_the_call_socket(run_flow: Callable[..., Any],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["own"] = ch.set_var_nowait("voiceai_done", "bridged")
        out["refused"] = ch.set_var_nowait("voiceai_note", "a b")
        ch.play("say:Ok")

    call, out = run_flow(flow, api_answers={"uuid_setvar": ["+OK\n", "-ERR No such channel!\n"]})
    assert out == {"own": True, "refused": True}
    assert [c for c in call.commands if c.startswith("api uuid_setvar")] == [
        f"api uuid_setvar {call.uuid} voiceai_done bridged", f"api uuid_setvar {call.uuid} voiceai_note a b"]
    assert call.apps == [("playback", "say:Ok")]  # nothing executed for either
    assert any("voiceai_note not set" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_listen_silence_and_then_speech(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["first"] = ch.listen("say:Oi", slot="intent")
        out["second"] = ch.listen("say:De novo", slot="intent")

    _, out = run_flow(flow, inputs=[{"silence": True}, {"speech": "sim"}])
    assert out["first"] == ListenResult(SILENCE) and not out["first"].heard
    assert out["second"].text == "sim"


def test_collect_digits_and_no_input(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["d"] = ch.collect_digits("say:Ramal", min_digits=1, max_digits=4, timeout_s=2.5,
                                     terminators="#", digit_timeout_s=1.5)
        out["none"] = ch.collect_digits("/sounds/ramal.wav", max_digits=4, terminators="")

    call, out = run_flow(flow, inputs=[{"digits": "1002"}, {"silence": True}])
    assert out["d"] == "1002" and out["none"] == ""
    assert call.apps[:3] == [("set", "voiceai_slot=digits"), ("playback", "say:Ramal"), ("set", "voiceai_slot=")]
    assert call.apps[4] == ("playback", "/sounds/ramal.wav")


def test_say_text_is_sanitised(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.play("say:Olá 'João'\n${system rm -rf}\\ fim " + "x" * 2000)

    call, _ = run_flow(flow)
    app, arg = call.apps[0]
    assert app == "playback"
    assert "'" not in arg and "\n" not in arg and "${" not in arg and "\\" not in arg
    assert arg.startswith("say:Olá \u2019João\u2019 $ {system rm -rf} fim")
    assert len(arg) <= 4 + 1000


def test_vars_tts_answer_execute_hangup(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        ch.set_tts("flite", "kal")
        ch.set_var("voiceai_note", "linha1\nlinha2 ${x}")
        out["note"] = ch.get_var("voiceai_note")
        out["unset"] = ch.get_var("never_set")
        out["resp"] = ch.execute("sleep", "10")
        out["data"] = ch.data.get("Caller-Caller-ID-Number")
        ch.hangup("USER_BUSY")
        out["up"] = ch.is_up()

    call, out = run_flow(flow, caller="+5511998765432")
    assert call.apps[:5] == [("answer", ""), ("set", "playback_terminators=any"),
                             ("set", "tts_engine=flite"), ("set", "tts_voice=kal"),
                             ("set", "voiceai_note=linha1 linha2 $ {x}")]
    assert out["note"] == "linha1 linha2 $ {x}" and out["unset"] is None
    assert out["resp"] == "FILE PLAYED" and out["data"] == "+5511998765432"
    assert out["up"] is False and call.hangup_cause == "USER_BUSY"


def test_interruptible_play_returns_the_key(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        ch.answer()
        out["key"] = ch.play("say:Aperte uma tecla", interruptible=True)

    call, out = run_flow(flow, press_during_playback="5")
    assert out["key"] == "5"
    assert not any(c.startswith("api uuid_break ") for c in call.commands)
    _, out = run_flow(flow)  # nobody presses: the prompt plays to the end
    assert out["key"] == ""


@pytest.mark.parametrize("bad", [
    lambda ch: ch.set_var("bad name", "x"),
    lambda ch: ch.set_tts("flite; rm", "kal"),
    lambda ch: ch.listen("say:x", grammar="a b"),
    lambda ch: ch.listen("say:x", slot="no spaces please"),
    lambda ch: ch.collect_digits("/a.wav", terminators="x"),
    lambda ch: ch.play("/tmp/it's.wav"),
    lambda ch: ch.play("say:   "),
    lambda ch: ch.hangup("normal clearing"),
    lambda ch: ch.execute("bad app"),
])
def test_bad_input_is_refused_before_the_wire(run_flow: Callable[..., Any], bad: Callable[[Channel], Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        with pytest.raises(ValidationError):
            bad(ch)
        out["ok"] = True

    call, out = run_flow(flow)
    assert out.get("ok") and call.apps == []


def test_parse_nlsml_defensively() -> None:
    good = ('<?xml version="1.0"?><result xmlns="http://www.ietf.org/xml/ns/mrcpv2"><interpretation '
            'confidence="87"><instance/><input mode="speech">  falar  com\nvendas </input></interpretation></result>')
    assert parse_nlsml(good) == ListenResult(SPEECH, "falar com vendas", 0.87)
    dtmf = '<result><interpretation confidence="1.0"><input mode="dtmf">1 2</input></interpretation></result>'
    assert parse_nlsml(dtmf) == ListenResult(DTMF, "1 2", 1.0)
    nomatch = '<result><interpretation><input><nomatch/></input></interpretation></result>'
    for text in (None, "", "_undef_", "ERROR", nomatch, "<result><unclosed>", "not xml at all",
                 '<!DOCTYPE x [<!ENTITY a "aaaa">]><result>&a;</result>',
                 "<result>" + "<interpretation><input>x</input></interpretation>" * 3000 + "</result>"):
        assert parse_nlsml(text) is None
    weird = '<result><interpretation confidence="abc"><input>ok</input></interpretation></result>'
    assert parse_nlsml(weird) == ListenResult(SPEECH, "ok", None)
