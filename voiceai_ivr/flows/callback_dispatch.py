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

``run_attempt`` never touches the database: the lease is checked and each
leg's uuid recorded through a ``LegGuard`` BEFORE that leg is dialled, so a
successor can ask the PBX whether it is still up. ``AttemptRunner`` is one
claimed callback from end to end: the plan, ``run_attempt`` under its
``_LeaseGuard`` (``stores.dispatch.record_legs``), the outcome and next state
(``domain.retry``) committed with the helpdesk messages; the dispatcher keeps
the pass loop, the leases and the agent-leg server.

Errors reaching the PBX are not outcomes: they come back as
``AttemptResult(infrastructure=True)`` so the dispatcher keeps the callback
(nothing lost) and stops with a non-zero exit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from voiceai_ivr.config import Config
from voiceai_ivr.domain.causes import callback_outcome
from voiceai_ivr.domain.hours import BusinessHours
from voiceai_ivr.domain.retry import resolve
from voiceai_ivr.errors import CommandError, ESLError, StoreError, ValidationError
from voiceai_ivr.flows.agent import AgentRegistry, Rendezvous, run_agent
from voiceai_ivr.integrations.helpdesk_messages import (
    attempt_event,
    result_event,
    stale_attempt_event,
    whatsapp_event,
)
from voiceai_ivr.ports import PBX, Database
from voiceai_ivr.stores import dispatch as store
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.dispatch import Candidate
from voiceai_ivr.switch import build_dial_string, check_e164, dial_target, new_uuid

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
    details: dict[str, Any] = field(default_factory=dict)
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


# --------------------------------------------------------------------------- one claimed callback


class _LeaseGuard:
    """``LegGuard`` for one claimed attempt: records leg uuids under the lease."""

    def __init__(self, db: Database, claimed: store.Claimed) -> None:
        self._db = db
        self._claimed = claimed

    def before_dial(self, *, agent_uuid: Optional[str] = None, customer_uuid: Optional[str] = None) -> bool:
        with self._db.transaction() as cur:
            return store.record_legs(cur, self._claimed, agent_uuid=agent_uuid, customer_uuid=customer_uuid)


