"""One callback attempt, agent first.

1. the responsible agent must be available (registered, not in a call, not in
   DND); otherwise the attempt ends ``agent_unavailable`` without dialling;
2. the agent leg is originated with ``&socket(<our listener> async full)`` and
   the variables ``voiceai_role=callback_agent``, ``voiceai_callback_id`` and
   ``voiceai_attempt_id``; when it answers FreeSWITCH connects it to our
   outbound server, where ``AgentDesk.handle`` plays the whisper ("callback to
   ... about ..., press 1 to call now") and reports the agent's choice;
3. on accept the customer is originated with the company's caller id and the
   two legs are bridged (``uuid_bridge``): ``completed``. Anything else ends
   with the outcome ``domain.causes.callback_outcome`` gives for the hangup cause.

The flow never touches SQL: the lease is checked and each leg's uuid recorded
through a ``LegGuard`` (the dispatcher's database side) BEFORE that leg is
dialled, so a successor can ask the PBX whether it is still up.

Errors reaching the PBX are not outcomes: they come back as
``AttemptResult(infrastructure=True)`` so the dispatcher keeps the callback
(nothing lost) and stops with a non-zero exit.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from voiceai_ivr.errors import CallGone, CommandError, ESLError, ValidationError

log = logging.getLogger(__name__)

AGENT_ROLE = "callback_agent"

# What the agent did with the whisper (the agent flow's words).
ACCEPTED = "accepted"
DECLINED = "declined"
NO_KEY = "no_key"
HUNG_UP = "hung_up"
NOT_CONNECTED = "not_connected"  # the leg answered but never reached our socket

# What the dispatcher tells the agent leg after the customer was tried.
BRIDGED = "bridged"
CUSTOMER_FAILED = "customer_failed"
ABORTED = "aborted"


@dataclass(frozen=True)
class WhisperInfo:
    """What the agent is told before accepting a callback."""

    callback_id: str  # public id
    attempt_id: int
    number_e164: str
    caller_name: str
    reason: str
    language: str
    domain: str


@dataclass(frozen=True)
class AttemptPlan:
    """Everything one attempt needs, decided before any dialling."""

    info: WhisperInfo
    agent_uuid: str
    agent_dial_string: str  # built by switch.build_dial_string
    agent_extension: Optional[str]  # checked for availability when set
    customer_dial_string: str
    customer_uuid: str
    caller_id_number: str
    caller_id_name: str = ""
    agent_timeout_s: int = 25
    customer_timeout_s: int = 30
    whisper_timeout_s: float = 45.0


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    hangup_cause: Optional[str] = None
    customer_uuid: Optional[str] = None
    details: dict = field(default_factory=dict)
    infrastructure: bool = False  # the PBX could not be reached / answered nonsense
    legs_may_be_up: bool = False  # an originate went out and its fate is unknown


class LegGuard(Protocol):
    def before_dial(self, *, agent_uuid: Optional[str] = None, customer_uuid: Optional[str] = None) -> bool:
        """Record the leg's uuid while the lease is ours; False: lease lost, do not dial."""


# --------------------------------------------------------------------------- the agent leg side


class AgentSlot:
    """Rendezvous between the attempt (originate side) and the agent's socket leg."""

    def __init__(self, info: WhisperInfo) -> None:
        self.info = info
        self._choice: Optional[str] = None
        self._choice_set = threading.Event()
        self._decision: Optional[str] = None
        self._decision_detail = ""
        self._decision_set = threading.Event()

    # the agent leg reports, the attempt waits
    def report_choice(self, choice: str) -> None:
        if not self._choice_set.is_set():
            self._choice = choice
            self._choice_set.set()

    def wait_choice(self, timeout: float) -> str:
        if not self._choice_set.wait(max(0.0, timeout)):
            return NOT_CONNECTED
        return self._choice or NOT_CONNECTED

    # the attempt decides, the agent leg waits
    def decide(self, decision: str, detail: str = "") -> None:
        if not self._decision_set.is_set():
            self._decision = decision
            self._decision_detail = detail
            self._decision_set.set()

    def wait_decision(self, timeout: float) -> tuple[str, str]:
        if not self._decision_set.wait(max(0.0, timeout)):
            return ABORTED, "timeout"
        return self._decision or ABORTED, self._decision_detail


# The whisper: plays the announcement to the agent leg and returns the agent's
# choice (ACCEPTED / DECLINED / NO_KEY / HUNG_UP). ``flows.agent`` provides it.
Whisper = Callable[[Any, WhisperInfo], str]
# Tells the agent the customer could not be reached (after CUSTOMER_FAILED).
Notice = Callable[[Any, WhisperInfo, str], None]


