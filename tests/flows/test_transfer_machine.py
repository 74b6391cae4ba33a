"""The transfer state machine's rules that no scenario can reach: one transfer in
flight per call, and events a state does not accept."""

from __future__ import annotations

import threading
from typing import Optional

import pytest
from doubles.fs_session import FakeSession

from voiceai_ivr.channel.base import HoldBound
from voiceai_ivr.channel.modpython import ModPythonChannel
from voiceai_ivr.config import Config
from voiceai_ivr.flows.context import CallContext, Services
from voiceai_ivr.flows.prompts import PromptBook
from voiceai_ivr.flows.transfer import (
    FINAL,
    IN_PROGRESS,
    TRANSITIONS,
    AttendedTransfer,
    TransferMachine,
    TransferTarget,
    TransitionError,
)


def _ctx(switch: object = None, channel_class: type[ModPythonChannel] = ModPythonChannel) -> CallContext:
    session = FakeSession([], variables={"domain_name": "demo.local"})
    cfg = Config()
    services = Services(config=cfg, prompts=PromptBook.from_config(cfg), switch=switch)
    return CallContext(channel_class(session), services)


class _RecordingSwitch:
    """Records PBX commands; a second transfer must not send any."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def __getattr__(self, name: str) -> object:
        def record(*args: object, **kwargs: object) -> None:
            self.commands.append(name)
            raise AssertionError(f"switch.{name} called by a refused transfer")

        return record


def test_a_second_transfer_while_one_runs_is_refused_not_doubled() -> None:
    switch = _RecordingSwitch()
    ctx = _ctx(switch)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local")
    assert ctx.transfer_slot.try_enter("first")  # one transfer in flight
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(AttendedTransfer(ctx, target).run().status))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == [IN_PROGRESS] * 3
    assert switch.commands == []
    ctx.transfer_slot.leave()
    assert not ctx.transfer_slot.busy


def test_machine_logs_transitions_and_refuses_unknown_events() -> None:
    seen: list[str] = []
    m = TransferMachine("t1", lambda a, e, b: seen.append(f"{a} -> {e} -> {b}"))
    for event in ("request", "open", "dialing", "answered_announce", "agent_accepted", "bridged"):
        m.fire(event)
    assert m.state == "accepted" and m.final
    assert seen[0] == "idle -> request -> checking" and seen[-1] == "bridging -> bridged -> accepted"
    with pytest.raises(TransitionError, match="not allowed in state 'accepted'"):
        m.fire("request")
    # every non-final state can see the caller hang up, so nobody is left ringing
    for state in {a for a, _ in TRANSITIONS} - {"idle"}:
        assert (state, "caller_hangup") in TRANSITIONS, state
    assert set(TRANSITIONS.values()) - {a for a, _ in TRANSITIONS} == set(FINAL)


class _LateLegSwitch:
    """``uuid_kill`` answers "no such channel" until FreeSWITCH has created the leg."""

    def __init__(self, created_after: float) -> None:
        import time

        self.created_at = time.monotonic() + created_after
        self.kills: list[tuple[str, bool]] = []

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        import time

        exists = time.monotonic() >= self.created_at
        self.kills.append((uuid, exists))
        return exists


class _PendingJob:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result = None


def test_a_kill_sent_before_the_agent_leg_exists_is_resent_until_it_does() -> None:
    """The caller hangs up while the originate is still creating the agent's leg:
    the first uuid_kill finds no channel; the leg must still not ring on."""
    switch = _LateLegSwitch(created_after=0.35)
    ctx = _ctx(switch)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local")
    transfer = AttendedTransfer(ctx, target)
    transfer.attempt.agent_uuid = "b8a3c2d4-0000-4000-8000-000000000001"
    transfer._job = _PendingJob()
    transfer._kill_agent()
    deadline = threading.Event()
    for _ in range(40):
        if any(exists for _, exists in switch.kills):
            break
        deadline.wait(0.05)
    assert switch.kills[0][1] is False, switch.kills
    assert switch.kills[-1][1] is True, "the kill was not re-sent once the leg existed"


def test_no_late_kill_when_the_originate_failed() -> None:
    switch = _LateLegSwitch(created_after=60)
    ctx = _ctx(switch)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local")
    transfer = AttendedTransfer(ctx, target)
    transfer.attempt.agent_uuid = "b8a3c2d4-0000-4000-8000-000000000002"
    job = _PendingJob()
    transfer._job = job
    transfer._kill_agent()
    job.done.set()  # the originate failed (result None / not ok): nothing to kill
    threading.Event().wait(0.3)
    assert len(switch.kills) <= 2, switch.kills


class _SchedSwitch:
    """Records the hold-bound commands; ``cancel_fails`` makes sched_del fail."""

    def __init__(self, cancel_fails: int = 0) -> None:
        self.calls: list[tuple] = []
        self.cancel_fails = cancel_fails

    def schedule_transfer(self, uuid: str, seconds: int, extension: str, context: str) -> None:
        self.calls.append(("schedule_transfer", uuid, seconds, extension, context))

    def cancel_scheduled(self, uuid: str) -> bool:
        self.calls.append(("cancel_scheduled", uuid))
        if self.cancel_fails:
            self.cancel_fails -= 1
            from voiceai_ivr.errors import CommandError

            raise CommandError("sched_del", "-ERR timeout")
        return True

    def broadcast(self, uuid: str, source: str, leg: str = "aleg") -> None:
        self.calls.append(("broadcast", uuid, source))

    def break_media(self, uuid: str) -> bool:
        self.calls.append(("break_media", uuid))
        return True

    def bridge(self, a: str, b: str) -> None:
        self.calls.append(("bridge", a, b))

    def setvar(self, uuid: str, name: str, value: str) -> None:
        self.calls.append(("setvar", uuid, name, value))


def test_hold_bound_covers_the_longest_legitimate_hold() -> None:
    from voiceai_ivr.flows.agent import ANNOUNCE_BUDGET
    from voiceai_ivr.flows.transfer import AGENT_CONNECT_TIMEOUT, HOLD_BOUND_SLACK, ORIGINATE_MARGIN

    ctx = _ctx(_SchedSwitch())
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local", timeout=25)
    quiet = AttendedTransfer(ctx, target, announce=False)
    assert quiet.hold_bound_seconds() == int(25 + ORIGINATE_MARGIN + HOLD_BOUND_SLACK)
    announced = AttendedTransfer(ctx, target, announce=True)
    assert announced.hold_bound_seconds() == int(25 + ORIGINATE_MARGIN + HOLD_BOUND_SLACK + ANNOUNCE_BUDGET
                                                  + AGENT_CONNECT_TIMEOUT)


class _BoundingChannel(ModPythonChannel):
    """A channel that arms the hold bound itself (as ESLChannel does, on the call's socket)."""

    arms_hold_bound = True

    def __init__(self, session: FakeSession) -> None:
        super().__init__(session)
        self.holds: list[tuple[object, ...]] = []

    def start_hold(self, source: str, bound: Optional[HoldBound] = None) -> bool:
        self.holds.append(("start_hold", source, bound))
        return True

    def stop_hold(self) -> bool:
        self.holds.append(("stop_hold",))
        return True

    def set_var_nowait(self, name: str, value: str) -> bool:
        self.holds.append(("set_var_nowait", name, value))
        return True


def test_hold_bound_goes_with_the_music_to_a_channel_that_arms_it() -> None:
    switch = _SchedSwitch()
    ctx = _ctx(switch, _BoundingChannel)
    channel = ctx.channel
    assert isinstance(channel, _BoundingChannel)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local", timeout=20)
    transfer = AttendedTransfer(ctx, target, announce=False)
    transfer._start_moh()
    transfer._stop_moh()
    transfer._cleanup()
    assert channel.holds == [("start_hold", "local_stream://moh", HoldBound(30, "8000", "public")), ("stop_hold",)]
    assert switch.calls == []  # neither armed nor removed through the PBX API


@pytest.mark.parametrize("own_path", [True, False])
def test_bridged_caller_marked_done_on_its_own_socket_when_it_has_one(own_path: bool) -> None:
    switch = _SchedSwitch()
    ctx = _ctx(switch, _BoundingChannel if own_path else ModPythonChannel)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local")
    transfer = AttendedTransfer(ctx, target, announce=False)
    transfer.attempt.agent_uuid = "b8a3c2d4-0000-4000-8000-000000000002"
    transfer.machine.state = "bridging"
    transfer._bridge()
    assert transfer.machine.state == "accepted"
    assert switch.calls[0] == ("bridge", ctx.call_uuid, transfer.attempt.agent_uuid)
    if own_path:
        assert isinstance(ctx.channel, _BoundingChannel)
        assert ctx.channel.holds == [("set_var_nowait", "voiceai_done", "bridged")]
        assert switch.calls == [switch.calls[0]]
    else:
        assert switch.calls[1:] == [("setvar", ctx.call_uuid, "voiceai_done", "bridged")]


@pytest.mark.parametrize("cancel_fails", [0, 1, 2])
def test_hold_bound_set_before_the_music_and_removed_when_the_hold_ends(cancel_fails: int) -> None:
    switch = _SchedSwitch(cancel_fails)
    ctx = _ctx(switch)
    target = TransferTarget(name="Financeiro", kind="extension", target="1001", domain="demo.local", timeout=20)
    transfer = AttendedTransfer(ctx, target, announce=False)
    transfer._start_moh()
    assert switch.calls[0] == ("schedule_transfer", ctx.call_uuid, 30, "8000", "public")
    transfer._stop_moh()
    cancels = [c for c in switch.calls if c[0] == "cancel_scheduled"]
    assert cancels == [("cancel_scheduled", ctx.call_uuid)] * min(cancel_fails + 1, 2)
    transfer._cleanup()  # once removed (or given up on), never again
    assert len([c for c in switch.calls if c[0] == "cancel_scheduled"]) == len(cancels)
