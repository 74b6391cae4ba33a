"""The API's endpoints: thin handlers over the stores and the dispatcher.

``ApiServices`` wires what they need; ``register`` adds the routes."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from voiceai_ivr.api.http import (
    MAX_SNOOZE,
    STATUSES,
    HTTPError,
    Request,
    Response,
    bad,
    check_fields,
    check_query,
    decode_cursor,
    encode_cursor,
    parse_datetime,
    parse_public_id,
    parse_whole,
)
from voiceai_ivr.errors import ESLError, StoreError, ValidationError
from voiceai_ivr.exports import csv_rows
from voiceai_ivr.integrations.helpdesk_messages import change_event, result_event
from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores import dispatch as store
from voiceai_ivr.stores import outbox
from voiceai_ivr.switch import check_extension

# The API's callback resource: ``stores.callbacks.PUBLIC_FIELDS`` in their order,
# ``public_id`` named ``id`` (first), without ``call_uuid`` (the PBX leg's uuid).
API_FIELDS = tuple(name for name in cbstore.PUBLIC_FIELDS if name not in ("public_id", "call_uuid"))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ApiServices:
    db: Any  # stores.db.Database
    availability: Any = None  # availability.AvailabilityChecker; None: no PBX configured
    dispatcher: Any = None  # dispatcher.Dispatcher for click-to-call; None: disabled
    pbx_ping: Optional[Callable[[], bool]] = None
    clock: Callable[[], datetime] = _utcnow
    outbox: Any = None  # integrations.outbox_worker.OutboxDrain: the helpdesk delivery of this process
    pbx_retry: Optional[threading.Event] = None  # set to stop trying a PBX that was down at start


def _pbx_up(services: ApiServices) -> bool:
    """The API's Event Socket link is up (it reconnects by itself after a FreeSWITCH restart)."""
    try:
        return bool(services.pbx_ping and services.pbx_ping())
    except ESLError:
        return False


