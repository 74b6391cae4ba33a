"""Connections that drop: the call's outbound socket in the middle of a command,
and the inbound ESL connection while a transfer is ringing.

Faults are injected on the simulator's side of the socket (it plays FreeSWITCH):
a partial reply followed by an abort, or a close with no reply at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from voiceai_ivr.esl.protocol import Frame
from voiceai_ivr.flows.transfer import LATE_KILL_WINDOW
from voiceai_sim import outbound as sim_outbound
from voiceai_sim.engine import SimSwitch

from .conftest import FaultStack, Ledger, assert_clean_end, build_fault_stack, ivr_text, scenario, slots

NORMAL_TRANSFER = scenario([{"say": "financeiro"}],
                           agents={"1001": {"behavior": "answer", "answer_after": 2, "accept": True}})


def _command_matches(frame: Frame, target: str) -> bool:
    line = frame.first_line.strip().lower()
    if target.startswith("api "):
        return line.startswith(target + " ")
    return line.startswith("sendmsg") and (frame.get("execute-app-name") or "") == target


@pytest.mark.parametrize(("command", "how"), [
    ("answer", "half_reply"),
    ("play_and_detect_speech", "half_reply"),
    ("play_and_detect_speech", "silent_close"),
    ("api uuid_break", "half_reply"),
    ("api sched_transfer", "half_reply"),
])
def test_outbound_socket_drops_mid_command(command: str, how: str, fault_stack: FaultStack, ledger: Ledger,
                                           caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    original = sim_outbound.OutboundSession.handle
    dropped: list[str] = []

    async def handle(self: sim_outbound.OutboundSession, frame: Frame) -> None:
        if not dropped and self.channel.role == "caller" and _command_matches(frame, command):
            dropped.append(frame.first_line)
            transport = self.writer.transport if self.writer is not None else None
            if how == "half_reply" and transport is not None:
                transport.write(b"Content-Type: command/re")  # a reply cut in the middle
            if transport is not None:
                transport.abort()
            return
        await original(self, frame)

    monkeypatch.setattr(sim_outbound.OutboundSession, "handle", handle)
    # The caller's own socket carries api commands around the hold music: when it
    # starts (``api sched_transfer``, the hold's bound, in the same write as the
    # music) and when it stops (``api uuid_break``, verified by the playback's end;
    # that case dials a busy agent, whose result stops the hold).
    busy = command == "api uuid_break"
    agent = {"behavior": "busy"} if busy else {"behavior": "answer", "answer_after": 2}
    result = fault_stack.run(scenario([{"say": "financeiro"}], agents={"1001": agent}))
    ledger.fault(f"outbound_drop:{command}:{how}")
    assert dropped, f"the {command} command never came"
    info = {k: result.get(k) for k in ("transcript", "socket_end", "errors", "hangup_by", "originates")}
    # FreeSWITCH ends a call whose socket application lost its connection
    assert result["hangup_by"] in ("application", "switch"), info
    if busy:  # the busy agent was dialled before the drop; nothing else was
        assert [o["kind"] for o in result["originates"]] == ["agent"], info
        assert all(o["ended_s"] is not None and not o["bridged"] for o in result["originates"]), info
    elif command == "api sched_transfer":
        # Nothing waits on the hold's commands: the flow learns of the drop from the
        # reactor, and may have dialled the agent meanwhile. That leg is then cut
        # (late kill, at most LATE_KILL_WINDOW), never bridged.
        assert [o["kind"] for o in result["originates"]] in ([], ["agent"]), info
        assert not any(o["bridged"] for o in result["originates"]), info
        deadline = time.monotonic() + LATE_KILL_WINDOW + 2.0
        while fault_stack.sim.live_legs() and time.monotonic() < deadline:
            time.sleep(0.05)
        result = dict(result, live_legs=fault_stack.sim.live_legs())
    else:
        assert result["originates"] == [], info  # nothing was dialled for a call that is gone
    assert_clean_end(fault_stack, result, ledger, caplog)
    assert fault_stack.stack.callbacks() == []
    # the server keeps serving: the next call goes through whole
    monkeypatch.setattr(sim_outbound.OutboundSession, "handle", original)
    again = fault_stack.run(NORMAL_TRANSFER)
    assert again["outcome"] == "transferred", again["transcript"]
    assert_clean_end(fault_stack, again, ledger, caplog, within=float("inf"))


@pytest.fixture
def short_stack(db: Any, config: Any) -> Iterator[FaultStack]:
    # a stuck call is ended by the simulator after 150 simulated seconds (3 s here)
    with build_fault_stack(db, config, max_call_seconds=150.0) as fs:
        yield fs


def test_inbound_esl_drops_during_transfer(short_stack: FaultStack, ledger: Ledger,
                                           caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The inbound connection dies while the agent rings: the caller is told and offered a
    callback (which they take, and it is stored), the client reconnects, and the next
    transfer works."""
    fault_stack = short_stack
    sim = fault_stack.sim
    original = SimSwitch.new_channel
    cut: list[int] = []
    agent_created = threading.Event()

    def new_channel(self: SimSwitch, *args: Any, **kwargs: Any) -> Any:
        ch = original(self, *args, **kwargs)
        if kwargs.get("role") == "agent" and not cut:
            inbound = sim._inbound
            assert inbound is not None
            conns = list(inbound.connections)
            for conn in conns:
                if conn.writer is not None and conn.writer.transport is not None:
                    conn.writer.transport.abort()
                conn.close()
            cut.append(len(conns))
            agent_created.set()
        return ch

    monkeypatch.setattr(SimSwitch, "new_channel", new_channel)
    reconnects_before = fault_stack.client.reconnects
    sc = scenario(
        [{"say": "financeiro"}, {"dtmf": "1"}, {"say": "sim"}, {"say": "amanhã de manhã"},
         {"say": "boleto"}, {"say": "sim"}],
        agents={"1001": {"behavior": "answer", "answer_after": 10, "accept": True}},
    )
    result = fault_stack.run(sc)
    ledger.fault("inbound_esl_drop_during_transfer")
    # the client reconnects by itself whatever the flow did
    assert fault_stack.client.wait_connected(10.0)
    assert fault_stack.client.reconnects > reconnects_before
    info = {k: result.get(k) for k in ("transcript", "originates", "errors")}
    assert agent_created.is_set() and cut and cut[0] >= 1, "the inbound connection was not cut"
    if result["errors"]:
        ledger.note("inbound ESL lost during a transfer: the caller is left on hold music (xfail): "
                    + "; ".join(result["errors"]))
    assert result["errors"] == [], info
    # told, offered a callback, took it
    assert "confirm_caller_id" in slots(result), info
    assert "confirmad" in ivr_text(result).lower(), info
    assert result["outcome"] != "transferred", info
    attempts = fault_stack.stack.attempts(result["call_uuid"])
    assert len(attempts) == 1 and attempts[0]["status"] not in ("accepted", "in_progress"), attempts
    callbacks = fault_stack.stack.callbacks(call_uuid=result["call_uuid"])
    ledger.callbacks(1, len(callbacks), "inbound drop -> callback")
    assert len(callbacks) == 1, info
    assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"), allow_errors=True)
    # the next transfer goes through
    monkeypatch.setattr(SimSwitch, "new_channel", original)
    again = fault_stack.run(NORMAL_TRANSFER)
    assert again["outcome"] == "transferred", again["transcript"]
    assert_clean_end(fault_stack, again, ledger, caplog, within=float("inf"), allow_errors=True)
