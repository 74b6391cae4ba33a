"""Callback requests in PostgreSQL: the durable write made before the caller hears
"confirmed", and the reads the dispatcher, the API and the reports use.

A confirmed request becomes, in ONE transaction, a ``callbacks`` row and the
``helpdesk_outbox`` rows announcing it (ticket create or update, and a WhatsApp
"scheduled" notice when the domain enables it). A second request from the same
number to the same domain while one is open (pending/in_progress) updates that
one instead: new window, reason and transcript appended (the partial unique
index ``callbacks_one_open_per_number`` makes this race-free).

Saving is idempotent per request: each ``CallbackRequest`` carries a
``request_id`` and its ticket outbox row uses the key ``callback.request:<id>``.
Saving the same request twice (a spool replay re-run after a crash, a retry
after an ambiguous commit) finds that key and changes nothing.

Only parameterised SQL here. Functions taking ``cur`` run inside the caller's
transaction; functions taking ``db`` open their own.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from voiceai_ivr.errors import StoreError, ValidationError
from voiceai_ivr.ports import Cursor, Database
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.db import pgcode
from voiceai_ivr.stores.outbox import OutboxEvent, enqueue_events

STATUSES = ("pending", "in_progress", "completed", "failed", "expired", "cancelled")
OPEN_STATUSES = ("pending", "in_progress")
SOURCES = ("ivr", "spool", "api")
LANGUAGES = ("pt-BR", "en-US")
_E164_MAX = 16
_TEXT_MAX = 8000

KIND_CREATED = "callback.created"  # the ticket messages (``integrations.helpdesk_contract``)
KIND_UPDATED = "callback.updated"
UNIQUE_VIOLATION = "23505"


def request_key(request_id: str) -> str:
    """Idempotency key of the ticket outbox row written for one request."""
    return f"callback.request:{request_id}"


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(name, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(name, "must carry a timezone")
    return value


@dataclass(frozen=True)
class CallbackRequest:
    """What the caller confirmed. Validated on construction (``ValidationError``
    names the field). ``request_id`` identifies this request end to end (spool
    entry, outbox key) so that saving it twice is harmless."""

    domain: str
    number_e164: str
    window_start: datetime
    window_end: datetime
    reason: str = ""
    transcript: str = ""
    category: Optional[str] = None
    language: str = "pt-BR"
    caller_name: Optional[str] = None
    destination_id: Optional[int] = None
    destination_name: Optional[str] = None
    agent_extension: Optional[str] = None
    call_uuid: Optional[str] = None
    recording_path: Optional[str] = None
    source: str = "ivr"
    spool_id: Optional[str] = None
    max_attempts: int = 3
    timezone: str = ""  # the domain's zone, for messages; "" = unknown
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    captured_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def __post_init__(self) -> None:
        if not isinstance(self.domain, str) or not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", self.domain):
            raise ValidationError("domain", "must be a host name (letters, digits, dots, hyphens)")
        if not isinstance(self.number_e164, str) or not re.fullmatch(r"\+[1-9][0-9]{6,14}", self.number_e164):
            raise ValidationError("number_e164", "must be E.164 (+ then 7 to 15 digits)")
        _aware(self.window_start, "window_start")
        _aware(self.window_end, "window_end")
        if self.window_end <= self.window_start:
            raise ValidationError("window_end", "must be after window_start")
        _aware(self.captured_at, "captured_at")
        for name in ("reason", "transcript"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValidationError(name, "must be text")
            if len(value) > _TEXT_MAX:
                raise ValidationError(name, f"longer than {_TEXT_MAX} characters")
        if self.language not in LANGUAGES:
            raise ValidationError("language", f"must be one of {', '.join(LANGUAGES)}")
        if self.source not in SOURCES:
            raise ValidationError("source", f"must be one of {', '.join(SOURCES)}")
        if not isinstance(self.max_attempts, int) or not 1 <= self.max_attempts <= 20:
            raise ValidationError("max_attempts", "must be 1-20")
        for name in ("request_id", "spool_id"):
            value = getattr(self, name)
            if value is None and name == "spool_id":
                continue
            try:
                uuid.UUID(str(value))
            except ValueError as exc:
                raise ValidationError(name, "must be a UUID") from exc

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (datetimes as ISO 8601); ``from_json`` reverses it."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallbackRequest:
        if not isinstance(data, Mapping):
            raise ValidationError("request", "must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"request.{unknown[0]}", "unknown field")
        kwargs = dict(data)
        for name in ("window_start", "window_end", "captured_at"):
            if name in kwargs:
                try:
                    kwargs[name] = datetime.fromisoformat(str(kwargs[name]))
                except ValueError as exc:
                    raise ValidationError(name, "not an ISO 8601 date-time") from exc
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise ValidationError("request", str(exc)) from exc


#: A callback's public fields, in the order clients see them: the one definition
#: each format derives from, with its own documented additions and exclusions:
#: the API's resource (``api.resources.API_FIELDS``: ``public_id`` as ``id``,
#: without ``call_uuid``), the CSV export (``exports.CSV_COLUMNS``: without the
#: scheduling fields) and the JSON export (``Callback.to_json``: plus
#: ``INTERNAL_FIELDS``).
PUBLIC_FIELDS: tuple[str, ...] = (
    "public_id",
    "domain",
    "status",
    "number_e164",
    "caller_name",
    "window_start",
    "window_end",
    "reason",
    "category",
    "language",
    "destination_name",
    "agent_extension",
    "attempts",
    "max_attempts",
    "next_attempt_at",
    "last_outcome",
    "ticket_id",
    "call_uuid",
    "source",
    "created_at",
    "updated_at",
    "completed_at",
)
#: The rest of a ``callbacks`` row: in the JSON export and ``callbacks show --json``
#: (an administrator's full copy), never in the API or the CSV.
INTERNAL_FIELDS: tuple[str, ...] = (
    "id",
    "transcript",
    "destination_id",
    "recording_path",
    "spool_id",
    "lease_owner",
    "lease_until",
)


@dataclass(frozen=True)
class Callback:
    """One ``callbacks`` row."""

    id: int
    public_id: str
    domain: str
    status: str
    number_e164: str
    caller_name: Optional[str]
    window_start: datetime
    window_end: datetime
    reason: str
    transcript: str
    category: Optional[str]
    language: str
    destination_id: Optional[int]
    destination_name: Optional[str]
    agent_extension: Optional[str]
    call_uuid: Optional[str]
    recording_path: Optional[str]
    source: str
    spool_id: Optional[str]
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    lease_owner: Optional[str]
    lease_until: Optional[datetime]
    last_outcome: Optional[str]
    ticket_id: Optional[str]
    created_at: datetime
    updated_at: datetime
    completed_at: Optional[datetime]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Callback:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in row.items() if k in names}
        for key in ("public_id", "spool_id"):
            if values.get(key) is not None:
                values[key] = str(values[key])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """``PUBLIC_FIELDS`` then ``INTERNAL_FIELDS`` (every column), datetimes as ISO 8601."""
        out: dict[str, Any] = {}
        for name in PUBLIC_FIELDS + INTERNAL_FIELDS:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


@dataclass(frozen=True)
class SaveResult:
    """Outcome of ``save_confirmed_callback``.

    ``created``: a new row; False: an open request of the same number was updated.
    ``already_saved``: this very request had been saved before; nothing changed.
    """

    callback: Callback
    created: bool
    already_saved: bool = False
    outbox_ids: tuple[int, ...] = ()


_COLUMNS = (
    "id, public_id, domain, status, number_e164, caller_name, window_start, window_end, reason, "
    "transcript, category, language, destination_id, destination_name, agent_extension, call_uuid, "
    "recording_path, source, spool_id, attempts, max_attempts, next_attempt_at, lease_owner, "
    "lease_until, last_outcome, ticket_id, created_at, updated_at, completed_at"
)


def _dicts(cur: Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _one(cur: Cursor) -> Optional[dict[str, Any]]:
    rows = _dicts(cur)
    return rows[0] if rows else None


def _merge_text(old: str, new: str) -> str:
    return new if not old else (old if not new else f"{old}\n---\n{new}")


def create_or_update_callback(cur: Cursor, request: CallbackRequest) -> tuple[Callback, bool]:
    """Insert the request, or fold it into the open request of the same number and
    domain (window replaced, reason/transcript appended, category/destination
    refreshed). Returns ``(row, created)``. Runs in the caller's transaction.

    An ``in_progress`` request keeps its ``next_attempt_at`` (a dispatcher holds
    it); a pending one is due again from the new window's start.
    """
    params = {
        "public_id": str(uuid.uuid4()),
        "domain": request.domain,
        "number": request.number_e164,
        "caller_name": request.caller_name,
        "ws": request.window_start,
        "we": request.window_end,
        "reason": request.reason,
        "transcript": request.transcript,
        "category": request.category,
        "language": request.language,
        "destination_id": request.destination_id,
        "destination_name": request.destination_name,
        "agent_extension": request.agent_extension,
        "call_uuid": request.call_uuid,
        "recording_path": request.recording_path,
        "source": request.source,
        "spool_id": request.spool_id,
        "max_attempts": request.max_attempts,
        "sep": "\n---\n",
    }
    cur.execute(
        f"""
        INSERT INTO callbacks (public_id, domain, number_e164, caller_name, window_start, window_end,
                               reason, transcript, category, language, destination_id, destination_name,
                               agent_extension, call_uuid, recording_path, source, spool_id, max_attempts,
                               next_attempt_at)
        VALUES (%(public_id)s, %(domain)s, %(number)s, %(caller_name)s, %(ws)s, %(we)s,
                %(reason)s, %(transcript)s, %(category)s, %(language)s, %(destination_id)s,
                %(destination_name)s, %(agent_extension)s, %(call_uuid)s, %(recording_path)s,
                %(source)s, %(spool_id)s, %(max_attempts)s, %(ws)s)
        ON CONFLICT (domain, number_e164) WHERE status IN ('pending', 'in_progress') DO UPDATE SET
            window_start = EXCLUDED.window_start,
            window_end = EXCLUDED.window_end,
            reason = CASE WHEN callbacks.reason = '' THEN EXCLUDED.reason
                          WHEN EXCLUDED.reason = '' THEN callbacks.reason
                          ELSE callbacks.reason || %(sep)s || EXCLUDED.reason END,
            transcript = CASE WHEN callbacks.transcript = '' THEN EXCLUDED.transcript
                              WHEN EXCLUDED.transcript = '' THEN callbacks.transcript
                              ELSE callbacks.transcript || %(sep)s || EXCLUDED.transcript END,
            category = COALESCE(EXCLUDED.category, callbacks.category),
            caller_name = COALESCE(EXCLUDED.caller_name, callbacks.caller_name),
            language = EXCLUDED.language,
            destination_id = COALESCE(EXCLUDED.destination_id, callbacks.destination_id),
            destination_name = COALESCE(EXCLUDED.destination_name, callbacks.destination_name),
            agent_extension = COALESCE(EXCLUDED.agent_extension, callbacks.agent_extension),
            recording_path = COALESCE(EXCLUDED.recording_path, callbacks.recording_path),
            spool_id = COALESCE(callbacks.spool_id, EXCLUDED.spool_id),
            next_attempt_at = CASE WHEN callbacks.status = 'pending' THEN EXCLUDED.next_attempt_at
                                   ELSE callbacks.next_attempt_at END,
            updated_at = now()
        RETURNING {_COLUMNS}, (xmax = 0) AS inserted
        """,  # noqa: S608
        params,
    )
    row = _one(cur)
    assert row is not None  # INSERT ... RETURNING always yields the row
    return Callback.from_row(row), bool(row["inserted"])


def domain_settings(cur: Cursor, domain: str) -> dict[str, Any]:
    """The domain's ``settings`` jsonb plus ``timezone``/``region`` ({} when unknown)."""
    cur.execute("SELECT settings, timezone, region FROM domains WHERE domain = %s", (domain,))
    row = cur.fetchone()
    if row is None:
        return {}
    settings = dict(row[0] or {})
    settings.setdefault("timezone", row[1])
    settings.setdefault("region", row[2])
    return settings


