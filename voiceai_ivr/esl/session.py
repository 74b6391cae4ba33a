"""One call's outbound Event Socket session (``OutboundSession``): what a handler
thread writes and waits on, fed by ``esl.outbound.OutboundServer``'s reactor.

Per call: ``connect`` (the reply carries the channel data), ``myevents``,
``event plain BACKGROUND_JOB`` and ``linger`` are pipelined; after the handler
returns the session sends ``exit`` and the socket is closed (a bare ``linger``
lingers forever otherwise). A handler that returns while the call is still up
leaves the channel to FreeSWITCH: ``exit`` ends the ``socket`` application and
the dialplan continues (or the bridge the flow set up goes on).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import random
import re
import select
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Callable, Optional

from voiceai_ivr.errors import CallGone, CommandError, ESLDisconnected, ESLError, ESLTimeout, ProtocolError
from voiceai_ivr.esl.jobs import BgJob
from voiceai_ivr.esl.protocol import Event, Frame, FrameParser, LazyHeaders, Reply, encode_command, frame_to_event

if TYPE_CHECKING:
    from voiceai_ivr.esl.outbound import OutboundServer

log = logging.getLogger("voiceai_ivr.esl.outbound")

_APP_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CAUSE_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_MAX_INLINE_ARG = 512  # longer (or multi-line) arguments travel as a text/plain body
_MAX_DTMF_QUEUE = 128
_HANGUP_EVENTS = frozenset({"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"})
_NO_WAITERS: list = []  # never appended to: "nobody to wake", without an allocation


_UUID_HEAD = str(uuidlib.uuid4())[:24]  # random per process: xxxxxxxx-xxxx-4xxx-yxxx-
_UUID_SEQ = itertools.count(random.getrandbits(40))


def new_event_uuid() -> str:
    """A UUID-shaped id that is unique in this process (a random head, then a counter),
    for ``Event-UUID``: FreeSWITCH only echoes it back as the completion's
    ``Application-UUID`` on the same channel. ``uuid4()`` reads the kernel's random
    source on every call; this is one counter step and one format."""
    return f"{_UUID_HEAD}{next(_UUID_SEQ) & 0xFFFFFFFFFFFF:012x}"


class Execution:
    """One ``sendmsg execute`` in flight; completed by its CHANNEL_EXECUTE_COMPLETE."""

    __slots__ = ("app", "arg", "done", "dtmf_mark", "error", "event", "event_uuid")

    def __init__(self, app: str, arg: str) -> None:
        self.app = app
        self.arg = arg
        self.dtmf_mark = 0  # keys the session had received when this was sent
        self.event_uuid = new_event_uuid()
        self.done = False
        self.event: Optional[Event] = None
        self.error: Optional[Exception] = None

    @property
    def response(self) -> str:
        return (self.event.get("Application-Response") if self.event else None) or ""


class _Waiter:
    """One thread waiting on a session until ``ready()`` holds: it sleeps on ``lock``
    (taken when made), which the reactor releases once it has seen ``ready()`` true.
    The reactor evaluates the predicate itself, so a thread is woken only when what
    it waits for has happened, never for a frame that is not its business (the
    ``+OK`` of an execute, CHANNEL_EXECUTE, CHANNEL_STATE, a pipelined ``set``'s
    completion while a prompt plays...)."""

    __slots__ = ("lock", "ready")

    def __init__(self, ready: Callable[[], bool]) -> None:
        self.ready = ready
        self.lock = threading.Lock()
        self.lock.acquire()


class _Slot:
    __slots__ = ("callback", "done", "error", "frame")

    def __init__(self, callback: Optional[Callable[[_Slot], None]] = None) -> None:
        self.done = False
        self.frame: Optional[Frame] = None
        self.error: Optional[ESLError] = None
        self.callback = callback


class OutboundSession:
    """One call's socket. Safe to use from its handler thread while the reactor
    feeds it; ``api``/``bgapi`` may also be used from other threads."""

    def __init__(self, server: OutboundServer, sock: socket.socket, address: tuple, *,
                 command_timeout: float, max_body_bytes: int) -> None:
        self.server = server
        self.sock = sock
        self.address = address
        self.command_timeout = command_timeout
        self.parser = FrameParser(max_body_bytes=max_body_bytes)
        self.uuid = ""
        self.data: Mapping[str, str] = {}
        self.hangup_cause: Optional[str] = None
        self.answered = False
        self.bridged = False
        self.socket_app_done = False  # the ``socket`` app ended: the channel left our control
        self.started_at = time.monotonic()
        self.commands_sent = 0
        self._lock = threading.Lock()
        self._waiters: list[_Waiter] = []
        self._send_lock = threading.Lock()
        self._cork: Optional[list[bytes]] = None  # commands of a ``pipeline()`` block, not written yet
        self._cork_thread = 0
        self._slots: collections.deque[_Slot] = collections.deque()
        self._execs: dict[str, Execution] = {}
        self._jobs: dict[str, BgJob] = {}
        self._dtmf: collections.deque[str] = collections.deque()
        self._dtmf_seen = 0  # keys received so far (marks which keys came after a command)
        self._gone = False
        self._closed = False
        self._close_reason = ""
        self._lingering = False
        self._hangup_callbacks: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[Event], None]] = []
        self._callbacks_fired = False
        # The descriptor is closed only once the reactor has let go of it AND no
        # handler thread can write to it any more, so its number is never reused
        # under a writer's feet.
        self._unregistered = False
        self._handler_finished = False
        self._released = False

    # ------------------------------------------------------------------ setup

    def start(self, timeout: Optional[float] = None) -> None:
        """``connect`` (channel data), ``myevents``, ``event plain BACKGROUND_JOB``,
        ``linger``: written at once, replies awaited in order."""
        limit = self.command_timeout if timeout is None else timeout
        slots = [_Slot() for _ in range(4)]
        data = b"connect\n\nmyevents\n\nevent plain BACKGROUND_JOB\n\nlinger\n\n"
        with self._send_lock:
            with self._lock:
                if self._closed:
                    raise CallGone(self.uuid, "ESL_DISCONNECTED")
                self._slots.extend(slots)
            try:
                self._write(data, limit)
            except (OSError, ESLTimeout) as exc:
                self.server._request_close(self, f"write failed: {exc}")
                raise ESLDisconnected(f"connect to {self.address} failed: {exc}") from exc
        deadline = time.monotonic() + limit
        frame = self._wait_slot(slots[0], "connect", deadline)
        channel = LazyHeaders.from_frame(frame)  # decoded as read: a call reads a handful of its ~200 headers
        self.data = channel
        self.uuid = (channel.get("Unique-ID") or channel.get("Channel-Unique-ID") or channel.get("Caller-Unique-ID")
                     or "")
        if not self.uuid:
            raise ProtocolError("connect reply carries no Unique-ID")
        self.answered = (channel.get("Answer-State") or "") == "answered"
        for slot, what in zip(slots[1:], ("myevents", "event", "linger")):
            reply = Reply.from_frame(self._wait_slot(slot, what, deadline))
            if not reply.ok:
                raise CommandError(what, reply.text)
        with self._lock:
            if self._gone:
                raise CallGone(self.uuid, self.hangup_cause)

    # ------------------------------------------------------------------ state

    def is_up(self) -> bool:
        return not self._gone

    @property
    def gone(self) -> bool:
        return self._gone

    @property
    def closed(self) -> bool:
        return self._closed

    def on_hangup(self, callback: Callable[[], None]) -> None:
        """``callback()`` once the call hangs up, from the reactor thread (at once,
        in this thread, if it already has)."""
        with self._lock:
            if not self._callbacks_fired:
                self._hangup_callbacks.append(callback)
                return
        _safe_call(callback, self.uuid)

    def add_event_listener(self, callback: Callable[[Event], None]) -> None:
        """``callback(event)`` for every event of this call, from the reactor thread."""
        with self._lock:
            self._event_listeners.append(callback)

    # ------------------------------------------------------------------ commands

    def execute_async(self, app: str, arg: str = "", *, event_lock: bool = True,
                      loops: Optional[int] = None) -> Execution:
        """Send ``sendmsg execute`` and return at once; ``wait`` on the result."""
        if not _APP_RE.match(app or ""):
            raise ValueError(f"application name not allowed: {app!r}")
        ex = Execution(app, arg)
        ex.dtmf_mark = self._dtmf_seen
        headers = [("call-command", "execute"), ("execute-app-name", app)]
        body: Optional[str] = None
        if arg:
            if "\n" in arg or "\r" in arg or len(arg) > _MAX_INLINE_ARG:
                headers.append(("content-type", "text/plain"))
                body = arg
            else:
                headers.append(("execute-app-arg", arg))
        if loops is not None:
            headers.append(("loops", str(int(loops))))
        if event_lock:
            headers.append(("event-lock", "true"))
        headers.append(("Event-UUID", ex.event_uuid))
        data = encode_command("sendmsg", headers, body)

        def on_reply(slot: _Slot) -> None:  # reactor thread, session lock held
            if slot.error is not None:
                ex.error = CallGone(self.uuid, self.hangup_cause or "ESL_DISCONNECTED")
            else:
                assert slot.frame is not None
                if slot.frame.reply_text.startswith("+OK"):
                    return  # the usual answer: no Reply built
                reply = Reply.from_frame(slot.frame)
                if reply.ok:
                    return
                ex.error = CommandError(f"execute {app}", reply.text)
            self._execs.pop(ex.event_uuid, None)
            ex.done = True

        with self._lock:
            if self._gone:
                raise CallGone(self.uuid, self.hangup_cause)
            self._execs[ex.event_uuid] = ex
        try:
            self._send(data, _Slot(on_reply))
        except ESLDisconnected as exc:
            with self._lock:
                self._execs.pop(ex.event_uuid, None)
            raise CallGone(self.uuid, self.hangup_cause or "ESL_DISCONNECTED") from exc
        log.debug("call %s: execute %s %s", self.uuid, app, arg[:120])
        return ex

    def wait(self, ex: Execution, timeout: float) -> Event:
        """Wait for an execution's CHANNEL_EXECUTE_COMPLETE. Raises ``CallGone`` at once
        when the call hangs up, ``ESLTimeout`` past ``timeout``."""
        if not ex.done and not self._wait_until(lambda: ex.done, timeout):
            if self._gone:
                raise CallGone(self.uuid, self.hangup_cause)
            raise ESLTimeout(f"call {self.uuid}: {ex.app} did not complete within {timeout:.1f}s")
        if ex.error is not None:
            raise ex.error
        assert ex.event is not None
        return ex.event

    def execute(self, app: str, arg: str = "", *, timeout: float, event_lock: bool = True,
                loops: Optional[int] = None) -> Event:
        """Run one application to completion; returns its CHANNEL_EXECUTE_COMPLETE."""
        return self.wait(self.execute_async(app, arg, event_lock=event_lock, loops=loops), timeout)

    def wait_execution_or_dtmf(self, ex: Execution, timeout: float) -> str:
        """``"done"`` when ``ex`` completed, ``"dtmf"`` when a key arrived after ``ex``
        was sent (keys already queued before it do not count), ``"timeout"``
        otherwise. Raises ``CallGone``."""
        self._wait_until(lambda: ex.done or self._dtmf_seen > ex.dtmf_mark or self._gone, timeout)
        with self._lock:
            if self._dtmf_seen > ex.dtmf_mark and self._dtmf:
                return "dtmf"
            if ex.done:
                if ex.error is not None:
                    raise ex.error
                return "done"
            if self._gone:
                raise CallGone(self.uuid, self.hangup_cause)
            return "timeout"

    def next_dtmf(self, timeout: float) -> Optional[str]:
        """The next DTMF key, or ``None`` after ``timeout``. Raises ``CallGone``."""
        self._wait_until(lambda: bool(self._dtmf) or self._gone, timeout)
        with self._lock:
            if self._dtmf:
                return self._dtmf.popleft()
            if self._gone:
                raise CallGone(self.uuid, self.hangup_cause)
            return None

    def has_dtmf(self) -> bool:
        with self._lock:
            return bool(self._dtmf)

    def flush_dtmf(self) -> str:
        with self._lock:
            keys = "".join(self._dtmf)
            self._dtmf.clear()
        return keys

    def command(self, command: str, timeout: Optional[float] = None) -> Reply:
        slot = _Slot()
        self._send(encode_command(command), slot)
        return Reply.from_frame(self._wait_slot(slot, command, time.monotonic() + self._limit(timeout)))

    def api(self, command: str, timeout: Optional[float] = None) -> str:
        """``api COMMAND`` on this call's socket (works while lingering after hangup)."""
        slot = _Slot()
        self._send(encode_command(f"api {command}"), slot)
        return self._wait_slot(slot, command, time.monotonic() + self._limit(timeout)).body

    def api_ok(self, command: str, timeout: Optional[float] = None) -> bool:
        """``api COMMAND`` on this call's socket: True on ``+OK``, False on ``-ERR``,
        a timeout or a lost socket (logged by the caller as it sees fit)."""
        try:
            return self.api(command, timeout).strip().startswith("+OK")
        except ESLError:
            return False

    def api_nowait(self, command: str, on_reply: Optional[Callable[[str], None]] = None) -> None:
        """Fire ``api COMMAND`` without waiting. ``on_reply(body)`` gets the answer, on
        the reactor thread with the session locked (keep it short; not called when
        the socket closes first); without it a ``-ERR`` answer is only logged."""
        def check(slot: _Slot) -> None:
            if slot.frame is None:
                return
            if on_reply is not None:
                try:
                    on_reply(slot.frame.body)
                except Exception:  # the reactor must go on
                    log.exception("call %s: reply handler of api %s failed", self.uuid, command.split(" ", 1)[0])
            elif slot.frame.body.startswith("-ERR"):
                log.info("call %s: api %s answered %s", self.uuid, command.split(" ", 1)[0], slot.frame.body.strip())

        self._send(encode_command(f"api {command}"), _Slot(check))

    def bgapi(self, command: str, timeout: Optional[float] = None) -> BgJob:
        job = BgJob(str(uuidlib.uuid4()), command)
        with self._lock:
            self._jobs[job.job_uuid] = job
        slot = _Slot()
        try:
            self._send(encode_command(f"bgapi {command}", [("Job-UUID", job.job_uuid)]), slot)
            reply = Reply.from_frame(self._wait_slot(slot, command, time.monotonic() + self._limit(timeout)))
        except ESLError:
            with self._lock:
                self._jobs.pop(job.job_uuid, None)
            raise
        if not reply.ok:
            with self._lock:
                self._jobs.pop(job.job_uuid, None)
            raise CommandError(f"bgapi {command}", reply.text)
        return job

    def hangup(self, cause: str = "NORMAL_CLEARING", wait: float = 1.0) -> None:
        """``sendmsg call-command: hangup``; waits up to ``wait`` for the hangup to
        show. Never raises ``CallGone``."""
        if not _CAUSE_RE.match(cause or ""):
            raise ValueError(f"hangup cause not allowed: {cause!r}")
        if self._gone:
            return
        data = encode_command("sendmsg", [("call-command", "hangup"), ("hangup-cause", cause)])
        try:
            self._send(data, _Slot())
        except ESLError:
            return
        log.info("call %s: hangup %s sent", self.uuid, cause)
        if wait > 0:
            self._wait_until(lambda: self._gone, wait)

    def close(self, timeout: float = 2.0) -> None:
        """Send ``exit`` and wait (bounded) for FreeSWITCH to close; then make sure the
        socket is closed. Idempotent."""
        if self._closed:
            return
        try:
            self._send(b"exit\n\n", _Slot())
        except ESLError:
            pass
        self._wait_until(lambda: self._closed, timeout)
        if not self._closed:
            self.server._request_close(self, "no EOF after exit")

    # ------------------------------------------------------------------ internals

    def _limit(self, timeout: Optional[float]) -> float:
        return self.command_timeout if timeout is None else timeout

    def _send(self, data: bytes, slot: _Slot) -> None:
        if self._cork is not None and self._cork_thread == threading.get_ident():
            # Inside ``pipeline()``: this thread holds the send lock; written at its end.
            with self._lock:
                if self._closed:
                    raise ESLDisconnected(f"call {self.uuid or self.address}: socket closed ({self._close_reason})")
                self._slots.append(slot)
            self._cork.append(data)
            self.commands_sent += 1
            return
        with self._send_lock:
            with self._lock:
                if self._closed:
                    raise ESLDisconnected(f"call {self.uuid or self.address}: socket closed ({self._close_reason})")
                self._slots.append(slot)
            try:
                self._write(data, self.command_timeout)
            except (OSError, ESLTimeout) as exc:
                self.server._request_close(self, f"write failed: {exc}")
                raise ESLDisconnected(f"call {self.uuid}: write failed: {exc}") from exc
            self.commands_sent += 1

    @contextlib.contextmanager
    def pipeline(self) -> Iterator[None]:
        """Commands sent inside the block go out together when it ends, in one write:
        the same bytes in the same order as one by one, one system call (and one
        GIL hand-off) instead of several. Other threads' commands wait for the
        block (the replies must come back in the order the commands went out);
        waiting on the session inside it writes what is pending first."""
        if self._cork is not None and self._cork_thread == threading.get_ident():
            yield  # nested: the outer block writes
            return
        with self._send_lock:
            self._cork, self._cork_thread = [], threading.get_ident()
            try:
                yield
            finally:
                self._flush_cork()
                self._cork, self._cork_thread = None, 0

    def _flush_cork(self) -> None:
        """Send lock held by this thread (``pipeline``): write what is pending."""
        pending = self._cork
        if not pending:
            return
        data = b"".join(pending)
        pending.clear()
        try:
            self._write(data, self.command_timeout)
        except (OSError, ESLTimeout) as exc:
            # The reactor closes the session: every slot and execution written here fails
            # at once (CallGone / ESLDisconnected where it is waited on).
            self.server._request_close(self, f"write failed: {exc}")

    def _write(self, data: bytes, timeout: float) -> None:
        view = memoryview(data)
        deadline: Optional[float] = None
        while view:
            try:
                sent = self.sock.send(view)
                view = view[sent:]
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                if now >= deadline:
                    raise ESLTimeout(f"call {self.uuid}: FreeSWITCH is not reading") from None
                _wait_writable(self.sock, deadline - now)
            except InterruptedError:
                continue

    def _wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Sleep until ``ready()`` (evaluated under the session lock) holds or
        ``timeout`` passes; returns ``ready()``. Only the reactor wakes the sleeper,
        and only once it has seen ``ready()`` true (``_wake_ready``)."""
        if self._cork and self._cork_thread == threading.get_ident():
            self._flush_cork()  # never wait for the reply to a command not written yet
        with self._lock:
            if ready():
                return True
            if not timeout > 0:
                return False
            waiter = _Waiter(ready)
            self._waiters.append(waiter)
        if waiter.lock.acquire(True, timeout):
            return True
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            return ready()

    def _wake_ready(self) -> list[_Waiter]:
        """Lock held: take out the waiters whose condition now holds. The caller
        releases them once it has let go of the session lock (a woken thread
        must not go straight back to sleep on that lock)."""
        waiters = self._waiters
        if not waiters:
            return _NO_WAITERS
        ready = [w for w in waiters if w.ready()]
        if ready:
            self._waiters = [w for w in waiters if w not in ready] if len(ready) < len(waiters) else []
        return ready

    def _wait_slot(self, slot: _Slot, what: str, deadline: float) -> Frame:
        if not slot.done and not self._wait_until(lambda: slot.done, max(0.0, deadline - time.monotonic())):
            raise ESLTimeout(f"call {self.uuid or self.address}: no reply to {what.split(' ', 1)[0]!r}")
        if slot.error is not None:
            raise slot.error
        assert slot.frame is not None
        return slot.frame

    # -- reactor side (called from the reactor thread only)

    def _feed(self, data: bytes) -> None:
        frames = self.parser.feed(data)  # ProtocolError propagates: the reactor closes us
        if not frames:
            return
        jobs: list[tuple[BgJob, str]] = []
        events: Optional[list[Event]] = [] if self._event_listeners else None
        newly_gone = False
        linger = False
        broken: Optional[ProtocolError] = None
        with self._lock:
            for frame in frames:
                ctype = frame.content_type
                if ctype == "text/event-plain" or ctype == "text/event-json":
                    # Decoded lazily: only the headers routing needs are looked at here.
                    event = frame_to_event(frame)
                    if events is not None:
                        events.append(event)
                    newly_gone |= self._apply_event(event, jobs)
                elif ctype == "command/reply" or ctype == "api/response":
                    if self._slots:
                        slot = self._slots.popleft()
                        slot.frame = frame
                        slot.done = True
                        if slot.callback is not None:
                            slot.callback(slot)
                    else:
                        log.warning("call %s: unexpected %s", self.uuid, ctype)
                elif ctype == "text/disconnect-notice":
                    disposition = frame.get("Content-Disposition") or ""
                    log.info("call %s: disconnect-notice (%s)", self.uuid, disposition or "-")
                    if not self._gone:
                        newly_gone |= self._mark_gone(self.hangup_cause or "NORMAL_CLEARING")
                    if disposition == "linger" and not self._lingering:
                        self._lingering = True
                        linger = True
                elif ctype == "text/rude-rejection":
                    # What came before it still counts (jobs, hangup callbacks); then the
                    # reactor closes the connection.
                    broken = ProtocolError("rude-rejection on an outbound socket")
                    break
            woken = self._wake_ready()
            listeners = list(self._event_listeners) if events else None
        if woken:
            self.server._wakes.extend(woken)  # released when the reactor's pass ends
        for job, body in jobs:
            job.complete(body)
        if listeners and events:
            for listener in listeners:
                for event in events:
                    try:
                        listener(event)
                    except Exception:
                        log.exception("call %s: event listener failed", self.uuid)
        if newly_gone:
            self._fire_hangup()
        if linger:
            self.server._linger_started(self)
        if broken is not None:
            raise broken

    def _apply_event(self, event: Event, jobs: list[tuple[BgJob, str]]) -> bool:
        """Lock held. Routes one event; reads only the headers its kind needs."""
        name = event.name
        if name == "CHANNEL_EXECUTE_COMPLETE":
            ex = self._execs.pop(event.get("Application-UUID") or "", None)
            if ex is not None:
                ex.event = event
                ex.done = True
            elif event.get("Application") == "socket" and self._mine(event):
                self.socket_app_done = True
        elif name == "DTMF":
            digit = event.get("DTMF-Digit") or ""
            if digit and self._mine(event):
                if len(self._dtmf) >= _MAX_DTMF_QUEUE:
                    self._dtmf.popleft()
                self._dtmf.append(digit[:1])
                self._dtmf_seen += 1
        elif name == "BACKGROUND_JOB":
            job = self._jobs.pop(event.get("Job-UUID") or "", None)
            if job is not None:
                jobs.append((job, event.body))
        elif name in _HANGUP_EVENTS:
            if not self._gone and self._mine(event):
                cause = event.get("Hangup-Cause") or event.get("variable_hangup_cause") or "NORMAL_CLEARING"
                log.info("call %s: %s %s", self.uuid, name, cause)
                return self._mark_gone(cause)
        elif name == "CHANNEL_ANSWER":
            if self._mine(event):
                self.answered = True
        elif name == "CHANNEL_BRIDGE":
            if self._mine(event):
                self.bridged = True
        elif name == "CHANNEL_UNBRIDGE":
            if self._mine(event):
                self.bridged = False
        return False

    def _mine(self, event: Event) -> bool:
        """The event is about this call's channel (or says about no channel)."""
        if not self.uuid:
            return True
        uid = event.get("Unique-ID")
        return not uid or uid == self.uuid

    def _mark_gone(self, cause: str) -> bool:
        """Lock held. Release every execute waiter at once."""
        if self._gone:
            return False
        self._gone = True
        self.hangup_cause = cause
        error = CallGone(self.uuid, cause)
        for ex in self._execs.values():
            ex.error = error
            ex.done = True
        self._execs.clear()
        return True

    def _fire_hangup(self) -> None:
        with self._lock:
            if self._callbacks_fired:
                return
            self._callbacks_fired = True
            callbacks, self._hangup_callbacks = self._hangup_callbacks, []
        for cb in callbacks:
            _safe_call(cb, self.uuid)

    def _maybe_release(self) -> None:
        with self._lock:
            if self._released or not (self._unregistered and self._handler_finished):
                return
            self._released = True
        with self._send_lock:
            try:
                self.sock.close()
            except OSError:
                pass

    def _on_closed(self, reason: str) -> None:
        """The socket is closed (reactor thread): fail every remaining waiter."""
        jobs: list[BgJob] = []
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_reason = reason
            newly_gone = self._mark_gone(self.hangup_cause or "ESL_DISCONNECTED")
            error = ESLDisconnected(f"call {self.uuid or self.address}: {reason}")
            for slot in self._slots:
                slot.error = error
                slot.done = True
                if slot.callback is not None:
                    slot.callback(slot)
            self._slots.clear()
            jobs = list(self._jobs.values())
            self._jobs.clear()
            woken = self._wake_ready()
        for waiter in woken:
            waiter.lock.release()
        for job in jobs:
            job.fail(ESLDisconnected(f"call {self.uuid}: {reason}"))
        if newly_gone:
            self._fire_hangup()


def _wait_writable(sock: socket.socket, timeout: float) -> None:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)
        poller.poll(max(1, int(timeout * 1000)))
    else:  # pragma: no cover - non-Linux
        select.select([], [sock], [], timeout)


def _safe_call(fn: Callable[[], None], uuid: str) -> None:
    try:
        fn()
    except Exception:
        log.exception("call %s: callback failed", uuid)


__all__ = ["Execution", "OutboundSession", "new_event_uuid"]