def public(cb: Any) -> dict:
    out: dict[str, Any] = {"id": cb.public_id}
    for name in API_FIELDS:
        value = getattr(cb, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def register(router: Any, services: ApiServices, app: Any) -> None:
    max_body = app.max_body

    def get_callback(domain: str, raw_id: str) -> Any:
        pid = parse_public_id("id", raw_id)
        with services.db.transaction() as cur:
            cb = cbstore.get_callback_by_public_id(cur, pid, domain=domain)
        if cb is None:
            raise HTTPError(404, "not_found", f"id: no callback {pid}", "id")
        return cb

    def state_error(state: str, pid: str) -> HTTPError:
        if state == "not_found":
            return HTTPError(404, "not_found", f"id: no callback {pid}", "id")
        if state == "busy":
            return HTTPError(409, "in_progress", f"id: callback {pid} is being dialled right now", "id")
        if state == "overloaded":
            return HTTPError(503, "overloaded", "too many click-to-call attempts in progress; retry shortly")
        return HTTPError(409, "closed", f"id: callback {pid} is no longer pending", "id")

    # -------------------------------------------------------------- health / metrics

    def health(req: Request) -> Response:
        check_query(req.query, ())
        checks: dict[str, str] = {}
        try:
            services.db.ping()
            checks["database"] = "ok"
        except StoreError:
            checks["database"] = "unavailable"
        if services.pbx_ping is None:
            checks["pbx"] = "not_configured"
        else:
            checks["pbx"] = "ok" if _pbx_up(services) else "unavailable"
        ok = checks["database"] == "ok" and checks["pbx"] != "unavailable"
        body: dict[str, Any] = {"status": "ok" if ok else "degraded", "checks": checks}
        if services.outbox is not None:
            # helpdesk delivery: backlog and the oldest message's age (a slow
            # helpdesk delays tickets; it does not make this process unhealthy)
            body["outbox"] = services.outbox.health()
        return Response(200 if ok else 503, body)

    def metrics(req: Request) -> Response:
        check_query(req.query, ())

        with services.db.transaction() as cur:
            counts = cbstore.counts_by_status(cur, cbstore.CallbackFilter(domain=req.domain))
            backlog, oldest = outbox.backlog(cur, domain=req.domain)
        lines = [
            "# HELP voiceai_callbacks Callbacks of this token's domain by status.",
            "# TYPE voiceai_callbacks gauge",
        ]
        lines += [f'voiceai_callbacks{{status="{s}"}} {n}' for s, n in sorted(counts.items())]
        lines += [
            "# HELP voiceai_ivr_outbox_backlog Helpdesk outbox rows of this token's domain not yet delivered.",
            "# TYPE voiceai_ivr_outbox_backlog gauge",
            f"voiceai_ivr_outbox_backlog {backlog}",
            "# HELP voiceai_ivr_outbox_oldest_age_seconds Age of this domain's oldest undelivered outbox row.",
            "# TYPE voiceai_ivr_outbox_oldest_age_seconds gauge",
            f"voiceai_ivr_outbox_oldest_age_seconds {round(oldest or 0.0, 3)}",
        ]
        if services.pbx_ping is not None:
            lines += [
                "# HELP voiceai_ivr_esl_connected 1 while this API's Event Socket to FreeSWITCH is up, 0 while down.",
                "# TYPE voiceai_ivr_esl_connected gauge",
                f"voiceai_ivr_esl_connected {1 if _pbx_up(services) else 0}",
            ]
        lines += app.metrics.lines()
        return Response(200, "\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")

    # -------------------------------------------------------------- extensions

    def availability(req: Request) -> Response:
        check_query(req.query, ())

        ext = req.params["ext"]
        try:
            check_extension("ext", ext)
        except ValidationError as exc:
            raise bad("ext", exc.reason) from None
        if services.availability is None:
            raise HTTPError(503, "unavailable", "no PBX connection configured for this API")
        av = services.availability.check(ext, req.domain)
        return Response(200, av.as_dict())

    # -------------------------------------------------------------- callbacks

    def list_callbacks(req: Request) -> Response:
        check_query(req.query, ("status", "from", "to", "limit", "cursor"))
        flt = _filter(req, cbstore)
        limit = parse_whole("limit", req.query.get("limit", "50"), 1, 500)
        offset = decode_cursor(req.query["cursor"]) if req.query.get("cursor") else 0
        with services.db.transaction() as cur:
            rows = cbstore.list_callbacks(cur, flt, limit=limit + 1, offset=offset)
        more = len(rows) > limit
        items = [public(cb) for cb in rows[:limit]]
        return Response(200, {"items": items, "next_cursor": encode_cursor(offset + limit) if more else None})

    def export_csv(req: Request) -> Response:
        check_query(req.query, ("status", "from", "to"))

        flt = _filter(req, cbstore)
        services.db.ping()  # fail with 503 before the 200 header goes out
        rows = csv_rows(cbstore.iter_callbacks(services.db, flt))
        headers = [("Content-Disposition", 'attachment; filename="callbacks.csv"')]
        return Response(200, rows, content_type="text/csv; charset=utf-8", headers=headers)

    def show(req: Request) -> Response:
        check_query(req.query, ())
        return Response(200, public(get_callback(req.domain, req.params["id"])))

    def call(req: Request) -> Response:
        check_query(req.query, ())
        pid = parse_public_id("id", req.params["id"])
        body = req.json(max_body)
        check_fields(body, ("agent_extension",))
        ext = body.get("agent_extension")
        if not isinstance(ext, str) or not ext:
            raise bad("agent_extension", "required: the extension of the agent who calls now")

        try:
            check_extension("agent_extension", ext)
        except ValidationError as exc:
            raise bad("agent_extension", exc.reason) from None
        if services.dispatcher is None:
            raise HTTPError(503, "unavailable", "click-to-call is not available on this API instance")
        state, attempt_id = services.dispatcher.call_now(pid, req.domain, ext)
        if state != "started":
            raise state_error(state, pid)
        return Response(
            202, {"callback_id": pid, "attempt_id": attempt_id, "agent_extension": ext, "status": "started"}
        )

    def snooze(req: Request) -> Response:
        check_query(req.query, ())
        pid = parse_public_id("id", req.params["id"])
        body = req.json(max_body)
        check_fields(body, ("until", "minutes"))
        now = services.clock()
        if ("until" in body) == ("minutes" in body):
            raise bad("until", "give exactly one of until or minutes")
        if "minutes" in body:
            minutes = body["minutes"]
            if isinstance(minutes, bool) or not isinstance(minutes, int):
                raise bad("minutes", "must be a whole number")
            if not 1 <= minutes <= int(MAX_SNOOZE.total_seconds() // 60):
                raise bad("minutes", f"out of range (1-{int(MAX_SNOOZE.total_seconds() // 60)})", 422, "out_of_range")
            until = now + timedelta(minutes=minutes)
        else:
            until = parse_datetime("until", body["until"])
            if until <= now:
                raise bad("until", "must be in the future", 422, "out_of_range")
            if until > now + MAX_SNOOZE:
                raise bad("until", "at most 30 days ahead", 422, "out_of_range")
        event = change_event("snoozed", pid, req.domain, {"next_attempt_at": until.isoformat()})
        with services.db.transaction() as cur:
            state, _ = cbstore.snooze(cur, pid, req.domain, until, events=[event])
        if state != "ok":
            raise state_error(state, pid)
        return Response(200, public(get_callback(req.domain, pid)))

    def cancel(req: Request) -> Response:
        check_query(req.query, ())
        pid = parse_public_id("id", req.params["id"])
        body = req.json(max_body)
        check_fields(body, ("reason",))
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 500:
            raise bad("reason", "must be text of at most 500 characters")
        cb = get_callback(req.domain, pid)
        event = result_event(
            pid, req.domain, cb.ticket_id, "cancelled", "cancelled", cb.attempts, services.clock(), detail=reason
        )
        with services.db.transaction() as cur:
            state, _ = cbstore.cancel(cur, pid, req.domain, events=[event])
        if state != "ok":
            raise state_error(state, pid)
        return Response(200, public(get_callback(req.domain, pid)))

    def attempt(req: Request) -> Response:
        check_query(req.query, ())
        raw = req.params["attempt_id"]
        if not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) < 1:
            raise bad("attempt_id", "must be a positive whole number")
        with services.db.transaction() as cur:
            row = store.attempt_summary(cur, int(raw), req.domain)
        if row is None:
            raise HTTPError(404, "not_found", f"attempt_id: no attempt {raw}", "attempt_id")
        return Response(200, row)

    router.add("GET", "/health", health, auth=False)
    router.add("GET", "/metrics", metrics)
    router.add("GET", "/extensions/{ext}/availability", availability)
    router.add("GET", "/callbacks", list_callbacks)
    router.add("GET", "/callbacks/export.csv", export_csv)
    router.add("GET", "/callbacks/{id}", show)
    router.add("POST", "/callbacks/{id}/call", call)
    router.add("POST", "/callbacks/{id}/snooze", snooze)
    router.add("POST", "/callbacks/{id}/cancel", cancel)
    router.add("GET", "/attempts/{attempt_id}", attempt)


def _filter(req: Request, cbstore: Any) -> Any:
    status = req.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise bad("status", f"unknown status {status!r} (use {', '.join(STATUSES)})")
    since = parse_datetime("from", req.query["from"]) if req.query.get("from") else None
    until = parse_datetime("to", req.query["to"]) if req.query.get("to") else None
    if since is not None and until is not None and until <= since:
        raise bad("to", "must be after from")
    return cbstore.CallbackFilter(domain=req.domain, status=status, since=since, until=until)


__all__ = ["API_FIELDS", "ApiServices", "public", "register"]
