"""Attended transfer: put the caller on hold, ring the agent, announce, bridge or report.

The transfer is a state machine whose every transition is logged as
``transfer <id>: A -> event -> B`` (wazo-calld style). The data of one attempt
(``Attempt``) is kept apart from the machine (``TransferMachine``), and the driver
(``AttendedTransfer.run``) performs the side effects between transitions::

    idle --request--> checking
    checking --closed--> out_of_hours                        (no dial; offer a callback)
    checking --invalid--> failed                             (bad dial string: invalid_destination)
    checking --open--> holding                               (caller hears music on hold)
    holding --dialing--> ringing                             (originate sent, known uuid)
    ringing --answered(announce)--> announcing               (agent hears who and why)
    ringing --answered--> bridging                           (no announcement)
    ringing --originate_failed--> failed                     (cause -> status, evidence kept)
    announcing --agent_accepted--> bridging
    announcing --agent_declined|agent_no_key|agent_hangup--> failed   (rejected: never bridged)
    bridging --bridged--> accepted
    bridging --bridge_failed--> failed
    ringing|announcing|holding --caller_hangup--> caller_gone         (agent leg killed at once)
    ringing|announcing --timeout--> failed                   (the hold is bounded)

Only one transfer may be in flight per call (``TransferSlot``): a second request
while one runs is refused (status ``in_progress``), never doubled.

Every attempt (everything but a refusal) is written to ``transfer_attempts``; an
accepted one also queues the helpdesk's transfer notice (``helpdesk_outbox``, kind
``transfer.completed``) in the same transaction.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from voiceai_ivr.channel.base import HoldBound
from voiceai_ivr.domain import causes
from voiceai_ivr.errors import CallGone, StoreError, ValidationError, VoiceAIError
from voiceai_ivr.flows.agent import (
    ACCEPTED,
    AGENT_HANGUP,
    ANNOUNCE_BUDGET,
    DECLINED,
    NO_KEY,
    Rendezvous,
)
from voiceai_ivr.flows.context import CallContext
from voiceai_ivr.integrations.helpdesk_messages import transfer_completed_message
from voiceai_ivr.stores import calllog, calls, outbox
from voiceai_ivr.switch import (
    DONE_VARIABLE,
    build_dial_string,
    clean_caller_id_name,
    dial_target,
    parse_socket_address,
    python_app,
    socket_app,
)

log = logging.getLogger("voiceai_ivr.transfer")

#: Slack on top of the ring timeout for FreeSWITCH to report the originate result.
ORIGINATE_MARGIN = 5.0
#: After the agent answered, how long the agent leg may take to reach our socket.
AGENT_CONNECT_TIMEOUT = 10.0
#: A kill must reach FreeSWITCH fast: the agent leg must be gone within 1 s.
KILL_TIMEOUT = 1.0
#: A kill sent before FreeSWITCH created the agent leg is re-sent this often, this long.
LATE_KILL_STEP = 0.1
LATE_KILL_WINDOW = 5.0
#: The hold is bounded by FreeSWITCH itself too (``sched_transfer``, set before the
#: music starts, removed when the hold ends): past the longest legitimate hold plus
#: this, the caller re-enters the DID's extension, whose fallback takes them when
#: the handler is gone (``voiceai-ivr serve`` killed). See ``hold_bound_seconds``.
HOLD_BOUND_SLACK = 5.0

# statuses written to transfer_attempts besides the cause table's
ACCEPTED_STATUS = "accepted"
REJECTED = "rejected"
CALLER_HANGUP = "caller_hangup"
OUT_OF_HOURS = "out_of_hours"
INVALID_DESTINATION = "invalid_destination"
NETWORK_FAILURE = "network_failure"
NO_ANSWER = "no_answer"
IN_PROGRESS = "in_progress"

_CALLER_ID_RE = re.compile(r"[^0-9A-Za-z+]")


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class TransferTarget:
    """What a transfer needs to know about its destination."""

    name: str
    kind: str  # extension | ring_group | queue | external | voicemail
    target: str
    domain: str
    gateway: str = ""
    timeout: int = 25
    destination_id: Optional[int] = None
    hours: Any = None  # BusinessHours, or None: always open
    fallback_action: str = ""


def target_from(dest: Any, *, domain: str, default_timeout: int, hours: Any = None) -> TransferTarget:
    """Build a ``TransferTarget`` from a destination object (DOMAIN's dataclass or a
    database row with ``name``, ``type``, ``target``, ``gateway``, ``ring_timeout``)."""

    def pick(*names: str) -> Any:
        for n in names:
            value = dest.get(n) if isinstance(dest, dict) else getattr(dest, n, None)
            if value not in (None, ""):
                return value
        return None

    timeout = pick("ring_timeout", "timeout") or default_timeout
    return TransferTarget(
        name=str(pick("name") or ""),
        kind=str(pick("type", "kind") or ""),
        target=str(pick("target") or ""),
        domain=domain,
        gateway=str(pick("gateway") or ""),
        timeout=int(timeout),
        destination_id=pick("id", "destination_id"),
        hours=hours,
        fallback_action=str(pick("fallback_action") or ""),
    )


# --------------------------------------------------------------------------- data


@dataclass
class Attempt:
    """The record of one transfer attempt (the data object; states live elsewhere)."""

    transfer_id: str
    destination: str
    status: str = ""
    dial_string: str = ""
    agent_uuid: str = ""
    hangup_cause: Optional[str] = None
    sip_status: Optional[str] = None
    started: float = field(default_factory=time.monotonic)
    wait_seconds: float = 0.0
    opens_at: Optional[datetime] = None
    decision: Optional[str] = None
    states: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED_STATUS

    def to_json(self) -> dict[str, Any]:
        return {
            "transfer_id": self.transfer_id,
            "destination": self.destination,
            "dial_string": self.dial_string,
            "status": self.status,
            "hangup_cause": self.hangup_cause,
            "sip_status": self.sip_status,
            "agent_uuid": self.agent_uuid or None,
            "wait_seconds": round(self.wait_seconds, 3),
            "decision": self.decision,
        }


# --------------------------------------------------------------------------- machine

TRANSITIONS: dict[tuple[str, str], str] = {
    ("idle", "request"): "checking",
    ("checking", "closed"): "out_of_hours",
    ("checking", "invalid"): "failed",
    ("checking", "open"): "holding",
    ("checking", "caller_hangup"): "caller_gone",
    ("holding", "dialing"): "ringing",
    ("holding", "originate_failed"): "failed",
    ("holding", "caller_hangup"): "caller_gone",
    ("ringing", "answered_announce"): "announcing",
    ("ringing", "answered"): "bridging",
    ("ringing", "originate_failed"): "failed",
    ("ringing", "caller_hangup"): "caller_gone",
    ("ringing", "timeout"): "failed",
    ("announcing", "agent_accepted"): "bridging",
    ("announcing", "agent_declined"): "failed",
    ("announcing", "agent_no_key"): "failed",
    ("announcing", "agent_hangup"): "failed",
    ("announcing", "agent_unreachable"): "failed",
    ("announcing", "caller_hangup"): "caller_gone",
    ("announcing", "timeout"): "failed",
    ("bridging", "bridged"): "accepted",
    ("bridging", "bridge_failed"): "failed",
    ("bridging", "caller_hangup"): "caller_gone",
}
FINAL = frozenset({"out_of_hours", "failed", "accepted", "caller_gone"})


class TransitionError(VoiceAIError):
    """An event arrived that the current state does not accept (a bug, not a caller error)."""


class TransferMachine:
    """States and transitions only; logs each ``A -> event -> B``."""

    def __init__(self, transfer_id: str, on_transition: Optional[Callable[[str, str, str], None]] = None) -> None:
        self.transfer_id = transfer_id
        self.state = "idle"
        self.history: list[str] = ["idle"]
        self._on_transition = on_transition

    def fire(self, event: str) -> str:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise TransitionError(f"transfer {self.transfer_id}: event {event!r} not allowed in state {self.state!r}")
        log.info("transfer %s: %s -> %s -> %s", self.transfer_id, self.state, event, nxt)
        prev, self.state = self.state, nxt
        self.history.append(f"{event}:{nxt}")
        if self._on_transition is not None:
            self._on_transition(prev, event, nxt)
        return nxt

    @property
    def final(self) -> bool:
        return self.state in FINAL


# --------------------------------------------------------------------------- helpers


def transfer_status(cause: Optional[str], sip_status: Optional[str] = None) -> str:
    """DOMAIN's single cause table (``voiceai_ivr.domain.causes``)."""

    return str(causes.transfer_status(cause, sip_status))


