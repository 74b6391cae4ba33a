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

The customer leg waits for the bridge in ``&park()`` with FreeSWITCH's
``park_timeout`` (``CUSTOMER_PARK_TIMEOUT_S``): should the dispatcher die
between the customer's answer and ``uuid_bridge``, FreeSWITCH hangs the
customer up instead of leaving them in silence (``switch_ivr_park`` reads
``park_timeout=N[:CAUSE]`` once when park starts and hangs up with CAUSE after
N seconds; a bridge ends the park first, so a bridged call is never cut).

The flow never touches SQL: the lease is checked and each leg's uuid recorded
through a ``LegGuard`` (the dispatcher's database side) BEFORE that leg is
dialled, so a successor can ask the PBX whether it is still up.

Errors reaching the PBX are not outcomes: they come back as
``AttemptResult(infrastructure=True)`` so the dispatcher keeps the callback
(nothing lost) and stops with a non-zero exit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from voiceai_ivr.domain.causes import callback_outcome
from voiceai_ivr.errors import CommandError, ESLError, ValidationError
from voiceai_ivr.flows.agent import AgentRegistry, Rendezvous, run_agent
from voiceai_ivr.ports import PBX
from voiceai_ivr.stores.dispatch import Candidate

log = logging.getLogger(__name__)

AGENT_ROLE = "callback_agent"

# The agent's answer to the whisper: flows.agent's decisions, plus ours for a
# leg that answered but never reached our socket (or never decided in time).
ACCEPTED = "accepted"
NO_KEY = "no_key"
NOT_CONNECTED = "not_connected"

# Seconds an answered customer may wait in park for the bridge to the agent
# (normally milliseconds: the bridge follows the originate's answer at once).
CUSTOMER_PARK_TIMEOUT_S = 20


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
    customer_park_timeout_s: int = CUSTOMER_PARK_TIMEOUT_S


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


def transfer_key(attempt_id: int) -> str:
    """The rendezvous key the agent leg carries (``voiceai_transfer_id``)."""
    return f"callback-{int(attempt_id)}"


class AgentDesk:
    """The outbound-server handler for callback agent legs of one process.

    The whisper itself is ``flows.agent.run_agent`` (the same announcement and
    rendezvous as an attended transfer): ``expect`` registers the attempt's
    ``Rendezvous`` before the agent leg is originated; FreeSWITCH connects the
    answered leg to our listener and ``handle`` runs the agent flow on it.
    Legs that are not callback agent legs, or that nobody waits for, are hung up."""

    def __init__(self, services: Any) -> None:
        if getattr(services, "agents", None) is None:
            services.agents = AgentRegistry()
        self.services = services

    def expect(self, info: WhisperInfo) -> Any:
        prompts = self.services.prompts
        lang = info.language if info.language in prompts.languages else prompts.languages[0]
        caller = " ".join(p for p in (info.caller_name, _spell(info.number_e164)) if p)
        rv = Rendezvous(
            transfer_id=transfer_key(info.attempt_id),
            caller=caller,
            destination=prompts.render(lang, "dispatch.destination"),
            reason=info.reason[:200],
            language=lang,
            # the customer is dialled only once the agent accepted
            bridge_wait=float(self.services.config.callbacks.customer_answer_timeout) + 10.0,
        )
        self.services.agents.register(rv)
        return rv

    def forget(self, attempt_id: int) -> None:
        self.services.agents.unregister(transfer_key(attempt_id))

    def handle(self, channel: Any) -> None:
        """Run one agent leg to the end (the outbound server calls this, one thread per leg)."""
        role = channel.data.get("variable_voiceai_role", "")
        if role != AGENT_ROLE:
            log.warning("leg %s: role %r is not a callback agent leg; hanging up", channel.uuid, role)
            channel.hangup("NORMAL_CLEARING")
            return
        run_agent(channel, self.services)


def _spell(number: str) -> str:
    """Digits spaced so TTS reads them one by one."""
    return " ".join(number.lstrip("+"))


# --------------------------------------------------------------------------- the attempt


def _outcome(leg: str, cause: Optional[str]) -> str:
    return str(callback_outcome(leg, cause))


def run_attempt(
    plan: AttemptPlan,
    *,
    switch: PBX,
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
    rv = desk.expect(plan.info)
    bridged = False
    try:
        result = _agent_then_customer(plan, rv, switch, socket_app, guard, details, clock, t0)
        bridged = result.outcome == "completed"
        return result
    finally:
        rv.finish(bridged=bridged)  # wakes the agent leg's handler either way
        desk.forget(plan.info.attempt_id)


def _agent_then_customer(
    plan: AttemptPlan,
    rv: Any,
    switch: PBX,
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
        "voiceai_transfer_id": transfer_key(plan.info.attempt_id),
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
        outcome = _outcome("agent", agent.cause)
        return AttemptResult(outcome, hangup_cause=agent.cause, details=dict(details, leg="agent"))

    choice = rv.decision if rv.decided.wait(plan.whisper_timeout_s) else NOT_CONNECTED
    details["agent_choice"] = choice
    if choice != ACCEPTED:
        _kill_quietly(switch, plan.agent_uuid)
        if choice == NOT_CONNECTED:
            return AttemptResult("failed", details=dict(details, reason="agent_leg_not_connected"))
        # declined or hung up during the whisper: declined; no key: like no answer
        outcome = "agent_no_answer" if choice == NO_KEY else "agent_declined"
        return AttemptResult(outcome, details=details)

    if not guard.before_dial(customer_uuid=plan.customer_uuid):
        _kill_quietly(switch, plan.agent_uuid)
        return AttemptResult("failed", details=dict(details, reason="lease_lost"))
    try:
        job = switch.originate(
            plan.customer_dial_string,
            uuid=plan.customer_uuid,
            timeout_s=plan.customer_timeout_s,
            caller_id_number=plan.caller_id_number,
            caller_id_name=plan.caller_id_name,
            variables={"voiceai_role": "callback_customer", "voiceai_callback_id": plan.info.callback_id},
            park_timeout_s=plan.customer_park_timeout_s,
        )
        customer = job.wait(plan.customer_timeout_s + 10.0)
    except ValidationError as exc:
        return AttemptResult("invalid_number", details=dict(details, error=str(exc)))
    except ESLError as exc:
        return AttemptResult(
            "failed",
            details=dict(details, error=f"customer originate: {exc}"),
            infrastructure=True,
            legs_may_be_up=True,
        )
    if not customer.ok:
        outcome = _outcome("customer", customer.cause)
        return AttemptResult(outcome, hangup_cause=customer.cause, details=dict(details, leg="customer"))

    try:
        switch.bridge(plan.agent_uuid, plan.customer_uuid)
    except CommandError as exc:
        # The agent left while the customer rang: do not leave the customer alone.
        _kill_quietly(switch, plan.customer_uuid)
        return AttemptResult(
            "failed",
            hangup_cause="ORIGINATOR_CANCEL",
            customer_uuid=plan.customer_uuid,
            details=dict(details, error=f"bridge: {exc.reply}"),
        )
    except ESLError as exc:
        return AttemptResult(
            "failed",
            customer_uuid=plan.customer_uuid,
            details=dict(details, error=f"bridge: {exc}"),
            infrastructure=True,
            legs_may_be_up=True,
        )
    details["bridged_after_s"] = round(clock() - t0, 3)
    return AttemptResult("completed", hangup_cause=None, customer_uuid=plan.customer_uuid, details=details)


def _kill_quietly(switch: PBX, uuid: str) -> None:
    try:
        switch.kill(uuid)
    except ESLError as exc:  # already gone is fine; anything else the lease covers
        log.debug("kill %s: %s", uuid, exc)


# --------------------------------------------------------------------------- where a callback goes


def no_destination_reason(cand: Candidate, default_destination: str) -> str:
    """Why nobody can be called for ``cand``, said so an admin can fix it."""
    if default_destination:
        return (
            f"the caller named no one and callbacks.default_destination {default_destination!r} is not an "
            f"enabled destination of {cand.domain}, nor has any secretary of {cand.domain} a fallback "
            "destination that exists: fix callbacks.default_destination or set a secretary's fallback"
        )
    if cand.destination_name:
        return (
            f"destination {cand.destination_name!r} no longer exists in {cand.domain} and no secretary of "
            f"{cand.domain} has a fallback destination that exists: set a secretary's fallback "
            "(destinations import) or callbacks.default_destination"
        )
    return (
        f"the caller named no one and no secretary of {cand.domain} has a fallback destination that exists: "
        "set a secretary's fallback (destinations import) or callbacks.default_destination"
    )


def route_text(cand: Candidate) -> tuple[str, dict[str, str]]:
    """Where ``cand`` (``stores.dispatch.route_of``) is called, as the key of its
    sentence in ``console.i18n`` and the sentence's values: the agent
    responsible, the destination named, else (the caller named no one, or what
    they named no longer exists) the default destination, the secretary's
    fallback, or nobody (``no_destination_reason`` then says what to fix).
    ``callbacks show`` prints it in English, the console in the domain's language."""
    if cand.agent_extension:
        return "route.agent", {"ext": cand.agent_extension}
    if cand.route_source == "destination":
        return "route.destination", {"name": str(cand.route_name)}
    source = {"default_destination": "default_destination", "fallback": "fallback"}.get(
        cand.route_source or "", "nobody"
    )
    values = {"name": str(cand.route_name or ""), "named": cand.destination_name or ""}
    return f"route.{source}" + ("_gone" if cand.destination_name else ""), values


__all__ = [
    "ACCEPTED",
    "AGENT_ROLE",
    "CUSTOMER_PARK_TIMEOUT_S",
    "NOT_CONNECTED",
    "NO_KEY",
    "AgentDesk",
    "AttemptPlan",
    "AttemptResult",
    "LegGuard",
    "WhisperInfo",
    "no_destination_reason",
    "route_text",
    "run_attempt",
    "transfer_key",
]
