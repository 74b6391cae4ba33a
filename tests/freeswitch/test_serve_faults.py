"""``voiceai-ivr serve`` faults on the real switch (issue 19), with what the caller
hears. The dialplan is the one ``voiceai-ivr dialplan install`` writes, with two
serve addresses (``dialplan.socket_failover``) and the secretary's fallback
destination; the serves are real ``voiceai-ivr serve`` processes on two loopback
ports.

The fallback here is an extension of the kit: phone 1001 (rings 1 s, answers). The
kit's test caller is a loopback leg (codec L16); the fallback's bridge offers the
phone the caller's codec and the profile's (``media_mix_inbound_outbound_codecs``),
without which FreeSWITCH offers L16 alone and the phone refuses it (488,
INCOMPATIBLE_DESTINATION) -- as it would for a trunk caller whose codec the
extension lacks (docs/simulator.md, README "Wiring"). A real SIP caller (PCMU,
through the ``internal`` profile) is bridged either way: the 488 is the loopback
caller's, the export is for callers whose codec the extension lacks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from freeswitch.harness import (
    DOMAIN,
    Call,
    Deployment,
    Seen,
    Switchboard,
    _free_port,
    deployed,
    run_serve,
    stop_process,
)

pytestmark = pytest.mark.timeout(240)

DID = "8140"
FALLBACK = "1001"  # kit phone: rings 1 s, answers (presses 1 every 2 s, hangs up ~33 s later)
FALLBACK_ENDPOINT = f"user/{FALLBACK}@{DOMAIN}"
SECOND_PORT = _free_port()
DIRECTORY: dict[str, Any] = {
    "domain": DOMAIN,
    "timezone": "America/Sao_Paulo",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "secretaries": [{
        "name": "Recepção", "dids": [DID], "language": "pt-BR", "announce": False,
        "music_on_hold": "local_stream://moh", "fallback": "Mesa", "callback": True, "ring_timeout": 8,
    }],
    "destinations": [
        {"name": "Mesa", "type": "extension", "target": FALLBACK, "timeout": 20},
        {"name": "Suporte", "type": "extension", "target": "1004", "menu_key": 3, "timeout": 5},
        {"name": "Jurídico", "type": "extension", "target": "1006", "menu_key": 6},
        {"name": "Diretoria", "type": "extension", "target": "1007", "menu_key": 7},
    ],
}
CONFIG = {
    "speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
               "asr_engine": "unimrcp", "listen_timeout": 5.0, "reprompts": 1},
    "server": {"shutdown_grace": 20.0},
    "dialplan": {"socket_failover": [f"127.0.0.1:{SECOND_PORT}"]},
}


class Serve:
    """A further ``voiceai-ivr serve`` of the same deployment on its own port."""

    def __init__(self, dep: Deployment, port: int, name: str) -> None:
        self.dep = dep
        self.port = port
        self.log = dep.workdir / f"{name}.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, *extra: str) -> None:
        assert self.proc is None
        self.proc = run_serve(self.dep.env, self.log, self.port, "--port", str(self.port), "--metrics-port", "0",
                              *extra)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 30.0)
        self.proc = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("faults")), directory=DIRECTORY,
                  did=DID, config=CONFIG, serve=False) as dep:
        yield dep


@pytest.fixture()
def first(deployment: Deployment) -> Iterator[Serve]:
    """serve #1 (the dialplan's first address); stopped after the test."""
    serve = Serve(deployment, deployment.port, "serve1")
    try:
        yield serve
    finally:
        serve.stop()


@pytest.fixture()
def second(deployment: Deployment) -> Iterator[Serve]:
    """serve #2 (``dialplan.socket_failover``); stopped after the test."""
    serve = Serve(deployment, SECOND_PORT, "serve2")
    try:
        yield serve
    finally:
        serve.stop()


# --------------------------------------------------------------------------- helpers


def executed(call: Call, app: str, data_prefix: str = "") -> list[Seen]:
    return [e for e in call.events(call.b) if e.name == "CHANNEL_EXECUTE" and e.app == app
            and e.data.startswith(data_prefix)]


def wait_executed(board: Switchboard, call: Call, app: str, data_prefix: str, timeout: float) -> Seen:
    seen = board.wait_event(lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == call.b and e.app == app
                            and e.data.startswith(data_prefix), timeout, since=call.mark)
    assert seen is not None, f"{app} {data_prefix} never ran on the IVR leg; ran: " + repr(
        [(e.app, e.data[:60]) for e in call.events(call.b) if e.name == "CHANNEL_EXECUTE"])
    return seen