class AgentDesk:
    """The outbound-server handler for callback agent legs of one process.

    ``expect`` registers an attempt before its agent leg is originated; FreeSWITCH
    then connects the answered leg to our listener and ``handle`` pairs it with
    the attempt through ``voiceai_attempt_id``. Unknown legs are hung up."""

    def __init__(self, whisper: Whisper, notice: Optional[Notice] = None, *, decision_timeout: float = 60.0):
        self._whisper = whisper
        self._notice = notice
        self._decision_timeout = decision_timeout
        self._lock = threading.Lock()
        self._slots: dict[str, AgentSlot] = {}

    def expect(self, info: WhisperInfo) -> AgentSlot:
        slot = AgentSlot(info)
        with self._lock:
            self._slots[str(info.attempt_id)] = slot
        return slot

    def forget(self, attempt_id: int) -> None:
        with self._lock:
            self._slots.pop(str(attempt_id), None)

    def _var(self, channel: Any, name: str) -> str:
        data = channel.data
        value = data.get(f"variable_{name}") if hasattr(data, "get") else None
        if value in (None, "", "_undef_"):
            try:
                value = channel.get_var(name)
            except (CallGone, ESLError):
                value = None
        return str(value or "")

    def handle(self, channel: Any) -> None:
        """Run one agent leg to the end (called by the outbound server, one thread per leg)."""
        attempt_id = self._var(channel, "voiceai_attempt_id")
        role = self._var(channel, "voiceai_role")
        with self._lock:
            slot = self._slots.get(attempt_id) if role == AGENT_ROLE else None
        if slot is None:
            log.warning(
                "agent leg %s: no attempt %r waiting here (role %r); hanging up", channel.uuid, attempt_id, role
            )
            channel.hangup("NORMAL_CLEARING")
            return
        try:
            choice = self._whisper(channel, slot.info)
        except CallGone:
            choice = HUNG_UP
        except ESLError as exc:
            log.warning("agent leg %s: whisper failed: %s", channel.uuid, exc)
            choice = HUNG_UP
        slot.report_choice(choice)
        if choice != ACCEPTED:
            channel.hangup("NORMAL_CLEARING")
            return
        decision, detail = slot.wait_decision(self._decision_timeout)
        if decision == BRIDGED:
            return  # uuid_bridge took the leg; the socket app has ended
        try:
            if decision == CUSTOMER_FAILED and self._notice is not None and channel.is_up():
                self._notice(channel, slot.info, detail)
        except (CallGone, ESLError):
            pass
        finally:
            channel.hangup("NORMAL_CLEARING")


# --------------------------------------------------------------------------- the attempt


def _outcome(leg: str, cause: Optional[str]) -> str:
    from voiceai_ivr.domain.causes import callback_outcome

    return str(callback_outcome(leg, cause))