def _find_saved(cur: Cursor, request: CallbackRequest) -> Optional[Callback]:
    cur.execute(
        "SELECT callback_id FROM helpdesk_outbox WHERE idempotency_key = %s",
        (request_key(request.request_id),),
    )
    row = cur.fetchone()
    if row is not None and row[0] is not None:
        return get_callback(cur, row[0])
    if request.spool_id is not None:
        cur.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE spool_id = %s", (request.spool_id,))  # noqa: S608
        found = _one(cur)
        if found is not None:
            return Callback.from_row(found)
    return None


#: The helpdesk messages of a saved request, composed above the stores
#: (``integrations.helpdesk_messages.confirmed_messages``):
#: ``(request, callback row, created, domain settings) -> [ticket, notices...]``.
#: The first is the request's ticket; its idempotency key is the request's, so a
#: second save of the same request voids the whole transaction.
ConfirmedMessages = Callable[["CallbackRequest", "Callback", bool, Mapping[str, Any]], Sequence[OutboxEvent]]


def save_confirmed_callback(db: Database, request: CallbackRequest, messages: ConfirmedMessages) -> SaveResult:
    """The durable write: callback row + the outbox rows ``messages`` composes for it
    (the ticket, and e.g. a WhatsApp "scheduled" notice) in ONE transaction.
    Idempotent per ``request.request_id``. Raises ``DatabaseUnavailable`` (from
    ``db``) when PostgreSQL cannot be reached: the caller spools the request then.
    """
    try:
        with db.transaction() as cur:
            saved = _find_saved(cur, request)
            if saved is not None:
                return SaveResult(saved, created=False, already_saved=True)
            row, created = create_or_update_callback(cur, request)
            ticket, *notices = messages(request, row, created, domain_settings(cur, request.domain))
            ids: list[int] = []
            ticket_id = outbox.enqueue(
                cur,
                request.domain,
                ticket.kind,
                ticket.payload,
                ticket.idempotency_key,
                callback_id=row.id,
                call_uuid=request.call_uuid,
                on_conflict="raise",
            )
            if ticket_id is not None:
                ids.append(ticket_id)
            for notice in notices:
                wid = outbox.enqueue(
                    cur,
                    request.domain,
                    notice.kind,
                    notice.payload,
                    notice.idempotency_key,
                    callback_id=row.id,
                    call_uuid=request.call_uuid,
                )
                if wid is not None:
                    ids.append(wid)
            return SaveResult(row, created=created, outbox_ids=tuple(ids))
    except StoreError as exc:
        if pgcode(exc) != UNIQUE_VIOLATION:
            raise
        # Another process saved this very request at the same moment (same
        # request key or spool id): ours rolled back entirely; report theirs.
        with db.transaction() as cur:
            saved = _find_saved(cur, request)
        if saved is None:
            raise
        return SaveResult(saved, created=False, already_saved=True)


