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

from voiceai_ivr.api.http import REASONS, HTTPError, Request, send
from voiceai_ivr.console import charts
from voiceai_ivr.console.auth import LoginThrottle, Session, Sessions, check_password, hash_password
from voiceai_ivr.console.i18n import Text, translator
from voiceai_ivr.console.media import FileRange, parse_range, recording_file
from voiceai_ivr.domain.causes import transfer_status
from voiceai_ivr.domain.destinations import DEST_TYPES, destination_to_doc
from voiceai_ivr.domain.lexicon import CATEGORIES
from voiceai_ivr.errors import DatabaseUnavailable, DirectoryError, ESLError, StoreError, ValidationError
from voiceai_ivr.exports import csv_rows
from voiceai_ivr.flows.callback_dispatch import no_destination_reason, route_text
from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores import console as store
from voiceai_ivr.stores import directory, reports
from voiceai_ivr.stores import dispatch as dispatch_store
from voiceai_ivr.stores import outbox as outbox_store
from voiceai_ivr.stores.callbacks import CallbackFilter
from voiceai_ivr.stores.reports import NO_DESTINATION

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
# scrypt of a random password: a login for a domain without a console password
# costs the same time as one with a wrong password
_DUMMY_HASH = hash_password(uuid.uuid4().hex)


class PageError(Exception):
    """An ordinary refusal shown as a page: its status, the ``i18n`` key of the
    sentence (with ``values``) and the field or parameter it is about."""

    def __init__(self, status: int, key: str, field_name: str = "", **values: Any) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.field = field_name
        self.values = values

    def message(self, t: Text) -> str:
        text = t(self.key, **self.values)
        if not self.field:
            return text
        # a filter the page offers by the name it has there; a header (Content-Length) as it is
        label = t(_PARAMETERS[self.field]) if self.field in _PARAMETERS else self.field
        return f"{label}: {text}"