def wait_fallback_answered(board: Switchboard, call: Call, timeout: float) -> Seen:
    """The caller's leg bridged to the fallback destination: the SIP leg to phone 1001."""
    wait_executed(board, call, "bridge", FALLBACK_ENDPOINT, timeout)
    bridged = board.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), timeout,
                               since=call.mark)
    refused = [e.h.get("Hangup-Cause") for e in board.since(call.mark)
               if e.name == "CHANNEL_HANGUP" and e.uuid != call.a and e.uuid != call.b]
    assert bridged is not None, f"the fallback destination never answered (other legs ended: {refused})"
    other = bridged.h.get("Bridge-B-Unique-ID") or bridged.h.get("Other-Leg-Unique-ID", "")
    name = board.api(f"uuid_getvar {other} channel_name")
    assert name.startswith(f"sofia/internal/{FALLBACK}@"), f"bridged to {name!r}, not the extension's SIP leg"
    assert board.wait_event(lambda e: e.h.get("variable_kit_phone") == FALLBACK, 2, since=call.mark), \
        f"phone {FALLBACK} never saw the call"
    return bridged


def end_fallback(board: Switchboard, call: Call) -> None:
    """Hang the caller up; the extension's leg goes with it: no channel left."""
    end(call)
    left = board.wait_no_channels(10)
    assert left == 0, f"{left} channels left after the fallback call: {board.api('show channels')}"


def socket_tries(call: Call) -> list[str]:
    return [e.data for e in executed(call, "socket")]


def end(call: Call) -> None:
    call.hangup()
    call.wait_gone(10)


def pick(board: Switchboard, key: str) -> Call:
    call = board.call(DID)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press(key)
    return call


# --------------------------------------------------------------------------- (a) serve down


def test_no_serve_caller_hears_ringback_then_reaches_the_fallback(switchboard: Switchboard,
                                                                 deployment: Deployment) -> None:
    started = time.monotonic()
    call = switchboard.call(DID)
    ringing = wait_executed(switchboard, call, "bridge", FALLBACK_ENDPOINT, 10)
    bridged = wait_fallback_answered(switchboard, call, 15)
    # Both addresses were tried (refused at once), then the fallback: ringback, never silence.
    assert socket_tries(call) == [f"127.0.0.1:{deployment.port} async full",
                                  f"127.0.0.1:{SECOND_PORT} async full"], socket_tries(call)
    assert [e.data for e in executed(call, "set", "transfer_ringback=")], "no ringback while the fallback rings"
    print(f"\nserve down: fallback dialled {ringing.t - started:.2f}s after the call arrived, "
          f"answered after {bridged.t - started:.2f}s")
    assert ringing.t - started < 2.0
    end_fallback(switchboard, call)


def test_a_real_sip_caller_reaches_the_fallback_extension(switchboard: Switchboard, deployment: Deployment) -> None:
    """The caller is an inbound SIP leg of the ``internal`` profile (PCMU), not the
    kit's loopback: the fallback's INVITE to the extension offers the caller's codec
    first and the phone answers."""
    call = switchboard.sip_call(DID)
    wait_fallback_answered(switchboard, call, 15)
    codec = switchboard.api(f"uuid_getvar {call.b} read_codec")
    assert codec in ("PCMU", "PCMA"), codec
    assert socket_tries(call) == [f"127.0.0.1:{deployment.port} async full",
                                  f"127.0.0.1:{SECOND_PORT} async full"], socket_tries(call)
    end_fallback(switchboard, call)


def test_normal_end_never_reaches_the_fallback(switchboard: Switchboard, deployment: Deployment,
                                               first: Serve) -> None:
    """A call the handler transferred (bridged to 1007, who hangs up after 2 s): the
    caller's leg ends with the agent, the dialplan never dials the fallback."""
    first.start()
    call = pick(switchboard, "7")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    call.wait_gone(30)
    assert deployment.call_row(call.b)["outcome"] == "transferred"
    time.sleep(1.0)
    assert not executed(call, "bridge"), "the fallback was dialled after a normal end"
    assert not executed(call, "set", "voiceai_fallback"), "the fallback branch ran after a normal end"


def test_hold_bound_removed_once_bridged(switchboard: Switchboard, deployment: Deployment, first: Serve) -> None:
    """Jurídico (1006) answers and stays silent for 30 s: the bridged caller is still
    with the agent past the hold bound (ring 8 + 5 + 5 = 18 s after the hold began):
    the sched_transfer was removed when the hold ended."""
    first.start()
    call = pick(switchboard, "6")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    (start, _end), *_ = call.hold_music()
    time.sleep(max(0.0, start + 18 + 3 - time.monotonic()))
    assert call.hangup_of(call.b) is None, "the bridged caller was cut"
    assert not [e for e in call.events() if e.name == "CHANNEL_UNBRIDGE"], "the bridge was broken"
    assert not executed(call, "transfer"), "the caller re-entered the dialplan while bridged"
    assert not executed(call, "set", "voiceai_fallback")
    end(call)