# --------------------------------------------------------------------------- reads


def get_callback(cur: Cursor, callback_id: int, *, domain: Optional[str] = None) -> Optional[Callback]:
    """By numeric id; with ``domain``, only inside that domain."""
    if domain is None:
        cur.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE id = %s", (callback_id,))  # noqa: S608
    else:
        cur.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE id = %s AND domain = %s", (callback_id, domain))  # noqa: S608
    row = _one(cur)
    return Callback.from_row(row) if row else None


def get_callback_by_public_id(
    cur: Cursor, public_id: str, *, domain: Optional[str] = None
) -> Optional[Callback]:
    """By public UUID; a malformed UUID is ``ValidationError('public_id', ...)``."""
    try:
        pid = str(uuid.UUID(str(public_id)))
    except ValueError as exc:
        raise ValidationError("public_id", "must be a UUID") from exc
    if domain is None:
        cur.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE public_id = %s", (pid,))  # noqa: S608
    else:
        cur.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE public_id = %s AND domain = %s", (pid, domain))  # noqa: S608
    row = _one(cur)
    return Callback.from_row(row) if row else None


@dataclass(frozen=True)
class CallbackFilter:
    """Filters for listing/export/count; every field optional. ``since``/``until``
    bound ``created_at`` (since inclusive, until exclusive)."""

    domain: Optional[str] = None
    status: Optional[Sequence[str]] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    number_e164: Optional[str] = None

    def __post_init__(self) -> None:
        if self.status is not None:
            if isinstance(self.status, str):
                object.__setattr__(self, "status", (self.status,))
            for s in self.status or ():
                if s not in STATUSES:
                    raise ValidationError("status", f"unknown status {s!r} (use {', '.join(STATUSES)})")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                _aware(value, name)
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValidationError("until", "must be after since")

    def where(self) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        if self.domain is not None:
            parts.append("domain = %s")
            args.append(self.domain)
        if self.status:
            parts.append("status = ANY(%s)")
            args.append(list(self.status))
        if self.since is not None:
            parts.append("created_at >= %s")
            args.append(self.since)
        if self.until is not None:
            parts.append("created_at < %s")
            args.append(self.until)
        if self.number_e164 is not None:
            parts.append("number_e164 = %s")
            args.append(self.number_e164)
        return (" AND ".join(parts) or "TRUE"), args


