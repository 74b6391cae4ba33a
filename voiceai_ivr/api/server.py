"""The HTTP server in front of the API: waitress, bounded against hostile clients.

waitress alone has one total connection limit (at which it stops accepting, so
new clients wait in the backlog) and an inactivity timeout that every received
byte resets: 110 connections sending a byte every 10 s, without a token, keep
it full for as long as they like. This server keeps waitress's HTTP parsing,
its task threads and WSGI handling, and decides itself who gets a connection
and for how long:

* **per client** (``api.max_connections_per_client``, by IP address): a client
  over its share loses its own oldest waiting connection; if all of its
  connections are being served, the new one gets ``429`` and is closed;
* **in total** (``api.max_connections``): at the limit, the connection that has
  waited longest without a request being served (idle keep-alive, headers or
  body still arriving) is closed to make room; if every connection is being
  served, the new one gets ``503`` and is closed. New clients are never left
  in the listen backlog;
* **absolute read deadlines** that no trickle of bytes extends: the request
  head must be complete within ``api.header_timeout`` seconds of the connection
  being opened (or of the previous response, on a kept-alive connection), and
  the body within ``api.body_timeout`` seconds of the head. Past a deadline the
  client gets ``408`` (when it had started a request) and the connection closes.

Refusals and timeouts are counted in ``/metrics`` with fixed labels
(``voiceai_api_connections_*``). Why not another server: none of waitress,
gunicorn, uvicorn or cheroot limits connections per client or bounds the time
to receive a request head independently of the bytes' pace; this is the
smallest change that does, and it keeps the WSGI application unchanged.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from voiceai_ivr.api.app import ConnectionEvents

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 32768  # a request head larger than this is refused (431 by waitress)


@dataclass(frozen=True)
class Limits:
    max_connections: int = 100
    max_connections_per_client: int = 20
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def from_config(cls, api: Any) -> Limits:
        return cls(
            max_connections=int(api.max_connections),
            max_connections_per_client=int(api.max_connections_per_client),
            header_timeout=float(api.header_timeout),
            body_timeout=float(api.body_timeout),
        )


def _error_response(status: int, reason: str, code: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\nCache-Control: no-store\r\n{extra}\r\n"
    )
    return head.encode("ascii") + body


def _send_and_close(sock: socket.socket, data: bytes) -> None:
    """Best effort: a refused or timed-out client is not waited for."""
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class _Channel(HTTPChannel):
    """waitress's connection, with the clocks of its read deadlines."""

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None) -> None:
        self.client = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
        self.waiting_since = time.monotonic()  # opened, or its last response finished
        self.body_since: Optional[float] = None  # head complete, body still arriving
        super().__init__(server, sock, addr, adj, map=map)

    def received(self, data: bytes) -> bool:
        result = bool(super().received(data))
        request = self.request
        if request is None:
            self.body_since = None
        elif request.headers_finished and self.body_since is None:
            self.body_since = time.monotonic()
        return result

    def service(self) -> None:
        try:
            super().service()
        finally:
            if not self.requests:
                self.waiting_since = time.monotonic()

    @property
    def busy(self) -> bool:
        """A request of this connection is queued or being served."""
        return bool(self.requests)


