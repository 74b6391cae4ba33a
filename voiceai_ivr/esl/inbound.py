"""Inbound Event Socket client: we connect to FreeSWITCH (port 8021).

One reader thread owns the socket's reads: it matches ``command/reply`` and
``api/response`` frames to waiters in the order the commands were written (the
socket answers strictly in order), completes ``bgapi`` jobs from BACKGROUND_JOB
events by ``Job-UUID``, and hands channel events to per-channel watches and to
event callbacks. Any number of handler threads may call ``api``/``bgapi`` at
once; writes are serialised by one lock.

When the connection drops, every pending waiter and job is failed with
``ESLDisconnected`` at once, and the reader reconnects with exponential backoff
(capped by ``reconnect_max_delay``), re-authenticates and restores the event
subscription and filters. Commands issued while disconnected fail at once with
``ESLDisconnected`` rather than queue: a call flow would rather tell the caller
than wait. ``on_connection(callback)`` is told of every drop and every
reconnection (metrics and health checks follow the connection through it).
"""

from __future__ import annotations

import collections
import logging
import random
import re
import selectors
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional

from voiceai_ivr.errors import AuthError, CommandError, ESLDisconnected, ESLError, ESLTimeout, ProtocolError
from voiceai_ivr.esl.jobs import BgJob
from voiceai_ivr.esl.protocol import Event, Frame, FrameParser, Reply, encode_command, frame_to_event

if TYPE_CHECKING:
    from voiceai_ivr.config import ESLConfig

log = logging.getLogger("voiceai_ivr.esl.inbound")

DEFAULT_EVENTS = (
    "BACKGROUND_JOB",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
)
_EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_:.\-]{1,128}$")
_HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_HANGUP_EVENTS = frozenset({"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"})
_RECV_BYTES = 65536
RECONNECT_NOW_GAP = 1.0  # seconds between two reconnection attempts asked for by reconnect_now()


class _Slot:
    """One command waiting for its reply: the waiter sleeps on ``done`` (taken when
    the slot is made, released once by the reader: a plain lock is the cheapest
    hand-off between two threads)."""

    __slots__ = ("callback", "done", "error", "frame")

    def __init__(self, callback: Optional[Callable[[Optional[Frame], Optional[ESLError]], None]] = None) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.frame: Optional[Frame] = None
        self.error: Optional[ESLError] = None
        self.callback = callback

    def resolve(self, frame: Optional[Frame], error: Optional[ESLError]) -> None:
        self.frame = frame
        self.error = error
        self.done.release()
        if self.callback is not None:
            try:
                self.callback(frame, error)
            except Exception:
                log.exception("reply callback failed")