def list_callbacks(
    cur: Cursor, filters: Optional[CallbackFilter] = None, *, limit: int = 50, offset: int = 0
) -> list[Callback]:
    """One page, newest first (``created_at DESC, id DESC``)."""
    if not 1 <= int(limit) <= 1000:
        raise ValidationError("limit", "must be 1-1000")
    if int(offset) < 0:
        raise ValidationError("offset", "must be 0 or more")
    where, args = (filters or CallbackFilter()).where()
    cur.execute(
        f"SELECT {_COLUMNS} FROM callbacks WHERE {where}"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
        [*args, int(limit), int(offset)],
    )
    return [Callback.from_row(r) for r in _dicts(cur)]


def list_callbacks_page(
    cur: Cursor,
    filters: CallbackFilter,
    *,
    destination: Optional[str] = None,
    before: Optional[tuple[datetime, int]] = None,
    limit: int = 50,
) -> list[Callback]:
    """One page newest first (``created_at DESC, id DESC``) by keyset: the rows
    after ``before`` = ``(created_at, id)`` of the previous page's last row. Each
    page costs the same whatever its depth (indexes of sql/005)."""
    if not 1 <= int(limit) <= 1000:
        raise ValidationError("limit", "must be 1-1000")
    where, args = filters.where()
    if destination is not None:
        where += " AND destination_name = %s"
        args.append(destination)
    if before is not None:
        where += " AND (created_at, id) < (%s, %s)"
        args += [_aware(before[0], "before"), int(before[1])]
    cur.execute(
        f"SELECT {_COLUMNS} FROM callbacks WHERE {where}"  # noqa: S608
        " ORDER BY created_at DESC, id DESC LIMIT %s",
        [*args, int(limit)],
    )
    return [Callback.from_row(r) for r in _dicts(cur)]


