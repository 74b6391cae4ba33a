"""The call log (``calls``) and every attempt to reach someone (``transfer_attempts``).

Functions take a cursor so a caller can put several writes in one transaction
(``with db.transaction() as cur: ...``). Parameterised SQL only.

``write_rows`` is the batched form the call-log writer (``stores/calllog``)
commits in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from psycopg2.extras import Json

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.ports import Cursor
from voiceai_ivr.stores.outbox import INSERT_SQL

OUTCOMES = frozenset(
    {"transferred", "callback_created", "caller_hangup", "ended", "abandoned", "error", "voicemail"}
)
MODES = frozenset({"socket", "python", "sim"})


def _json(value: Any, field_name: str) -> Json:
    return Json(json.loads(json_text(value, field_name)))


def json_text(value: Any, field_name: str) -> str:
    """``value`` as JSON text (non-JSON values by ``str``); ValidationError naming
    ``field_name`` when it cannot be."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field_name, f"not JSON serialisable ({exc})") from exc


def check_start(call_uuid: str, mode: str) -> None:
    """The checks ``start_call`` (and the call-log writer) make before a call row."""
    if not call_uuid:
        raise ValidationError("call_uuid", "required")
    if mode not in MODES:
        raise ValidationError("mode", f"must be one of {', '.join(sorted(MODES))}")


def check_outcome(outcome: str) -> None:
    """``outcome`` is one of ``OUTCOMES``."""
    if outcome not in OUTCOMES:
        raise ValidationError("outcome", f"must be one of {', '.join(sorted(OUTCOMES))}")


# --------------------------------------------------------------------------- calls


def start_call(
    cur: Cursor,
    *,
    call_uuid: str,
    domain: str,
    secretary_id: Optional[int] = None,
    did: Optional[str] = None,
    caller_number: Optional[str] = None,
    caller_name: Optional[str] = None,
    language: Optional[str] = None,
    mode: str = "socket",
    details: Optional[Mapping[str, Any]] = None,
) -> int:
    """Insert the call's row (once: a second start of the same uuid returns the first id)."""
    check_start(call_uuid, mode)
    cur.execute(
        "INSERT INTO calls (call_uuid, domain, secretary_id, did, caller_number, caller_name, language, mode,"
        " details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (call_uuid) DO NOTHING RETURNING id",
        (
            call_uuid,
            domain or "",
            secretary_id,
            did,
            caller_number,
            caller_name,
            language,
            mode,
            _json(dict(details or {}), "details"),
        ),
    )
    row = cur.fetchone()
    if row:
        return int(row[0])
    cur.execute("SELECT id FROM calls WHERE call_uuid = %s", (call_uuid,))
    found = cur.fetchone()
    return int(found[0])


def finish_call(
    cur: Cursor,
    call_uuid: str,
    *,
    outcome: str,
    hangup_cause: Optional[str] = None,
    intents: Sequence[Mapping[str, Any]] = (),
    details: Optional[Mapping[str, Any]] = None,
) -> bool:
    """Close the call's row: outcome, cause, intents, details merged in. False when
    no such call was started."""
    check_outcome(outcome)
    cur.execute(
        "UPDATE calls SET ended_at = now(), outcome = %s, hangup_cause = COALESCE(%s, hangup_cause),"
        " intents = %s, details = details || %s WHERE call_uuid = %s",
        (
            outcome,
            hangup_cause,
            _json([dict(i) for i in intents], "intents"),
            _json(dict(details or {}), "details"),
            call_uuid,
        ),
    )
    return bool(cur.rowcount)


