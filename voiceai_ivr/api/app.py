"""The helpdesk's HTTP API as a plain WSGI application (served by ``api.server``:
waitress behind connection limits and read deadlines).

Every endpoint but ``/health`` needs ``Authorization: Bearer <token>``; each
token (``api.tokens``) is scoped to ONE domain and every query is filtered by
it, so another domain's callbacks simply do not exist for that token (404).

Errors are JSON: ``{"error": {"code": ..., "field": ..., "message": ...}}``,
``field`` naming the input that was refused (a path parameter, a query
parameter, a body field, or ``body``). The contract is ``openapi/openapi.yaml``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from voiceai_ivr.config import shared_token_problems
from voiceai_ivr.errors import ConfigError, DatabaseUnavailable, ESLError, StoreError, ValidationError

log = logging.getLogger(__name__)

JSON = "application/json"
MIN_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_DATE = datetime(2100, 1, 1, tzinfo=timezone.utc)
MAX_SNOOZE = timedelta(days=30)
STATUSES = ("pending", "in_progress", "completed", "failed", "expired", "cancelled")

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HTTPError(Exception):
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


def bad(field_name: str, message: str, status: int = 400, code: str = "invalid") -> HTTPError:
    return HTTPError(status, code, f"{field_name}: {message}", field_name)


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    domain: str
    environ: dict
    _body: Any = field(default=None, repr=False)

    def json(self, max_bytes: int) -> dict:
        """The body as a JSON object ({} when empty)."""
        if self._body is not None:
            return dict(self._body)
        env = self.environ
        raw_len = env.get("CONTENT_LENGTH") or ""
        try:
            length = int(raw_len) if raw_len else 0
        except ValueError:
            raise bad("Content-Length", "must be a whole number") from None
        if length < 0:
            raise bad("Content-Length", "must be 0 or more")
        if length > max_bytes:
            raise HTTPError(413, "too_large", f"body: larger than {max_bytes} bytes", "body")
        data = env["wsgi.input"].read(length) if length else b""
        if not data.strip():
            self._body = {}
            return {}
        ctype = (env.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if ctype != JSON:
            raise HTTPError(415, "unsupported_media_type", "body: Content-Type must be application/json", "body")
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad("body", f"not valid JSON ({exc})") from None
        except RecursionError:  # a few KB of [[[[... exhaust the decoder's recursion
            raise bad("body", "nested too deeply") from None
        if not isinstance(value, dict):
            raise bad("body", "must be a JSON object")
        self._body = value
        return dict(value)


Handler = Callable[[Request], "Response"]


@dataclass
class Response:
    status: int
    body: Any = None  # dict -> JSON; Iterable[str] -> streamed as is
    content_type: str = JSON
    headers: list = field(default_factory=list)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_datetime(name: str, value: Any) -> datetime:
    """ISO-8601 with an offset (``Z`` allowed), 2000-2099."""
    if not isinstance(value, str) or not value:
        raise bad(name, "must be an ISO-8601 date-time with offset, e.g. 2026-11-24T15:00:00-03:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad(name, f"{value!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise bad(name, "must carry a UTC offset (e.g. Z or -03:00)")
    if not MIN_DATE <= parsed < MAX_DATE:
        raise bad(name, "out of range (2000-01-01 to 2099-12-31)", 422, "out_of_range")
    return parsed


def parse_public_id(name: str, value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise bad(name, "must be a UUID (e.g. 7c9e6679-7425-40de-944b-e07fc1f90ae7)") from None
    if str(parsed) != value.lower():
        raise bad(name, "must be a UUID in canonical form")
    return str(parsed)


def check_fields(body: dict, allowed: Iterable[str]) -> None:
    known = set(allowed)
    for key in body:
        if key not in known:
            raise bad(str(key)[:64], f"unknown field (allowed: {', '.join(sorted(known)) or 'none'})")


def check_query(query: dict[str, str], allowed: Iterable[str]) -> None:
    known = set(allowed)
    for key in query:
        if key not in known:
            raise bad(str(key)[:64], f"unknown query parameter (allowed: {', '.join(sorted(known)) or 'none'})")


MAX_OFFSET = 2**31 - 1  # a cursor past this was not made by this API (and would overflow SQL)
MAX_CURSOR_CHARS = 64


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": int(offset)}).encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    """The offset inside a cursor this API returned; 400 for anything else (a
    float, a bool, a huge or negative number, another shape, too long)."""
    not_ours = bad("cursor", "not a cursor returned by this API")
    if len(value) > MAX_CURSOR_CHARS:
        raise not_ours
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        raise not_ours from None
    offset = data.get("o") if isinstance(data, dict) and len(data) == 1 else None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise not_ours
    return offset


def parse_whole(name: str, value: str, low: int, high: int) -> int:
    """An ASCII decimal ``low``..``high`` (``str.isdigit`` also accepts ``²``)."""
    if not re.fullmatch(r"[0-9]{1,18}", value) or not low <= int(value) <= high:
        raise bad(name, f"must be a whole number {low}-{high}")
    return int(value)


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern, Handler, bool, str]] = []

    def add(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append((method, regex, handler, auth, pattern))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str], bool, str]:
        allowed = []
        for m, regex, handler, auth, pattern in self._routes:
            found = regex.match(path)
            if not found:
                continue
            if m == method or (m == "GET" and method == "HEAD"):
                return handler, found.groupdict(), auth, pattern
            allowed.append(m)
        if allowed:
            raise HTTPError(405, "method_not_allowed", f"{method} not allowed here (use {', '.join(allowed)})")
        raise HTTPError(404, "not_found", f"no such endpoint: {path}")


class ConnectionEvents:
    """What the server in front of the app (``api.server``) did with connections,
    for ``/metrics`` (fixed label values only)."""

    REFUSED = ("per_client", "total")
    EVICTED = ("per_client", "total")
    TIMEOUTS = ("idle", "headers", "body")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused = dict.fromkeys(self.REFUSED, 0)
        self.evicted = dict.fromkeys(self.EVICTED, 0)
        self.timeouts = dict.fromkeys(self.TIMEOUTS, 0)
        self.open = 0

    def add(self, table: str, key: str) -> None:
        with self._lock:
            getattr(self, table)[key] += 1

    def lines(self) -> list[str]:
        with self._lock:
            refused, evicted, timeouts = dict(self.refused), dict(self.evicted), dict(self.timeouts)
            open_now = self.open
        out = [
            "# HELP voiceai_api_connections_open Client connections open now.",
            "# TYPE voiceai_api_connections_open gauge",
            f"voiceai_api_connections_open {open_now}",
            "# HELP voiceai_api_connections_refused_total Connections refused at once (limit reached, all busy).",
            "# TYPE voiceai_api_connections_refused_total counter",
        ]
        out += [f'voiceai_api_connections_refused_total{{limit="{k}"}} {v}' for k, v in sorted(refused.items())]
        out += [
            "# HELP voiceai_api_connections_evicted_total Waiting connections closed to make room for a new one.",
            "# TYPE voiceai_api_connections_evicted_total counter",
        ]
        out += [f'voiceai_api_connections_evicted_total{{limit="{k}"}} {v}' for k, v in sorted(evicted.items())]
        out += [
            "# HELP voiceai_api_request_timeouts_total Connections closed at a read deadline.",
            "# TYPE voiceai_api_request_timeouts_total counter",
        ]
        out += [f'voiceai_api_request_timeouts_total{{phase="{k}"}} {v}' for k, v in sorted(timeouts.items())]
        return out


# Label values come from these fixed sets only: what a client sends (an invented
# method, a made-up path) never creates a new series.
METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """Request counters for ``/metrics`` (Prometheus text format), plus what the
    server in front did with connections (``events``)."""

    def __init__(self, events: Optional[ConnectionEvents] = None) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        self.events = events

    def count(self, method: str, route: str, status: int) -> None:
        """``route`` must be a route template or ``UNMATCHED_ROUTE``; an unknown
        method is counted as ``other``."""
        label = method if method in METHOD_LABELS else OTHER_METHOD
        status = status if status in _REASONS else 500
        with self._lock:
            key = (label, route, status)
            self._requests[key] = self._requests.get(key, 0) + 1

    def lines(self) -> list[str]:
        out = [
            "# HELP voiceai_api_requests_total HTTP requests served by the API.",
            "# TYPE voiceai_api_requests_total counter",
        ]
        with self._lock:
            items = sorted(self._requests.items())
        for (method, route, status), n in items:
            out.append(f'voiceai_api_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        if self.events is not None:
            out += self.events.lines()
        return out


class ApiApp:
    """The WSGI callable. ``services`` does the work (see ``api.resources``)."""

    def __init__(self, config: Any, services: Any) -> None:
        self.config = config
        self.services = services
        self.router = Router()
        self.connection_events = ConnectionEvents()  # filled by api.server
        self.metrics = Metrics(self.connection_events)
        self.max_body = int(config.api.max_body_bytes)
        shared = shared_token_problems(list(config.api.tokens))
        if shared:
            raise ConfigError(shared)
        self._tokens = [(str(t.token).encode("utf-8"), t.domain) for t in config.api.tokens if t.token]
        from voiceai_ivr.api import resources

        resources.register(self.router, services, self)
        # --- console hook: HTML pages under /console (voiceai_ivr.console), same
        # process, tokens and domain isolation; every other path is the JSON API.
        from voiceai_ivr.console import mount

        self.console = mount(self)

    # ------------------------------------------------------------------ auth

    def authenticate(self, environ: dict) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise HTTPError(401, "unauthorized", "Authorization: a Bearer token is required", "Authorization")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPError(401, "unauthorized", "Authorization: must be 'Bearer <token>'", "Authorization")
        given = token.strip().encode("utf-8")
        domain = ""
        for secret, dom in self._tokens:  # compare against every token: no timing hint
            if hmac.compare_digest(secret, given):
                domain = dom
        if not domain:
            raise HTTPError(401, "unauthorized", "Authorization: unknown token", "Authorization")
        return domain

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        if self.console is not None and self.console.owns(path):  # console hook
            return self.console(environ, start_response)  # type: ignore[no-any-return]
        route = UNMATCHED_ROUTE
        try:
            handler, params, auth, route = self.router.match(method, path)
            domain = self.authenticate(environ) if auth else ""
            query = self._query(environ)
            response = handler(Request(method, path, params, query, domain, environ))
        except HTTPError as exc:
            response = Response(exc.status, exc.body())
            if exc.status == 401:
                response.headers.append(("WWW-Authenticate", 'Bearer realm="voiceai-ivr"'))
        except ValidationError as exc:
            response = Response(400, bad(exc.field, exc.reason).body())
        except DatabaseUnavailable as exc:
            log.warning("API %s %s: database unavailable: %s", method, path, exc)
            response = Response(503, {"error": {"code": "unavailable", "message": "database unavailable"}})
        except (StoreError, ESLError) as exc:
            log.error("API %s %s: %s", method, path, exc)
            response = Response(503, {"error": {"code": "unavailable", "message": "backend unavailable"}})
        except Exception:  # one request's bug must not take the server down
            log.exception("API %s %s failed", method, path)
            response = Response(500, {"error": {"code": "internal", "message": "internal error"}})
        self.metrics.count(method, route, response.status)
        return self._send(response, start_response, head=(method == "HEAD"))

    def _query(self, environ: dict) -> dict[str, str]:
        from urllib.parse import parse_qsl

        raw = environ.get("QUERY_STRING", "")
        try:
            pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
        except ValueError:
            raise bad("query", "too many parameters") from None
        out: dict[str, str] = {}
        for key, value in pairs:
            if key in out:
                raise bad(key[:64], "given more than once")
            out[key] = value
        return out

    def _send(self, response: Response, start_response: Callable, *, head: bool) -> Iterable[bytes]:
        status = f"{response.status} {_REASONS.get(response.status, 'Unknown')}"
        headers = [("Content-Type", response.content_type), ("Cache-Control", "no-store"), *response.headers]
        body = response.body
        if body is None or isinstance(body, (dict, list)):
            data = b"" if body is None else json.dumps(body, default=json_default, ensure_ascii=False).encode()
            headers.append(("Content-Length", str(len(data))))
            start_response(status, headers)
            return [] if head else [data]
        if isinstance(body, (bytes, str)):
            data = body.encode("utf-8") if isinstance(body, str) else body
            headers.append(("Content-Length", str(len(data))))
            start_response(status, headers)
            return [] if head else [data]
        start_response(status, headers)
        if head:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return []
        return _Encoded(body)


class _Encoded:
    """A streamed body: str chunks encoded on the fly; ``close`` reaches the source
    (so an aborted download ends its database transaction)."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield chunk.encode("utf-8")

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


__all__ = [
    "ApiApp",
    "HTTPError",
    "Request",
    "Response",
    "bad",
    "check_fields",
    "check_query",
    "decode_cursor",
    "encode_cursor",
    "parse_datetime",
    "parse_public_id",
    "parse_whole",
]
