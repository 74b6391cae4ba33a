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

import hmac
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

from voiceai_ivr.api import resources
from voiceai_ivr.api.http import (
    REASONS,
    Handler,
    HTTPError,
    Request,
    Response,
    bad,
    json_default,
    send,
)
from voiceai_ivr.config import shared_token_problems
from voiceai_ivr.console import mount
from voiceai_ivr.errors import ConfigError, DatabaseUnavailable, ESLError, StoreError, ValidationError

log = logging.getLogger(__name__)


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
        status = status if status in REASONS else 500
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
        resources.register(self.router, services, self)
        # --- console hook: HTML pages under /console (voiceai_ivr.console), same
        # process, tokens and domain isolation; every other path is the JSON API.

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
        status = f"{response.status} {REASONS.get(response.status, 'Unknown')}"
        headers = [("Content-Type", response.content_type), ("Cache-Control", "no-store"), *response.headers]
        body = response.body
        if body is None or isinstance(body, (dict, list)):
            body = b"" if body is None else json.dumps(body, default=json_default, ensure_ascii=False).encode()
        elif not isinstance(body, (bytes, str)):
            body = _Encoded(body)
        return send(start_response, status, headers, body, head=head)


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


def create_app(config: Any, services: resources.ApiServices) -> ApiApp:
    """The WSGI application for ``config.api`` tokens, working through ``services``."""
    return ApiApp(config, services)


__all__ = ["ApiApp", "ConnectionEvents", "Metrics", "Router", "create_app"]
