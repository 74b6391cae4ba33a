"""The call log (``calls``) and every attempt to reach someone (``transfer_attempts``).

Functions take a cursor so a caller can put several writes in one transaction
(``with db.transaction() as cur: ...``). Parameterised SQL only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from psycopg2.extras import Json

from voiceai_ivr.errors import ValidationError

OUTCOMES = frozenset(
    {"transferred", "callback_created", "caller_hangup", "ended", "abandoned", "error", "voicemail"}
)
MODES = frozenset({"socket", "python", "sim"})


def _json(value: Any, field_name: str) -> Json:
    try:
        return Json(json.loads(json.dumps(value, default=str)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(field_name, f"not JSON serialisable ({exc})") from exc


# --------------------------------------------------------------------------- calls


def start_call(
    cur: Any,
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
    if not call_uuid:
        raise ValidationError("call_uuid", "required")
    if mode not in MODES:
        raise ValidationError("mode", f"must be one of {', '.join(sorted(MODES))}")
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
    cur: Any,
    call_uuid: str,
    *,
    outcome: str,
    hangup_cause: Optional[str] = None,
    intents: Sequence[Mapping[str, Any]] = (),
    details: Optional[Mapping[str, Any]] = None,
) -> bool:
    """Close the call's row: outcome, cause, intents, details merged in. False when
    no such call was started."""
    if outcome not in OUTCOMES:
        raise ValidationError("outcome", f"must be one of {', '.join(sorted(OUTCOMES))}")
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


def get_call(cur: Any, call_uuid: str) -> Optional[dict[str, Any]]:
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


def record_transfer_attempt(cur: Any, rec: TransferAttemptRecord) -> int:
    """Insert one attempt; returns its id."""
    if not rec.call_uuid:
        raise ValidationError("call_uuid", "required")
    if not rec.destination_name:
        raise ValidationError("destination_name", "required")
    if not rec.status or len(rec.status) > 64:
        raise ValidationError("status", "required, at most 64 characters")
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


def list_transfer_attempts(cur: Any, call_uuid: str) -> list[dict[str, Any]]:
    cur.execute(
        "SELECT id, call_uuid, domain, destination_id, destination_name, dial_string, agent_uuid, status,"
        " hangup_cause, sip_status, wait_seconds, started_at, ended_at, details"
        " FROM transfer_attempts WHERE call_uuid = %s ORDER BY id",
        (call_uuid,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


__all__ = [
    "MODES",
    "OUTCOMES",
    "TransferAttemptRecord",
    "finish_call",
    "get_call",
    "list_transfer_attempts",
    "record_transfer_attempt",
    "start_call",
]