class AttemptRunner:
    """Plan, run and finish one claimed callback for a dispatcher: the dial
    strings and whisper (``plan``), the attempt (``run_attempt``) under the
    lease (``_LeaseGuard``), then its outcome, the callback's next state
    (``domain.retry``) and the helpdesk messages in one transaction (``finish``);
    a dead dispatcher's attempt is settled the same way (``stale_legs``,
    ``settle_stale``). The dispatcher keeps the pass, the leases and the
    agent-leg server, and gives this its clocks and two signals: ``infrastructure``
    (a PBX or database failure: stop claiming) and ``giving_back`` (a cron pass
    that is stopping gives back what it has not started)."""

    def __init__(
        self,
        config: Config,
        db: Database,
        desk: AgentDesk,
        *,
        owner: str,
        availability: Any = None,
        now: Callable[[], datetime],
        sql_now: Callable[[], Optional[datetime]],
        infrastructure: Callable[[str], None],
        giving_back: Callable[[], bool],
    ) -> None:
        self.config = config
        self.db = db
        self.desk = desk
        self.owner = owner
        self.availability = availability
        self.now = now
        self._sql_now = sql_now
        self._infrastructure = infrastructure
        self._giving_back = giving_back

    def plan(self, claimed: store.Claimed, customer_uuid: str) -> AttemptPlan:
        """Dial strings and whisper text for one claimed attempt (``ValidationError``
        names the bad field)."""

        cb = claimed.callback
        cfg = self.config.callbacks
        check_e164("number_e164", cb.number_e164)
        agent_ext = claimed.agent_extension
        if agent_ext:
            agent = dial_target("extension", agent_ext, cb.domain)
        elif cb.destination_type and cb.destination_target:
            agent = dial_target(cb.destination_type, cb.destination_target, cb.domain, cb.destination_gateway or "")
            agent_ext = cb.destination_target if cb.destination_type == "extension" else None
        else:
            raise ValidationError("destination", no_destination_reason(cb, cfg.default_destination))
        if cfg.gateway:
            customer = dial_target("external", cb.number_e164, cb.domain, cfg.gateway)
        else:
            # No gateway configured: through the domain's own outbound routes
            # (``loopback/NUMBER/DOMAIN``, the dialplan-extension form).
            customer = dial_target("ring_group", cb.number_e164, cb.domain)
        info = WhisperInfo(
            callback_id=cb.public_id,
            attempt_id=claimed.attempt_id,
            number_e164=cb.number_e164,
            caller_name=cb.caller_name or "",
            reason=cb.reason or "",
            language=cb.language or "pt-BR",
            domain=cb.domain,
        )
        return AttemptPlan(
            info=info,
            agent_uuid=claimed.agent_uuid,
            agent_dial_string=build_dial_string(agent),
            agent_extension=agent_ext,
            customer_dial_string=build_dial_string(customer),
            customer_uuid=customer_uuid or new_uuid(),
            caller_id_number=cfg.caller_id_number,
            caller_id_name=cfg.caller_id_name,
            agent_timeout_s=int(cfg.agent_answer_timeout),
            customer_timeout_s=int(cfg.customer_answer_timeout),
            whisper_timeout_s=float(self.config.dispatcher.whisper_timeout),
            customer_park_timeout_s=CUSTOMER_PARK_TIMEOUT_S,
        )

    def run(self, claimed: store.Claimed, switch: PBX, socket_app: str) -> tuple[str, str]:
        """Plan, run and finish one claimed attempt. Returns (kind, outcome): kind is
        completed / pending / failed / released / kept / lost. The database failing
        is ``lost``: the lease runs out and a successor recovers the callback."""
        try:
            try:
                plan = self.plan(claimed, new_uuid())
            except ValidationError as exc:
                if exc.field == "destination":
                    log.error("callback %s: nobody to call: %s", claimed.public_id, exc.reason)
                    result = AttemptResult("no_destination", details={"reason": exc.reason})
                else:
                    outcome = "invalid_number" if exc.field == "number_e164" else "failed"
                    result = AttemptResult(outcome, details={"error": str(exc)})
            else:
                # A cron pass that hit an infrastructure failure, or is stopping, gives
                # back what it claimed but has not started. (Click-to-call attempts
                # always run: each reports its own failure.)
                if claimed.trigger == "cron" and self._giving_back():
                    return self.release(claimed, "stopping")
                result = run_attempt(
                    plan,
                    switch=switch,
                    desk=self.desk,
                    socket_app=socket_app,
                    guard=_LeaseGuard(self.db, claimed),
                    availability=self.availability,
                )
            return self.finish(claimed, result)
        except StoreError as exc:
            # The lease runs out and a successor recovers the callback.
            self._infrastructure(f"database: {exc}")
            return "lost", "failed"

    def release(self, claimed: store.Claimed, reason: str) -> tuple[str, str]:
        with self.db.transaction() as cur:
            store.release(cur, claimed, reason=reason)
        return "released", "released"

    def finish(self, claimed: store.Claimed, result: AttemptResult) -> tuple[str, str]:
        now = self.now()
        if result.infrastructure:
            self._infrastructure(str(result.details.get("error", "PBX failure")))
            if not result.legs_may_be_up:
                return self.release(claimed, "infrastructure")
            # An originate went out and its fate is unknown: keep the lease until
            # it runs out; the successor checks the PBX before dialling again.
            resolution = store.Resolution("in_progress", counted=False, keep_lease=True)
            with self.db.transaction() as cur:
                store.finish_attempt(
                    cur,
                    claimed,
                    outcome="failed",
                    resolution=resolution,
                    hangup_cause=result.hangup_cause,
                    customer_uuid=result.customer_uuid,
                    details=dict(result.details, infrastructure=True),
                    now=self._sql_now(),
                )
            return "kept", "failed"
        policy = self.config.retry_policy(claimed.domain)
        resolution = resolve(result.outcome, claimed.attempts, policy, now)
        cb = claimed.callback
        details = dict(result.details)
        if cb.route_source:
            details.update(destination=cb.route_name, destination_source=cb.route_source)
        with self.db.transaction() as cur:
            events = [attempt_event(claimed, result.outcome, result.hangup_cause, resolution, now, details)]
            if resolution.status in ("completed", "failed"):
                events.append(
                    result_event(
                        cb.public_id, cb.domain, cb.ticket_id, resolution.status, result.outcome, claimed.attempts, now
                    )
                )
            if resolution.status == "failed":
                notice = whatsapp_event(cur, cb.id, "failed", self.config)
                if notice is not None:
                    events.append(notice)
            ok = store.finish_attempt(
                cur,
                claimed,
                outcome=result.outcome,
                resolution=resolution,
                hangup_cause=result.hangup_cause,
                customer_uuid=result.customer_uuid,
                details=details,
                events=events,
                now=self._sql_now(),
            )
        if self.availability is not None and claimed.agent_extension:
            self.availability.forget(claimed.agent_extension, cb.domain)
        if not ok:
            log.warning("callback %s: lease lost before the outcome %s was recorded", cb.public_id, result.outcome)
            return "lost", result.outcome
        return resolution.status, result.outcome

    # ------------------------------------------------------------------ a dead dispatcher's attempt

    def stale_legs(self, item: store.Stale, switch: PBX) -> tuple[str, list[str]]:
        """``(state, legs hung up)``: state ``gone`` (no leg of the old attempt is
        up, after hanging up those that were alone), ``bridged`` (agent and
        customer talking) or ``up`` (a leg survived uuid_kill)."""
        legs = [u for u in (item.agent_uuid, item.customer_uuid) if u]
        alive = [u for u in legs if switch.exists(u)]
        if not alive:
            return "gone", []
        if (
            item.agent_uuid
            and item.customer_uuid
            and len(alive) == 2
            and switch.getvar(item.customer_uuid, "bridge_uuid") == item.agent_uuid
        ):
            return "bridged", []
        killed = list(alive)
        for uuid in killed:
            log.warning("callback %s: hanging up leg %s of a dead dispatcher's attempt", item.public_id, uuid)
            switch.kill(uuid, "NORMAL_CLEARING")
        deadline = time.monotonic() + 5.0  # uuid_kill is asynchronous: wait (bounded) for the legs to go
        while True:
            alive = [u for u in alive if switch.exists(u)]
            if not alive or time.monotonic() >= deadline:
                return ("up" if alive else "gone"), killed
            time.sleep(0.05)

    def settle_stale(self, item: store.Stale, *, bridged: bool, killed: Optional[list[str]] = None) -> bool:

        policy = self.config.retry_policy(item.domain)
        now = self.now()
        with self.db.transaction() as cur:
            status = store.resolve_stale(
                cur,
                item,
                self.owner,
                max_attempts=int(policy.max_attempts),
                now=self._sql_now(),
                completed=bridged,
                details={"hung_up_legs": killed} if killed else None,
            )
            if not status:
                return False
            ticket_id, attempts = store.stale_ticket(cur, item.id)
            detail = "recovered_bridged" if bridged else "lease_expired"
            events = [
                stale_attempt_event(item, bridged=bridged, status=status, ticket_id=ticket_id, detail=detail, now=now)
            ]
            if status in ("completed", "failed"):
                events.append(
                    result_event(item.public_id, item.domain, ticket_id, status, events[0].payload["outcome"],
                                 attempts, now, detail=detail)
                )
            if status == "failed":
                notice = whatsapp_event(cur, item.id, "failed", self.config)
                if notice is not None:
                    events.append(notice)
            for e in events:
                outbox.enqueue(cur, item.domain, e.kind, e.payload, e.idempotency_key, callback_id=item.id)
        return True

    def hours_check(self, cand: store.Candidate) -> Optional[datetime]:

        hours = cand.destination_hours if cand.destination_hours is not None else cand.domain_hours
        if hours is None and not cand.domain_holidays:
            return None
        try:
            bh = BusinessHours.from_spec(
                hours, timezone=cand.domain_timezone or "America/Sao_Paulo", holidays=cand.domain_holidays
            )
        except ValidationError as exc:
            log.warning("callback %s: bad business hours (%s); treating as open", cand.public_id, exc)
            return None
        now = self.now()
        if bh.is_open(now):
            return None
        opening = bh.next_opening(now)
        if opening is None or opening >= cand.window_end:
            return cand.window_end  # nothing opens inside the window: expiry will take it
        return opening


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
    "AttemptRunner",
    "LegGuard",
    "WhisperInfo",
    "no_destination_reason",
    "route_text",
    "run_attempt",
    "transfer_key",
]
