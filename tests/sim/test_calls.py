"""Scripted callers and agents end to end over real sockets: DTMF, speech, silence,
hangups (at a listen, after N seconds on hold), agents on a socket leg."""

from __future__ import annotations

import asyncio
import time

import pytest

from sim.peer import Peer, PeerCall, PeerGone
from voiceai_sim import Simulator

DETECT = "detect:unimrcp {no-input-timeout=4000,recognition-timeout=8000}builtin:grammar/boolean"
PAGD = "1 5 1 3000 # say:Digite silence_stream://250 {var} \\d+ 2000"


def run_one(script, scenario, *, agents=None, scale=0.01, sim_kwargs=None):
    kwargs = {"asr_engines": ["unimrcp"], **(sim_kwargs or {})}  # a PBX that recognises speech
    with Simulator(scale=scale, agents=agents or {}, **kwargs) as sim, Peer(script) as peer:
        result = sim.place_call(scenario, peer.address, timeout=30)
        deadline = time.monotonic() + 5
        while peer.done < len(peer.calls) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not peer.failures, peer.failures
    return result, peer


async def listen_script(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    await call.execute("set", "voiceai_slot=menu")
    got = await call.execute("play_and_get_digits", PAGD.format(var="menu_digits"))
    call.results = {"digits": got.get("variable_menu_digits"), "read": got.get("variable_read_result")}
    await call.execute("set", "voiceai_slot=intent")
    got = await call.execute("play_and_detect_speech", f"say:Com quem deseja falar? {DETECT}")
    call.results["speech"] = got.get("variable_detect_speech_result")
    await call.execute("set", "voiceai_slot=yes_no")
    got = await call.execute("play_and_get_digits", PAGD.format(var="confirm"))
    call.results["confirm"] = got.get("variable_confirm")
    call.results["confirm_read"] = got.get("variable_read_result")
    await call.send("sendmsg", [("call-command", "hangup"), ("hangup-cause", "NORMAL_CLEARING")])
    await call.finish()


def test_dtmf_speech_and_silence_inputs():
    result, peer = run_one(
        listen_script,
        {"caller_inputs": [{"dtmf": "123#"}, {"say": "quero falar com o financeiro"}, {"silence": True}]},
    )
    r = peer.calls[0].results
    assert r["digits"] == "123" and r["read"] == "success"
    # mod_test's JSON (the default result format), byte for byte as the kit writes it
    assert r["speech"] == (
        '{"grammar": "builtin:grammar/boolean", "text": "quero falar com o financeiro", "confidence": 87.300000}'
    )
    assert r["confirm"] is None and r["confirm_read"] == "failure"
    caller_turns = [e for e in result.transcript if e["from"] == "caller"]
    assert [(e["kind"], e["text"], e["slot"]) for e in caller_turns] == [
        ("dtmf", "123#", "menu"),
        ("say", "quero falar com o financeiro", "intent"),
        ("silence", "", "yes_no"),
    ]
    prompts = [e for e in result.transcript if e["from"] == "ivr" and e.get("slot") == "intent"]
    assert prompts[0]["text"] == "Com quem deseja falar?"
    assert result.outcome == "ended" and result.hangup_by == "application"


async def detect_with_keys(call: PeerCall) -> None:
    """The channel adapter's way: ``playback_terminators=any`` set at answer, so
    FreeSWITCH ends the application on the first key itself (``DIGIT: 4``); the
    following keys arrive as DTMF events while the leg is parked."""
    await call.standard_start()
    await call.execute("answer")
    await call.execute("set", "playback_terminators=any")
    done = await call.execute("play_and_detect_speech", f"say:Diga o nome ou tecle o ramal {DETECT}")
    keys = ""
    while not keys.endswith("#"):
        keys += (await call.wait_event("DTMF")).get("DTMF-Digit")
    call.results = {
        "keys": keys,
        "speech": done.get("variable_detect_speech_result"),
        "response": done.get("Application-Response"),
        "terminator": done.get("variable_playback_terminator_used"),
    }
    await call.send("sendmsg", [("call-command", "hangup")])
    await call.finish()


def test_a_key_during_detect_speech_ends_it_through_playback_terminators():
    result, peer = run_one(detect_with_keys, {"caller_inputs": [{"dtmf": "42#"}]})
    assert peer.calls[0].results == {"keys": "42#", "speech": "DIGIT: 4", "response": "DONE", "terminator": "4"}
    assert result.errors == []


async def keeps_listening(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    for _ in range(20):
        await call.execute("play_and_detect_speech", f"say:Alo {DETECT}")
        if any(e.name == "CHANNEL_HANGUP" for e in call.events_seen):
            break
    await call.finish()


async def finish_on_hangup(call: PeerCall) -> None:
    await call.standard_start()
    await call.execute("answer")
    await call.execute("playback", "say:Bem-vindo")
    got = await call.execute("play_and_get_digits", PAGD.format(var="d"))
    call.results = {"cause": got.get("Hangup-Cause")}
    await call.finish()


def test_hangup_true_at_next_listen():
    result, peer = run_one(finish_on_hangup, {"caller_inputs": [{"hangup": True}]})
    assert result.outcome == "caller_hangup"
    assert result.hangup_by == "caller"
    assert result.socket_end == "exit"
    assert peer.calls[0].results == {"cause": "NORMAL_CLEARING"}
    assert result.transcript[-1]["kind"] == "hangup"


def test_when_inputs_run_out_the_caller_hangs_up_after_a_bounded_number_of_listens():
    result, _peer = run_one(keeps_listening, {"caller_inputs": [{"say": "oi"}]}, sim_kwargs={"extra_listens": 2})
    listens = [e for e in result.transcript if e["from"] == "caller"]
    assert [e["kind"] for e in listens] == ["say", "silence", "silence", "hangup"]
    assert result.outcome == "caller_hangup"


# --------------------------------------------------------------------------- transfers with agent socket legs

AGENT_VARS = "voiceai_role=agent"


def transfer_script(kill_agent_on_hangup: bool = True, ring_timeout: int = 20):
    """A small attended transfer: hold music, agent leg on our socket with an
    announcement (1 accept / 2 decline), bridge on accept.

    The agent side tells the caller side what the agent keyed through a future
    keyed by the agent leg's uuid, and "gone" when the leg hangs up at any step:
    before ``connect`` is answered (FreeSWITCH then sends only the disconnect
    notice, which names the leg), during ``myevents``/``linger`` (no linger yet:
    FreeSWITCH disconnects at once), after ``linger`` but before the announcement
    runs (the ``sendmsg`` gets +OK, the application never runs) or during it."""
    shared: dict[str, asyncio.Future] = {}

    def answer_for(agent_uuid: str) -> asyncio.Future:
        return shared.setdefault(agent_uuid, asyncio.get_running_loop().create_future())

    def settle(agent_uuid: str, key: object) -> None:
        answer = answer_for(agent_uuid)
        if not answer.done():
            answer.set_result(key)

    async def script(call: PeerCall) -> None:
        try:
            data = await call.connect()
        except PeerGone:
            notices = [f for f in call.received if f.content_type == "text/disconnect-notice"]
            if notices:
                settle(notices[0].get("Controlled-Session-UUID") or "", "gone")
            raise
        if data.get("variable_voiceai_role") == "agent":
            await agent_side(call)
        else:
            await caller_side(call)

    async def agent_side(call: PeerCall) -> None:
        try:
            await call.reply_to("myevents")
            await call.reply_to("linger")
            got = await call.execute("play_and_get_digits", "1 1 1 3000 # 'say:Ligação para você' '' key \\d 1000")
        except PeerGone:
            settle(call.uuid, "gone")
            return
        # CHANNEL_HANGUP_COMPLETE instead of the completion: hung up before it ran
        settle(call.uuid, "gone" if got.name == "CHANNEL_HANGUP_COMPLETE" else got.get("variable_key"))
        await call.finish(timeout=30)

    async def caller_side(call: PeerCall) -> None:
        await call.reply_to("myevents")
        await call.reply_to("event plain BACKGROUND_JOB")
        await call.reply_to("linger")
        await call.execute("answer")
        await call.execute("set", "voiceai_slot=intent")
        await call.execute("play_and_detect_speech", f"say:Com quem? {DETECT}")
        agent = "a9e0c8a4-2222-4222-8222-222222222222"
        host, port = call.writer.get_extra_info("sockname")[:2]
        answer = answer_for(agent)
        await call.api(f"uuid_broadcast {call.uuid} local_stream://moh aleg")
        reply = await call.reply_to(
            f"bgapi originate {{origination_uuid={agent},originate_timeout={ring_timeout},{AGENT_VARS},"
            f"voiceai_caller={call.uuid}}}user/1002@demo.local &socket('{host}:{port} async full')"
        )
        job = reply.get("Job-UUID")
        result = await call.wait_event(
            "BACKGROUND_JOB" if not kill_agent_on_hangup else "*",
            None if not kill_agent_on_hangup else (
                lambda e: (e.name == "BACKGROUND_JOB" and e.get("Job-UUID") == job) or e.name == "CHANNEL_HANGUP"
            ),
            60,
        )
        if result.name == "CHANNEL_HANGUP":
            # the caller left while the agent rings: kill the agent leg, then exit
            call.results = {"killed": (await call.api(f"uuid_kill {agent}")).strip()}
            await call.finish()
            return
        if not result.body.startswith("+OK"):
            call.results = {"originate": result.body.strip()}
            await call.api(f"uuid_break {call.uuid} all")
            await call.send("sendmsg", [("call-command", "hangup")])
            await call.finish()
            return
        try:
            key = await asyncio.wait_for(asyncio.shield(answer), 30)
        except PeerGone:
            return
        call.results = {"originate": "+OK", "key": key}
        await call.api(f"uuid_break {call.uuid} all")
        if key == "1":
            await call.api(f"uuid_bridge {call.uuid} {agent}")
        else:
            await call.api(f"uuid_kill {agent}")
            await call.send("sendmsg", [("call-command", "hangup")])
        await call.finish(timeout=30)

    return script, shared


def test_hangup_after_n_seconds_while_on_hold_leaves_the_ringing_agent_up_when_the_app_forgets():
    # a ring longer than the simulator's 1 s (real) grace for legs after the call
    script, _ = transfer_script(kill_agent_on_hangup=False, ring_timeout=400)
    result, _peer = run_one(
        script,
        {"caller_inputs": [{"say": "financeiro"}, {"hangup": {"after": 20}}]},
        agents={"1002": {"behavior": "no_answer"}},
    )
    assert result.outcome == "caller_hangup"
    hold = result.holds[0]
    assert hold["source"] == "local_stream://moh" and hold["stopped_by"] == "hangup"
    # the hangup comes 20 s after the listen (0.2 s real at this scale: room for the
    # application side's own latency); the music played until that hangup
    hangup_t = next(e["t"] for e in result.transcript if e["from"] == "caller" and e["kind"] == "hangup")
    assert hold["start_s"] < hangup_t and abs(hold["stop_s"] - hangup_t) < 1.0
    # the application did not kill the ringing agent leg: the simulator reports it
    assert result.legs_left_up == 1
    assert result.live_legs[0]["target"] == "1002"


def test_hangup_after_n_seconds_while_on_hold_and_the_app_kills_the_ringing_agent():
    script, _ = transfer_script(kill_agent_on_hangup=True, ring_timeout=600)
    result, peer = run_one(
        script,
        {"caller_inputs": [{"say": "financeiro"}, {"hangup": {"after": 20}}]},
        agents={"1002": {"behavior": "no_answer"}},
    )
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results == {"killed": "+OK"}
    assert result.outcome == "caller_hangup" and result.hangup_by == "caller"
    assert result.legs_left_up == 0 and result.live_legs == []
    assert result.socket_end == "exit"
    assert result.originates[0]["result"] == "-ERR NORMAL_CLEARING"  # killed while ringing
    hold = result.holds[0]
    hangup_t = next(e["t"] for e in result.transcript if e["from"] == "caller" and e["kind"] == "hangup")
    assert hold["stopped_by"] == "hangup" and hold["start_s"] < hangup_t and abs(hold["stop_s"] - hangup_t) < 1.0


@pytest.mark.parametrize(
    ("agent", "key", "outcome", "bridged"),
    [
        ({"behavior": "answer", "answer_after": 2, "accept": True, "talk_for": 4}, "1", "transferred", True),
        ({"behavior": "answer", "answer_after": 2, "accept": False}, "2", "ended", False),
        ({"behavior": "answer", "answer_after": 2, "accept": None}, None, "ended", False),
    ],
)
def test_agent_on_a_socket_leg_accepts_declines_or_says_nothing(agent, key, outcome, bridged):
    script, _ = transfer_script()
    result, peer = run_one(script, {"caller_inputs": [{"say": "financeiro"}]}, agents={"1002": agent})
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results == {"originate": "+OK", "key": key}
    assert result.outcome == outcome
    assert result.transfers[0]["destination"] == "1002"
    assert result.transfers[0]["status"] == ("bridged" if bridged else "answered")
    assert result.legs_left_up == 0
    announcement = [e for e in result.transcript if e.get("leg") == "agent" and e["from"] == "ivr"]
    assert announcement and announcement[0]["text"] == "Ligação para você"
    hold = result.holds[0]
    assert hold["stopped_by"] in ("uuid_break", "bridge")


def test_agent_hangs_up_during_the_announcement():
    script, _ = transfer_script()
    result, peer = run_one(
        script,
        {"caller_inputs": [{"say": "financeiro"}]},
        agents={"1002": {"behavior": "answer", "answer_after": 1, "hangup_after": 0.5}},
    )
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results["key"] in (None, "gone")
    assert result.legs_left_up == 0
    assert any(e["from"] == "agent" and e["kind"] == "hangup" for e in result.transcript)


def test_agent_busy_via_socket_originate():
    script, _ = transfer_script()
    result, peer = run_one(script, {"caller_inputs": [{"say": "financeiro"}]}, agents={"1002": {"behavior": "busy"}})
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results == {"originate": "-ERR USER_BUSY"}
    assert result.transfers == [
        {
            "destination": "1002",
            "dial_string": result.transfers[0]["dial_string"],
            "status": "failed",
            "hangup_cause": "USER_BUSY",
            "leg_uuid": None,
        }
    ]
    assert "user/1002@demo.local" in result.transfers[0]["dial_string"]


def test_socket_app_unquoted_gets_only_host_port_like_freeswitch():
    from voiceai_sim.args import parse_originate

    spec = parse_originate("{a=1}user/1002@demo.local &socket(127.0.0.1:8084 async full)")
    assert (spec.app, spec.app_arg) == ("socket", "127.0.0.1:8084")
    spec = parse_originate("{a=1}user/1002@demo.local &socket('127.0.0.1:8084 async full')")
    assert (spec.app, spec.app_arg) == ("socket", "127.0.0.1:8084 async full")


def test_exit_right_after_uuid_bridge_keeps_the_bridged_call_up():
    """uuid_bridge answers +OK before the legs are joined; a handler that sends
    ``exit`` at once must not hang the caller up (FreeSWITCH ends the socket app
    and the bridge goes on)."""

    async def script(call: PeerCall) -> None:
        await call.standard_start()
        await call.execute("answer")
        await call.api(f"uuid_broadcast {call.uuid} local_stream://moh aleg")  # on hold while it rings
        reply = await call.api(
            "originate {origination_uuid=5b2a0e84-1111-4c44-9a55-0123456789ab,originate_timeout=10}"
            "user/1002@demo.local &park()"
        )
        bridged = await call.api(f"uuid_bridge {call.uuid} 5b2a0e84-1111-4c44-9a55-0123456789ab")
        call.results = {"originate": reply.strip().split(" ")[0], "bridge": bridged.strip().split(" ")[0]}
        await call.send("exit")  # at once: no wait for CHANNEL_BRIDGE
        try:
            while True:
                await call._next_frame(5.0)
        except PeerGone:
            pass

    result, peer = run_one(
        script,
        {"caller_inputs": [{"say": "financeiro"}]},
        agents={"1002": {"behavior": "answer", "answer_after": 0.5, "talk_for": 3}},
    )
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results == {"originate": "+OK", "bridge": "+OK"}
    assert result.transfers[0]["status"] == "bridged"
    assert result.hangup_by == "bridge-peer"  # the agent ended the bridged call, not the socket exit
    assert result.legs_left_up == 0


def test_agent_hangs_up_before_its_socket_application_is_connected():
    """The agent leg hangs up while the ``socket`` application is still opening its
    connection: the application gets the disconnect notice (naming the leg) and the
    socket closes, as FreeSWITCH does with no linger asked for yet; no leg is left up."""
    script, _ = transfer_script()
    result, peer = run_one(
        script,
        {"caller_inputs": [{"say": "financeiro"}]},
        agents={"1002": {"behavior": "answer", "answer_after": 1, "hangup_after": 0}},
    )
    caller = next(c for c in peer.calls if getattr(c, "results", None))
    assert caller.results == {"originate": "+OK", "key": "gone"}
    assert result.legs_left_up == 0 and result.errors == []
    agent_conn = next(c for c in peer.calls if c is not caller)
    notices = [f for f in agent_conn.received if f.content_type == "text/disconnect-notice"]
    assert notices and notices[0].get("Controlled-Session-UUID") == "a9e0c8a4-2222-4222-8222-222222222222"