def caller_id_for(ctx: CallContext) -> str:
    """The caller's number as the agent's caller id, reduced to safe characters."""
    if ctx.caller_withheld:
        return "anonymous"
    cleaned = _CALLER_ID_RE.sub("", ctx.caller_number)[:32]
    return cleaned or "anonymous"


def caller_name_for(ctx: CallContext) -> str:
    """The caller's name as the agent's caller-id name. It comes from the caller
    (hostile): ``switch.clean_caller_id_name`` keeps what FreeSWITCH delivers
    intact; a name left without a letter or digit (``!!!``, ``☎☎``) shows the
    number instead."""
    name = clean_caller_id_name(ctx.caller_name)
    if not any(c.isalnum() for c in name):
        return caller_id_for(ctx)
    return name


def agent_socket_address(ctx: CallContext) -> str:
    """Where FreeSWITCH reaches our outbound server for agent legs:
    ``server.agent_socket_address``, else ``server.host:server.port``."""
    server = ctx.config.server
    if server.agent_socket_address:
        return server.agent_socket_address
    if not server.port:
        raise ValidationError("server.agent_socket_address", "required when server.port is 0")
    return f"{server.host}:{server.port}"


def spoken_caller(ctx: CallContext) -> str:
    """How the agent hears the caller: the name if known, else the number digit by digit."""
    if ctx.caller_withheld:
        return ""
    name = ctx.caller_name.strip()
    if name and not name.replace("+", "").isdigit() and name.lower() not in ("anonymous", "unknown"):
        return name
    digits = [c for c in ctx.caller_number if c.isdigit()]
    return " ".join(digits)


