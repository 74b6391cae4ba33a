"""Outbound Event Socket server: FreeSWITCH's ``socket HOST:PORT async full``
application connects to us, once per call.

Design for thousands of calls in one process:

* ONE reactor thread (``selectors``) owns every socket's reads. It reads each
  call socket as soon as bytes arrive (FreeSWITCH's per-connection event queue
  never backs up), parses frames and routes them to the session: replies to the
  waiter at the head of the session's FIFO (FreeSWITCH answers in order),
  CHANNEL_EXECUTE_COMPLETE to the ``execute`` whose ``Event-UUID`` it carries,
  DTMF into a per-session queue, BACKGROUND_JOB to its job, hangups to every
  waiter at once (``CallGone``). Events are decoded lazily (``Event.from_plain``):
  routing reads four or five headers, never the channel variables. When busy it
  wakes at most once per ``coalesce_s`` (1 ms) and reads everything that arrived
  meanwhile in one pass; an idle reactor answers the first frame at once. The
  handler threads whose wait is over are woken together when the pass ends, so
  they do not fight the reactor for the GIL while it reads.
* One handler thread per call runs the flow; it only writes (under the
  session's send lock) and sleeps until the reactor has seen what it waits for
  (``_Waiter``: the reactor evaluates the wait's condition, so frames that are
  not its business never wake it). Handler threads get a small stack
  (``thread_stack_size``) so thousands fit in memory, and are reused from call
  to call (an idle one ends after ``worker_idle_s``).
* A malformed frame (``ProtocolError``) closes that one connection only.

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
import contextvars
import heapq
import itertools
import logging
import random
import re
import select
import selectors
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator, Mapping
from typing import Callable, Optional

from voiceai_ivr.errors import CallGone, CommandError, ESLDisconnected, ESLError, ESLTimeout, ProtocolError
from voiceai_ivr.esl.jobs import BgJob
from voiceai_ivr.esl.protocol import Event, Frame, FrameParser, LazyHeaders, Reply, encode_command, frame_to_event

log = logging.getLogger("voiceai_ivr.esl.outbound")

_APP_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CAUSE_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_MAX_INLINE_ARG = 512  # longer (or multi-line) arguments travel as a text/plain body
_MAX_DTMF_QUEUE = 128
_RECV_BYTES = 65536
_HANGUP_EVENTS = frozenset({"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"})
_NO_WAITERS: list = []  # never appended to: "nobody to wake", without an allocation
_DEFAULT_BUSY_SOURCE = "tone_stream://%(500,500,480,620);loops=3"


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


class _Worker:
    """A handler thread between calls: sleeps on ``lock`` until ``task`` is set."""

    __slots__ = ("lock", "task")

    def __init__(self, task: Optional[tuple[OutboundSession, Callable[[OutboundSession], None], bool]]) -> None:
        self.task = task
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

    def api_nowait(self, command: str) -> None:
        """Fire ``api COMMAND`` without waiting; a ``-ERR`` answer is only logged."""
        def check(slot: _Slot) -> None:
            if slot.frame is not None and slot.frame.body.startswith("-ERR"):
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


# --------------------------------------------------------------------------- server


class OutboundServer:
    """Accepts FreeSWITCH's outbound sockets and runs ``handler(session)`` per call
    in its own thread. ``max_calls`` caps concurrent handlers; past it a call gets
    ``busy_handler`` (default: a busy tone, then hangup ``USER_BUSY``)."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Callable[[OutboundSession], None],
        *,
        max_calls: int,
        busy_handler: Optional[Callable[[OutboundSession], None]] = None,
        busy_source: str = _DEFAULT_BUSY_SOURCE,
        max_busy_calls: int = 32,
        command_timeout: float = 5.0,
        linger_grace: float = 30.0,
        thread_stack_size: int = 256 * 1024,
        max_body_bytes: int = 1024 * 1024,
        backlog: int = 1024,
        worker_idle_s: float = 30.0,
        coalesce_s: float = 0.001,
        after_error: Optional[Callable[[OutboundSession], bool]] = None,
        at_shutdown: Optional[Callable[[OutboundSession], bool]] = None,
    ) -> None:
        if max_calls < 1:
            raise ValueError("max_calls must be at least 1")
        self.host = host
        self.port = int(port)
        self.handler = handler
        self.max_calls = int(max_calls)
        self.busy_handler = busy_handler or _busy_tone(busy_source)
        # Hooks for a call the server would otherwise hang up: after its handler
        # failed, and when stop()'s grace is over. True: the hook dealt with it.
        self.after_error = after_error
        self.at_shutdown = at_shutdown
        self.max_busy_calls = max(0, int(max_busy_calls))
        self.command_timeout = command_timeout
        self.linger_grace = linger_grace
        self.thread_stack_size = thread_stack_size
        self.worker_idle_s = worker_idle_s
        self.coalesce_s = coalesce_s
        # Handler threads whose wait is over, woken together when the reactor's pass
        # ends (reactor thread only): while it reads, no handler competes for the GIL.
        self._wakes: list[_Waiter] = []
        self.max_body_bytes = max_body_bytes
        self.backlog = backlog
        self.calls_total = 0
        self.calls_busy = 0
        self.calls_failed = 0
        self.connections_dropped = 0
        self._listener: Optional[socket.socket] = None
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._tasks: collections.deque[Callable[[], None]] = collections.deque()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._sessions: set[OutboundSession] = set()
        self._idle_workers: list[_Worker] = []  # handler threads waiting for their next call (LIFO)
        self.workers = 0  # handler threads alive, busy or idle
        self._active = 0  # handler threads running (calls + busy)
        self._busy_active = 0
        self._accepting = False
        self._listener_closed = threading.Event()
        self._running = False
        self._stopped = False
        self._reactor: Optional[threading.Thread] = None

    # ------------------------------------------------------------------ public

    def start(self) -> OutboundServer:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            sock.listen(self.backlog)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, "listener")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._accepting = True
        self._running = True
        self._reactor = threading.Thread(target=self._loop, name="esl-outbound-reactor", daemon=True)
        self._reactor.start()
        log.info("outbound server listening on %s:%s (max %d calls)", *self.address, self.max_calls)
        return self

    @property
    def address(self) -> tuple[str, int]:
        if self._listener is None:
            return (self.host, self.port)
        name = self._listener.getsockname()
        return (name[0], name[1])

    @property
    def active_calls(self) -> int:
        with self._lock:
            return self._active

    def stop(self, grace: float = 30.0) -> int:
        """Stop accepting, let calls finish for up to ``grace`` seconds, then hang up
        what is left and close everything. Returns how many calls were cut."""
        with self._lock:
            if self._stopped or self._reactor is None:
                return 0
            self._stopped = True
        self._call_soon(self._close_listener)
        deadline = time.monotonic() + max(0.0, grace)
        # The backlog drained into sessions (counted in _active) before the wait below.
        self._listener_closed.wait(min(5.0, max(0.0, grace) + 1.0))
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, max(0.0, deadline - time.monotonic()))
            left = list(self._sessions)
        cut = 0
        for session in left:
            if session.is_up() and not session.closed:
                cut += 1
                if self.at_shutdown is not None and _hook(self.at_shutdown, session):
                    continue
                log.warning("call %s: still up at shutdown, hanging up", session.uuid)
                try:
                    session.hangup("SYSTEM_SHUTDOWN", wait=0)
                except (ESLError, ValueError):
                    pass
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, 3.0)
            idle, self._idle_workers = self._idle_workers, []
        for worker in idle:  # no task: the thread ends
            worker.lock.release()
        self._running = False
        self._wake()
        if self._reactor is not None:
            self._reactor.join(5.0)
        registered = [key.data for key in list(self._sel.get_map().values())
                      if isinstance(key.data, OutboundSession)]
        for session in {*registered, *self._sessions}:
            self._close_now(session, "server stopped")
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("outbound server stopped (%d calls cut)", cut)
        return cut

    def stop_accepting(self) -> None:
        self._call_soon(self._close_listener)

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    # ------------------------------------------------------------------ cross-thread requests

    def _call_soon(self, fn: Callable[[], None]) -> None:
        self._tasks.append(fn)
        self._wake()

    def _call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already pending, or shutting down

    def _request_close(self, session: OutboundSession, reason: str) -> None:
        if threading.current_thread() is self._reactor:
            self._close_now(session, reason)
        else:
            self._call_soon(lambda: self._close_now(session, reason))

    def _linger_started(self, session: OutboundSession) -> None:
        # Reactor thread. The handler sends ``exit``; this only bounds a handler
        # that keeps the lingering socket too long.
        def expire() -> None:
            if not session.closed:
                log.warning("call %s: handler kept the lingering socket %.0fs; closing",
                            session.uuid, self.linger_grace)
                self._close_now(session, "linger grace expired")

        with self._lock:
            heapq.heappush(self._timers, (time.monotonic() + self.linger_grace, next(self._seq), expire))

    # ------------------------------------------------------------------ reactor

    def _loop(self) -> None:
        window = self.coalesce_s
        woke = 0.0
        try:
            while self._running:
                timeout = 1.0
                with self._lock:
                    if self._timers:
                        timeout = max(0.0, min(timeout, self._timers[0][0] - time.monotonic()))
                ready = self._sel.select(timeout)
                for key, _mask in ready:
                    data = key.data
                    if data == "listener":
                        self._accept()
                    elif data == "wake":
                        self._drain_wake()
                    else:
                        self._read(data)
                self._run_timers()
                if self._wakes:
                    wakes, self._wakes = self._wakes, []
                    for waiter in wakes:
                        waiter.lock.release()
                if window > 0 and ready:
                    # Busy: wake at most once per window and read what arrived meanwhile
                    # in one go (FreeSWITCH writes every frame on its own; one wake per
                    # frame costs a context switch and a GIL hand-off each). An idle
                    # reactor answers the first frame at once.
                    now = time.monotonic()
                    if now - woke < window:
                        time.sleep(window - (now - woke))
                        now = time.monotonic()
                    woke = now
        except Exception:  # the reactor must not die silently
            log.exception("outbound reactor crashed")
            raise

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while self._tasks:
            fn = self._tasks.popleft()
            try:
                fn()
            except Exception:
                log.exception("outbound reactor task failed")

    def _run_timers(self) -> None:
        now = time.monotonic()
        due: list[Callable[[], None]] = []
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                due.append(heapq.heappop(self._timers)[2])
        for fn in due:
            try:
                fn()
            except Exception:
                log.exception("outbound reactor timer failed")

    def _close_listener(self) -> None:
        """Stop accepting. Connections the kernel already completed (the listen
        backlog) are accepted first and get ``busy_handler``: closing the listener
        over them would reset them after FreeSWITCH's ``connect`` succeeded, and
        FreeSWITCH then parks the caller for good (its ``socket`` application parks
        even when the listener thread failed before the ``connect`` command)."""
        self._accepting = False
        if self._listener is not None and not self._listener_closed.is_set():
            try:
                self._sel.unregister(self._listener)
            except (KeyError, ValueError):
                pass
            drained = self._accept(draining=True)
            self._listener.close()
            log.info("outbound server stopped accepting (%d pending connections given the busy handler)", drained)
        self._listener_closed.set()

    def _accept(self, *, draining: bool = False) -> int:
        """Accept what is pending (at most 256 a pass unless ``draining``); returns
        how many connections were taken."""
        assert self._listener is not None
        taken = 0
        while draining or taken < 256:
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return taken
            except OSError as exc:
                log.error("outbound accept failed: %s", exc)
                return taken
            taken += 1
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = OutboundSession(self, sock, addr, command_timeout=self.command_timeout,
                                      max_body_bytes=self.max_body_bytes)
            with self._lock:
                # Past max_calls, or stopping: the busy handler (serve hands a call of
                # its dialplan back to FreeSWITCH, which tries the next address).
                busy = not self._accepting or self._active - self._busy_active >= self.max_calls
                if busy and self._busy_active >= self.max_busy_calls and self._accepting:
                    refuse = True
                else:
                    refuse = False
                    self._active += 1
                    if busy:
                        self._busy_active += 1
                    self._sessions.add(session)
            if refuse:
                self.calls_busy += 1
                log.warning("outbound: over capacity and busy queue full; dropping connection from %s", addr)
                sock.close()
                continue
            self._sel.register(sock, selectors.EVENT_READ, session)
            self.calls_total += 1
            if busy:
                self.calls_busy += 1
                if self._accepting:
                    log.warning("outbound: %d calls active (max %d); busy handler for %s", self.max_calls,
                                self.max_calls, addr)
                else:
                    log.warning("outbound: stopping; busy handler for %s (connected before the listener closed)",
                                addr)
            self._spawn(session, busy)
        return taken

    def _spawn(self, session: OutboundSession, busy: bool) -> None:
        """Hand the call to an idle handler thread (one lock release), or start one.
        Threads are reused: starting one per call costs the reactor a clone, a stack
        mapping and a start handshake it has to wait for."""
        task = (session, self.busy_handler if busy else self.handler, busy)
        with self._lock:
            worker = self._idle_workers.pop() if self._idle_workers else None
            if worker is not None:
                worker.task = task
            else:
                self.workers += 1
        if worker is not None:
            worker.lock.release()
            return
        worker = _Worker(task)
        thread = threading.Thread(target=self._work, args=(worker,), name=f"call-{self.calls_total}", daemon=True)
        old = threading.stack_size()
        try:
            threading.stack_size(self.thread_stack_size)
        except (ValueError, RuntimeError):
            old = -1
        try:
            thread.start()
        except RuntimeError as exc:  # cannot create a thread: treat the call as refused
            log.error("outbound: cannot start a handler thread: %s", exc)
            with self._lock:
                self.workers -= 1
            self._close_now(session, "no thread")
            self._handler_done(session, busy)
        finally:
            if old >= 0:
                threading.stack_size(old)

    def _work(self, worker: _Worker) -> None:
        """A handler thread: runs calls one after another, each in a fresh context
        (as a new thread would); ends after ``worker_idle_s`` without a call, or
        when the server stops."""
        try:
            while True:
                task, worker.task = worker.task, None
                if task is None:
                    return
                session, handler, busy = task
                contextvars.Context().run(self._run_call, session, handler, busy)
                with self._lock:
                    if self._stopped and not self._running:
                        return
                    self._idle_workers.append(worker)
                if worker.lock.acquire(True, self.worker_idle_s):
                    continue
                with self._lock:
                    if worker in self._idle_workers:
                        self._idle_workers.remove(worker)
                        return
                worker.lock.acquire()  # a call was handed over as the wait ended: take it
        finally:
            with self._lock:
                self.workers -= 1

    def _read(self, session: OutboundSession) -> None:
        try:
            data = session.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._close_now(session, f"read failed: {exc}")
            return
        if not data:
            self._close_now(session, "EOF")
            return
        try:
            session._feed(data)
        except ProtocolError as exc:
            self.connections_dropped += 1
            log.warning("call %s: protocol error from %s, dropping connection: %s",
                        session.uuid or "-", session.address, exc)
            self._close_now(session, f"protocol error: {exc}")

    def _close_now(self, session: OutboundSession, reason: str) -> None:
        """Reactor thread (or after the reactor stopped): stop reading, shut the
        connection down and release the waiters; the descriptor itself is closed
        once the handler thread has finished too."""
        if session._unregistered:
            return
        try:
            self._sel.unregister(session.sock)
        except (KeyError, ValueError, OSError):
            pass
        try:
            session.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        session._unregistered = True
        log.debug("call %s: socket closed (%s)", session.uuid or session.address, reason)
        session._on_closed(reason)
        session._maybe_release()

    # ------------------------------------------------------------------ handler threads

    def _run_call(self, session: OutboundSession, handler: Callable[[OutboundSession], None],
                  busy: bool) -> None:
        started = time.monotonic()
        try:
            try:
                session.start()
            except (ESLError, CallGone) as exc:
                self.calls_failed += 1
                log.warning("call %s: setup failed from %s: %s", session.uuid or "-", session.address, exc)
                return
            except Exception:
                self.calls_failed += 1
                log.exception("call %s: setup failed from %s", session.uuid or "-", session.address)
                return
            log.info("call %s: start%s from %s caller=%s dest=%s", session.uuid, " (busy)" if busy else "",
                     session.address[0], session.data.get("Caller-Caller-ID-Number", "?"),
                     session.data.get("Caller-Destination-Number", "?"))
            try:
                handler(session)
            except CallGone as exc:
                log.info("call %s: caller gone (%s)", session.uuid, exc.cause or "hangup")
            except ESLError as exc:
                self.calls_failed += 1
                log.warning("call %s: event socket error: %s", session.uuid, exc)
                self._hangup_after_error(session)
            except Exception:
                self.calls_failed += 1
                log.exception("call %s: handler failed", session.uuid)
                self._hangup_after_error(session)
        finally:
            try:
                session.close()
            except Exception:
                log.exception("call %s: close failed", session.uuid)
            log.info("call %s: end after %.2fs (%s)", session.uuid or "-", time.monotonic() - started,
                     session.hangup_cause or "up")
            self._handler_done(session, busy)

    def _hangup_after_error(self, session: OutboundSession) -> None:
        if self.after_error is not None and _hook(self.after_error, session):
            return  # the hook took care of the call (e.g. its dialplan takes it back)
        if session.is_up() and not session.bridged and not session.socket_app_done:
            try:
                session.hangup("NORMAL_TEMPORARY_FAILURE", wait=0.5)
            except (ESLError, ValueError):
                pass

    def _handler_done(self, session: OutboundSession, busy: bool) -> None:
        session._handler_finished = True
        session._maybe_release()
        with self._idle:
            self._active -= 1
            if busy:
                self._busy_active -= 1
            self._sessions.discard(session)
            self._idle.notify_all()


def _busy_tone(source: str) -> Callable[[OutboundSession], None]:
    def busy(session: OutboundSession) -> None:
        session.execute("playback", source, timeout=30.0)
        session.hangup("USER_BUSY")

    return busy


def _wait_writable(sock: socket.socket, timeout: float) -> None:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLOUT)
        poller.poll(max(1, int(timeout * 1000)))
    else:  # pragma: no cover - non-Linux
        select.select([], [sock], [], timeout)


def _hook(fn: Callable[[OutboundSession], bool], session: OutboundSession) -> bool:
    """Run a hook; an exception is logged and counts as "not dealt with"."""
    try:
        return bool(fn(session))
    except Exception:
        log.exception("call %s: %s failed", session.uuid, getattr(fn, "__name__", "hook"))
        return False


def _safe_call(fn: Callable[[], None], uuid: str) -> None:
    try:
        fn()
    except Exception:
        log.exception("call %s: callback failed", uuid)


__all__ = ["Execution", "OutboundServer", "OutboundSession"]
