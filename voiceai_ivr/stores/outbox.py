"""The helpdesk outbox: everything the helpdesk must hear about, written in the
same transaction as the fact it reports and delivered later.

Life of a row: ``pending`` -> claimed (``FOR UPDATE SKIP LOCKED`` + a lease in
``lease_until``; ``attempts`` counts claims) -> ``delivered`` (response kept) or
back to ``pending`` with exponential backoff -> ``dead`` when the error is
permanent or the row has been failing for longer than
``helpdesk.dead_letter_after_hours``. ``retry_dead`` revives dead rows; the age
then counts from the revival (kept in ``response.revived_at``).

Rows of one callback are delivered in order: a row is not claimable while an
older row of the same callback is still pending (a ticket update never
overtakes the ticket's creation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from psycopg2.extras import Json

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.ports import Cursor

_KEY_MAX = 200


@dataclass(frozen=True)
class OutboxRow:
    id: int
    domain: str
    kind: str
    idempotency_key: str
    callback_id: Optional[int]
    call_uuid: Optional[str]
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: Optional[datetime]
    last_error: Optional[str]
    response: Optional[dict[str, Any]]
    created_at: datetime
    delivered_at: Optional[datetime]


_COLUMNS = (
    "id, domain, kind, idempotency_key, callback_id, call_uuid, payload, status, attempts, "
    "next_attempt_at, lease_until, last_error, response, created_at, delivered_at"
)


def _rows(cur: Cursor) -> list[OutboxRow]:
    names = [d[0] for d in cur.description]
    return [OutboxRow(**dict(zip(names, r))) for r in cur.fetchall()]


def _now(now: Optional[datetime]) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValidationError("now", "must carry a timezone")
    return now


@dataclass(frozen=True)
class OutboxEvent:
    """One helpdesk message written with a result (``stores.outbox.enqueue``)."""

    kind: str
    payload: dict[str, Any]
    idempotency_key: str


#: One message; ``enqueue`` and the call log writer (stores/calls.py) insert with it.
INSERT_SQL = (
    "INSERT INTO helpdesk_outbox (domain, kind, idempotency_key, callback_id, call_uuid, payload)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def check_message(domain: str, kind: str, payload: Any, idempotency_key: str) -> dict[str, Any]:
    """Validate one message; returns its payload as plain JSON values."""
    if not domain:
        raise ValidationError("domain", "required")
    if not kind or len(kind) > 64:
        raise ValidationError("kind", "required, at most 64 characters")
    if not idempotency_key or len(idempotency_key) > _KEY_MAX:
        raise ValidationError("idempotency_key", f"required, at most {_KEY_MAX} characters")
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "must be a JSON object")
    try:
        body: dict[str, Any] = json.loads(json.dumps(dict(payload)))
    except (TypeError, ValueError) as exc:
        raise ValidationError("payload", f"not JSON serialisable ({exc})") from exc
    return body


def enqueue(
    cur: Cursor,
    domain: str,
    kind: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    callback_id: Optional[int] = None,
    call_uuid: Optional[str] = None,
    *,
    on_conflict: str = "ignore",
) -> Optional[int]:
    """Queue one message in the caller's transaction. Returns the new row id, or
    ``None`` when a row with this ``idempotency_key`` already exists (ON CONFLICT
    DO NOTHING). With ``on_conflict="raise"`` a duplicate key raises psycopg2's
    ``UniqueViolation`` instead (the whole transaction is then void)."""
    body = check_message(domain, kind, payload, idempotency_key)
    if on_conflict not in ("ignore", "raise"):
        raise ValidationError("on_conflict", "must be ignore or raise")
    suffix = " ON CONFLICT (idempotency_key) DO NOTHING" if on_conflict == "ignore" else ""
    cur.execute(
        INSERT_SQL + suffix + " RETURNING id",
        (domain, kind, idempotency_key, callback_id, call_uuid, Json(body)),
    )
    row = cur.fetchone()
    return int(row[0]) if row else None


def enqueue_events(cur: Cursor, domain: str, callback_id: int, events: Iterable[OutboxEvent]) -> None:
    """Queue ``events`` (all of one callback) in the caller's transaction."""
    events = list(events)
    if not events:
        return
    for event in events:
        enqueue(cur, domain, event.kind, event.payload, event.idempotency_key, callback_id=callback_id)