def count_callbacks(cur: Cursor, filters: Optional[CallbackFilter] = None) -> int:
    where, args = (filters or CallbackFilter()).where()
    cur.execute(f"SELECT count(*) FROM callbacks WHERE {where}", args)  # noqa: S608
    return int(cur.fetchone()[0])


def counts_by_status(cur: Cursor, filters: Optional[CallbackFilter] = None) -> dict[str, int]:
    """``{status: n}`` with every status present (0 when none)."""
    where, args = (filters or CallbackFilter()).where()
    cur.execute(f"SELECT status, count(*) FROM callbacks WHERE {where} GROUP BY status", args)  # noqa: S608
    out = dict.fromkeys(STATUSES, 0)
    for status, n in cur.fetchall():
        out[status] = int(n)
    return out


def iter_callbacks(
    db: Database, filters: Optional[CallbackFilter] = None, *, batch_size: int = 500
) -> Iterator[Callback]:
    """Every matching callback, oldest first, through a server-side (named) cursor:
    memory stays constant whatever the row count. The transaction stays open
    while the caller iterates; close the generator to end it early."""
    where, args = (filters or CallbackFilter()).where()
    with db.transaction() as cur:
        named = cur.connection.cursor(name=f"callbacks_export_{uuid.uuid4().hex}")
        named.itersize = max(1, int(batch_size))
        try:
            named.execute(f"SELECT {_COLUMNS} FROM callbacks WHERE {where} ORDER BY created_at, id", args)  # noqa: S608
            names: Optional[list[str]] = None
            for record in named:
                if names is None:
                    names = [d[0] for d in named.description]
                yield Callback.from_row(dict(zip(names, record)))
        finally:
            named.close()


