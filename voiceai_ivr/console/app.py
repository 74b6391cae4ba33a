"""The admin console: server-rendered HTML under ``/console`` of ``voiceai-ivr api``.

Same process, same tokens, same domain isolation as the JSON API: a session
belongs to ONE domain (the API token's, or the domain whose console password
was given) and every query is filtered by it, so another domain's callbacks
and destinations answer 404, exactly as if they did not exist.

* Sessions: a signed cookie (``console.auth``), HttpOnly, SameSite=Strict,
  path ``/console`` (plus Secure when the request came over HTTPS); every form
  carries the session's CSRF token and a POST without it is refused (403).
* Callback actions go through the API's own handlers (``POST /callbacks/{id}/
  snooze|cancel|call``), so the rules are the API's.
* Destination edits are validated as ``destinations import`` validates a
  document and stored with an audit row in the same transaction; the running
  call server sees them on its next call (``domains.updated_at`` is bumped,
  which ``directory.load_resolver`` checks per call).
* Pages are HTML with a strict Content-Security-Policy (no script at all);
  charts are inline SVG.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import jinja2

from voiceai_ivr.console import charts
from voiceai_ivr.console.auth import LoginThrottle, Session, Sessions, check_password, hash_password
from voiceai_ivr.console.i18n import translator
from voiceai_ivr.console.media import FileRange, parse_range, recording_file
from voiceai_ivr.errors import DatabaseUnavailable, DirectoryError, ESLError, StoreError, ValidationError

log = logging.getLogger(__name__)

PREFIX = "/console"
COOKIE = "voiceai_console"
LOGIN_COOKIE = "voiceai_console_login"
PAGE_SIZE = 50
STATUSES = ("pending", "in_progress", "completed", "failed", "expired", "cancelled")
_DONE = {"snoozed": "done_snoozed", "cancelled": "done_cancelled", "calling": "done_calling", "saved": "done_saved"}
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_REASONS = {
    200: "OK", 206: "Partial Content", 303: "See Other", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
    415: "Unsupported Media Type", 416: "Range Not Satisfiable", 422: "Unprocessable Content",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}
# scrypt of a random password: a login for a domain without a console password
# costs the same time as one with a wrong password
_DUMMY_HASH = hash_password(uuid.uuid4().hex)


class PageError(Exception):
    """An ordinary refusal shown as a page: status and the i18n key or text."""

    def __init__(self, status: int, message: str, field_name: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field_name


@dataclass
class Page:
    status: int
    body: Union[str, bytes, Iterable[bytes], None] = ""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Req:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    environ: dict
    session: Optional[Session] = None
    language: str = "pt-BR"
    zone: str = "America/Sao_Paulo"

    @property
    def t(self) -> Callable[[str], str]:
        return translator(self.language)

    @property
    def client(self) -> str:
        return str(self.environ.get("REMOTE_ADDR") or "unknown")

    @property
    def secure(self) -> bool:
        return self.environ.get("wsgi.url_scheme") == "https"


def _redirect(location: str, headers: Optional[list[tuple[str, str]]] = None) -> Page:
    return Page(303, "", headers=[("Location", location), *(headers or [])])


class ConsoleApp:
    """The WSGI application behind ``/console`` (mounted by ``api.app.ApiApp``)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.config = api.config
        self.services = api.services
        self.db = api.services.db
        self.max_body = int(api.max_body)
        self._sessions: Optional[Sessions] = None
        self._sessions_lock = threading.Lock()
        try:
            self.sessions  # noqa: B018 - the key read at start; retried on first use if the database is away
        except StoreError as exc:
            log.warning("console: session key not read yet (database: %s); retried on the first request", exc)
        self.throttle = LoginThrottle()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self._tokens = [(str(t.token), t.domain) for t in self.config.api.tokens if t.token]
        self._health_lock = threading.Lock()
        self._health_cache: tuple[float, Optional[dict]] = (0.0, None)
        self._routes: list[tuple[str, re.Pattern, Callable[[Req], Page], bool, str]] = []
        add = self._add
        add("GET", "", self.home, session=False)
        add("GET", "/login", self.login_form, session=False)
        add("POST", "/login", self.login, session=False)
        add("POST", "/logout", self.logout)
        add("GET", "/dashboard", self.dashboard)
        add("GET", "/callbacks", self.callbacks)
        add("GET", "/callbacks/export.csv", self.export_csv)
        add("GET", "/callbacks/{id}", self.callback)
        add("GET", "/callbacks/{id}/recording", self.recording)
        add("POST", "/callbacks/{id}/{action}", self.callback_action)
        add("GET", "/destinations", self.destinations)
        add("GET", "/destinations/{id}", self.destination)
        add("POST", "/destinations/{id}", self.save_destination)

    def _add(self, method: str, pattern: str, handler: Callable[[Req], Page], *, session: bool = True) -> None:
        regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", PREFIX + pattern) + "/?$")
        self._routes.append((method, regex, handler, session, PREFIX + pattern))

    @staticmethod
    def owns(path: str) -> bool:
        return path == PREFIX or path.startswith(PREFIX + "/")

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        route = "/console/unmatched"
        req = Req(method, path, {}, {}, environ, language=_browser_language(environ))
        try:
            handler, params, needs_session, route = self._match(method, path)
            req.params = params
            req.query = _query(environ)
            req.session = self._session(environ)
            if needs_session and req.session is None:
                page = _redirect(PREFIX + "/login")
            else:
                if req.session is not None:
                    self._domain_view(req)
                page = handler(req)
        except PageError as exc:
            page = self._error_page(req, exc.status, exc.message)
        except ValidationError as exc:
            page = self._error_page(req, 400, f"{exc.field}: {exc.reason}")
        except DatabaseUnavailable as exc:
            log.warning("console %s %s: database unavailable: %s", method, route, exc)
            page = self._error_page(req, 503, req.t("unavailable"))
        except (StoreError, ESLError) as exc:
            log.error("console %s %s: %s", method, route, exc)
            page = self._error_page(req, 503, req.t("unavailable"))
        except Exception:  # one request's bug must not take the server down
            log.exception("console %s %s failed", method, route)
            page = self._error_page(req, 500, "internal error")
        self.api.metrics.count(method, route, page.status)
        return self._send(page, start_response, head=(method == "HEAD"))

    def _match(self, method: str, path: str) -> tuple[Callable[[Req], Page], dict[str, str], bool, str]:
        allowed = False
        for m, regex, handler, needs_session, pattern in self._routes:
            found = regex.match(path)
            if not found:
                continue
            if m == method or (m == "GET" and method == "HEAD"):
                return handler, found.groupdict(), needs_session, pattern
            allowed = True
        raise PageError(405 if allowed else 404, "method not allowed" if allowed else "not found")

    def _send(self, page: Page, start_response: Callable, *, head: bool) -> Iterable[bytes]:
        status = f"{page.status} {_REASONS.get(page.status, 'Unknown')}"
        headers = [
            ("Content-Type", page.content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", _CSP),
            *page.headers,
        ]
        body = page.body
        if body is None or isinstance(body, (str, bytes)):
            data = b"" if body is None else body.encode("utf-8") if isinstance(body, str) else body
            if not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(data))))
            start_response(status, headers)
            return [] if head else [data]
        start_response(status, headers)
        if head:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return []
        return body

    # ------------------------------------------------------------------ sessions

    @property
    def sessions(self) -> Sessions:
        """The signer under the installation's key, read from the database on first
        use (the first console ever to start stores a new one): every API process,
        and this one after a restart, accepts the same cookies."""
        if self._sessions is None:
            import secrets

            from voiceai_ivr.stores import console as store

            with self._sessions_lock:
                if self._sessions is None:
                    with self.db.transaction() as cur:
                        key = store.signing_key(cur, secrets.token_bytes(32))
                    self._sessions = Sessions(key)
        return self._sessions

    def _session(self, environ: dict) -> Optional[Session]:
        from voiceai_ivr.stores import console as store

        session = self.sessions.read(_cookies(environ).get(COOKIE, ""))
        if session is None:
            return None
        with self.db.cursor() as cur:
            if not store.session_open(cur, session.sid, session.domain):
                return None  # logged out (by any process) or expired
        if session.kind == "token":
            ok = any(
                dom == session.domain and self.sessions.fingerprint(tok) == session.fingerprint
                for tok, dom in self._tokens
            )
        else:
            from voiceai_ivr.stores import console as store

            with self.db.cursor() as cur:
                found = store.password_hash(cur, session.domain)
            ok = found is not None and self.sessions.fingerprint(found[0]) == session.fingerprint
        return session if ok else None

    def _domain_view(self, req: Req) -> None:
        from voiceai_ivr.stores import console as store

        assert req.session is not None
        with self.db.cursor() as cur:
            view = store.domain_view(cur, req.session.domain)
        if view is not None:
            req.language, req.zone = view

    def _cookie(self, name: str, value: str, req: Req, *, max_age: int) -> tuple[str, str]:
        flags = f"Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
        if req.secure:
            flags += "; Secure"
        return ("Set-Cookie", f"{name}={value}; {flags}")

    def _form(self, req: Req, *, login: bool = False) -> dict[str, str]:
        """The url-encoded body, bounded, its CSRF token checked."""
        env = req.environ
        ctype = (env.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise PageError(415, "body: must be a form (application/x-www-form-urlencoded)")
        try:
            length = int(env.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise PageError(400, "Content-Length: must be a whole number") from None
        if length < 0 or length > self.max_body:
            raise PageError(413, f"body: larger than {self.max_body} bytes")
        raw = env["wsgi.input"].read(length) if length else b""
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise PageError(400, "body: not a valid form") from None
        form = dict(pairs)
        if login:
            nonce = _cookies(env).get(LOGIN_COOKIE, "")
            ok = bool(nonce) and self.sessions.check_csrf("login:" + nonce, form.get("csrf", ""))
        else:
            assert req.session is not None
            ok = self.sessions.check_csrf(req.session.sid, form.get("csrf", ""))
        if not ok:
            raise PageError(403, req.t("forbidden_csrf"))
        return form

    # ------------------------------------------------------------------ rendering

    def render(self, req: Req, template: str, status: int = 200, **values: Any) -> Page:
        session = req.session
        html = self.env.get_template(template).render(
            t=req.t,
            lang=req.language,
            domain=session.domain if session else "",
            csrf=self.sessions.csrf(session.sid) if session else "",
            prefix=PREFIX,
            local=lambda dt: _local(dt, req.zone),
            **values,
        )
        return Page(status, html)

    def _error_page(self, req: Req, status: int, message: str) -> Page:
        if req.session is None and status in (404, 405):
            message = req.t("not_found") if status == 404 else message
        return self.render(req, "error.html.j2", status, code=status, message=message)

    # ------------------------------------------------------------------ login

    def home(self, req: Req) -> Page:
        return _redirect(PREFIX + ("/dashboard" if req.session else "/login"))

    def login_form(self, req: Req, *, error: str = "", status: int = 200) -> Page:
        if req.session is not None and not error:
            return _redirect(PREFIX + "/dashboard")
        req.session = None
        nonce = uuid.uuid4().hex
        page = self.render(req, "login.html.j2", status, error=error, login_csrf=self.sessions.csrf("login:" + nonce))
        page.headers.append(self._cookie(LOGIN_COOKIE, nonce, req, max_age=1800))
        return page

    def login(self, req: Req) -> Page:
        form = self._form(req, login=True)
        if self.throttle.blocked(req.client):
            return self.login_form(req, error=req.t("login_throttled"), status=429)
        token = form.get("token", "").strip()
        domain = form.get("domain", "").strip().lower()
        password = form.get("password", "")
        found: Optional[tuple[str, str, str]] = None  # (domain, kind, fingerprint)
        actor = ""
        if token:
            match = ""
            for secret, dom in self._tokens:  # every token compared: no timing hint
                if _same(secret, token):
                    match = dom
            if match:
                found = (match, "token", self.sessions.fingerprint(token))
                actor = f"token:{self.sessions.fingerprint(token)[:8]}@{req.client}"
        elif domain and password:
            from voiceai_ivr.stores import console as store

            with self.db.cursor() as cur:
                stored = store.password_hash(cur, domain) if len(domain) <= 253 else None
            if check_password(password, stored[0] if stored else _DUMMY_HASH) and stored is not None:
                found = (domain, "password", self.sessions.fingerprint(stored[0]))
                actor = f"password@{req.client}"
        if found is None:
            self.throttle.failed(req.client)
            log.info("console: failed login from %s", req.client)
            return self.login_form(req, error=req.t("login_failed"), status=401)
        from voiceai_ivr.stores import console as store

        cookie, session = self.sessions.issue(found[0], found[1], found[2], actor)
        with self.db.transaction() as cur:
            store.open_session(cur, session.sid, session.domain, datetime.fromtimestamp(session.expires, timezone.utc))
        log.info("console: %s logged in to %s", actor, found[0])
        return _redirect(
            PREFIX + "/dashboard",
            [self._cookie(COOKIE, cookie, req, max_age=self.sessions.lifetime),
             self._cookie(LOGIN_COOKIE, "", req, max_age=0)],
        )

    def logout(self, req: Req) -> Page:
        self._form(req)
        from voiceai_ivr.stores import console as store

        assert req.session is not None
        with self.db.transaction() as cur:
            store.close_session(cur, req.session.sid)
        return _redirect(PREFIX + "/login", [self._cookie(COOKIE, "", req, max_age=0)])

    # ------------------------------------------------------------------ dashboard

    def dashboard(self, req: Req) -> Page:
        from voiceai_ivr.stores import reports
        from voiceai_ivr.stores.callbacks import CallbackFilter

        assert req.session is not None
        _allow(req.query, ("period",))
        period = req.query.get("period", "today")
        if period not in ("today", "7d"):
            raise PageError(400, "period: must be today or 7d", "period")
        zone = ZoneInfo(req.zone)
        today = self.services.clock().astimezone(zone).date()
        first = today - timedelta(days=6 if period == "7d" else 0)
        since = _midnight(first, zone)
        until = _midnight(today + timedelta(days=1), zone)
        domain = req.session.domain
        with self.db.transaction() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            stats = reports.callback_stats(cur, CallbackFilter(domain=domain, since=since, until=until))
            activity = reports.call_activity(cur, domain, since, until, req.zone)
        days = [(first + timedelta(days=i)).isoformat() for i in range((today - first).days + 1)]
        t = req.t
        per_day = charts.day_bars(
            days,
            [(t("calls"), dict(activity.calls_per_day)), (t("callbacks_created"), dict(activity.callbacks_per_day))],
            title=t("per_day"),
        )
        return self.render(
            req,
            "dashboard.html.j2",
            period=period,
            stats=stats,
            activity=activity,
            transfers_chart=charts.hbars(list(activity.transfers_by_status.items()), title=t("transfers_by_outcome")),
            calls_chart=charts.hbars(list(activity.calls_by_outcome.items()), title=t("calls_by_outcome")),
            per_day_chart=per_day,
            median=_duration(activity.median_seconds_to_callback),
            outbox=self.services.outbox.health() if self.services.outbox is not None else None,
            speech=self._speech_health(),
        )

    def _speech_health(self) -> Optional[bool]:
        """``speech_recognition`` from ``serve``'s /health (server.metrics_host:
        metrics_port), cached 10 s; None when serve does not answer in 0.5 s."""
        port = int(self.config.server.metrics_port)
        if not port:
            return None
        now = time.monotonic()
        with self._health_lock:
            at, cached = self._health_cache
            if now - at < 10.0:
                return None if cached is None else cached.get("speech_recognition")
        import requests

        body: Optional[dict] = None
        try:
            resp = requests.get(f"http://{self.config.server.metrics_host}:{port}/health", timeout=0.5)
            parsed = resp.json() if resp.status_code == 200 else None
            body = parsed if isinstance(parsed, dict) else None
        except (requests.RequestException, ValueError):
            body = None
        with self._health_lock:
            self._health_cache = (now, body)
        value = None if body is None else body.get("speech_recognition")
        return value if isinstance(value, bool) else None

    # ------------------------------------------------------------------ callbacks

    def _callback_filter(self, req: Req) -> tuple[Any, Optional[str]]:
        from voiceai_ivr.stores.callbacks import CallbackFilter

        assert req.session is not None
        status = req.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise PageError(400, f"status: unknown status {status[:40]!r}", "status")
        zone = ZoneInfo(req.zone)
        since = _midnight(_day("from", req.query["from"]), zone) if req.query.get("from") else None
        until = (
            _midnight(_day("to", req.query["to"]) + timedelta(days=1), zone) if req.query.get("to") else None
        )
        if since is not None and until is not None and until <= since:
            raise PageError(400, "to: must not be before from", "to")
        destination = req.query.get("destination") or None
        if destination is not None and len(destination) > 200:
            raise PageError(400, "destination: too long", "destination")
        return CallbackFilter(domain=req.session.domain, status=status, since=since, until=until), destination

    def callbacks(self, req: Req) -> Page:
        from voiceai_ivr.stores import callbacks as cbstore
        from voiceai_ivr.stores import directory

        assert req.session is not None
        _allow(req.query, ("status", "from", "to", "destination", "after"))
        flt, destination = self._callback_filter(req)
        before = _decode_after(req.query["after"]) if req.query.get("after") else None
        with self.db.transaction() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            rows = cbstore.list_callbacks_page(cur, flt, destination=destination, before=before, limit=PAGE_SIZE + 1)
        names = sorted(d.name for _, d in directory.list_destination_ids(self.db, req.session.domain))
        kept = {k: req.query[k] for k in ("status", "from", "to", "destination") if req.query.get(k)}
        next_url = None
        if len(rows) > PAGE_SIZE:
            last = rows[PAGE_SIZE - 1]
            next_url = f"{PREFIX}/callbacks?" + urlencode({**kept, "after": _encode_after(last.created_at, last.id)})
        return self.render(
            req,
            "callbacks.html.j2",
            rows=rows[:PAGE_SIZE],
            statuses=STATUSES,
            names=names,
            q=kept,
            paged=bool(req.query.get("after")),
            next_url=next_url,
            first_url=f"{PREFIX}/callbacks?" + urlencode(kept),
            export_url=f"{PREFIX}/callbacks/export.csv?" + urlencode(kept),
        )

    def export_csv(self, req: Req) -> Page:
        from voiceai_ivr.exports import csv_rows
        from voiceai_ivr.stores import callbacks as cbstore

        _allow(req.query, ("status", "from", "to", "destination"))
        flt, destination = self._callback_filter(req)
        self.db.ping()  # a 503 page before the 200 header goes out
        source = cbstore.iter_callbacks(self.db, flt)
        rows = (cb for cb in source if destination is None or cb.destination_name == destination)
        return Page(
            200,
            _csv_bytes(csv_rows(rows), source),
            content_type="text/csv; charset=utf-8",
            headers=[("Content-Disposition", 'attachment; filename="callbacks.csv"')],
        )

    def _callback_row(self, req: Req) -> Any:
        from voiceai_ivr.stores import callbacks as cbstore

        assert req.session is not None
        pid = _public_id(req.params["id"])
        with self.db.transaction() as cur:
            cb = cbstore.get_callback_by_public_id(cur, pid, domain=req.session.domain)
        if cb is None:
            raise PageError(404, req.t("not_found"))
        return cb

    def callback(self, req: Req, *, error: str = "", status: int = 200) -> Page:
        from voiceai_ivr.stores import reports

        assert req.session is not None
        if not error:
            _allow(req.query, ("done",))
        cb = self._callback_row(req)
        with self.db.transaction() as cur:
            attempts = reports.callback_attempts(cur, cb.id)
        audio = recording_file(self.config.server.call_recordings_dir, req.session.domain, cb.recording_path)
        done = _DONE.get(req.query.get("done", "")) if not error else None
        return self.render(
            req,
            "callback.html.j2",
            status,
            cb=cb,
            attempts=attempts,
            has_audio=audio is not None,
            error=error,
            done=req.t(done) if done else "",
        )

    def recording(self, req: Req) -> Page:
        assert req.session is not None
        _allow(req.query, ())
        cb = self._callback_row(req)
        path = recording_file(self.config.server.call_recordings_dir, req.session.domain, cb.recording_path)
        if path is None:
            raise PageError(404, req.t("recording_missing"))
        size = path.stat().st_size
        wanted = parse_range(req.environ.get("HTTP_RANGE", ""), size)
        headers = [("Accept-Ranges", "bytes"), ("Content-Disposition", f'inline; filename="{cb.public_id}.wav"')]
        if wanted == "unsatisfiable":
            return Page(416, b"", "audio/wav", [*headers, ("Content-Range", f"bytes */{size}")])
        if wanted is None:
            start, end, status = 0, size - 1, 200
        else:
            assert isinstance(wanted, tuple)
            (start, end), status = wanted, 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        length = max(0, end - start + 1)
        headers.append(("Content-Length", str(length)))
        return Page(status, FileRange(path, start, length), "audio/wav", headers)

    def callback_action(self, req: Req) -> Page:
        """Snooze / cancel / call now through the API's own handlers."""
        action = req.params["action"]
        if action not in ("snooze", "cancel", "call"):
            raise PageError(404, req.t("not_found"))
        form = self._form(req)
        pid = _public_id(req.params["id"])
        if action == "snooze":
            raw = form.get("minutes", "").strip()
            body: dict[str, Any] = {"minutes": int(raw) if re.fullmatch(r"[0-9]{1,9}", raw) else raw}
        elif action == "cancel":
            body = {"reason": form.get("reason", "")}
        else:
            body = {"agent_extension": form.get("agent_extension", "").strip()}
        error, status = self._api_call(req, f"/callbacks/{pid}/{action}", body)
        if error:
            if status == 404:
                raise PageError(404, req.t("not_found"))
            return self.callback(req, error=error, status=status)
        done = {"snooze": "snoozed", "cancel": "cancelled", "call": "calling"}[action]
        return _redirect(f"{PREFIX}/callbacks/{pid}?done={done}")

    def _api_call(self, req: Req, path: str, body: dict[str, Any]) -> tuple[str, int]:
        """POST ``path`` to the JSON API's handler as the session's domain:
        ``("", 200)`` on success, else the API's message and status."""
        try:
            from voiceai_ivr.api.http import HTTPError, Request  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # before the API package's split
            from voiceai_ivr.api.app import HTTPError, Request
        assert req.session is not None
        try:
            handler, params, _auth, _route = self.api.router.match("POST", path)
            handler(Request("POST", path, params, {}, req.session.domain, req.environ, _body=body))
        except HTTPError as exc:
            return exc.message, exc.status
        except ValidationError as exc:
            return f"{exc.field}: {exc.reason}", 400
        return "", 200

    # ------------------------------------------------------------------ destinations

    def destinations(self, req: Req) -> Page:
        from voiceai_ivr.stores import directory

        assert req.session is not None
        _allow(req.query, ())
        rows = directory.list_destination_ids(self.db, req.session.domain)
        return self.render(req, "destinations.html.j2", rows=rows)

    def _destination_name(self, req: Req) -> tuple[int, str]:
        from voiceai_ivr.stores import directory

        assert req.session is not None
        raw = req.params["id"]
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise PageError(404, req.t("not_found"))
        name = directory.destination_name_by_id(self.db, req.session.domain, int(raw))
        if name is None:
            raise PageError(404, req.t("not_found"))
        return int(raw), name

    def destination(
        self, req: Req, *, values: Optional[dict[str, str]] = None, errors: Optional[list[str]] = None,
        status: int = 200,
    ) -> Page:
        from voiceai_ivr.domain.destinations import DEST_TYPES, destination_to_doc
        from voiceai_ivr.domain.lexicon import CATEGORIES
        from voiceai_ivr.stores import console as store
        from voiceai_ivr.stores import directory

        assert req.session is not None
        if values is None:
            _allow(req.query, ("done",))
        dest_id, name = self._destination_name(req)
        current = directory.get_destination(self.db, req.session.domain, name)
        if current is None:
            raise PageError(404, req.t("not_found"))
        form = values if values is not None else _form_values(destination_to_doc(current))
        with self.db.transaction() as cur:
            history = store.list_audit(cur, req.session.domain, limit=20, target=name)
        done = _DONE.get(req.query.get("done", "")) if values is None else None
        bad_fields = {p.split(":", 1)[0].split("[", 1)[0].split(".")[-1] for p in errors or []}
        return self.render(
            req,
            "destination.html.j2",
            status,
            dest_id=dest_id,
            name=name,
            v=form,
            errors=errors or [],
            bad=bad_fields,
            types=DEST_TYPES,
            categories=sorted(CATEGORIES),
            history=history,
            done=req.t(done) if done else "",
            to_json=lambda value: json.dumps(value, ensure_ascii=False, default=str),
        )

    def save_destination(self, req: Req) -> Page:
        from voiceai_ivr.stores import console as store
        from voiceai_ivr.stores import directory

        assert req.session is not None
        session = req.session
        form = self._form(req)
        dest_id, name = self._destination_name(req)
        values = {k: form.get(k, "") for k in _FORM_FIELDS}
        values["enabled"] = "on" if form.get("enabled") else ""
        try:
            changes = _changes(values)

            def audit(cur: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
                diff = {
                    k: {"from": before.get(k), "to": after.get(k)}
                    for k in sorted(set(before) | set(after))
                    if before.get(k) != after.get(k)
                }
                if diff:
                    store.record_audit(cur, session.domain, session.actor, "destination.update", after["name"], diff)

            directory.update_destination_audited(self.db, session.domain, name, changes, audit)
        except DirectoryError as exc:
            # another row named by its place in the document: name it by its name
            names = [d.name for _, d in directory.list_destination_ids(self.db, session.domain)]

            def by_name(m: re.Match) -> str:
                i = int(m.group(1))
                return f"destination {names[i]!r}" if i < len(names) else m.group(0)

            problems = [re.sub(r"destinations\[([0-9]+)\]", by_name, p) for p in exc.problems]
            return self.destination(req, values=values, errors=problems, status=400)
        except ValidationError as exc:
            return self.destination(req, values=values, errors=[f"{exc.field}: {exc.reason}"], status=400)
        return _redirect(f"{PREFIX}/destinations/{dest_id}?done=saved")


# --------------------------------------------------------------------------- helpers

_FORM_FIELDS = ("name", "aliases", "type", "target", "gateway", "menu_key", "hours", "holidays", "category",
                "keywords", "enabled")


def _form_values(doc: dict[str, Any]) -> dict[str, str]:
    """A destination document as the edit form's text fields."""
    import yaml

    def text(key: str) -> str:
        value = doc.get(key)
        if value is None:
            return ""
        return yaml.safe_dump(value, allow_unicode=True, default_flow_style=False, sort_keys=False).strip()

    return {
        "name": str(doc.get("name", "")),
        "aliases": "\n".join(doc.get("aliases", [])),
        "type": str(doc.get("type", "")),
        "target": str(doc.get("target", "")),
        "gateway": str(doc.get("gateway") or ""),
        "menu_key": "" if doc.get("menu_key") is None else str(doc["menu_key"]),
        "hours": text("hours"),
        "holidays": text("holidays"),
        "category": str(doc.get("category") or ""),
        "keywords": "\n".join(doc.get("keywords", [])),
        "enabled": "" if doc.get("enabled") is False else "on",
    }


def _changes(values: dict[str, str]) -> dict[str, Any]:
    """The edit form as ``update_destination`` changes (None clears a field);
    the document validation (``parse_directory``) judges every value."""
    import yaml

    def lines(text: str) -> Optional[list[str]]:
        items = [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]
        return items or None

    def spec(key: str) -> Any:
        text = values[key].strip()
        if not text:
            return None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            raise ValidationError(key, f"not valid YAML{at}") from None

    menu = values["menu_key"].strip()
    return {
        "name": values["name"].strip(),
        "aliases": lines(values["aliases"]),
        "type": values["type"].strip(),
        "target": values["target"].strip() or None,
        "gateway": values["gateway"].strip() or None,
        "menu_key": (int(menu) if re.fullmatch(r"[0-9]{1,3}", menu) else menu) if menu else None,
        "hours": spec("hours"),
        "holidays": spec("holidays"),
        "category": values["category"].strip() or None,
        "keywords": lines(values["keywords"]),
        "enabled": None if values["enabled"] else False,
    }


def _csv_bytes(chunks: Iterable[str], source: Any) -> Iterator[bytes]:
    """CSV text chunks as bytes; closing it (the server does, even on an aborted
    download) closes ``source`` and so ends the export's database transaction."""
    try:
        for chunk in chunks:
            yield chunk.encode("utf-8")
    finally:
        source.close()


def _allow(query: dict[str, str], allowed: Iterable[str]) -> None:
    known = set(allowed)
    for key in query:
        if key not in known:
            raise PageError(400, f"{key[:64]}: unknown parameter", key[:64])


def _query(environ: dict) -> dict[str, str]:
    try:
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise PageError(400, "query: too many parameters") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise PageError(400, f"{key[:64]}: given more than once", key[:64])
        out[key] = value
    return out


def _cookies(environ: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (environ.get("HTTP_COOKIE") or "")[:8192].split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name not in out:
            out[name] = value
    return out


def _browser_language(environ: dict) -> str:
    accepted = str(environ.get("HTTP_ACCEPT_LANGUAGE") or "").lower()
    return "en-US" if accepted.startswith("en") else "pt-BR"


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _public_id(raw: str) -> str:
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        raise PageError(404, "not found") from None
    if str(parsed) != raw.lower():
        raise PageError(404, "not found")
    return str(parsed)


def _day(name: str, value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PageError(400, f"{name}: must be a date YYYY-MM-DD", name) from None
    if not 2000 <= day.year <= 2099:
        raise PageError(400, f"{name}: out of range (2000-2099)", name)
    return day


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _encode_after(created_at: datetime, row_id: int) -> str:
    text = json.dumps([created_at.astimezone(timezone.utc).isoformat(), int(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_after(value: str) -> tuple[datetime, int]:
    not_ours = PageError(400, "after: not a page link of this console", "after")
    if len(value) > 120:
        raise not_ours
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8"))
        at = datetime.fromisoformat(data[0])
        row_id = data[1]
    except (ValueError, TypeError, IndexError, KeyError, UnicodeError, binascii.Error):
        raise not_ours from None
    if type(row_id) is not int or not 0 < row_id < 2**62 or at.tzinfo is None:
        raise not_ours
    return at, row_id


def _local(value: Optional[datetime], zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


__all__ = ["PREFIX", "ConsoleApp"]
