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

The per-call session (``OutboundSession``) is ``esl.session``.
"""

from __future__ import annotations

import collections
import contextvars
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from typing import Callable, Optional

from voiceai_ivr.errors import CallGone, ESLError, ProtocolError
from voiceai_ivr.esl.session import Execution, OutboundSession, _Waiter

log = logging.getLogger("voiceai_ivr.esl.outbound")

_RECV_BYTES = 65536
_DEFAULT_BUSY_SOURCE = "tone_stream://%(500,500,480,620);loops=3"


class _Worker:
    """A handler thread between calls: sleeps on ``lock`` until ``task`` is set."""

    __slots__ = ("lock", "task")

    def __init__(self, task: Optional[tuple[OutboundSession, Callable[[OutboundSession], None], bool]]) -> None:
        self.task = task
        self.lock = threading.Lock()
        self.lock.acquire()


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


def _hook(fn: Callable[[OutboundSession], bool], session: OutboundSession) -> bool:
    """Run a hook; an exception is logged and counts as "not dealt with"."""
    try:
        return bool(fn(session))
    except Exception:
        log.exception("call %s: %s failed", session.uuid, getattr(fn, "__name__", "hook"))
        return False


__all__ = ["Execution", "OutboundServer", "OutboundSession"]