def set_ticket_id(cur: Cursor, callback_id: int, ticket_id: str) -> bool:
    """Record the helpdesk ticket id once known (first delivery wins)."""
    cur.execute(
        "UPDATE callbacks SET ticket_id = %s, updated_at = now() WHERE id = %s AND ticket_id IS NULL",
        (str(ticket_id), callback_id),
    )
    return bool(cur.rowcount)


# --------------------------------------------------------------------------- expiry, snooze, cancel


@dataclass(frozen=True)
class Expired:
    id: int
    public_id: str
    domain: str
    number_e164: str
    caller_name: Optional[str]
    language: str
    window_start: datetime
    window_end: datetime
    reason: str
    attempts: int
    ticket_id: Optional[str]
    why: str  # window_passed | max_age
    domain_settings: dict[str, Any] = field(default_factory=dict)


def select_expirable(
    cur: Cursor, *, max_age_hours: float, limit: int = 500, now: Optional[datetime] = None
) -> list[Expired]:
    """Lock pending callbacks whose window has passed or that are older than
    ``max_age_hours`` (skipping rows others hold). ``mark_expired`` finishes them
    in the same transaction."""
    cur.execute(
        """
        SELECT c.id, c.public_id::text, c.domain, c.number_e164, c.caller_name, c.language,
               c.window_start, c.window_end, c.reason, c.attempts, c.ticket_id,
               CASE WHEN c.window_end <= COALESCE(%(now)s, now()) THEN 'window_passed' ELSE 'max_age' END,
               COALESCE(dom.settings, '{}'::jsonb)
          FROM callbacks c
          LEFT JOIN domains dom ON dom.domain = c.domain
         WHERE c.status = 'pending'
           AND (c.window_end <= COALESCE(%(now)s, now())
                OR c.created_at + make_interval(secs => %(max_age)s) <= COALESCE(%(now)s, now()))
         ORDER BY c.id
         LIMIT %(limit)s
         FOR UPDATE OF c SKIP LOCKED
        """,
        {"now": now, "max_age": float(max_age_hours) * 3600.0, "limit": int(limit)},
    )
    return [Expired(*row) for row in cur.fetchall()]