def test_caller_ends_the_call_in_the_ivr_no_fallback(switchboard: Switchboard, deployment: Deployment,
                                                     first: Serve) -> None:
    first.start()
    call = switchboard.call(DID)
    call.wait_listen("intent")
    end(call)
    assert deployment.call_row(call.b)["outcome"] == "caller_hangup"
    assert not executed(call, "set", "voiceai_fallback")


# --------------------------------------------------------------------------- (b) two serves


def test_first_serve_down_second_takes_the_call(switchboard: Switchboard, deployment: Deployment,
                                                second: Serve) -> None:
    second.start()
    started = time.monotonic()
    call = switchboard.call(DID)
    greeting = call.wait_listen("intent", 20)
    print(f"\nfailover: the second serve greeted {greeting.t - started:.2f}s after the call arrived")
    assert socket_tries(call) == [f"127.0.0.1:{deployment.port} async full",
                                  f"127.0.0.1:{SECOND_PORT} async full"]
    end(call)
    assert deployment.call_row(call.b)["outcome"] == "caller_hangup"
    assert call.b in second.text(), "serve #2 did not log the call"
    assert not executed(call, "set", "voiceai_fallback")


def test_first_serve_up_second_never_tried(switchboard: Switchboard, deployment: Deployment, first: Serve,
                                           second: Serve) -> None:
    first.start()
    second.start()
    call = switchboard.call(DID)
    call.wait_listen("intent", 20)
    end(call)
    assert socket_tries(call) == [f"127.0.0.1:{deployment.port} async full"]
    assert call.b in first.text() and call.b not in second.text()


def test_serves_at_capacity_hand_calls_on_to_the_next_serve_then_the_fallback(
        switchboard: Switchboard, deployment: Deployment, first: Serve, second: Serve) -> None:
    """Both serves at ``--max-calls 1``. A call in progress fills #1; the next call
    is handed back unserved by #1 (no busy message) and #2 takes it; with #2 full
    too, a third call goes on to the fallback extension."""
    first.start("--max-calls", "1")
    second.start("--max-calls", "1")
    one = switchboard.call(DID)
    one.wait_listen("intent", 20)
    started = time.monotonic()
    two = switchboard.call(DID)
    greeting = two.wait_listen("intent", 20)
    print(f"\nserve #1 full: serve #2 greeted {greeting.t - started:.2f}s after the call arrived")
    assert socket_tries(two) == [f"127.0.0.1:{deployment.port} async full",
                                 f"127.0.0.1:{SECOND_PORT} async full"], socket_tries(two)
    assert f"call {two.b}: at capacity; handed back to the dialplan" in first.text()
    assert two.b in second.text() and one.b not in second.text()
    assert not [e for e in executed(two, "playback") if "ocupad" in e.data], "the caller heard the busy message"
    assert not executed(two, "set", "voiceai_fallback")
    started = time.monotonic()
    three = switchboard.call(DID)
    ringing = wait_executed(switchboard, three, "bridge", FALLBACK_ENDPOINT, 10)
    wait_fallback_answered(switchboard, three, 15)
    print(f"both serves full: the fallback dialled {ringing.t - started:.2f}s after the call arrived")
    assert socket_tries(three) == socket_tries(two)
    assert f"call {three.b}: at capacity" in first.text() and f"call {three.b}: at capacity" in second.text()
    assert not [e for e in executed(three, "playback") if "ocupad" in e.data]
    for call in (one, two):
        end(call)
    end_fallback(switchboard, three)


# --------------------------------------------------------------------------- (c) SIGTERM: drain


def test_sigterm_drains_calls_in_progress_and_new_calls_go_to_the_other_serve(
        switchboard: Switchboard, deployment: Deployment, first: Serve, second: Serve) -> None:
    first.start()
    second.start()
    busy = switchboard.call(DID)
    busy.wait_listen("intent", 20)
    assert first.proc is not None
    closed_before = first.text().count("stopped accepting")
    first.proc.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    # A new call as soon as serve #1 has closed its listener: FreeSWITCH's connect is
    # refused and serve #2 takes it. (A call FreeSWITCH connected a few ms before the
    # close is rightly #1's and drained with the others: CI once placed it there.)
    while first.text().count("stopped accepting") == closed_before:
        assert time.monotonic() - stopping < 10, "serve #1 did not close its listener within 10 s of SIGTERM"
        time.sleep(0.02)
    print(f"\nserve #1 closed its listener {time.monotonic() - stopping:.3f}s after SIGTERM")
    fresh = switchboard.call(DID)
    fresh.wait_listen("intent", 20)
    assert socket_tries(fresh) == [f"127.0.0.1:{deployment.port} async full",
                                   f"127.0.0.1:{SECOND_PORT} async full"], socket_tries(fresh)
    assert fresh.b in second.text()
    # The call in progress is still served by #1 (drain): it goes on to a transfer.
    assert first.proc.poll() is None, "serve #1 exited with a call in progress"
    busy.wait_prompt_started()
    busy.press("7")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and busy.b in e.h.values(), 40,
                                     since=busy.mark)
    assert bridged is not None, f"the draining call was not transferred; prompts: {busy.prompts()}"
    first.proc.wait(25)
    drained = time.monotonic() - stopping
    print(f"\ndrain: serve #1 exited {drained:.2f}s after SIGTERM (one call finished meanwhile)")
    assert first.proc.returncode == 0, first.text()[-2000:]
    assert "(0 calls cut)" in first.text()
    first.proc = None
    assert deployment.call_row(busy.b)["outcome"] == "transferred"
    end(fresh)
    busy.wait_gone(30)
    assert not executed(busy, "set", "voiceai_fallback")


