"""A real local HTTP helpdesk implementing ``docs/helpdesk-api.md``, for tests.

It listens on 127.0.0.1 port 0, checks the bearer token and the
``Idempotency-Key`` of every request, processes each key at most once and
records everything, so tests can assert "every callback delivered exactly once".
Faults are injected from the test:

* ``go_down()`` / ``come_up()``: stop listening (connection refused) and listen
  again on the same port;
* ``fail_next(n, status=500)``: the next ``n`` requests get ``status`` without
  being processed;
* ``delay = seconds``: answer that late, AFTER processing (a client timeout then
  means "delivered but the answer was lost": the retry must not duplicate);
* ``duplicate_status``: what a repeated, already processed key gets: ``409``
  (default) or ``200`` (the original response replayed).

Usage::

    with HelpdeskServer(token="t" * 20) as hd:
        client = HelpdeskClient(hd.url, hd.token, timeout=1)
        ...
        assert hd.processed_count(key) == 1
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

ROUTES = (
    ("POST", ("v1", "callbacks"), "callback.created"),
    ("PATCH", ("v1", "callbacks", "*"), "callback.updated"),
    ("POST", ("v1", "callbacks", "*", "attempts"), "callback.attempt"),
    ("POST", ("v1", "callbacks", "*", "result"), "callback.result"),
    ("POST", ("v1", "calls", "*", "transfer-completed"), "transfer.completed"),
    ("POST", ("v1", "missed-calls"), "call.missed"),
    ("POST", ("v1", "whatsapp", "messages"), "whatsapp.send"),
)


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    kind: str
    key: str
    body: Any
    status: int = 0
    response: dict = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    helpdesk: HelpdeskServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _handle(self) -> None:
        self.server.helpdesk._serve(self)

    do_POST = _handle
    do_PATCH = _handle
    do_GET = _handle
    do_PUT = _handle
    do_DELETE = _handle


class HelpdeskServer:
    def __init__(self, token: str = "test-helpdesk-token-0001", *, duplicate_status: int = 409) -> None:
        self.token = token
        self.duplicate_status = duplicate_status
        self.delay = 0.0
        self.requests: list[Recorded] = []
        self.processed: dict[str, Recorded] = {}  # key -> the one request processed for it
        self.tickets: dict[str, list[str]] = {}  # callback_id -> keys that created a ticket
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HelpdeskServer:
        self._listen(self.port)
        return self

    def _listen(self, port: int) -> None:
        httpd = _Server(("127.0.0.1", port), _Handler)
        httpd.helpdesk = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._stop.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening: new connections are refused until ``come_up``."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stop.set()  # wake delayed handlers
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def come_up(self) -> None:
        if self._httpd is None:
            self._listen(self.port)

    def stop(self) -> None:
        self.go_down()

    def __enter__(self) -> HelpdeskServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ faults

    def fail_next(self, n: int, status: int = 500) -> None:
        with self._lock:
            self._fail.extend([status] * n)

    # ------------------------------------------------------------------ queries

    def count_by_key(self) -> Counter:
        """How many requests arrived per Idempotency-Key (retries included)."""
        with self._lock:
            return Counter(r.key for r in self.requests)

    def processed_count(self, key: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.key == key and r.status in (200, 201, 202))

    def processed_of_kind(self, kind: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.processed.values() if r.kind == kind]

    # ------------------------------------------------------------------ serving

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client gave up (timed out): expected

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        key = handler.headers.get("Idempotency-Key", "")
        parts = tuple(p for p in handler.path.split("?")[0].split("/") if p)
        kind = ""
        for method, pattern, name in ROUTES:
            if method == handler.command and len(pattern) == len(parts):
                if all(p == "*" or p == q for p, q in zip(pattern, parts)):
                    kind = name
                    break
        rec = Recorded(handler.command, handler.path, kind, key, None)
        try:
            rec.body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            rec.body = raw.decode("utf-8", "replace")
        status, body = self._decide(handler, rec, parts)
        rec.status, rec.response = status, body
        if status in (200, 201, 202) and self.delay > 0:
            self._stop.wait(self.delay)  # processed; the answer comes late (or never)
        self._reply(handler, status, body)

    def _decide(self, handler: BaseHTTPRequestHandler, rec: Recorded, parts: tuple) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(rec)
            if self._fail:
                status = self._fail.pop(0)
                return status, {"error": f"injected HTTP {status}"}
            if handler.headers.get("Authorization", "") != f"Bearer {self.token}":
                return 401, {"error": "bad or missing bearer token"}
            if not rec.key:
                return 400, {"error": "Idempotency-Key header is required", "field": "Idempotency-Key"}
            if not rec.kind:
                return 404, {"error": f"no route for {rec.method} {rec.path}"}
            if not isinstance(rec.body, dict):
                return 400, {"error": "body must be a JSON object"}
            done = self.processed.get(rec.key)
            if done is not None:
                if self.duplicate_status == 409:
                    return 409, {"error": "Idempotency-Key already used", **done.response}
                return done.status, dict(done.response)
            if rec.kind in ("callback.updated", "callback.attempt", "callback.result"):
                if parts[2] not in self.tickets:
                    return 404, {"error": "unknown callback", "field": "callback_id"}
            if rec.kind == "callback.created":
                cid = str(rec.body.get("callback_id") or "")
                if not cid:
                    return 422, {"error": "required", "field": "callback_id"}
                keys = self.tickets.setdefault(cid, [])
                keys.append(rec.key)
                response: dict = {"ticket_id": f"T-{cid[:8]}-{len(keys)}"}
                status = 201
            elif rec.kind == "callback.updated":
                response = {"ticket_id": f"T-{parts[2][:8]}-1"}
                status = 200
            elif rec.kind == "whatsapp.send":
                response = {"message_id": f"M-{next(self._ids)}"}
                status = 202
            elif rec.kind == "call.missed":
                response = {"ticket_id": f"MC-{next(self._ids)}"}
                status = 201
            else:
                response = {"ok": True}
                status = 200
            rec.status, rec.response = status, response
            self.processed[rec.key] = rec
            return status, response