def mark_expired(
    cur: Cursor, item: Expired, *, events: Sequence[OutboxEvent] = (), now: Optional[datetime] = None
) -> None:
    cur.execute(
        """
        UPDATE callbacks SET status = 'expired', last_outcome = %(why)s, updated_at = now(),
               completed_at = COALESCE(%(now)s, now())
         WHERE id = %(id)s AND status = 'pending'
        """,
        {"id": item.id, "why": item.why, "now": now},
    )
    if cur.rowcount:
        enqueue_events(cur, item.domain, item.id, events)


def snooze(
    cur: Cursor, public_id: str, domain: str, until: datetime, *, events: Sequence[OutboxEvent] = ()
) -> tuple[str, Optional[int]]:
    """Move a pending callback's next attempt to ``until``; when that is past
    the window's end the window moves with it (same length). Returns
    ``(state, id)`` with state ``ok`` / ``not_found`` / ``busy`` / ``closed``;
    ``events`` are built by the caller (they may read the row first)."""
    state, row = _lock_for_change(cur, public_id, domain)
    if state != "ok":
        return state, None
    assert row is not None
    cur.execute(
        """
        UPDATE callbacks
           SET next_attempt_at = %(until)s,
               window_start = CASE WHEN %(until)s >= window_end THEN %(until)s ELSE window_start END,
               window_end = CASE WHEN %(until)s >= window_end
                                 THEN %(until)s + (window_end - window_start) ELSE window_end END,
               updated_at = now()
         WHERE id = %(id)s
        """,
        {"until": until, "id": row["id"]},
    )
    enqueue_events(cur, domain, row["id"], events)
    return "ok", int(row["id"])


def cancel(
    cur: Cursor, public_id: str, domain: str, *, events: Sequence[OutboxEvent] = ()
) -> tuple[str, Optional[int]]:
    """Cancel a pending callback. ``(state, id)`` as for ``snooze``."""
    state, row = _lock_for_change(cur, public_id, domain)
    if state != "ok":
        return state, None
    assert row is not None
    cur.execute(
        """
        UPDATE callbacks SET status = 'cancelled', last_outcome = 'cancelled', completed_at = now(),
               updated_at = now()
         WHERE id = %(id)s
        """,
        {"id": row["id"]},
    )
    enqueue_events(cur, domain, row["id"], events)
    return "ok", int(row["id"])


def _lock_for_change(cur: Cursor, public_id: str, domain: str) -> tuple[str, Optional[dict[str, Any]]]:
    cur.execute(
        "SELECT id FROM callbacks WHERE public_id = %(pid)s::uuid AND domain = %(domain)s",
        {"pid": public_id, "domain": domain},
    )
    if cur.fetchone() is None:
        return "not_found", None
    cur.execute(
        """
        SELECT id, status FROM callbacks
         WHERE public_id = %(pid)s::uuid AND domain = %(domain)s
         FOR UPDATE SKIP LOCKED
        """,
        {"pid": public_id, "domain": domain},
    )
    rows = _dicts(cur)
    if not rows:
        return "busy", None
    row = rows[0]
    if row["status"] == "in_progress":
        return "busy", None
    if row["status"] != "pending":
        return "closed", None
    return "ok", row


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for rows: datetimes as ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = [
    "INTERNAL_FIELDS",
    "KIND_CREATED",
    "KIND_UPDATED",
    "OPEN_STATUSES",
    "PUBLIC_FIELDS",
    "STATUSES",
    "Callback",
    "CallbackFilter",
    "CallbackRequest",
    "ConfirmedMessages",
    "Expired",
    "SaveResult",
    "cancel",
    "count_callbacks",
    "counts_by_status",
    "create_or_update_callback",
    "domain_settings",
    "get_callback",
    "get_callback_by_public_id",
    "iter_callbacks",
    "list_callbacks",
    "list_callbacks_page",
    "mark_expired",
    "request_key",
    "save_confirmed_callback",
    "select_expirable",
    "set_ticket_id",
    "snooze",
]
