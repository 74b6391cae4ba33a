"""The simulator answers the channel adapter as FreeSWITCH 1.11.1 does (checked on the
FreeSWITCH kit with a loopback call whose leg runs ``socket`` into a test script, and
against the sources: mod_dptools playback/on_dtmf and play_and_detect_speech,
switch_ivr_async.c, switch_ivr.c park/parse_event, mod_commands break/broadcast):

* keys are read by whatever runs (their DTMF event is sent then); a key in
  ``playback_terminators`` ends a prompt; parked between messages, keys are read
  and dropped by park, each with its event;
* a ``playback`` while ``voiceai_slot`` is set is a keyed listen turn;
* ``play_and_detect_speech``: argument parsed as mod_dptools does, ``ASR INIT ERROR``
  for an engine not loaded, results in mod_test's JSON or mod_unimrcp's NLSML,
  ``DIGIT: K`` for a terminator key, no-input timer from the start of recognition;
* hold music on the caller's own leg (sendmsg playback of ``local_stream://``),
  ``uuid_break`` lost when nothing plays, ``uuid_broadcast`` started after its lead
  frames and holding back later messages.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from typing import Optional

from sim.peer import InboundEsl, Peer, PeerCall
from voiceai_ivr.esl.protocol import Event, frame_to_event
from voiceai_sim import Simulator

DETECT = "detect:unimrcp {no-input-timeout=3000,recognition-timeout=8000}builtin:grammar/boolean"
NO_INPUT_JSON = '{"grammar": "builtin:grammar/boolean", "text": "", "confidence": 0, "error": "no_input"}'


def run_one(script, scenario, *, scale=0.02, **sim_kwargs):
    with Simulator(scale=scale, **sim_kwargs) as sim, Peer(script) as peer:
        result = sim.place_call(scenario, peer.address, timeout=30)
        deadline = time.monotonic() + 5
        while peer.done < len(peer.calls) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not peer.failures, peer.failures
    return result, peer.calls[0]


def events(call: PeerCall) -> list[Event]:
    """Every event the application side received, once, in order."""
    return [frame_to_event(f) for f in call.received if f.is_event]


async def send_execute(call: PeerCall, app: str, arg: str = "") -> str:
    """``sendmsg execute`` without waiting for the application: returns its Event-UUID."""
    event_uuid = str(uuidlib.uuid4())
    headers = [("call-command", "execute"), ("execute-app-name", app)]
    if arg:
        headers.append(("execute-app-arg", arg))
    headers += [("event-lock", "true"), ("Event-UUID", event_uuid)]
    reply = await call.reply_to("sendmsg", headers)
    assert reply.reply_text == "+OK"
    return event_uuid


async def completion(call: PeerCall, event_uuid: str, timeout: float = 10.0) -> Event:
    return await call.wait_event(
        "CHANNEL_EXECUTE_COMPLETE", lambda e: e.get("Application-UUID") == event_uuid, timeout
    )


async def keyed_turn(call: PeerCall, slot: str, source: str) -> tuple[Event, str]:
    """The adapter's keyed turn: three pipelined messages, then keys from DTMF events
    (first within 3 s after the prompt, then 1 s apart; ``#`` ends)."""
    await send_execute(call, "set", f"voiceai_slot={slot}")
    played = await send_execute(call, "playback", source)
    unset = await send_execute(call, "set", "voiceai_slot=")
    done = await completion(call, played)
    await completion(call, unset)
    keys = ""
    timeout = 3.0 * 0.02 * 50  # generous in real seconds
    while not keys.endswith("#"):
        try:
            keys += (await call.wait_event("DTMF", timeout=timeout)).get("DTMF-Digit") or ""
        except TimeoutError:
            break
        timeout = 1.0
    return done, keys


async def start(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    await call.execute("set", "playback_terminators=any")


async def hang_up(call: PeerCall) -> None:
    await call.send("sendmsg", [("call-command", "hangup")])
    await call.finish()


# --------------------------------------------------------------------------- keys


def test_keyed_turn_the_first_key_ends_the_prompt_and_every_key_is_an_event():
    async def script(call: PeerCall) -> None:
        await start(call)
        done, keys = await keyed_turn(call, "menu", "say:Tecle o ramal e depois a tecla sustenido")
        call.results = {
            "keys": keys,
            "response": done.get("Application-Response"),
            "terminator": done.get("variable_playback_terminator_used"),
            "slot_after": await call.api(f"uuid_getvar {call.uuid} voiceai_slot"),
        }
        await hang_up(call)

    result, call = run_one(script, {"caller_inputs": [{"dtmf": "12#"}]})
    assert call.results == {"keys": "12#", "response": "FILE PLAYED", "terminator": "1", "slot_after": "_undef_"}
    seen = events(call)
    names = [e.name for e in seen]
    playback_done = next(
        i for i, e in enumerate(seen) if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "playback"
    )
    first_key = names.index("DTMF")
    assert first_key < playback_done  # the key is read by the playback it ends
    assert names.count("DTMF") == 3
    turns = [(e["from"], e["kind"], e["text"], e.get("slot")) for e in result.transcript if e.get("slot")]
    assert turns == [
        ("ivr", "say", "Tecle o ramal e depois a tecla sustenido", "menu"),
        ("caller", "dtmf", "12#", "menu"),
    ]


def test_speech_in_a_keyed_turn_is_heard_by_nobody_and_a_plain_playback_is_no_listen():
    async def script(call: PeerCall) -> None:
        await start(call)
        await call.execute("playback", "say:Bem-vindo")  # a prompt, not a listen: takes no input
        _, first = await keyed_turn(call, "intent", "say:Com quem deseja falar?")
        _, second = await keyed_turn(call, "intent", "say:Tecle o ramal")
        call.results = {"first": first, "second": second}
        await hang_up(call)

    result, call = run_one(script, {"caller_inputs": [{"say": "financeiro"}, {"dtmf": "3"}]})
    assert call.results == {"first": "", "second": "3"}
    caller = [(e["kind"], e["text"], e.get("slot")) for e in result.transcript if e["from"] == "caller"]
    assert caller == [("say", "financeiro", "intent"), ("dtmf", "3", "intent")]


def test_hangup_in_a_keyed_turn():
    async def script(call: PeerCall) -> None:
        await start(call)
        await send_execute(call, "set", "voiceai_slot=menu")
        await send_execute(call, "playback", "say:Tecle o ramal")
        await send_execute(call, "set", "voiceai_slot=")
        await call.finish()

    result, _ = run_one(script, {"caller_inputs": [{"hangup": True}]})
    assert result.outcome == "caller_hangup" and result.hangup_by == "caller"
    assert result.socket_end == "exit"


def test_playback_without_terminators_set_ends_only_on_star():
    """mod_dptools ``on_dtmf``: unset ``playback_terminators`` means ``*``; other keys
    are read (DTMF events) and ignored."""

    async def script(call: PeerCall) -> None:
        await call.standard_start()
        await call.execute("answer")
        await call.execute("set", "voiceai_slot=x")
        done = await call.execute("playback", "tone_stream://%(4000,0,440)")
        call.results = {"ms": int(done.get("variable_playback_ms") or 0),
                        "terminator": done.get("variable_playback_terminator_used")}
        await hang_up(call)

    _, call = run_one(script, {"caller_inputs": [{"dtmf": "1*"}]}, scale=0.1)
    assert call.results["terminator"] == "*"
    assert 500 <= call.results["ms"] < 1500  # ended by the second key (0.65 s), not the first
    assert [e.get("DTMF-Digit") for e in events(call) if e.name == "DTMF"] == ["1", "*"]


def test_keys_while_parked_are_read_by_park_with_their_events():
    async def script(call: PeerCall) -> None:
        await start(call)
        assert (await call.api(f"uuid_recv_dtmf {call.uuid} 7")).startswith(f"+OK {call.uuid} received DTMF 7")
        event = await call.wait_event("DTMF", timeout=5)
        call.results = {"digit": event.get("DTMF-Digit")}
        await hang_up(call)

    _, call = run_one(script, {})
    assert call.results == {"digit": "7"}


# --------------------------------------------------------------------------- play_and_detect_speech


def test_asr_init_error_when_no_engine_is_loaded_plays_nothing_and_takes_no_input():
    async def script(call: PeerCall) -> None:
        await start(call)
        await call.execute("set", "voiceai_slot=intent")
        got = await call.execute("play_and_detect_speech", f"say:Com quem deseja falar? {DETECT}")
        _, keys = await keyed_turn(call, "intent", "say:Tecle o ramal")
        call.results = {"response": got.get("Application-Response"),
                        "result": got.get("variable_detect_speech_result"), "keys": keys}
        await hang_up(call)

    result, call = run_one(script, {"caller_inputs": [{"dtmf": "4"}]})  # a stock switch: no asr_engines
    assert call.results == {"response": "ASR INIT ERROR", "result": None, "keys": "4"}
    assert "Com quem deseja falar?" not in [e["text"] for e in result.transcript]


def test_play_and_detect_speech_file_part_is_taken_verbatim_quotes_included():
    async def script(call: PeerCall) -> None:
        await start(call)
        quoted = await call.execute("play_and_detect_speech", f"'say:Olá. Com quem?' {DETECT}")
        usage = await call.execute("play_and_detect_speech", "say:Olá detect:unimrcp")
        grammar = await call.execute("play_and_detect_speech", "say:Olá detect:unimrcp {no-input-timeout=100}")
        spoken = await call.execute("play_and_detect_speech", f"say:Olá, com quem?   {DETECT}")
        call.results = [e.get("Application-Response") for e in (quoted, usage, grammar, spoken)]
        call.results.append(spoken.get("variable_detect_speech_result"))
        await hang_up(call)

    result, call = run_one(script, {"caller_inputs": [{"say": "financeiro"}]}, asr_engines=["unimrcp"])
    assert call.results == [
        "ERROR",  # "Invalid file format" for the file 'say:Olá. Com quem?' (quotes and all)
        "USAGE ERROR",
        "GRAMMAR ERROR",
        "DONE",
        '{"grammar": "builtin:grammar/boolean", "text": "financeiro", "confidence": 87.300000}',
    ]
    said = [e["text"] for e in result.transcript if e["from"] == "ivr"]
    assert said == ["Olá, com quem?"]  # the quoted prompt was never heard


def test_nlsml_results_as_mod_unimrcp_hands_them_and_no_input():
    async def script(call: PeerCall) -> None:
        await start(call)
        heard = await call.execute("play_and_detect_speech", f"say:Diga {DETECT}")
        silent = await call.execute("play_and_detect_speech", f"say:Diga {DETECT}")
        call.results = [heard.get("variable_detect_speech_result"), silent.get("variable_detect_speech_result"),
                        silent.get("Application-Response")]
        await hang_up(call)

    _, call = run_one(
        script,
        {"caller_inputs": [{"say": "Tom & \"Jerry\" <sales>"}, {"silence": True}],
         "asr_engines": ["unimrcp"], "asr_format": "nlsml"},
    )
    text = "Tom &amp; &quot;Jerry&quot; &lt;sales&gt;"
    assert call.results == [
        '<?xml version="1.0"?><result><interpretation grammar="builtin:grammar/boolean" confidence="0.873">'
        f'<input mode="speech">{text}</input><instance>{text}</instance></interpretation></result>',
        "Completion-Cause: 002",
        "DONE",
    ]


def test_json_no_input_and_test_engine_variables():
    async def script(call: PeerCall) -> None:
        await start(call)
        silent = await call.execute("play_and_detect_speech", f"say:Diga {DETECT.replace('unimrcp', 'test')}")
        await call.execute("set", "test_asr_format=nlsml")
        await call.execute("set", "test_asr_confidence=42")
        heard = await call.execute("play_and_detect_speech", f"say:Diga {DETECT.replace('unimrcp', 'test')}")
        call.results = [silent.get("variable_detect_speech_result"), heard.get("variable_detect_speech_result")]
        await hang_up(call)

    _, call = run_one(script, {"caller_inputs": [{"silence": True}, {"say": "sim"}]}, asr_engines=["test"])
    assert call.results[0] == NO_INPUT_JSON
    assert 'confidence="0.42"' in call.results[1] and "<instance>sim</instance>" in call.results[1]


def test_no_input_timer_runs_from_the_start_of_recognition_unless_told_otherwise():
    """A prompt longer than no-input-timeout is cut by the no-input result; the
    caller, who waits for the prompt's end to speak, speaks at the next listen."""

    async def script(call: PeerCall) -> None:
        await start(call)
        long_prompt = "tone_stream://%(8000,0,440)"
        cut = await call.execute(
            "play_and_detect_speech", f"{long_prompt} detect:unimrcp {{no-input-timeout=2000}}builtin:grammar/boolean"
        )
        full = await call.execute(
            "play_and_detect_speech",
            f"{long_prompt} detect:unimrcp {{no-input-timeout=2000,start-input-timers=false}}builtin:grammar/boolean",
        )
        call.results = [(e.get("variable_detect_speech_result"), int(e.get("variable_playback_ms") or 0))
                        for e in (cut, full)]
        await hang_up(call)

    result, call = run_one(script, {"caller_inputs": [{"say": "financeiro"}]}, asr_engines=["unimrcp"])
    (first, first_ms), (second, second_ms) = call.results
    assert first == NO_INPUT_JSON and 1800 <= first_ms <= 2500
    assert '"text": "financeiro"' in second and second_ms == 8000
    assert [e["kind"] for e in result.transcript if e["from"] == "caller"] == ["say"]


def test_a_terminator_key_ends_detection_with_digit_and_uuid_break_only_cuts_the_prompt():
    async def script(call: PeerCall) -> None:
        await start(call)
        keyed = await call.execute("play_and_detect_speech", f"say:Diga ou tecle {DETECT}")
        event_uuid = await send_execute(call, "play_and_detect_speech", f"tone_stream://%(5000,0,440) {DETECT}")
        await call.wait_event("CHANNEL_EXECUTE", lambda e: e.get("Application-UUID") == event_uuid)
        await asyncio.sleep(0.01)
        assert await call.api(f"uuid_break {call.uuid} all") == "+OK\n"
        broken = await completion(call, event_uuid)
        call.results = [keyed.get("variable_detect_speech_result"), keyed.get("Application-Response"),
                        broken.get("variable_detect_speech_result"), int(broken.get("variable_playback_ms") or 0)]
        await hang_up(call)

    _, call = run_one(script, {"caller_inputs": [{"dtmf": "9"}, {"silence": True}]}, asr_engines=["unimrcp"])
    digit, response, after_break, played_ms = call.results
    assert (digit, response) == ("DIGIT: 9", "DONE")
    assert after_break == NO_INPUT_JSON  # recognition went on to its no-input timeout
    assert played_ms < 5000


def test_input_timers_started_after_the_prompt_start_when_uuid_break_cuts_it():
    """Seen on the kit: with start-input-timers=false a break 0.5 s into a 5 s prompt
    gives the no-input result 3 s after the break (play_and_detect_speech starts the
    timers when the prompt ends, however it ends)."""

    async def script(call: PeerCall) -> None:
        await start(call)
        arg = "tone_stream://%(5000,0,440) detect:unimrcp {start-input-timers=false,no-input-timeout=3000}g"
        event_uuid = await send_execute(call, "play_and_detect_speech", arg)
        began = await call.wait_event("CHANNEL_EXECUTE", lambda e: e.get("Application-UUID") == event_uuid)
        await asyncio.sleep(0.5 * 0.1)  # 0.5 simulated seconds
        await call.api(f"uuid_break {call.uuid}")
        done = await completion(call, event_uuid)
        took = (int(done.get("Event-Date-Timestamp") or 0) - int(began.get("Event-Date-Timestamp") or 0)) / 1e6
        call.results = {"took": took, "played_ms": int(done.get("variable_playback_ms") or 0),
                        "result": done.get("variable_detect_speech_result")}
        await hang_up(call)

    _, call = run_one(script, {"at": "2026-11-24T10:30:00-03:00", "caller_inputs": [{"silence": True}]},
                      asr_engines=["unimrcp"], scale=0.1)
    r = call.results
    assert r["result"] == '{"grammar": "g", "text": "", "confidence": 0, "error": "no_input"}'
    assert r["played_ms"] < 2500
    assert 3.0 <= r["took"] - r["played_ms"] / 1000 <= 3.6


def test_detected_speech_events_only_with_fire_asr_events():
    async def script(call: PeerCall) -> None:
        await start(call)
        await call.execute("play_and_detect_speech", f"say:Diga {DETECT}")
        await call.execute("set", "fire_asr_events=true")
        await call.execute("play_and_detect_speech", f"say:Diga {DETECT}")
        await hang_up(call)

    _, call = run_one(script, {"caller_inputs": [{"say": "um"}, {"say": "dois"}]}, asr_engines=["unimrcp"])
    speech = [(e.get("Speech-Type"), e.body) for e in events(call) if e.name == "DETECTED_SPEECH"]
    assert [kind for kind, _ in speech] == ["begin-speaking", "detected-speech"]
    assert '"text": "dois"' in speech[1][1]


# --------------------------------------------------------------------------- hold music and breaks


def test_hold_music_on_the_callers_own_leg_is_stopped_by_uuid_break():
    async def script(call: PeerCall) -> None:
        await start(call)
        await send_execute(call, "set", "playback_terminators=none")
        hold = await send_execute(call, "playback", "local_stream://moh")
        await call.wait_event("CHANNEL_EXECUTE", lambda e: e.get("Application-UUID") == hold)
        await call.api(f"uuid_recv_dtmf {call.uuid} 5")  # keys do not stop the music
        await call.wait_event("DTMF")
        await asyncio.sleep(0.05)
        assert await call.api(f"uuid_break {call.uuid}") == "+OK\n"
        done = await completion(call, hold, timeout=2)
        await call.execute("set", "playback_terminators=any")
        call.results = {"response": done.get("Application-Response")}
        await hang_up(call)

    result, call = run_one(script, {})
    assert call.results == {"response": "FILE PLAYED"}
    assert [(h["source"], h["stopped_by"]) for h in result.holds] == [("local_stream://moh", "uuid_break")]
    assert any(e["kind"] == "hold" and e["from"] == "ivr" for e in result.transcript)


def test_uuid_break_with_nothing_playing_is_lost():
    """CF_BREAK set while parked is cleared when the next application starts."""

    async def script(call: PeerCall) -> None:
        await start(call)
        assert await call.api(f"uuid_break {call.uuid} all") == "+OK\n"
        done = await call.execute("playback", "tone_stream://%(1000,0,440)")
        call.results = {"ms": done.get("variable_playback_ms")}
        await hang_up(call)

    _, call = run_one(script, {})
    assert call.results == {"ms": "1000"}


def _broadcast_script(steps: list[tuple[str, str]]):
    async def script(call: PeerCall) -> None:
        await start(call)
        log: list[tuple[str, Optional[str]]] = []
        pending: dict[str, str] = {}
        for what, arg in steps:
            if what == "api":
                reply = await call.api(arg.format(uuid=call.uuid))
                log.append(("api", reply.strip()))
            elif what == "sleep":
                await asyncio.sleep(float(arg))
            elif what == "set":
                pending[await send_execute(call, "set", arg)] = arg
        try:  # read what is still on its way (events after the last reply)
            while True:
                await call._next_frame(0.3)
        except TimeoutError:
            pass
        for e in events(call):
            if e.name.startswith("CHANNEL_EXECUTE") and e.get("Application") in ("playback", "set"):
                log.append((e.name, e.get("Application-Data")))
        call.results = log
        await hang_up(call)

    return script


def test_uuid_broadcast_starts_after_its_lead_frames_and_holds_back_later_messages():
    # real seconds at scale 2.0: the broadcast starts 0.4 s after its api reply
    steps = [
        ("api", "uuid_broadcast {uuid} local_stream://moh aleg"),
        ("sleep", "0.2"),  # the broadcast is reading its lead frames
        ("api", "uuid_break {uuid} all"),  # lost
        ("set", "queued=1"),  # behind the running broadcast
        ("sleep", "0.6"),
        ("api", "uuid_break {uuid}"),  # stops it: the queued message runs
        ("sleep", "0.1"),
        ("api", "uuid_broadcast {uuid} local_stream://moh aleg"),
        ("sleep", "0.9"),
        ("set", "flushed=1"),
        ("api", "uuid_break {uuid} all"),  # stops it and flushes the queued message
        ("api", "uuid_broadcast 00000000-0000-4000-8000-000000000000 local_stream://moh aleg"),
    ]
    result, call = run_one(_broadcast_script(steps), {}, scale=2.0)
    events = [e for e in call.results if e[0] != "api"]
    replies = [e[1] for e in call.results if e[0] == "api"]
    assert replies == ["+OK Message sent", "+OK", "+OK", "+OK Message sent", "+OK", "-ERR invalid uuid"]
    assert events[:2] == [
        ("CHANNEL_EXECUTE", "playback_terminators=any"),
        ("CHANNEL_EXECUTE_COMPLETE", "playback_terminators=any"),
    ]
    assert events[2:] == [
        ("CHANNEL_EXECUTE", "local_stream://moh"),
        ("CHANNEL_EXECUTE_COMPLETE", "local_stream://moh"),
        ("CHANNEL_EXECUTE", "queued=1"),
        ("CHANNEL_EXECUTE_COMPLETE", "queued=1"),
        ("CHANNEL_EXECUTE", "local_stream://moh"),
        ("CHANNEL_EXECUTE_COMPLETE", "local_stream://moh"),
    ]
    first, second = result.holds
    assert first["stopped_by"] == second["stopped_by"] == "uuid_break"
    # started 0.2 s (simulated) after its api reply; the break 0.1 s after the reply
    # was lost, the one 0.4 s after it stopped the music
    assert 0.1 <= first["stop_s"] - first["start_s"] <= 0.35


def test_uuid_break_all_right_after_uuid_broadcast_flushes_it_before_it_starts():
    steps = [("api", "uuid_broadcast {uuid} local_stream://moh aleg"), ("api", "uuid_break {uuid} all")]
    result, call = run_one(_broadcast_script(steps), {}, scale=5.0)  # 0.1 s (real) in the queue
    assert not [e for e in call.results if e[1] == "local_stream://moh"]
    assert result.holds == []


# --------------------------------------------------------------------------- show interfaces


def test_show_interfaces_lists_the_loaded_speech_engines():
    with Simulator(scale=0.05, asr_engines=["test"], tts_engines=["flite", "tts_commandline"]) as sim:
        esl = InboundEsl(sim.inbound_address)
        text = esl.api("show interfaces")
        rows = text.split("\n")
        assert rows[0] == "type,name,ikey"
        assert text.endswith(f"\n\n{len([r for r in rows[1:] if r and ',' in r])} total.\n")
        for row in ("asr,test,mod_test", "speech,flite,mod_flite", "speech,test,mod_test",
                    "speech,tts_commandline,mod_tts_commandline", "application,play_and_detect_speech,mod_dptools",
                    "api,uuid_break,mod_commands"):
            assert row in rows
        assert esl.api("module_exists mod_test") == "true"
        assert esl.api("module_exists mod_unimrcp") == "false"
        assert esl.api("module_exists") == "-ERR no reply\n"
        data = esl.api("show interfaces as json")
        assert '{"type":"asr","name":"test","ikey":"mod_test"}' in data
    with Simulator(scale=0.05) as stock:  # as a stock FreeSWITCH / FusionPBX: no ASR
        esl = InboundEsl(stock.inbound_address)
        assert not [r for r in esl.api("show interfaces").split("\n") if r.startswith("asr,")]