def claim_due(
    cur: Cursor, *, limit: int, lease_seconds: float, now: Optional[datetime] = None
) -> list[OutboxRow]:
    """Claim up to ``limit`` due rows for delivery: pending, due, lease free, no
    older pending row of the same callback. Concurrent claimers skip each other's
    rows (``SKIP LOCKED``); the lease keeps them skipped after commit. Commit the
    claim before delivering."""
    if limit < 1:
        raise ValidationError("limit", "must be 1 or more")
    if lease_seconds <= 0:
        raise ValidationError("lease_seconds", "must be greater than 0")
    at = _now(now)
    cur.execute(
        f"""
        WITH due AS (
            SELECT o.id FROM helpdesk_outbox o
            WHERE o.status = 'pending'
              AND o.next_attempt_at <= %(now)s
              AND (o.lease_until IS NULL OR o.lease_until <= %(now)s)
              AND NOT EXISTS (
                  SELECT 1 FROM helpdesk_outbox p
                  WHERE o.callback_id IS NOT NULL AND p.callback_id = o.callback_id
                    AND p.id < o.id AND p.status = 'pending')
            ORDER BY o.next_attempt_at, o.id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        )
        UPDATE helpdesk_outbox o
           SET lease_until = %(lease_until)s, attempts = o.attempts + 1
          FROM due WHERE o.id = due.id
        RETURNING {", ".join("o." + c.strip() for c in _COLUMNS.split(","))}
        """,  # noqa: S608
        {"now": at, "limit": int(limit), "lease_until": at + timedelta(seconds=lease_seconds)},
    )
    return sorted(_rows(cur), key=lambda r: r.id)


def mark_delivered(
    cur: Cursor, row_id: int, response: Optional[Mapping[str, Any]] = None, *, now: Optional[datetime] = None
) -> bool:
    """Record a delivery; for a ticket creation, the returned ``ticket_id`` goes to
    ``callbacks.ticket_id``. False when the row was no longer pending."""
    at = _now(now)
    body = json.loads(json.dumps(dict(response or {}), default=str))
    cur.execute(
        "UPDATE helpdesk_outbox SET status = 'delivered', delivered_at = %s, response = %s,"
        " lease_until = NULL, last_error = NULL"
        " WHERE id = %s AND status = 'pending' RETURNING callback_id, kind",
        (at, Json(body), row_id),
    )
    row = cur.fetchone()
    if row is None:
        return False
    callback_id, kind = row
    ticket = body.get("ticket_id")
    if (
        callback_id is not None
        and ticket not in (None, "")
        and kind in ("callback.created", "callback.updated")
    ):
        cur.execute(
            "UPDATE callbacks SET ticket_id = %s, updated_at = now() WHERE id = %s AND ticket_id IS NULL",
            (str(ticket), callback_id),
        )
    return True


def backoff_seconds(attempts: int, max_backoff: float, base: float = 5.0) -> float:
    """Delay before the next try after ``attempts`` failed claims: base * 2^(n-1), capped."""
    n = max(1, int(attempts))
    return float(min(max_backoff, base * (2 ** min(n - 1, 30))))


def mark_failed(
    cur: Cursor,
    row_id: int,
    error: str,
    *,
    permanent: bool,
    max_backoff_seconds: float,
    dead_letter_after_hours: float,
    now: Optional[datetime] = None,
) -> str:
    """Record a failed delivery. Returns the new status: ``pending`` (retried after
    exponential backoff) or ``dead`` (permanent error, or failing for longer than
    ``dead_letter_after_hours``). ``""`` when the row was no longer pending."""
    at = _now(now)
    cur.execute(
        "SELECT attempts, created_at, response FROM helpdesk_outbox"
        " WHERE id = %s AND status = 'pending' FOR UPDATE",
        (row_id,),
    )
    row = cur.fetchone()
    if row is None:
        return ""
    attempts, created_at, response = row
    started = created_at
    revived = (response or {}).get("revived_at") if isinstance(response, dict) else None
    if revived:
        started = max(created_at, datetime.fromisoformat(revived))
    too_old = at - started >= timedelta(hours=dead_letter_after_hours)
    message = (error or "error")[:2000]
    if permanent or too_old:
        cur.execute(
            "UPDATE helpdesk_outbox SET status = 'dead', last_error = %s, lease_until = NULL WHERE id = %s",
            (message, row_id),
        )
        return "dead"
    delay = backoff_seconds(attempts, max_backoff_seconds)
    cur.execute(
        "UPDATE helpdesk_outbox SET next_attempt_at = %s, last_error = %s, lease_until = NULL WHERE id = %s",
        (at + timedelta(seconds=delay), message, row_id),
    )
    return "pending"


def release(cur: Cursor, row_ids: Sequence[int]) -> int:
    """Give claimed rows back untouched (a worker stopping before delivering them)."""
    if not row_ids:
        return 0
    cur.execute(
        "UPDATE helpdesk_outbox SET lease_until = NULL, attempts = GREATEST(attempts - 1, 0)"
        " WHERE id = ANY(%s) AND status = 'pending'",
        (list(row_ids),),
    )
    return int(cur.rowcount)


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    due: int
    dead: int
    delivered: int
    oldest_pending_age_seconds: Optional[float]
    by_kind: dict[str, Any]