# query parameters the pages' own links and forms set, and the words naming them
_PARAMETERS = {"from": "from", "to": "to", "status": "status", "destination": "destination", "period": "period",
               "after": "page", "body": "request_body", "query": "url_parameters"}


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
    def t(self) -> Text:
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
        self._health_cache: tuple[float, str, str] = (0.0, "", "")
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
            req.session = self._session(environ)
            if req.session is not None:
                self._domain_view(req)  # even a 404 is in the domain's language
            handler, params, needs_session, route = self._match(method, path)
            req.params = params
            req.query = _query(environ)
            if needs_session and req.session is None:
                page = _redirect(PREFIX + "/login")
            else:
                page = handler(req)
        except PageError as exc:
            page = self._error_page(req, exc.status, exc.message(req.t))
        except ValidationError as exc:
            page = self._error_page(req, 400, exc.reason, field_name=exc.field, system=True)
        except DatabaseUnavailable as exc:
            log.warning("console %s %s: database unavailable: %s", method, route, exc)
            page = self._error_page(req, 503, req.t("unavailable"))
        except (StoreError, ESLError) as exc:
            log.error("console %s %s: %s", method, route, exc)
            page = self._error_page(req, 503, req.t("unavailable"))
        except Exception:  # one request's bug must not take the server down
            log.exception("console %s %s failed", method, route)
            page = self._error_page(req, 500, req.t("internal_error"))
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
        raise PageError(405, "method_not_allowed") if allowed else PageError(404, "not_found")

    def _send(self, page: Page, start_response: Callable, *, head: bool) -> Iterable[bytes]:
        status = f"{page.status} {REASONS.get(page.status, 'Unknown')}"
        headers = [
            ("Content-Type", page.content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"),
            ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", _CSP),
            *page.headers,
        ]
        return send(start_response, status, headers, b"" if page.body is None else page.body, head=head)

    # ------------------------------------------------------------------ sessions

    @property
    def sessions(self) -> Sessions:
        """The signer under the installation's key, read from the database on first
        use (the first console ever to start stores a new one): every API process,
        and this one after a restart, accepts the same cookies."""
        if self._sessions is None:
            import secrets


            with self._sessions_lock:
                if self._sessions is None:
                    with self.db.transaction() as cur:
                        key = store.signing_key(cur, secrets.token_bytes(32))
                    self._sessions = Sessions(key)
        return self._sessions

    def _session(self, environ: dict) -> Optional[Session]:

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

            with self.db.cursor() as cur:
                found = store.password_hash(cur, session.domain)
            ok = found is not None and self.sessions.fingerprint(found[0]) == session.fingerprint
        return session if ok else None

    def _domain_view(self, req: Req) -> None:

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
            raise PageError(415, "err_not_form", "body")
        try:
            length = int(env.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise PageError(400, "err_whole_number", "Content-Length") from None
        if length < 0 or length > self.max_body:
            raise PageError(413, "err_too_large", "body", n=self.max_body)
        raw = env["wsgi.input"].read(length) if length else b""
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise PageError(400, "err_bad_form", "body") from None
        form = dict(pairs)
        if login:
            nonce = _cookies(env).get(LOGIN_COOKIE, "")
            ok = bool(nonce) and self.sessions.check_csrf("login:" + nonce, form.get("csrf", ""))
        else:
            assert req.session is not None
            ok = self.sessions.check_csrf(req.session.sid, form.get("csrf", ""))
        if not ok:
            raise PageError(403, "forbidden_csrf")
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
            local_span=lambda a, b: _local_span(a, b, req.zone),
            zone=_zone_label(req.zone, self.services.clock()) if session else "",
            label=req.t.code,
            field_label=lambda name: req.t(name) if name in _FORM_FIELDS else name,
            **values,
        )
        return Page(status, html)

    def _error_page(
        self, req: Req, status: int, message: str, *, field_name: str = "", system: bool = False
    ) -> Page:
        """The error page: the status and its name in the domain's language, the
        message; ``system``: the message is the shared validation's (the API's and
        the CLI's, in English), shown after the field's name and marked as such."""
        if req.session is None and status == 404:
            message, field_name, system = req.t("not_found"), "", False
        return self.render(
            req, "error.html.j2", status, code=status, message=message, field=field_name, system=system,
        )

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

            with self.db.cursor() as cur:
                stored = store.password_hash(cur, domain) if len(domain) <= 253 else None
            if check_password(password, stored[0] if stored else _DUMMY_HASH) and stored is not None:
                found = (domain, "password", self.sessions.fingerprint(stored[0]))
                actor = f"password@{req.client}"
        if found is None:
            self.throttle.failed(req.client)
            log.info("console: failed login from %s", req.client)
            return self.login_form(req, error=req.t("login_failed"), status=401)

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

        assert req.session is not None
        with self.db.transaction() as cur:
            store.close_session(cur, req.session.sid)
        return _redirect(PREFIX + "/login", [self._cookie(COOKIE, "", req, max_age=0)])

    # ------------------------------------------------------------------ dashboard

    def dashboard(self, req: Req) -> Page:

        assert req.session is not None
        _allow(req.query, ("period",))
        period = req.query.get("period", "today")
        if period not in ("today", "7d"):
            raise PageError(400, "err_period", "period")
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
            outbox_backlog, outbox_age = outbox_store.backlog(cur, domain=domain)
        days = [(first + timedelta(days=i)).isoformat() for i in range((today - first).days + 1)]
        t = req.t
        per_day = charts.day_bars(
            days,
            [(t("calls"), dict(activity.calls_per_day)), (t("callbacks_created"), dict(activity.callbacks_per_day))],
            title=t("per_day"),
        )
        drain = self.services.outbox.health() if self.services.outbox is not None else None
        return self.render(
            req,
            "dashboard.html.j2",
            period=period,
            stats=stats,
            activity=activity,
            top=_top_destinations(activity, stats),
            transfers_chart=charts.hbars(
                [(t.code("transfer_status", k), v) for k, v in activity.transfers_by_status.items()],
                title=t("transfers_by_outcome"),
            ),
            calls_chart=charts.hbars(
                [(t.code("call_outcome", k), v) for k, v in activity.calls_by_outcome.items()],
                title=t("calls_by_outcome"),
            ),
            per_day_chart=per_day,
            median=_duration(activity.median_seconds_to_callback, t),
            outbox={
                "backlog": outbox_backlog,
                "oldest": _duration(outbox_age, t) if outbox_backlog else None,
                "last_error": (drain or {}).get("last_error") or "",
                "no_helpdesk": not self.config.helpdesk.url,
            },
            speech=self._speech_health(),
        )

    def _speech_health(self) -> tuple[str, str]:
        """``(state, where)``: speech recognition as ``serve``'s /health reports
        it at ``server.metrics_host:metrics_port`` (``available`` / ``keys_only``),
        ``unreachable`` when serve does not answer in 0.5 s, ``not_configured``
        without a metrics port; cached 10 s."""
        host, port = str(self.config.server.metrics_host), int(self.config.server.metrics_port)
        where = f"{host}:{port}"
        if not port:
            return "not_configured", where
        now = time.monotonic()
        with self._health_lock:
            at, cached_where, cached = self._health_cache
            if cached_where == where and now - at < 10.0:
                return cached, where
        import requests

        state = "unreachable"
        try:
            resp = requests.get(f"http://{where}/health", timeout=0.5)
            body = resp.json()
            value = body.get("speech_recognition") if isinstance(body, dict) else None
            if isinstance(value, bool):
                state = "available" if value else "keys_only"
        except (requests.RequestException, ValueError):
            pass
        with self._health_lock:
            self._health_cache = (now, where, state)
        return state, where

    # ------------------------------------------------------------------ callbacks

    def _callback_filter(self, req: Req) -> tuple[Any, Optional[str]]:

        assert req.session is not None
        status = req.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise PageError(400, "err_status", "status", value=repr(status[:40]))
        zone = ZoneInfo(req.zone)
        since = _midnight(_day("from", req.query["from"]), zone) if req.query.get("from") else None
        until = (
            _midnight(_day("to", req.query["to"]) + timedelta(days=1), zone) if req.query.get("to") else None
        )
        if since is not None and until is not None and until <= since:
            raise PageError(400, "err_to_before_from", "to")
        destination = req.query.get("destination") or None
        if destination is not None and len(destination) > 200:
            raise PageError(400, "err_too_long", "destination")
        return CallbackFilter(domain=req.session.domain, status=status, since=since, until=until), destination

    def callbacks(self, req: Req) -> Page:

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

        assert req.session is not None
        pid = _public_id(req.params["id"])
        with self.db.transaction() as cur:
            cb = cbstore.get_callback_by_public_id(cur, pid, domain=req.session.domain)
        if cb is None:
            raise PageError(404, "not_found")
        return cb

    def callback(self, req: Req, *, error: str = "", status: int = 200) -> Page:

        assert req.session is not None
        if not error:
            _allow(req.query, ("done",))
        cb = self._callback_row(req)
        default = self.config.callbacks.default_destination
        with self.db.transaction() as cur:
            attempts = reports.callback_attempts(cur, cb.id)
            route = dispatch_store.route_of(cur, cb.id, default_destination=default)
        route_line, route_problem = "", ""
        if route is not None and cb.status in ("pending", "in_progress"):
            # where the next attempt goes: the dispatcher's own joins, worded as `callbacks show` words it
            key, values = route_text(route)
            route_line = req.t(key, **values)
            if key.startswith("route.nobody"):
                route_problem = no_destination_reason(route, default)
        audio = recording_file(self.config.server.call_recordings_dir, req.session.domain, cb.recording_path)
        done = _DONE.get(req.query.get("done", "")) if not error else None
        return self.render(
            req,
            "callback.html.j2",
            status,
            cb=cb,
            attempts=[_attempt_view(a, req.t) for a in attempts],
            route=route_line,
            route_problem=route_problem,
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
            raise PageError(404, "recording_missing")
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
            raise PageError(404, "not_found")
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
                raise PageError(404, "not_found")
            return self.callback(req, error=error, status=status)
        done = {"snooze": "snoozed", "cancel": "cancelled", "call": "calling"}[action]
        return _redirect(f"{PREFIX}/callbacks/{pid}?done={done}")

    def _api_call(self, req: Req, path: str, body: dict[str, Any]) -> tuple[str, int]:
        """POST ``path`` to the JSON API's handler as the session's domain:
        ``("", 200)`` on success, else the API's message and status."""
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

        assert req.session is not None
        _allow(req.query, ())
        rows = directory.list_destination_ids(self.db, req.session.domain)
        return self.render(req, "destinations.html.j2", rows=rows)

    def _destination_name(self, req: Req) -> tuple[int, str]:

        assert req.session is not None
        raw = req.params["id"]
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise PageError(404, "not_found")
        name = directory.destination_name_by_id(self.db, req.session.domain, int(raw))
        if name is None:
            raise PageError(404, "not_found")
        return int(raw), name

    def destination(
        self, req: Req, *, values: Optional[dict[str, str]] = None, errors: Optional[list[str]] = None,
        status: int = 200,
    ) -> Page:

        assert req.session is not None
        if values is None:
            _allow(req.query, ("done",))
        dest_id, name = self._destination_name(req)
        current = directory.get_destination(self.db, req.session.domain, name)
        if current is None:
            raise PageError(404, "not_found")
        form = values if values is not None else _form_values(destination_to_doc(current))
        with self.db.transaction() as cur:
            history = store.list_audit(cur, req.session.domain, limit=20, target=name)
        done = _DONE.get(req.query.get("done", "")) if values is None else None
        problems = [_problem(p) for p in errors or []]
        return self.render(
            req,
            "destination.html.j2",
            status,
            dest_id=dest_id,
            name=name,
            v=form,
            errors=problems,
            bad={p["field"] for p in problems},
            types=DEST_TYPES,
            categories=sorted(CATEGORIES, key=lambda c: req.t.code("category", c).casefold()),
            history=[{**h, "who": _actor(h["actor"], req.t)} for h in history],
            done=req.t(done) if done else "",
            change_value=lambda name, value: _change_value(name, value, req.t),
        )

    def save_destination(self, req: Req) -> Page:

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


def _problem(text: str) -> dict[str, str]:
    """A refusal of the shared validation (``path: reason``, in English) split
    into the form field it is about and its reason."""
    path, sep, reason = text.partition(": ")
    if not sep:
        return {"field": "", "path": "", "reason": text}
    tokens = re.split(r"[.\[\]]+", path)
    field_name = next((tok for tok in tokens if tok in _FORM_FIELDS), "")
    return {"field": field_name, "path": path, "reason": reason}


def _change_value(name: str, value: Any, t: Text) -> str:
    """A before/after value of the change history as the form shows it: a type or
    category by its display name, a list one item after the other, "—" for none."""
    if value is None or value == []:
        return "—"
    if name == "type":
        return t.code("dest_type", str(value))
    if name == "category":
        return t.code("category", str(value))
    if name == "enabled" or isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _actor(actor: str, t: Text) -> str:
    """An audit row's actor in words: ``token:1a2b3c4d@192.0.2.7`` -> "API token
    1a2b3c4d from 192.0.2.7"; one of another shape as stored."""
    how, _, addr = actor.rpartition("@")
    if how.startswith("token:"):
        return t("actor_token", fp=how[len("token:"):], addr=addr)
    if how == "password":
        return t("actor_password", addr=addr)
    return actor


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
            raise PageError(400, "err_unknown_param", key[:64])


def _query(environ: dict) -> dict[str, str]:
    try:
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=20)
    except ValueError:
        raise PageError(400, "err_too_many", "query") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise PageError(400, "err_repeated", key[:64])
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
        raise PageError(404, "not_found") from None
    if str(parsed) != raw.lower():
        raise PageError(404, "not_found")
    return str(parsed)


def _day(name: str, value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "err_date", name) from None
    if not 2000 <= day.year <= 2099:
        raise PageError(400, "err_year", name)
    return day


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _encode_after(created_at: datetime, row_id: int) -> str:
    text = json.dumps([created_at.astimezone(timezone.utc).isoformat(), int(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_after(value: str) -> tuple[datetime, int]:
    not_ours = PageError(400, "err_page_link", "after")
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


def _local_span(start: Optional[datetime], end: Optional[datetime], zone: str) -> str:
    """``2026-12-07 08:00 – 12:00`` (the end's date only when it differs)."""
    first, last = _local(start, zone), _local(end, zone)
    if first and last and first[:10] == last[:10]:
        last = last[11:]
    return f"{first} – {last}"


def _zone_label(zone: str, now: datetime) -> str:
    """``America/Sao_Paulo (UTC-03:00)``: the zone every time on the pages is in."""
    offset = now.astimezone(ZoneInfo(zone)).strftime("%z")
    return f"{zone} (UTC{offset[:3]}:{offset[3:]})" if offset else zone


def _local(value: Optional[datetime], zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _duration(seconds: Optional[float], t: Text) -> Optional[str]:
    """A length of time in words of the page's language (None stays None)."""
    if seconds is None:
        return None
    whole = max(0, int(seconds))
    if whole < 60:
        return t("seconds", n=whole)
    minutes = whole // 60
    if minutes < 60:
        return t("minutes_short", n=minutes)
    if minutes < 48 * 60:
        return t("hours_minutes", h=minutes // 60, m=minutes % 60)
    return t("days_hours", d=minutes // (24 * 60), h=minutes // 60 % 24)


def _attempt_view(a: dict[str, Any], t: Text) -> dict[str, Any]:
    """One dispatch attempt as the detail page shows it: the outcome's name and,
    for one that did not complete, why the call ended in words (the switch's
    hangup cause and SIP status judged as a transfer's are; the raw values kept
    for the tooltip)."""

    outcome = a.get("outcome")
    cause, sip = a.get("hangup_cause"), a.get("sip_status")
    ended = ""
    if outcome not in (None, "completed") and (cause or sip):
        ended = t.code("transfer_status", transfer_status(cause, sip))
    raw = " ".join(str(v) for v in (cause, f"SIP {sip}" if sip else None) if v)
    return {
        **a,
        "outcome_label": t.code("attempt_outcome", outcome or "in_progress"),
        "trigger_label": t.code("trigger", a.get("trigger")),
        "ended": ended,
        "raw_cause": raw,
    }


def _top_destinations(activity: Any, stats: Any, limit: int = 5) -> list[dict[str, Any]]:
    """The most asked-for destinations of the period: transfers to each (and how
    many were answered) and callbacks for each; ``name`` None: no destination."""

    rows: dict[Optional[str], dict[str, Any]] = {}

    def row(name: Optional[str]) -> dict[str, Any]:
        key = None if name in (None, NO_DESTINATION) else name
        return rows.setdefault(key, {"name": key, "transfers": 0, "answered": 0, "callbacks": 0})

    for name, n, ok in activity.top_transfer_destinations:
        row(name).update(transfers=n, answered=ok)
    for d in stats.per_destination:
        row(d.destination)["callbacks"] = d.total
    ranked = sorted(rows.values(), key=lambda r: (-(r["transfers"] + r["callbacks"]), r["name"] is None,
                                                   r["name"] or ""))
    return ranked[:limit]


__all__ = ["PREFIX", "ConsoleApp"]