# --------------------------------------------------------------------------- driver


class AttendedTransfer:
    """One attended transfer for one caller. ``run`` returns the finished ``Attempt``.

    It never raises for PBX-side failures (they become a failed attempt) and plays
    no prompt itself: ``on_open`` (called once the destination is known to be open
    and dialable, before the hold music) lets the conversation say "one moment", and
    the conversation tells the caller what happened afterwards.
    """

    def __init__(
        self,
        ctx: CallContext,
        target: TransferTarget,
        *,
        reason: str = "",
        announce: Optional[bool] = None,
        on_open: Optional[Callable[[], None]] = None,
    ) -> None:
        self.ctx = ctx
        self._announce = announce
        self._on_open = on_open
        self.target = target
        self.reason = reason
        self.transfer_id = uuidlib.uuid4().hex
        self.attempt = Attempt(transfer_id=self.transfer_id, destination=target.name)
        self.machine = TransferMachine(self.transfer_id, self._transition)
        self._wake = threading.Event()
        self._job: Any = None
        self._rv: Optional[Rendezvous] = None
        self._moh_on = False
        self._moh_own = False  # the channel plays the hold music itself (start_hold)
        self._hold_bound = False  # a sched_transfer bounds the hold (_arm_hold_bound)
        self._agent_killed = False

    # ------------------------------------------------------------------ plumbing

    def _transition(self, prev: str, event: str, nxt: str) -> None:
        self.attempt.states.append(f"{prev} -> {event} -> {nxt}")
        self.ctx.log_event("transfer", transfer_id=self.transfer_id, transition=f"{prev} -> {event} -> {nxt}")

    @property
    def switch(self) -> Any:
        return self.ctx.services.switch

    def _secretary_attr(self, name: str, default: Any) -> Any:
        value = getattr(self.ctx.secretary, name, None)
        return default if value in (None, "") else value

    # ------------------------------------------------------------------ run

    def run(self) -> Attempt:
        slot = self.ctx.transfer_slot
        if not slot.try_enter(self.transfer_id):
            log.warning(
                "call %s: transfer to %s refused, transfer %s in flight",
                self.ctx.call_uuid, self.target.name, slot.current,
            )
            self.attempt.status = IN_PROGRESS
            return self.attempt
        remove = self.ctx.add_hangup_listener(self._wake.set)
        try:
            self._run()
        finally:
            remove()
            self._cleanup()
            slot.leave()
        self.attempt.wait_seconds = time.monotonic() - self.attempt.started
        self._record()
        self.ctx.services.emit(
            "transfer_attempt", status=self.attempt.status, wait=self.attempt.wait_seconds, domain=self.ctx.domain
        )
        return self.attempt

    def _fail(self, event: str, status: str, cause: Optional[str] = None, sip: Optional[str] = None) -> None:
        self.attempt.status = status
        self.attempt.hangup_cause = cause
        self.attempt.sip_status = sip
        self.machine.fire(event)

    def _run(self) -> None:
        ctx = self.ctx
        self.machine.fire("request")
        if ctx.hungup.is_set():
            self._fail("caller_hangup", CALLER_HANGUP)
            return
        now = ctx.now()
        hours = self.target.hours
        if hours is not None and not hours.is_open(now):
            self.attempt.status = OUT_OF_HOURS
            try:
                self.attempt.opens_at = hours.next_opening(now)
            except VoiceAIError:
                self.attempt.opens_at = None
            self.machine.fire("closed")
            return
        try:
            dial = self._dial_string()
        except ValidationError as exc:
            log.warning("transfer %s: cannot dial %s: %s", self.transfer_id, self.target.name, exc)
            self._fail("invalid", INVALID_DESTINATION, "INVALID_DIAL_STRING")
            return
        self.attempt.dial_string = dial
        self.attempt.agent_uuid = str(uuidlib.uuid4())
        self.machine.fire("open")
        if self._on_open is not None:
            try:
                self._on_open()  # "one moment, transferring you to ..." once we know we will dial
            except CallGone:
                self._fail("caller_hangup", CALLER_HANGUP)
                return
        try:
            self._start_moh()
        except CallGone:
            self._fail("caller_hangup", CALLER_HANGUP)
            return
        if ctx.hungup.is_set():
            self._fail("caller_hangup", CALLER_HANGUP)
            return
        try:
            self._job = self._originate(dial)
        except VoiceAIError as exc:
            log.warning("transfer %s: originate not sent: %s", self.transfer_id, exc)
            self._fail("originate_failed", NETWORK_FAILURE, "ORIGINATE_NOT_SENT")
            return
        self._job.add_done_callback(lambda _result: self._wake.set())
        self.machine.fire("dialing")
        self._wait_ringing()
        if self.machine.state == "announcing":
            self._wait_announcement()
        if self.machine.state == "bridging":
            self._bridge()

    # ------------------------------------------------------------------ steps

    def _dial_string(self) -> str:
        t = self.target
        return build_dial_string(dial_target(t.kind, t.target, t.domain, t.gateway))

    def _variables(self) -> dict[str, str]:
        return {
            "ignore_early_media": "true",
            "hangup_after_bridge": "true",
            # At the bridge FreeSWITCH sends the agent's phone a display update with
            # the caller leg's own caller-ID name (switch_ivr_bridge's send_display):
            # the caller's raw name, which the INVITE carried cleaned (caller_name_for).
            # mod_sofia drops display updates on a leg with this set.
            "ignore_display_updates": "true",
            "voiceai_role": "agent",
            "voiceai_transfer_id": self.transfer_id,
            "voiceai_call_uuid": self.ctx.call_uuid,
        }

    @property
    def announce(self) -> bool:
        """Announce the caller to the agent: the secretary's setting unless overridden
        (a voicemail transfer never announces)."""
        if self._announce is not None:
            return self._announce
        return bool(self._secretary_attr("announce", True))

    def _app(self) -> str:
        if not self.announce:
            return "&park()"
        if self.ctx.services.mode == "python":
            # mod_python3: the agent leg runs in this FreeSWITCH process too, and the
            # same configuration file gives it this handler's AgentRegistry.
            return python_app(self.ctx.config.source)
        host, port = parse_socket_address(agent_socket_address(self.ctx))
        return socket_app(host, port)

    def _originate(self, dial: str) -> Any:
        if self.announce:
            rv = Rendezvous(
                transfer_id=self.transfer_id,
                caller=spoken_caller(self.ctx),
                destination=self.target.name,
                reason=self.reason,
                language=self.ctx.language,
            )
            rv.on_change(self._wake.set)
            self.ctx.services.agents.register(rv)
            self._rv = rv
        return self.switch.originate(
            dial,
            uuid=self.attempt.agent_uuid,
            timeout_s=int(self.target.timeout),
            caller_id_number=caller_id_for(self.ctx),
            caller_id_name=caller_name_for(self.ctx),
            app=self._app(),
            variables=self._variables(),
        )

    def hold_bound_seconds(self) -> int:
        """The longest this attempt may legitimately keep the caller on hold (ring
        timeout, the originate's margin, the announcement and the agent's socket),
        plus ``HOLD_BOUND_SLACK``."""
        bound = float(self.target.timeout) + ORIGINATE_MARGIN + HOLD_BOUND_SLACK
        if self.announce:
            bound += ANNOUNCE_BUDGET + AGENT_CONNECT_TIMEOUT
        return int(bound + 0.999)

    def _hold_bound_spec(self) -> Optional[HoldBound]:
        """The caller goes back into the DID's extension after ``hold_bound_seconds``
        (``sched_transfer``): if this process dies while the caller hears music,
        FreeSWITCH ends the hold itself. None when the channel does not say where
        it came from."""
        data = self.ctx.channel.data
        extension = str(data.get("Caller-Destination-Number") or "")
        context = str(data.get("Caller-Context") or "")
        if not extension or not context:
            return None
        try:
            return HoldBound(self.hold_bound_seconds(), extension, context)
        except VoiceAIError as exc:
            log.warning("transfer %s: hold not bounded by FreeSWITCH: %s", self.transfer_id, exc)
            return None

    def _arm_hold_bound(self, bound: HoldBound) -> None:
        """The bound through the PBX API, awaited (a channel that cannot arm it itself)."""
        try:
            self.switch.schedule_transfer(self.ctx.call_uuid, bound.seconds, bound.extension, bound.context)
            self._hold_bound = True
        except VoiceAIError as exc:
            log.warning("transfer %s: hold not bounded by FreeSWITCH: %s", self.transfer_id, exc)

    def _disarm_hold_bound(self) -> None:
        if not self._hold_bound:
            return
        self._hold_bound = False
        for _ in range(2):
            try:
                self.switch.cancel_scheduled(self.ctx.call_uuid)
                return
            except VoiceAIError as exc:
                last = exc
        log.error("transfer %s: hold bound not removed (the caller may be moved in %ds): %s",
                  self.transfer_id, self.hold_bound_seconds(), last)

    def _start_moh(self) -> None:
        channel = self.ctx.channel
        bound = self._hold_bound_spec()
        if bound is not None and not channel.arms_hold_bound:
            self._arm_hold_bound(bound)
            bound = None
        moh = str(self._secretary_attr("music_on_hold", "local_stream://moh"))
        try:
            # The leg's own control path first: its stop is verified (see Channel.stop_hold),
            # and a channel that arms_hold_bound arms the bound ahead of the music there.
            self._moh_own = channel.start_hold(moh, bound)
            if not self._moh_own:
                self.switch.broadcast(self.ctx.call_uuid, moh, "aleg")
            self._moh_on = True
        except CallGone:
            raise
        except VoiceAIError as exc:  # no music is bad, a dead transfer is worse
            log.warning("transfer %s: music on hold not started: %s", self.transfer_id, exc)

    def _stop_moh(self) -> None:
        if not self.ctx.hungup.is_set():
            self._disarm_hold_bound()
        if not self._moh_on:
            return
        self._moh_on = False
        if self.ctx.hungup.is_set():
            return
        if self._moh_own:
            try:
                if not self.ctx.channel.stop_hold():
                    log.error("transfer %s: music on hold not confirmed stopped", self.transfer_id)
            except CallGone:
                pass
            return
        try:
            self.switch.break_media(self.ctx.call_uuid)
        except VoiceAIError as exc:
            # The PBX API connection may be the thing that failed: stop the music
            # through the call's own control path, or the caller hears it forever.
            if self.ctx.channel.break_media():
                log.warning("transfer %s: music stopped through the call leg (%s)", self.transfer_id, exc)
            else:
                log.error("transfer %s: music on hold not stopped: %s", self.transfer_id, exc)

    def _kill_agent(self, cause: str = "ORIGINATOR_CANCEL") -> None:
        if self._agent_killed or not self.attempt.agent_uuid:
            return
        self._agent_killed = True
        uuid = self.attempt.agent_uuid
        try:
            killed = self.switch.kill(uuid, cause)
        except VoiceAIError as exc:
            log.info("transfer %s: kill agent leg %s: %s", self.transfer_id, uuid, exc)
            killed = False
        job = self._job
        if not killed and job is not None and not job.done.is_set():
            # The originate is under way but FreeSWITCH has not created the leg yet
            # ("-ERR No such channel!"): kill it as soon as it exists, or the agent's
            # phone would ring on for a caller who is gone.
            threading.Thread(target=self._kill_once_created, args=(job, uuid, cause),
                             name=f"kill-{uuid[:8]}", daemon=True).start()

    def _kill_once_created(self, job: Any, uuid: str, cause: str) -> None:
        deadline = time.monotonic() + LATE_KILL_WINDOW
        while time.monotonic() < deadline:
            finished = job.done.wait(LATE_KILL_STEP)
            if finished and not (job.result is not None and job.result.ok):
                return  # the originate failed: no leg to kill
            try:
                if self.switch.kill(uuid, cause):
                    log.info("transfer %s: agent leg %s killed once created", self.transfer_id, uuid)
                    return
            except VoiceAIError as exc:
                log.info("transfer %s: late kill of %s: %s", self.transfer_id, uuid, exc)
            if finished:
                return
        log.warning("transfer %s: agent leg %s not seen within %.0fs of the kill", self.transfer_id, uuid,
                    LATE_KILL_WINDOW)

    def _wait(self, deadline: float) -> bool:
        """Sleep until something happens or the deadline; False once past it.

        The caller is on hold meanwhile: the wait goes through the channel, which
        keeps the leg servicing media so the music is really heard (under
        mod_python3 this thread is the session's own, and a pure-Python wait would
        leave the queued ``uuid_broadcast`` unplayed)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        music = (str(self._secretary_attr("music_on_hold", "local_stream://moh"))
                 if self._moh_on and not self._moh_own else "")
        try:
            self.ctx.channel.wait_event(self._wake, remaining, music=music)
        except CallGone:
            # ctx.hungup is set with the hangup (on_hangup); the caller's loop records
            # caller_hangup and kills the agent leg. The bounded wait only guards a
            # channel that broke that promise from a busy loop.
            self.ctx.hungup.wait(max(0.0, deadline - time.monotonic()))
        self._wake.clear()
        return True

    def _wait_ringing(self) -> None:
        deadline = time.monotonic() + float(self.target.timeout) + ORIGINATE_MARGIN
        while True:
            self._wake.clear()
            if self.ctx.hungup.is_set():
                self._kill_agent()
                self._fail("caller_hangup", CALLER_HANGUP)
                return
            if self._job.done.is_set():
                result = self._job.result
                if result.ok:
                    if result.uuid:
                        self.attempt.agent_uuid = result.uuid
                    self.machine.fire("answered_announce" if self.announce else "answered")
                else:
                    cause = result.cause or "UNKNOWN"
                    sip = getattr(result, "sip_status", None)
                    self._fail("originate_failed", transfer_status(cause, sip), cause, sip)
                return
            if self._rv is not None and self._rv.agent_connected.is_set():
                # The agent's socket came up before the job result: same thing as answered.
                self.machine.fire("answered_announce")
                return
            if not self._wait(deadline):
                self._kill_agent("NO_ANSWER")
                self._fail("timeout", NO_ANSWER, "TIMEOUT")
                return

    def _wait_announcement(self) -> None:
        rv = self._rv
        assert rv is not None
        started = time.monotonic()
        deadline = started + ANNOUNCE_BUDGET
        while True:
            self._wake.clear()
            if self.ctx.hungup.is_set():
                self._kill_agent()
                rv.finish(bridged=False)
                self._fail("caller_hangup", CALLER_HANGUP)
                return
            if rv.decided.is_set():
                self.attempt.decision = rv.decision
                if rv.agent_uuid:
                    self.attempt.agent_uuid = rv.agent_uuid
                if rv.decision == ACCEPTED:
                    self.machine.fire("agent_accepted")
                    return
                event = {DECLINED: "agent_declined", NO_KEY: "agent_no_key", AGENT_HANGUP: "agent_hangup"}
                cause = "AGENT_HANGUP" if rv.decision == AGENT_HANGUP else None
                self._kill_agent("CALL_REJECTED")
                rv.finish(bridged=False)
                self._fail(event.get(rv.decision or "", "agent_declined"), REJECTED, cause)
                return
            if not rv.agent_connected.is_set() and time.monotonic() - started > AGENT_CONNECT_TIMEOUT:
                self._kill_agent("NORMAL_TEMPORARY_FAILURE")
                rv.finish(bridged=False)
                self._fail("agent_unreachable", NETWORK_FAILURE, "AGENT_SOCKET_TIMEOUT")
                return
            step = deadline if rv.agent_connected.is_set() else min(deadline, started + AGENT_CONNECT_TIMEOUT)
            if not self._wait(step) and time.monotonic() >= deadline:
                self._kill_agent("NO_USER_RESPONSE")
                rv.finish(bridged=False)
                self._fail("timeout", REJECTED, "NO_USER_RESPONSE")
                return

    def _bridge(self) -> None:
        if self.ctx.hungup.is_set():
            self._kill_agent()
            if self._rv is not None:
                self._rv.finish(bridged=False)
            self._fail("caller_hangup", CALLER_HANGUP)
            return
        self._stop_moh()
        try:
            self.switch.bridge(self.ctx.call_uuid, self.attempt.agent_uuid)
        except VoiceAIError as exc:
            log.warning("transfer %s: bridge failed: %s", self.transfer_id, exc)
            self._kill_agent("NORMAL_TEMPORARY_FAILURE")
            if self._rv is not None:
                self._rv.finish(bridged=False)
            caller_gone = self.ctx.hungup.is_set()
            self._fail(
                "caller_hangup" if caller_gone else "bridge_failed",
                CALLER_HANGUP if caller_gone else NETWORK_FAILURE,
                "BRIDGE_FAILED",
            )
            return
        if self._rv is not None:
            self._rv.finish(bridged=True)
        # The caller is with the agent: whatever happens to this process now, the
        # dialplan must not send them to the fallback when the bridge ends. On the
        # call's own socket when it has one (written now, not awaited).
        try:
            if not self.ctx.channel.set_var_nowait(DONE_VARIABLE, "bridged"):
                self.switch.setvar(self.ctx.call_uuid, DONE_VARIABLE, "bridged")
        except VoiceAIError as exc:
            log.warning("transfer %s: %s not set on the caller: %s", self.transfer_id, DONE_VARIABLE, exc)
        self.attempt.status = ACCEPTED_STATUS
        self.machine.fire("bridged")

    def _cleanup(self) -> None:
        if self._hold_bound and not self.ctx.hungup.is_set():
            self._disarm_hold_bound()
        if self.attempt.status != ACCEPTED_STATUS:
            self._stop_moh()
            if self.machine.state not in ("out_of_hours",) and self.attempt.status not in (IN_PROGRESS,):
                if self._job is not None and not self._job.done.is_set():
                    self._kill_agent()
            if self._rv is not None and not self._rv.finished.is_set():
                self._rv.finish(bridged=False)
        if self._rv is not None:
            self.ctx.services.agents.unregister(self.transfer_id)

    # ------------------------------------------------------------------ record

    def _notice(self) -> tuple[str, dict[str, Any], str]:
        """The helpdesk's transfer-completed notice (kind, payload, key), composed
        by ``helpdesk_messages.transfer_completed_message``."""

        a = self.attempt
        m = transfer_completed_message(
            transfer_id=a.transfer_id,
            call_id=self.ctx.call_uuid,
            domain=self.ctx.domain,
            caller_number=self.ctx.caller_number,
            caller_withheld=self.ctx.caller_withheld,
            caller_name=self.ctx.caller_name,
            destination_name=a.destination,
            destination_id=self.target.destination_id,
            agent_extension=self.target.target if self.target.kind == "extension" else None,
            answered_at=self.ctx.now(),
            wait_seconds=a.wait_seconds,
        )
        return m.kind, m.payload, m.idempotency_key

    def _record(self) -> None:
        db = self.ctx.services.db
        if db is None:
            return

        a = self.attempt
        record = calls.TransferAttemptRecord(
            call_uuid=self.ctx.call_uuid,
            domain=self.ctx.domain,
            destination_name=a.destination,
            destination_id=self.target.destination_id,
            status=a.status,
            dial_string=a.dial_string or None,
            agent_uuid=a.agent_uuid or None,
            hangup_cause=a.hangup_cause,
            sip_status=a.sip_status,
            wait_seconds=a.wait_seconds,
            details={
                "transfer_id": a.transfer_id,
                "states": a.states,
                "decision": a.decision,
                "announce": self.announce,
                "opens_at": a.opens_at.isoformat() if a.opens_at else None,
            },
        )
        notice = self._notice() if a.accepted else None
        try:
            writer = calllog.writer_for(db)  # serve: journaled with the call log, written in the background
            if writer is not None:
                writer.record_attempt(record, notice=notice)
                return
            with db.transaction() as cur:
                calls.record_transfer_attempt(cur, record)
                if notice is not None:
                    outbox.enqueue(cur, self.ctx.domain, *notice, call_uuid=self.ctx.call_uuid)
        except StoreError as exc:  # the caller's call goes on; the log says what was lost
            log.error("transfer %s: attempt not recorded: %s (%s)", a.transfer_id, exc, a.to_json())


def attempt_transfer(ctx: CallContext, target: TransferTarget, *, reason: str = "") -> Attempt:
    """Run one attended transfer and return its attempt."""
    return AttendedTransfer(ctx, target, reason=reason).run()


__all__ = [
    "ACCEPTED_STATUS",
    "CALLER_HANGUP",
    "FINAL",
    "IN_PROGRESS",
    "OUT_OF_HOURS",
    "REJECTED",
    "TRANSITIONS",
    "Attempt",
    "AttendedTransfer",
    "TransferMachine",
    "TransferTarget",
    "TransitionError",
    "attempt_transfer",
    "target_from",
    "transfer_status",
]