def stats(cur: Cursor, *, domain: Optional[str] = None, now: Optional[datetime] = None) -> OutboxStats:
    """Backlog (pending, due now), oldest pending age, dead and delivered counts."""
    at = _now(now)
    cond = "TRUE" if domain is None else "domain = %(domain)s"
    cur.execute(
        f"""
        SELECT count(*) FILTER (WHERE status = 'pending'),
               count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= %(now)s),
               count(*) FILTER (WHERE status = 'dead'),
               count(*) FILTER (WHERE status = 'delivered'),
               min(created_at) FILTER (WHERE status = 'pending')
          FROM helpdesk_outbox WHERE {cond}
        """,  # noqa: S608
        {"now": at, "domain": domain},
    )
    pending, due, dead, delivered, oldest = cur.fetchone()
    cur.execute(
        f"SELECT kind, status, count(*) FROM helpdesk_outbox WHERE {cond}"  # noqa: S608
        " GROUP BY kind, status ORDER BY kind",
        {"domain": domain},
    )
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in cur.fetchall():
        by_kind.setdefault(kind, {})[status] = int(n)
    age = None if oldest is None else max(0.0, (at - oldest).total_seconds())
    return OutboxStats(int(pending), int(due), int(dead), int(delivered), age, by_kind)


def backlog(
    cur: Cursor, *, domain: Optional[str] = None, now: Optional[datetime] = None
) -> tuple[int, Optional[float]]:
    """``(rows not yet delivered, age in seconds of the oldest one)``, of every
    domain or one; cheap enough to poll (only pending rows are read)."""
    at = _now(now)
    cur.execute(
        "SELECT count(*), min(created_at) FROM helpdesk_outbox"
        " WHERE status = 'pending' AND (%(domain)s::text IS NULL OR domain = %(domain)s)",
        {"domain": domain},
    )
    pending, oldest = cur.fetchone()
    age = None if oldest is None else max(0.0, (at - oldest).total_seconds())
    return int(pending), age


def retry_dead(
    cur: Cursor,
    *,
    ids: Optional[Sequence[int]] = None,
    domain: Optional[str] = None,
    now: Optional[datetime] = None,
) -> int:
    """Send dead rows back to ``pending``, due now (all, or only ``ids``/``domain``).
    Their dead-letter age restarts now. Returns how many were revived."""
    at = _now(now)
    parts = ["status = 'dead'"]
    args: list[Any] = [at, Json({"revived_at": at.isoformat()})]
    if ids is not None:
        parts.append("id = ANY(%s)")
        args.append([int(i) for i in ids])
    if domain is not None:
        parts.append("domain = %s")
        args.append(domain)
    cur.execute(
        "UPDATE helpdesk_outbox SET status = 'pending', next_attempt_at = %s, response = %s,"  # noqa: S608
        " lease_until = NULL WHERE " + " AND ".join(parts),
        args,
    )
    return int(cur.rowcount)


def retry_pending_now(cur: Cursor, *, domain: Optional[str] = None, now: Optional[datetime] = None) -> int:
    """Make every pending row due now (``outbox flush`` before delivering)."""
    at = _now(now)
    if domain is None:
        cur.execute(
            "UPDATE helpdesk_outbox SET next_attempt_at = %s"
            " WHERE status = 'pending' AND next_attempt_at > %s",
            (at, at),
        )
    else:
        cur.execute(
            "UPDATE helpdesk_outbox SET next_attempt_at = %s"
            " WHERE status = 'pending' AND next_attempt_at > %s AND domain = %s",
            (at, at, domain),
        )
    return int(cur.rowcount)


def get(cur: Cursor, row_id: int) -> Optional[OutboxRow]:
    cur.execute(f"SELECT {_COLUMNS} FROM helpdesk_outbox WHERE id = %s", (row_id,))  # noqa: S608
    rows = _rows(cur)
    return rows[0] if rows else None


def list_rows(
    cur: Cursor,
    *,
    status: Optional[str] = None,
    callback_id: Optional[int] = None,
    kind: Optional[str] = None,
    limit: int = 100,
) -> list[OutboxRow]:
    """Rows by id order, filtered (operators' listing and tests)."""
    parts: list[str] = []
    args: list[Any] = []
    if status is not None:
        if status not in ("pending", "delivered", "dead"):
            raise ValidationError("status", "must be pending, delivered or dead")
        parts.append("status = %s")
        args.append(status)
    if callback_id is not None:
        parts.append("callback_id = %s")
        args.append(callback_id)
    if kind is not None:
        parts.append("kind = %s")
        args.append(kind)
    where = " AND ".join(parts) or "TRUE"
    query = f"SELECT {_COLUMNS} FROM helpdesk_outbox WHERE {where} ORDER BY id LIMIT %s"  # noqa: S608
    cur.execute(query, [*args, int(limit)])
    return _rows(cur)