def test_sigterm_grace_over_the_call_goes_to_the_fallback_not_cut(
        switchboard: Switchboard, deployment: Deployment) -> None:
    """A call still in the IVR when the drain ends (server.shutdown_grace 3 s here)
    is handed back to the dialplan (uuid_transfer), whose fallback takes it."""
    import yaml

    config = yaml.safe_load(deployment.config_path.read_text())
    config["server"]["shutdown_grace"] = 3.0
    short = deployment.workdir / "short-grace.yaml"
    short.write_text(yaml.safe_dump(config))
    env = {**deployment.env, "VOICEAI_CONFIG": str(short)}
    log = deployment.workdir / "short-grace.log"
    proc = run_serve(env, log, deployment.port, "--metrics-port", "0")
    try:
        call = switchboard.call(DID)
        call.wait_listen("intent", 20)
        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        fallback = wait_executed(switchboard, call, "bridge", FALLBACK_ENDPOINT, 15)
        print(f"\ngrace over: the caller was dialling the fallback {fallback.t - stopping:.2f}s after SIGTERM "
              f"(grace 3 s)")
        assert 3.0 <= fallback.t - stopping <= 6.0
        wait_fallback_answered(switchboard, call, 15)
        assert proc.wait(15) == 0
        text = log.read_text(errors="replace")
        assert "(1 calls cut)" in text and "handed to the dialplan's fallback" in text, text[-2000:]
        assert call.hangup_of(call.b) is None, "the caller was cut, not handed to the fallback"
        end_fallback(switchboard, call)
    finally:
        if proc.poll() is None:
            stop_process(proc)


# --------------------------------------------------------------------------- (d) SIGKILL on hold


def test_sigkill_during_hold_caller_reaches_the_fallback_agent_leg_ends(
        switchboard: Switchboard, deployment: Deployment, first: Serve) -> None:
    """Suporte (1004) rings and never answers (ring timeout 5 s). serve is killed
    while the caller hears hold music: FreeSWITCH's own sched_transfer ends the hold
    and the dialplan's fallback takes the caller; the agent leg stops at its
    originate timeout."""
    first.start()
    call = pick(switchboard, "3")
    hold = switchboard.wait_event(lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == call.b
                                  and e.app == "playback" and e.data.startswith("local_stream://"), 30,
                                  since=call.mark)
    assert hold is not None, f"no hold music; prompts: {call.prompts()}"
    agent = switchboard.wait_event(lambda e: e.name == "CHANNEL_CREATE" and e.h.get("variable_voiceai_role") == "agent",
                                   10, since=call.mark)
    assert agent is not None, "the agent leg was never created"
    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    first.proc.wait(5)
    first.proc = None
    # ring timeout 5 + originate margin 5 + slack 5 = 15 s after the hold started
    fallback = wait_executed(switchboard, call, "bridge", FALLBACK_ENDPOINT, 30)
    print(f"\nSIGKILL on hold: hold music started {hold.t:.2f}, serve killed {killed - hold.t:.2f}s into it, "
          f"the fallback dialled {fallback.t - hold.t:.2f}s after the hold started")
    assert fallback.t - hold.t <= 15 + 2.0
    music = call.hold_music()
    assert music and music[0][1] is not None and music[0][1] <= fallback.t + 0.5, music
    wait_fallback_answered(switchboard, call, 15)
    gone = call.hangup_of(agent.uuid, 15)
    assert gone is not None, "the agent leg rang on after the caller left"
    print(f"agent leg ended {gone.t - hold.t:.2f}s after the hold started ({gone.h.get('Hangup-Cause')})")
    assert gone.t - hold.t <= 5 + 2.0  # its originate timeout (Suporte: 5 s), not the caller's fate
    end_fallback(switchboard, call)
