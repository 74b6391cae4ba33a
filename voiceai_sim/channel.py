"""One simulated call leg: state, variables, the application queue, hangup.

Runs on the simulator's event loop only (no locks). The order of events follows
the FreeSWITCH 1.11 capture:

* socket leg after ``connect`` (async): CHANNEL_PARK, then per ``execute``:
  CHANNEL_EXECUTE, (the application's own events), CHANNEL_EXECUTE_COMPLETE;
* hangup: CHANNEL_HANGUP, CHANNEL_EXECUTE_COMPLETE of the running application,
  CHANNEL_UNPARK + CHANNEL_EXECUTE_COMPLETE ``socket`` (when the socket
  application still runs), CHANNEL_STATE CS_HANGUP, CHANNEL_STATE CS_REPORTING,
  CHANNEL_HANGUP_COMPLETE, then the socket's ``text/disconnect-notice``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from voiceai_sim.events import (
    KNOWN_CAUSES,
    Q850,
    STATE_NUMBERS,
    Pairs,
    carries_variables,
    core_headers,
    epoch_us,
    new_uuid,
)
from voiceai_sim.record import CallRecord, HoldLog

if TYPE_CHECKING:
    from voiceai_sim.engine import SimSwitch

log = logging.getLogger(__name__)

# Real seconds a hangup waits for the running application to wind down.
_APP_STOP_BOUND = 2.0


class Actor(Protocol):
    """The scripted party behind a leg (caller, agent, customer)."""

    async def on_listen(self, channel: SimChannel, kind: str, prompt: str) -> Listen: ...

    def on_event(self, channel: SimChannel, what: str) -> None: ...


@dataclass
class Listen:
    """What the scripted party does when the IVR listens."""

    kind: str  # speech | dtmf | silence | hangup
    text: str = ""


@dataclass
class AppRun:
    name: str
    arg: str
    app_uuid: str
    lock: bool = False
    loops: int = 1
    internal: bool = False  # started by the switch (uuid_broadcast), not by a sendmsg
    # uuid_broadcast only (see ``SimChannel._execute_queue``): the message waits in
    # the queue until ``pickup_at`` (loop time), then the leg reads ``lead`` (real)
    # seconds of lead frames before the application starts.
    pickup_at: float = 0.0
    lead: float = 0.0


@dataclass
class CallerProfile:
    caller_id_name: str
    caller_id_number: str
    destination_number: str
    context: str = "public"
    source: str = "mod_sofia"
    dialplan: str = "XML"
    network_addr: str = "192.0.2.10"
    username: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    ani: str = ""
    profile_index: int = 1
    created_us: int = 0


@dataclass
class Bridge:
    a: SimChannel
    b: SimChannel
    started_us: int = 0


@dataclass
class SocketLink:
    """The outbound socket controlling this leg (set by the session)."""

    session: Any  # voiceai_sim.outbound.OutboundSession
    app_arg: str
    app_uuid: str = field(default_factory=new_uuid)
    active: bool = True  # the ``socket`` application is still running


class SimChannel:
    """One leg. Create through ``SimSwitch.new_channel``."""

    def __init__(
        self,
        switch: SimSwitch,
        *,
        uuid: str,
        name: str,
        direction: str,
        profile: CallerProfile,
        variables: dict[str, str],
        role: str,
        call: Optional[CallRecord],
        origin: Optional[datetime],
        actor: Optional[Actor] = None,
    ) -> None:
        self.switch = switch
        self.uuid = uuid
        self.name = name
        self.direction = direction
        self.profile = profile
        self.variables: dict[str, str] = {}
        for key, value in variables.items():
            self.variables[key] = value
        self.role = role  # caller | agent | customer | other
        self.call = call
        self.origin = origin
        self.actor = actor
        self.state = "CS_EXECUTE"
        self.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self.call_state = "RINGING"
        self.answer_state = "ringing"
        self.hangup_cause: Optional[str] = None
        self.hungup = False
        self.gone = asyncio.Event()
        self.created_us = epoch_us(self.now())
        self.answered_us = 0
        self.bridged_us = 0
        self.hangup_us = 0
        self.profile.created_us = self.created_us
        self.socket: Optional[SocketLink] = None
        self.bridge: Optional[Bridge] = None
        # uuid_bridge answered +OK but the legs are not joined yet (their apps are
        # stopping): like FreeSWITCH, the end of the socket app must not hang up now.
        self.bridge_pending = False
        self.other: Optional[SimChannel] = None  # for Other-Leg-* headers after a bridge
        self.queue: deque[AppRun] = deque()
        self.running: Optional[AppRun] = None
        # A uuid_broadcast taken from the queue whose lead frames are being read: the
        # application has not started yet, so a uuid_break now is lost (see docs).
        self.leading: Optional[AppRun] = None
        self._lead_cancelled = False
        self.broadcast: Optional[AppRun] = None
        self.hold: Optional[HoldLog] = None
        self._wake = asyncio.Event()
        self._break = False
        self.break_reason = ""
        self._idle = asyncio.Event()
        self._idle.set()
        self._queue_signal = asyncio.Event()
        self.dtmf: deque[str] = deque()
        self.executor: Optional[asyncio.Task[None]] = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.parked = False
        self.hangup_by = ""
        self.listens = 0
        self.slot_armed = False  # voiceai_slot set since the last listen turn
        self.target = ""  # what was dialled to create this leg ("1001")

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        started = self.call.started_mono if self.call is not None else None
        return self.switch.clock.wall(self.origin, started) if self.origin else self.switch.clock.wall()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sim channel %s task failed", self.uuid, exc_info=task.exception())

    def get_var(self, name: str) -> Optional[str]:
        return self.variables.get(name)

    def set_var(self, name: str, value: Optional[str]) -> None:
        # FreeSWITCH replaces a header by deleting it and adding it at the bottom.
        self.variables.pop(name, None)
        if value is not None and value != "":
            self.variables[name] = str(value)
        if name == "voiceai_slot":
            # The scripted caller's convention: setting the slot announces a listen
            # turn; the first prompt after it is that turn (see apps._listens_to_playback).
            self.slot_armed = bool(value)

    @property
    def is_up(self) -> bool:
        return not self.hungup

    @property
    def answered(self) -> bool:
        return self.answered_us > 0

    def record(self, entry: dict[str, Any]) -> None:
        if self.call is None:
            return
        if self.role != "caller":
            entry.setdefault("leg", self.role)
            if self.target:
                entry.setdefault("target", self.target)
        self.call.say(entry)

    # ------------------------------------------------------------------ events

    def _channel_block(self) -> Pairs:
        pairs: Pairs = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(self.state_number)),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.direction == "inbound" else "false"),
            ("Channel-Call-UUID", self.variables.get("call_uuid", self.uuid)),
            ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause:
            pairs.append(("Hangup-Cause", self.hangup_cause))
        codec = self.variables.get("read_codec", "PCMU")
        pairs.extend(
            [
                ("Channel-Read-Codec-Name", codec),
                ("Channel-Read-Codec-Rate", "8000"),
                ("Channel-Read-Codec-Bit-Rate", "64000"),
                ("Channel-Write-Codec-Name", codec),
                ("Channel-Write-Codec-Rate", "8000"),
                ("Channel-Write-Codec-Bit-Rate", "64000"),
            ]
        )
        return pairs

    def profile_block(self, prefix: str) -> Pairs:
        p = self.profile
        pairs: Pairs = [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.direction),
        ]
        if p.username:
            pairs.append((f"{prefix}-Username", p.username))
        pairs.append((f"{prefix}-Dialplan", p.dialplan))
        if p.caller_id_name:
            pairs.append((f"{prefix}-Caller-ID-Name", p.caller_id_name))
        pairs.append((f"{prefix}-Caller-ID-Number", p.caller_id_number))
        if p.caller_id_name:
            pairs.append((f"{prefix}-Orig-Caller-ID-Name", p.caller_id_name))
        pairs.append((f"{prefix}-Orig-Caller-ID-Number", p.caller_id_number))
        if p.callee_id_name:
            pairs.append((f"{prefix}-Callee-ID-Name", p.callee_id_name))
        if p.callee_id_number:
            pairs.append((f"{prefix}-Callee-ID-Number", p.callee_id_number))
        pairs.extend(
            [
                (f"{prefix}-Network-Addr", p.network_addr),
                (f"{prefix}-ANI", p.ani or p.caller_id_number),
                (f"{prefix}-Destination-Number", p.destination_number),
                (f"{prefix}-Unique-ID", self.uuid),
                (f"{prefix}-Source", p.source),
                (f"{prefix}-Context", p.context),
                (f"{prefix}-Channel-Name", self.name),
                (f"{prefix}-Profile-Index", str(p.profile_index)),
                (f"{prefix}-Profile-Created-Time", str(p.created_us)),
                (f"{prefix}-Channel-Created-Time", str(self.created_us)),
                (f"{prefix}-Channel-Answered-Time", str(self.answered_us)),
                (f"{prefix}-Channel-Progress-Time", "0"),
                (f"{prefix}-Channel-Progress-Media-Time", "0"),
                (f"{prefix}-Channel-Hangup-Time", str(self.hangup_us)),
                (f"{prefix}-Channel-Transfer-Time", "0"),
                (f"{prefix}-Channel-Resurrect-Time", "0"),
                (f"{prefix}-Channel-Bridged-Time", str(self.bridged_us)),
                (f"{prefix}-Channel-Last-Hold", "0"),
                (f"{prefix}-Channel-Hold-Accum", "0"),
                (f"{prefix}-Screen-Bit", "true"),
                (f"{prefix}-Privacy-Hide-Name", "false"),
                (f"{prefix}-Privacy-Hide-Number", "false"),
            ]
        )
        return pairs

    def data_block(self, name: str) -> Pairs:
        """Channel block, caller profile, other leg and (when the event carries
        them) variables: ``switch_channel_event_set_data``."""
        pairs = self._channel_block()
        pairs.extend(self.profile_block("Caller"))
        if self.other is not None:
            pairs.append(("Other-Type", "originatee" if self.direction == "inbound" else "originator"))
            pairs.extend(self.other.profile_block("Other-Leg"))
        if carries_variables(name):
            pairs.extend((f"variable_{k}", v) for k, v in self.variables.items())
        return pairs

    def fire(
        self,
        name: str,
        *,
        lead: Pairs = (),  # type: ignore[assignment]
        tail: Pairs = (),  # type: ignore[assignment]
        body: str = "",
    ) -> None:
        """Build the event (only if someone listens) and hand it to the listeners."""
        sw = self.switch

        def build() -> Pairs:
            pairs = core_headers(sw.core, name, self.now(), sw.next_sequence())
            pairs.extend(lead)
            pairs.extend(self.data_block(name))
            pairs.extend(tail)
            return pairs

        sw.dispatch(name, self, build, body)

    def set_state(self, state: str, *, fire: bool = True) -> None:
        self.state = state
        self.state_number = STATE_NUMBERS[state]
        if fire:
            self.fire("CHANNEL_STATE")

    # ------------------------------------------------------------------ media helpers

    def wake(self) -> None:
        self._wake.set()

    def request_break(self, reason: str = "uuid_break") -> None:
        self._break = True
        self.break_reason = reason
        self.wake()

    async def pause(self, sim_seconds: float, *, on_dtmf: bool = False) -> str:
        """Wait ``sim_seconds`` of simulated time. Returns ``timeout``, ``hangup``,
        ``break`` (uuid_break), or ``dtmf`` (a key arrived, with ``on_dtmf``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.switch.clock.real(sim_seconds)
        while True:
            if self.hungup:
                return "hangup"
            if self._break:
                self._break = False
                return "break"
            if on_dtmf and self.dtmf:
                return "dtmf"
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "timeout"
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def press(self, digit: str) -> None:
        """A key pressed on this leg. As in FreeSWITCH it waits in the leg's DTMF
        queue until something reads it, and the DTMF event is sent when it is read
        (``switch_channel_dequeue_dtmf``): by the running application (playback and
        friends, see ``take_dtmf``), or, while the leg runs no application (parked
        in the ``socket`` application between two messages, bridged), at once by
        ``switch_ivr_park``, which throws the key away."""
        if self.hungup:
            return
        self.dtmf.append(digit)
        digits = self.variables.get("digits_dialed_buffer", "") + digit
        self.variables["digits_dialed_buffer"] = digits
        if self.running is None and self.leading is None:
            self.consume_idle_dtmf()
        else:
            self.wake()

    def take_dtmf(self) -> Optional[str]:
        """Read the next queued key (an application reads it): the DTMF event, shaped
        like the capture's, is sent now."""
        if not self.dtmf:
            return None
        digit = self.dtmf.popleft()
        self.fire(
            "DTMF",
            tail=[("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "UNKNOWN")],
        )
        return digit

    def consume_idle_dtmf(self) -> None:
        """``switch_ivr_park`` reads (and drops) every queued key, each with its event."""
        while self.dtmf and not self.hungup:
            self.take_dtmf()

    # ------------------------------------------------------------------ answer / park

    def mark_answered(self) -> None:
        if self.answered or self.hungup:
            return
        self.answered_us = epoch_us(self.now())
        self.answer_state = "answered"
        self.set_var("endpoint_disposition", "ANSWER")
        self.fire("CHANNEL_ANSWER")
        self.call_state = "ACTIVE"

    def park(self) -> None:
        if self.hungup:
            return
        self.parked = True
        # As FreeSWITCH's switch_ivr_park: ``park_timeout=N[:CAUSE]`` is read (and
        # cleared) when park starts; a leg still parked N seconds later is hung up
        # with CAUSE (default NORMAL_CLEARING). A bridge ends the park first.
        timeout = self.variables.pop("park_timeout", None)
        if timeout is not None:
            self.spawn(self._park_timeout(timeout))
        self.fire("CHANNEL_PARK")

    async def _park_timeout(self, value: str) -> None:
        seconds, _, cause = value.partition(":")
        digits = seconds.strip()
        if digits.startswith("-") and digits[1:].isdigit():
            return  # a negative timeout never expires
        n = int(digits) if digits.isdigit() else 0  # atoi()
        await asyncio.sleep(self.switch.clock.real(float(n)))
        if not self.hungup and self.parked and self.bridge is None and not self.bridge_pending:
            self.hangup(cause.strip().upper() or "NORMAL_CLEARING", by="park_timeout")

    # ------------------------------------------------------------------ applications

    def enqueue(self, run: AppRun) -> None:
        if self.hungup:
            return
        self.queue.append(run)
        self._queue_signal.set()
        self.ensure_executor()

    def ensure_executor(self) -> None:
        if self.executor is None or self.executor.done():
            self.executor = self.spawn(self._execute_queue())

    def flush_queue(self) -> int:
        count = len(self.queue)
        self.queue.clear()
        return count

    def cancel_lead(self) -> None:
        """A bridge or hangup: a broadcast still reading its lead frames never starts."""
        if self.leading is not None:
            self._lead_cancelled = True
            self.wake()

    async def _execute_queue(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.hungup:
            if not self.queue:
                self._queue_signal.clear()
                await self._queue_signal.wait()
                continue
            wait = self.queue[0].pickup_at - loop.time()
            if wait > 0:
                # A uuid_broadcast waits for the leg's next frame: still in the queue,
                # so ``uuid_break UUID all`` flushes it.
                self._queue_signal.clear()
                try:
                    await asyncio.wait_for(self._queue_signal.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            run = self.queue.popleft()
            if run.lead > 0 and not await self._read_lead_frames(run):
                continue
            for loop_no in range(1, max(1, run.loops) + 1):
                if self.hungup:
                    break
                await self.execute(run, loop_no)

    async def _read_lead_frames(self, run: AppRun) -> bool:
        """``switch_ivr_parse_event`` with ``lead-frames``: the message is out of the
        queue and its application not started. Returns False when a bridge or hangup
        cancelled it."""
        loop = asyncio.get_running_loop()
        self.leading = run
        self._lead_cancelled = False
        deadline = loop.time() + run.lead
        try:
            while not self.hungup and not self._lead_cancelled:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return True
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
            return False
        finally:
            self.leading = None
            self._lead_cancelled = False

    async def execute(self, run: AppRun, loop_no: int = 1) -> str:
        """Run one application with its EXECUTE / EXECUTE_COMPLETE events."""
        if self.hungup:
            return "_none_"
        if not self.switch.apps_known(run.name):
            # switch_core_session_execute_application: "Invalid Application".
            self.hangup("DESTINATION_OUT_OF_ORDER", by="switch")
            return "_none_"
        self._idle.clear()
        self.running = run
        self._break = False
        self.set_var("current_application_response", None)
        self.set_var("current_loop", str(loop_no))
        self.set_var("total_loops", str(max(1, run.loops)))
        if run.arg:
            self.set_var("current_application_data", run.arg)
        self.set_var("current_application", run.name)
        app_tail: Pairs = [("Application", run.name)]
        if run.arg:
            app_tail.append(("Application-Data", run.arg))
        uuid_tail: Pairs = [("Application-UUID", run.app_uuid)] if run.app_uuid else []
        self.fire("CHANNEL_EXECUTE", tail=app_tail + uuid_tail)
        try:
            await self.switch.run_application(self, run)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sim application %s failed on %s", run.name, self.uuid)
            if self.call is not None:
                self.call.errors.append(f"application {run.name} failed in the simulator")
        response = self.variables.get("current_application_response") or "_none_"
        self.set_var("last_app", run.name)
        if run.arg:
            self.set_var("last_arg", run.arg)
        self.fire("CHANNEL_EXECUTE_COMPLETE", tail=[*app_tail, ("Application-Response", response), *uuid_tail])
        self.running = None
        self._idle.set()
        if not self.queue:
            # Back in switch_ivr_park: keys the application left unread are read now.
            self.consume_idle_dtmf()
        return response

    # ------------------------------------------------------------------ hold (uuid_broadcast)

    def start_hold(self, source: str) -> None:
        if self.call is None:
            return
        self.stop_hold("replaced")
        self.hold = HoldLog(self.role, self.uuid, source, self.call.now())
        self.call.holds.append(self.hold)

    def stop_hold(self, why: str) -> None:
        if self.hold is not None and self.hold.stop is None and self.call is not None:
            self.hold.stop = self.call.now()
            self.hold.stopped_by = why
        self.hold = None

    # ------------------------------------------------------------------ hangup

    def hangup(self, cause: str = "NORMAL_CLEARING", *, by: str = "application") -> bool:
        """Start hanging the leg up. Returns False if it already was."""
        if self.hungup:
            return False
        cause = cause if cause in KNOWN_CAUSES else "NORMAL_CLEARING"
        self.hungup = True
        self.hangup_by = by
        self.hangup_cause = cause
        self.answer_state = "hangup"
        self.state_number = STATE_NUMBERS["CS_HANGUP"]
        self.hangup_us = epoch_us(self.now())
        self.fire("CHANNEL_HANGUP")
        if self.socket is not None:
            self.socket.session.channel_hungup()
        self.stop_hold("hangup")
        self.flush_queue()
        self.cancel_lead()
        self._queue_signal.set()
        self.wake()
        if self.actor is not None:
            self.actor.on_event(self, "hangup")
        self.spawn(self._teardown())
        return True

    async def _teardown(self) -> None:
        try:
            await asyncio.wait_for(self._idle.wait(), _APP_STOP_BOUND)
        except asyncio.TimeoutError:
            log.warning("sim channel %s: application did not stop within %ss", self.uuid, _APP_STOP_BOUND)
        link = self.socket
        if link is not None and link.active:
            self.end_socket_app()
        peer = self.bridge.b if self.bridge and self.bridge.a is self else (self.bridge.a if self.bridge else None)
        if peer is not None:
            self.switch.unbridge(self, peer, hung_up=self)
        self.set_state("CS_HANGUP")
        self.call_state = "HANGUP"
        self.set_state("CS_REPORTING")
        self._set_hangup_variables()
        self.fire("CHANNEL_HANGUP_COMPLETE", lead=[("Hangup-Cause", self.hangup_cause or "NORMAL_CLEARING")])
        self.state = "CS_DESTROY"
        self.state_number = STATE_NUMBERS["CS_DESTROY"]
        if link is not None:
            link.session.channel_down()
        self.switch.channel_gone(self)
        self.gone.set()

    def end_socket_app(self) -> None:
        """The ``socket`` application returns (hangup, bridge or socket closed)."""
        link = self.socket
        if link is None or not link.active:
            return
        link.active = False
        if self.parked:
            self.parked = False
            self.fire("CHANNEL_UNPARK")
        response = self.variables.get("current_application_response") or "_none_"
        self.fire(
            "CHANNEL_EXECUTE_COMPLETE",
            tail=[
                ("Application", "socket"),
                ("Application-Data", link.app_arg),
                ("Application-Response", response),
                ("Application-UUID", link.app_uuid),
            ],
        )

    def _set_hangup_variables(self) -> None:
        cause = self.hangup_cause or "NORMAL_CLEARING"
        self.set_var("hangup_cause", cause)
        self.set_var("hangup_cause_q850", str(Q850.get(cause, 16)))
        start = self.created_us
        end = self.hangup_us or epoch_us(self.now())
        answered = self.answered_us
        self.set_var("start_epoch", str(start // 1_000_000))
        self.set_var("start_uepoch", str(start))
        self.set_var("answer_epoch", str(answered // 1_000_000))
        self.set_var("answer_uepoch", str(answered))
        self.set_var("bridge_epoch", str(self.bridged_us // 1_000_000))
        self.set_var("bridge_uepoch", str(self.bridged_us))
        self.set_var("end_epoch", str(end // 1_000_000))
        self.set_var("end_uepoch", str(end))
        self.set_var("duration", str(max(0, end - start) // 1_000_000))
        self.set_var("billsec", str(max(0, end - answered) // 1_000_000 if answered else 0))
        self.set_var("mduration", str(max(0, end - start) // 1000))
        self.set_var("billmsec", str(max(0, end - answered) // 1000 if answered else 0))

    async def wait_gone(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.gone.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def cancel_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()


Callback = Callable[[], None]