class ChannelWatch:
    """The events of one channel (``Unique-ID``) as they arrive on the inbound socket.

    ``next(timeout)`` returns the next event or ``None`` on timeout; after the
    connection dropped it raises ``ESLDisconnected`` once (events may have been
    lost), then keeps delivering. ``gone`` is set by CHANNEL_HANGUP(_COMPLETE).
    Only subscribed event types arrive (``DEFAULT_EVENTS`` unless configured).
    """

    def __init__(self, client: InboundClient, uuid: str, maxlen: int = 512) -> None:
        self.uuid = uuid
        self.gone = threading.Event()
        self.hangup_cause: Optional[str] = None
        self.dropped = 0
        self._client = client
        self._queue: collections.deque[Event] = collections.deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self._lost = False
        self._closed = False

    def _push(self, event: Event) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._queue) >= self._maxlen:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
            if event.name in _HANGUP_EVENTS and not self.gone.is_set():
                self.hangup_cause = event.get("Hangup-Cause") or event.get("variable_hangup_cause")
                self.gone.set()
            self._cond.notify_all()

    def _connection_lost(self) -> None:
        with self._cond:
            self._lost = True
            self._cond.notify_all()

    def next(self, timeout: float) -> Optional[Event]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._queue:
                    return self._queue.popleft()
                if self._lost:
                    self._lost = False
                    raise ESLDisconnected(f"inbound connection lost while watching {self.uuid}")
                if self._closed:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
        self._client._drop_watch(self)

    def __enter__(self) -> ChannelWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Conn:
    __slots__ = ("parser", "slots", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = FrameParser()
        self.slots: collections.deque[_Slot] = collections.deque()


class InboundClient:
    """Thread-safe inbound ESL client; implements ``switch.ApiTransport``."""

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_max_delay: float = 10.0,
        events: Iterable[str] = DEFAULT_EVENTS,
        filters: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.host = host
        self.port = int(port)
        self._password = password
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.reconnect_max_delay = max(0.05, float(reconnect_max_delay))
        self.coalesce_s = 0.001
        self._events: list[str] = []
        self._add_events(["BACKGROUND_JOB", *events])
        self._filters: list[tuple[str, str]] = []
        for header, value in filters:
            self._check_filter(header, value)
            self._filters.append((header, value))
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._conn: Optional[_Conn] = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts a reconnect backoff short (reconnect_now, close)
        self._reader: Optional[threading.Thread] = None
        self._jobs: dict[str, BgJob] = {}
        self._watches: dict[str, list[ChannelWatch]] = {}
        self._callbacks: list[Callable[[Event], None]] = []
        self._state_callbacks: list[Callable[[bool], None]] = []
        self.reconnects = 0
        self.disconnected_at: Optional[float] = None  # time.monotonic() of the last drop; None while up

    @classmethod
    def from_config(cls, cfg: ESLConfig, **kwargs: object) -> InboundClient:
        return cls(cfg.host, cfg.port, cfg.password, timeout=cfg.timeout,
                   reconnect_max_delay=cfg.reconnect_max_delay, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ lifecycle

    def connect(self) -> InboundClient:
        """Connect and authenticate; raises ``AuthError``/``ESLDisconnected``/``ESLTimeout``.
        Starts the reader thread, which keeps the connection up until ``close()``."""
        if self._reader is not None:
            raise ESLError("InboundClient.connect() called twice")
        conn, leftovers = self._open()
        self._install(conn)
        self._reader = threading.Thread(
            target=self._run, args=(conn, leftovers), name=f"esl-inbound-{self.host}:{self.port}", daemon=True
        )
        self._reader.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Send ``exit``, close the socket and stop reconnecting. Pending waiters fail."""
        self._stop.set()
        self._wake.set()
        conn = self._conn
        if conn is not None:
            try:
                with self._send_lock:
                    conn.sock.sendall(b"exit\n\n")
            except OSError:
                pass
            _shutdown(conn.sock)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout)

    def __enter__(self) -> InboundClient:
        return self.connect() if self._reader is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def reconnect_now(self) -> None:
        """While disconnected: try again now instead of at the end of the backoff
        step (a sign FreeSWITCH may be back: it just handed us a call, a health
        check asks). At most one such attempt per ``RECONNECT_NOW_GAP`` seconds,
        whoever asks how often. No effect while connected."""
        if not self._connected.is_set():
            self._wake.set()

    # ------------------------------------------------------------------ commands

    def command(self, command: str, timeout: Optional[float] = None,
                headers: Optional[list[tuple[str, str]]] = None, body: Optional[str] = None) -> Reply:
        """Send one command and return its ``command/reply`` (or ``api/response``)."""
        slot = self._send(encode_command(command, headers, body))
        frame = self._await(slot, command, timeout)
        return Reply.from_frame(frame)

    def api(self, command: str, timeout: Optional[float] = None) -> str:
        """``api COMMAND``; returns the response body (it may start with ``-ERR``)."""
        slot = self._send(encode_command(f"api {command}"))
        frame = self._await(slot, command, timeout)
        return frame.body

    def bgapi(self, command: str, timeout: Optional[float] = None) -> BgJob:
        """``bgapi COMMAND``; ``timeout`` bounds the ``+OK Job-UUID`` reply only. The job
        is registered under our own Job-UUID before the command is written, so its
        BACKGROUND_JOB event can never arrive unclaimed."""
        job_uuid = str(uuidlib.uuid4())
        job = BgJob(job_uuid, command)
        with self._state_lock:
            self._jobs[job_uuid] = job

        def on_reply(frame: Optional[Frame], error: Optional[ESLError]) -> None:
            # Runs in the reader thread, before any later frame is looked at.
            if error is not None:
                self._pop_job(job_uuid)
                job.fail(error)
                return
            assert frame is not None
            reply = Reply.from_frame(frame)
            if not reply.ok:
                self._pop_job(job_uuid)
                job.fail(CommandError(f"bgapi {command}", reply.text))
                return
            actual = frame.get("Job-UUID") or _job_uuid_from_text(reply.text)
            if actual and actual != job_uuid:
                with self._state_lock:
                    self._jobs.pop(job_uuid, None)
                    job.job_uuid = actual
                    self._jobs[actual] = job

        try:
            slot = self._send(encode_command(f"bgapi {command}", [("Job-UUID", job_uuid)]), on_reply)
        except ESLError:
            self._pop_job(job_uuid)
            raise
        self._await(slot, command, timeout)
        if job.error is not None and job.done.is_set() and not isinstance(job.error, ESLDisconnected):
            raise job.error
        return job

    def subscribe(self, *names: str, timeout: Optional[float] = None) -> None:
        """Add event types to the subscription (kept across reconnects)."""
        new = self._add_events(names)
        if new and self.connected:
            reply = self.command("event plain " + " ".join(new), timeout)
            if not reply.ok:
                raise CommandError("event", reply.text)

    def add_filter(self, header: str, value: str, timeout: Optional[float] = None) -> None:
        """``filter HEADER VALUE`` (kept across reconnects). With any filter set,
        FreeSWITCH delivers only matching events: include a ``Job-UUID`` filter or
        BACKGROUND_JOB results are filtered out too."""
        self._check_filter(header, value)
        self._filters.append((header, value))
        if self.connected:
            reply = self.command(f"filter {header} {value}", timeout)
            if not reply.ok:
                raise CommandError("filter", reply.text)

    def delete_filter(self, header: str, value: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self._check_filter(header, value or "x")
        self._filters = [(h, v) for h, v in self._filters if not (h == header and (value is None or v == value))]
        if self.connected:
            self.command(f"filter delete {header}" + (f" {value}" if value else ""), timeout)

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` from the reader thread for every event (keep it
        quick). Returns a function that removes the callback."""
        with self._state_lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._state_lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def on_connection(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``callback(False)`` when the connection drops and ``callback(True)``
        each time it is back (re-authenticated, subscriptions restored), from the
        reader thread (keep it quick). Not called for ``close()``. Returns a
        function that removes the callback."""
        with self._state_lock:
            self._state_callbacks.append(callback)

        def remove() -> None:
            with self._state_lock:
                if callback in self._state_callbacks:
                    self._state_callbacks.remove(callback)

        return remove

    def _tell_state(self, connected: bool) -> None:
        with self._state_lock:
            callbacks = list(self._state_callbacks)
        for cb in callbacks:
            try:
                cb(connected)
            except Exception:
                log.exception("esl inbound: connection callback failed")

    def watch(self, uuid: str, maxlen: int = 512) -> ChannelWatch:
        w = ChannelWatch(self, uuid, maxlen)
        with self._state_lock:
            self._watches.setdefault(uuid, []).append(w)
        return w

    # ------------------------------------------------------------------ internals

    def _add_events(self, names: Iterable[str]) -> list[str]:
        new = []
        for name in names:
            if not isinstance(name, str) or not _EVENT_NAME_RE.match(name):
                raise ESLError(f"event name not allowed: {name!r}")
            if name not in self._events:
                self._events.append(name)
                new.append(name)
        return new

    @staticmethod
    def _check_filter(header: str, value: str) -> None:
        if not _HEADER_NAME_RE.match(header or ""):
            raise ESLError(f"filter header not allowed: {header!r}")
        if not value or any(c in value for c in "\r\n"):
            raise ESLError(f"filter value not allowed: {value!r}")

    def _drop_watch(self, w: ChannelWatch) -> None:
        with self._state_lock:
            lst = self._watches.get(w.uuid)
            if lst and w in lst:
                lst.remove(w)
                if not lst:
                    del self._watches[w.uuid]

    def _pop_job(self, job_uuid: str) -> None:
        with self._state_lock:
            self._jobs.pop(job_uuid, None)

    def _send(self, data: bytes,
              callback: Optional[Callable[[Optional[Frame], Optional[ESLError]], None]] = None) -> _Slot:
        slot = _Slot(callback)
        with self._send_lock:
            conn = self._conn
            if conn is None or not self._connected.is_set():
                raise ESLDisconnected(f"not connected to FreeSWITCH at {self.host}:{self.port}")
            conn.slots.append(slot)
            try:
                conn.sock.sendall(data)
            except OSError as exc:
                _shutdown(conn.sock)  # the reader notices and fails every waiter
                raise ESLDisconnected(f"write to FreeSWITCH failed: {exc}") from exc
        return slot

    def _await(self, slot: _Slot, command: str, timeout: Optional[float]) -> Frame:
        limit = self.timeout if timeout is None else timeout
        if not slot.done.acquire(True, max(0.0, limit)):
            # The slot stays queued: its reply, when it comes, is matched and dropped.
            raise ESLTimeout(f"no reply to {command.split(' ', 1)[0]!r} within {limit:.1f}s")
        if slot.error is not None:
            raise slot.error
        assert slot.frame is not None
        return slot.frame

    def _open(self) -> tuple[_Conn, list[Frame]]:
        """Connect, authenticate and subscribe, reading synchronously (no reader yet)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ESLDisconnected(f"cannot connect to FreeSWITCH at {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            pending: list[Frame] = []
            deadline = time.monotonic() + self.connect_timeout

            def next_frame() -> Frame:
                while not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ESLTimeout(f"FreeSWITCH at {self.host}:{self.port} did not answer in time")
                    sock.settimeout(remaining)
                    try:
                        data = sock.recv(_RECV_BYTES)
                    except socket.timeout as exc:
                        raise ESLTimeout(f"FreeSWITCH at {self.host}:{self.port} did not answer in time") from exc
                    if not data:
                        raise ESLDisconnected(f"FreeSWITCH at {self.host}:{self.port} closed the connection")
                    pending.extend(conn.parser.feed(data))
                return pending.pop(0)

            def reply_to(data: bytes) -> Frame:
                sock.sendall(data)
                while True:
                    frame = next_frame()
                    ctype = frame.content_type
                    if ctype == "text/rude-rejection":
                        raise AuthError(f"FreeSWITCH rejected us: {frame.body.strip() or 'access denied'}")
                    if ctype in ("command/reply", "api/response"):
                        return frame

            greeting = next_frame()
            if greeting.content_type == "text/rude-rejection":
                raise AuthError(f"FreeSWITCH rejected us: {greeting.body.strip() or 'access denied'}")
            if greeting.content_type != "auth/request":
                raise ProtocolError(f"expected auth/request, got {greeting.content_type!r}")
            reply = Reply.from_frame(reply_to(encode_command(f"auth {self._password}")))
            if not reply.ok:
                raise AuthError(f"FreeSWITCH refused the password: {reply.text}")
            reply = Reply.from_frame(reply_to(encode_command("event plain " + " ".join(self._events))))
            if not reply.ok:
                raise CommandError("event", reply.text)
            for header, value in self._filters:
                reply = Reply.from_frame(reply_to(encode_command(f"filter {header} {value}")))
                if not reply.ok:
                    raise CommandError("filter", reply.text)
            sock.settimeout(self.timeout)  # bounds sendall; reads go through a selector
            return conn, pending
        except (ESLError, OSError) as exc:
            sock.close()
            if isinstance(exc, ESLError):
                raise
            raise ESLDisconnected(f"connection to {self.host}:{self.port} failed: {exc}") from exc

    def _install(self, conn: _Conn) -> None:
        with self._send_lock:
            self._conn = conn
            self._connected.set()
        down_since, self.disconnected_at = self.disconnected_at, None
        if down_since is None:
            log.info("esl inbound connected to %s:%s", self.host, self.port)
        else:
            log.warning("esl inbound reconnected to %s:%s after %.1fs", self.host, self.port,
                        time.monotonic() - down_since)
        self._tell_state(True)

    def _run(self, conn: _Conn, leftovers: list[Frame]) -> None:
        attempt = 0
        last_try = 0.0
        while not self._stop.is_set():
            reason = self._read_loop(conn, leftovers)
            self._lose(conn, reason)
            leftovers = []
            while not self._stop.is_set():
                delay = min(self.reconnect_max_delay, 0.1 * (2 ** min(attempt, 16)))
                delay *= random.uniform(0.8, 1.2)
                attempt += 1
                if self._wake.wait(delay):
                    # Asked to try now: not sooner than RECONNECT_NOW_GAP after the last attempt.
                    self._stop.wait(max(0.0, last_try + RECONNECT_NOW_GAP - time.monotonic()))
                    self._wake.clear()
                if self._stop.is_set():
                    return
                last_try = time.monotonic()
                try:
                    conn, leftovers = self._open()
                except ESLError as exc:
                    log.warning("esl inbound reconnect to %s:%s failed (attempt %d): %s",
                                self.host, self.port, attempt, exc)
                    continue
                self.reconnects += 1
                attempt = 0
                self._install(conn)
                break

    def _read_loop(self, conn: _Conn, leftovers: list[Frame]) -> str:
        for frame in leftovers:
            self._dispatch(conn, frame)
        sel = selectors.DefaultSelector()
        woke = 0.0
        try:
            sel.register(conn.sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                now = time.monotonic()
                if now - woke < self.coalesce_s:
                    # Busy (every call's channel events come this way): read at most once
                    # per window, whatever arrived meanwhile together.
                    time.sleep(self.coalesce_s - (now - woke))
                if not sel.select(1.0):
                    continue
                woke = time.monotonic()
                try:
                    data = conn.sock.recv(_RECV_BYTES)
                except (BlockingIOError, socket.timeout):
                    continue
                except OSError as exc:
                    return f"read failed: {exc}"
                if not data:
                    return "FreeSWITCH closed the connection"
                try:
                    frames = conn.parser.feed(data)
                except ProtocolError as exc:
                    return f"protocol error: {exc}"
                for frame in frames:
                    if not self._dispatch(conn, frame):
                        return f"FreeSWITCH sent {frame.content_type}"
            return "client closed"
        finally:
            sel.close()

    def _dispatch(self, conn: _Conn, frame: Frame) -> bool:
        ctype = frame.content_type
        if ctype in ("command/reply", "api/response"):
            if conn.slots:
                conn.slots.popleft().resolve(frame, None)
            elif self._stop.is_set() and (frame.reply_text or "").startswith("+OK bye"):
                pass  # the answer to our own ``exit`` (close): expected, not a protocol problem
            else:
                log.warning("esl inbound: unexpected %s: %s", ctype, (frame.reply_text or frame.body)[:80])
            return True
        if ctype in ("text/event-plain", "text/event-json"):
            try:
                event = frame_to_event(frame)
            except ProtocolError as exc:
                log.warning("esl inbound: undecodable event dropped: %s", exc)
                return True
            self._on_event(event)
            return True
        if ctype in ("text/disconnect-notice", "text/rude-rejection"):
            return False
        if ctype != "log/data":
            log.debug("esl inbound: ignored frame %s", ctype or frame.headers[:2])
        return True

    def _on_event(self, event: Event) -> None:
        # Events are decoded lazily: only Event-Name, Job-UUID and Unique-ID are read here.
        job_uuid = event.get("Job-UUID") if event.name == "BACKGROUND_JOB" else None
        uid = event.get("Unique-ID")
        with self._state_lock:
            job = self._jobs.pop(job_uuid, None) if job_uuid else None
            watches = list(self._watches.get(uid, ())) if uid and self._watches else ()
            callbacks = list(self._callbacks) if self._callbacks else ()
        if job is not None:
            job.complete(event.body)
        for w in watches:
            w._push(event)
        for cb in callbacks:
            try:
                cb(event)
            except Exception:
                log.exception("esl inbound: event callback failed on %s", event.name)

    def _lose(self, conn: _Conn, reason: str) -> None:
        with self._send_lock:
            self._connected.clear()
            if self._conn is conn:
                self._conn = None
            slots = list(conn.slots)
            conn.slots.clear()
        _shutdown(conn.sock)
        conn.sock.close()
        with self._state_lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
            watches = [w for lst in self._watches.values() for w in lst]
        error = ESLDisconnected(f"FreeSWITCH connection lost: {reason}")
        for slot in slots:
            slot.resolve(None, error)
        for job in jobs:
            job.fail(error)
        for w in watches:
            w._connection_lost()
        if self._stop.is_set():
            log.info("esl inbound closed (%s:%s)", self.host, self.port)
        else:
            self.disconnected_at = time.monotonic()
            log.warning("esl inbound lost %s:%s: %s; %d waiters and %d jobs failed; reconnecting",
                        self.host, self.port, reason, len(slots), len(jobs))
            self._tell_state(False)


def _job_uuid_from_text(text: str) -> str:
    marker = "Job-UUID:"
    if marker in text:
        return text.split(marker, 1)[1].strip().split()[0] if text.split(marker, 1)[1].strip() else ""
    return ""


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


__all__ = ["DEFAULT_EVENTS", "ChannelWatch", "InboundClient"]