def run_attempt(
    plan: AttemptPlan,
    *,
    switch: Any,
    desk: AgentDesk,
    socket_app: str,
    guard: LegGuard,
    availability: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> AttemptResult:
    """Run one attempt to its outcome. Never raises for call outcomes; PBX errors
    come back as ``infrastructure=True``."""
    details: dict[str, Any] = {}
    t0 = clock()
    if plan.agent_extension and availability is not None:
        try:
            av = availability.check(plan.agent_extension, plan.info.domain)
        except ESLError as exc:
            return AttemptResult("failed", details={"error": f"availability: {exc}"}, infrastructure=True)
        except ValidationError as exc:
            return AttemptResult("failed", details={"error": str(exc)})
        details["availability"] = av.as_dict()
        if not av.available:
            return AttemptResult("agent_unavailable", details=dict(details, reason=av.reason))

    if not guard.before_dial(agent_uuid=plan.agent_uuid):
        return AttemptResult("failed", details=dict(details, reason="lease_lost"))
    slot = desk.expect(plan.info)
    try:
        return _agent_then_customer(plan, slot, switch, socket_app, guard, details, clock, t0)
    finally:
        desk.forget(plan.info.attempt_id)


def _agent_then_customer(
    plan: AttemptPlan,
    slot: AgentSlot,
    switch: Any,
    socket_app: str,
    guard: LegGuard,
    details: dict[str, Any],
    clock: Callable[[], float],
    t0: float,
) -> AttemptResult:
    variables = {
        "voiceai_role": AGENT_ROLE,
        "voiceai_callback_id": plan.info.callback_id,
        "voiceai_attempt_id": str(plan.info.attempt_id),
    }
    try:
        job = switch.originate(
            plan.agent_dial_string,
            uuid=plan.agent_uuid,
            timeout_s=plan.agent_timeout_s,
            caller_id_number=plan.info.number_e164,
            app=socket_app,
            variables=variables,
        )
        agent = job.wait(plan.agent_timeout_s + 10.0)
    except ValidationError as exc:
        return AttemptResult("failed", details=dict(details, error=str(exc)))
    except ESLError as exc:
        return AttemptResult(
            "failed",
            details=dict(details, error=f"agent originate: {exc}"),
            infrastructure=True,
            legs_may_be_up=True,
        )
    details["agent_answer_s"] = round(clock() - t0, 3)
    if not agent.ok:
        slot.decide(ABORTED)
        outcome = _outcome("agent", agent.cause)
        return AttemptResult(outcome, hangup_cause=agent.cause, details=dict(details, leg="agent"))

    choice = slot.wait_choice(plan.whisper_timeout_s)
    details["agent_choice"] = choice
    if choice != ACCEPTED:
        slot.decide(ABORTED)
        _kill_quietly(switch, plan.agent_uuid)
        if choice == NOT_CONNECTED:
            return AttemptResult("failed", details=dict(details, reason="agent_leg_not_connected"))
        outcome = "agent_no_answer" if choice == NO_KEY else "agent_declined"
        return AttemptResult(outcome, details=details)

    if not guard.before_dial(customer_uuid=plan.customer_uuid):
        slot.decide(ABORTED, "lease_lost")
        _kill_quietly(switch, plan.agent_uuid)
        return AttemptResult("failed", details=dict(details, reason="lease_lost"))
    try:
        job = switch.originate(
            plan.customer_dial_string,
            uuid=plan.customer_uuid,
            timeout_s=plan.customer_timeout_s,
            caller_id_number=plan.caller_id_number,
            variables={"voiceai_role": "callback_customer", "voiceai_callback_id": plan.info.callback_id},
        )
        customer = job.wait(plan.customer_timeout_s + 10.0)
    except ValidationError as exc:
        slot.decide(CUSTOMER_FAILED, "invalid_number")
        return AttemptResult("invalid_number", details=dict(details, error=str(exc)))
    except ESLError as exc:
        slot.decide(ABORTED, "infrastructure")
        return AttemptResult(
            "failed",
            details=dict(details, error=f"customer originate: {exc}"),
            infrastructure=True,
            legs_may_be_up=True,
        )
    if not customer.ok:
        outcome = _outcome("customer", customer.cause)
        slot.decide(CUSTOMER_FAILED, outcome)
        return AttemptResult(outcome, hangup_cause=customer.cause, details=dict(details, leg="customer"))

    try:
        switch.bridge(plan.agent_uuid, plan.customer_uuid)
    except CommandError as exc:
        # The agent left while the customer rang: do not leave the customer alone.
        slot.decide(ABORTED, "bridge_failed")
        _kill_quietly(switch, plan.customer_uuid)
        return AttemptResult(
            "failed",
            hangup_cause="ORIGINATOR_CANCEL",
            customer_uuid=plan.customer_uuid,
            details=dict(details, error=f"bridge: {exc.reply}"),
        )
    except ESLError as exc:
        slot.decide(ABORTED, "infrastructure")
        return AttemptResult(
            "failed",
            customer_uuid=plan.customer_uuid,
            details=dict(details, error=f"bridge: {exc}"),
            infrastructure=True,
            legs_may_be_up=True,
        )
    slot.decide(BRIDGED)
    details["bridged_after_s"] = round(clock() - t0, 3)
    return AttemptResult("completed", hangup_cause=None, customer_uuid=plan.customer_uuid, details=details)


def _kill_quietly(switch: Any, uuid: str) -> None:
    try:
        switch.kill(uuid)
    except ESLError as exc:  # already gone is fine; anything else the lease covers
        log.debug("kill %s: %s", uuid, exc)


__all__ = [
    "ACCEPTED",
    "AGENT_ROLE",
    "DECLINED",
    "HUNG_UP",
    "NOT_CONNECTED",
    "NO_KEY",
    "AgentDesk",
    "AgentSlot",
    "AttemptPlan",
    "AttemptResult",
    "LegGuard",
    "WhisperInfo",
    "run_attempt",
]