class BoundedServer(TcpWSGIServer):
    channel_class = _Channel

    def __init__(
        self,
        application: Callable,
        *,
        adj: Adjustments,
        limits: Limits,
        events: ConnectionEvents,
        loop_timeout: float,
    ) -> None:
        self.limits = limits
        self.events = events
        self.loop_timeout = loop_timeout
        self._check_every = max(0.05, min(0.5, limits.header_timeout / 4, limits.body_timeout / 4))
        self._next_check = 0.0
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._running = False
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        super().__init__(application, map={}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])

    # ------------------------------------------------------------------ admission

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
            if pair is None:
                return
            conn, addr = pair
            self.set_socket_options(conn)
        except OSError:
            return
        addr = self.fix_addr(addr)
        client = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
        refusal = self._make_room(client)
        if refusal == "per_client":
            self.events.add("refused", "per_client")
            _send_and_close(conn, _error_response(
                429, "Too Many Requests", "too_many_connections",
                f"more than {self.limits.max_connections_per_client} connections from your address are busy",
                "Retry-After: 1\r\n",
            ))
            conn.close()
            return
        if refusal == "total":
            self.events.add("refused", "total")
            _send_and_close(conn, _error_response(
                503, "Service Unavailable", "too_many_connections",
                "every connection is busy; retry shortly", "Retry-After: 1\r\n",
            ))
            conn.close()
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)
        self._count_open()

    def _make_room(self, client: str) -> Optional[str]:
        """Close a waiting connection when ``client`` or the server is at its limit;
        the limit's name when nothing can be closed (the new connection is refused)."""
        channels = [
            c for c in self.active_channels.values() if isinstance(c, _Channel) and c.connected and not c.will_close
        ]
        mine = [c for c in channels if c.client == client]
        if len(mine) >= self.limits.max_connections_per_client:
            victim = _oldest_waiting(mine)
            if victim is None:
                return "per_client"
            self._close(victim)
            self.events.add("evicted", "per_client")
            channels.remove(victim)
        if len(channels) >= self.limits.max_connections:
            victim = _oldest_waiting(channels)
            if victim is None:
                return "total"
            self._close(victim)
            self.events.add("evicted", "total")
        return None

    # ------------------------------------------------------------------ deadlines

    def readable(self) -> bool:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._check_every
            self._enforce_deadlines(now)
        return bool(super().readable())

    def _enforce_deadlines(self, now: float) -> None:
        for channel in list(self.active_channels.values()):
            if not isinstance(channel, _Channel) or channel.busy or not channel.connected or channel.will_close:
                continue
            if channel.body_since is not None:
                if now - channel.body_since > self.limits.body_timeout:
                    self._time_out(channel, "body", f"request body not received within {self.limits.body_timeout:g} s")
            elif now - channel.waiting_since > self.limits.header_timeout:
                phase = "headers" if channel.request is not None else "idle"
                self._time_out(
                    channel, phase, f"request headers not received within {self.limits.header_timeout:g} s"
                )
        self._count_open()

    def _time_out(self, channel: _Channel, phase: str, message: str) -> None:
        self.events.add("timeouts", phase)
        if phase != "idle" and channel.socket is not None:
            _send_and_close(channel.socket, _error_response(408, "Request Timeout", "timeout", message))
        self._close(channel)

    def _close(self, channel: _Channel) -> None:
        """Mark ``channel`` to close: it closes itself on its next write event.
        Closing it here (while the event loop polls or dispatches other sockets)
        could hand a stale event of its file descriptor to a connection accepted
        meanwhile under the same number."""
        channel.will_close = True

    def _count_open(self) -> None:
        self.events.open = sum(
            1 for c in self.active_channels.values() if isinstance(c, _Channel) and not c.will_close
        )

    # ------------------------------------------------------------------ run / stop

    def run(self) -> None:
        """Serve until ``close()`` (from any thread) or KeyboardInterrupt/SystemExit."""
        self._running = True
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=self.loop_timeout, map=self._map, use_poll=True, count=1)
        except (SystemExit, KeyboardInterrupt):
            pass
        finally:
            self._shutdown()

    def close(self) -> None:
        """Stop serving and close every connection (bounded wait for the loop)."""
        self._stopping.set()
        if self._running:
            try:
                self.pull_trigger()
            except OSError:
                pass
            self._stopped.wait(5)
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._stopped.is_set():
            return
        for channel in list(self.active_channels.values()):  # the loop has stopped: close now
            try:
                channel.handle_close()
            except OSError:
                pass
        try:
            self.trigger.close()
        except OSError:
            pass
        try:
            wasyncore.dispatcher.close(self)
        except OSError:
            pass
        self.task_dispatcher.shutdown(timeout=5)
        self._stopped.set()


def _oldest_waiting(channels: list[_Channel]) -> Optional[_Channel]:
    waiting = [c for c in channels if not c.busy]
    return min(waiting, key=lambda c: c.waiting_since) if waiting else None


def create_server(
    app: Callable,
    *,
    host: str,
    port: int,
    threads: int = 8,
    limits: Optional[Limits] = None,
    events: Optional[ConnectionEvents] = None,
    max_body_bytes: int = 65536,
    loop_timeout: float = 0.25,
) -> BoundedServer:
    """A bounded server for the WSGI ``app`` on ``host:port`` (port 0: any free);
    ``run()`` serves, ``close()`` stops from any thread. ``events`` defaults to
    ``app.connection_events`` when the app has one (``ApiApp`` shows them in
    ``/metrics``)."""
    limits = limits or Limits()
    if events is None:
        events = getattr(app, "connection_events", None) or ConnectionEvents()
    adj = Adjustments(
        host=host,
        port=port,
        threads=threads,
        # waitress's own limits stay out of the way: the front above decides
        connection_limit=limits.max_connections + 16,
        channel_timeout=int(max(limits.header_timeout, limits.body_timeout)) + 60,
        cleanup_interval=30,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=max_body_bytes,
        ident="voiceai-ivr",
        asyncore_use_poll=True,
    )
    return BoundedServer(app, adj=adj, limits=limits, events=events, loop_timeout=loop_timeout)


__all__ = ["BoundedServer", "ConnectionEvents", "Limits", "create_server"]