def get_call(cur: Cursor, call_uuid: str) -> Optional[dict[str, Any]]:
    cur.execute(
        "SELECT id, call_uuid, domain, secretary_id, did, caller_number, caller_name, language, mode,"
        " started_at, ended_at, outcome, hangup_cause, intents, details FROM calls WHERE call_uuid = %s",
        (call_uuid,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cur.description]
    return dict(zip(names, row))


# --------------------------------------------------------------------------- transfer attempts


#: A helpdesk message written with an attempt: ``(kind, payload, idempotency_key)``.
Notice = tuple[str, Mapping[str, Any], str]


@dataclass
class TransferAttemptRecord:
    call_uuid: str
    domain: str
    destination_name: str
    status: str
    destination_id: Optional[int] = None
    dial_string: Optional[str] = None
    agent_uuid: Optional[str] = None
    hangup_cause: Optional[str] = None
    sip_status: Optional[str] = None
    wait_seconds: Optional[float] = None
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    details: dict[str, Any] = field(default_factory=dict)


def check_attempt(rec: TransferAttemptRecord) -> None:
    """The fields a transfer attempt cannot be recorded without."""
    if not rec.call_uuid:
        raise ValidationError("call_uuid", "required")
    if not rec.destination_name:
        raise ValidationError("destination_name", "required")
    if not rec.status or len(rec.status) > 64:
        raise ValidationError("status", "required, at most 64 characters")


def record_transfer_attempt(cur: Cursor, rec: TransferAttemptRecord) -> int:
    """Insert one attempt; returns its id."""
    check_attempt(rec)
    cur.execute(
        "INSERT INTO transfer_attempts (call_uuid, domain, destination_id, destination_name, dial_string,"
        " agent_uuid, status, hangup_cause, sip_status, wait_seconds, started_at, ended_at, details)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, COALESCE(%s, now()), COALESCE(%s, now()), %s)"
        " RETURNING id",
        (
            rec.call_uuid,
            rec.domain or "",
            rec.destination_id,
            rec.destination_name,
            rec.dial_string,
            rec.agent_uuid,
            rec.status,
            rec.hangup_cause,
            rec.sip_status,
            None if rec.wait_seconds is None else round(float(rec.wait_seconds), 3),
            rec.started_at,
            rec.ended_at,
            _json(rec.details, "details"),
        ),
    )
    return int(cur.fetchone()[0])


def list_transfer_attempts(cur: Cursor, call_uuid: str) -> list[dict[str, Any]]:
    cur.execute(
        "SELECT id, call_uuid, domain, destination_id, destination_name, dial_string, agent_uuid, status,"
        " hangup_cause, sip_status, wait_seconds, started_at, ended_at, details"
        " FROM transfer_attempts WHERE call_uuid = %s ORDER BY id",
        (call_uuid,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# --------------------------------------------------------------------------- batched writes

_OPEN_SQL = (
    "INSERT INTO calls (call_uuid, domain, secretary_id, did, caller_number, caller_name, language, mode, details,"
    " started_at) SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::jsonb[], %s::timestamptz[]) ON CONFLICT (call_uuid) DO NOTHING"
)
_CLOSE_START_SQL = (
    "INSERT INTO calls (call_uuid, domain, mode, started_at)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[]) ON CONFLICT (call_uuid) DO NOTHING"
)
_CLOSE_SQL = (
    "UPDATE calls AS c SET ended_at = v.ended_at, outcome = v.outcome,"
    " hangup_cause = COALESCE(v.hangup_cause, c.hangup_cause), intents = v.intents, details = c.details || v.details"
    " FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::jsonb[], %s::jsonb[])"
    " AS v (call_uuid, ended_at, outcome, hangup_cause, intents, details) WHERE c.call_uuid = v.call_uuid"
)


# A replayed attempt (journal of a writer that died after its commit) is skipped:
# one row per call and transfer_id. A destination deleted meanwhile: NULL, as its
# foreign key's ON DELETE SET NULL would have made it.
_ATTEMPT_SQL = (
    "INSERT INTO transfer_attempts (call_uuid, domain, destination_id, destination_name, dial_string, agent_uuid,"
    " status, hangup_cause, sip_status, wait_seconds, started_at, ended_at, details)"
    " SELECT v.call_uuid, v.domain, d.id, v.destination_name, v.dial_string, v.agent_uuid, v.status,"
    " v.hangup_cause, v.sip_status, v.wait_seconds, v.started_at, v.ended_at, v.details"
    " FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::numeric[], %s::timestamptz[], %s::timestamptz[], %s::jsonb[], %s::text[])"
    " AS v (call_uuid, domain, destination_id, destination_name, dial_string, agent_uuid, status, hangup_cause,"
    " sip_status, wait_seconds, started_at, ended_at, details, transfer_id)"
    " LEFT JOIN destinations d ON d.id = v.destination_id"
    " WHERE NOT EXISTS (SELECT 1 FROM transfer_attempts t"
    " WHERE t.call_uuid = v.call_uuid AND t.details->>'transfer_id' = v.transfer_id)"
)


def _columns(rows: Sequence[Mapping[str, Any]], *names: str) -> list[list[Any]]:
    return [[r[name] for r in rows] for name in names]


def write_rows(cur: Cursor, rows: Sequence[Mapping[str, Any]]) -> None:
    """One round trip: start rows first (inserted once per call), then the end rows
    (a missing start row is inserted as ``close_call_log`` always did, then
    closed). Each column travels as one array (psycopg2 adapts lists in C). Run on
    an autocommit cursor, the statements are one implicit transaction."""

    opens = [r for r in rows if r["op"] == "open"]
    closes = [r for r in rows if r["op"] == "close"]
    attempts = list({(r["call_uuid"], r["transfer_id"]): r for r in reversed(rows) if r["op"] == "attempt"}.values())
    statements: list[str] = []
    params: list[Any] = []
    if opens:
        statements.append(_OPEN_SQL)
        params += _columns(opens, "call_uuid", "domain", "secretary_id", "did", "caller_number", "caller_name",
                           "language", "mode", "details", "at")
    if attempts:
        attempts.reverse()  # each (call, transfer) once, the first submitted, in order
        statements.append(_ATTEMPT_SQL)
        params += _columns(attempts, "call_uuid", "domain", "destination_id", "destination_name", "dial_string",
                           "agent_uuid", "status", "hangup_cause", "sip_status", "wait_seconds", "started_at",
                           "ended_at", "details", "transfer_id")
        for r in attempts:
            notice = r.get("notice")
            if notice:
                statements.append(INSERT_SQL + " ON CONFLICT (idempotency_key) DO NOTHING")
                params += [r["domain"], notice["kind"], notice["key"], None, r["call_uuid"], notice["payload"]]
    if closes:
        statements.append(_CLOSE_START_SQL)
        params += _columns(closes, "call_uuid", "domain", "mode", "at")
        rounds: list[list[Mapping[str, Any]]] = []
        seen: dict[str, int] = {}
        for r in closes:  # one UPDATE may touch a row once: a call closed twice takes two rounds, in order
            n = seen.get(r["call_uuid"], 0)
            seen[r["call_uuid"]] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(r)
        for part in rounds:
            statements.append(_CLOSE_SQL)
            params += _columns(part, "call_uuid", "at", "outcome", "hangup_cause", "intents", "details")
    if statements:
        cur.execute(";\n".join(statements), params)


__all__ = [
    "MODES",
    "OUTCOMES",
    "Notice",
    "TransferAttemptRecord",
    "check_attempt",
    "check_outcome",
    "check_start",
    "finish_call",
    "get_call",
    "json_text",
    "list_transfer_attempts",
    "record_transfer_attempt",
    "start_call",
    "write_rows",
]
