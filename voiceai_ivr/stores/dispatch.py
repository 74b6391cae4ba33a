"""SQL for dispatching callbacks: claim with ``FOR UPDATE SKIP LOCKED`` and a
lease, record attempts, release, recover leases left by dead dispatchers (expiry,
snooze and cancel of a callback are in ``stores.callbacks``).

Every function takes an open cursor; the caller owns the (short) transaction,
so a claim commits before anything is dialled and a result commits together
with the helpdesk outbox rows that report it.

Lease protocol (what makes several dispatchers on several hosts safe):

* a claim moves a ``pending`` row to ``in_progress`` with ``lease_owner`` and
  ``lease_until`` and inserts its ``callback_attempts`` row (outcome NULL, a
  known ``agent_uuid``) in the same transaction; rows locked by another claimer
  are skipped, so two dispatchers never get the same row;
* the owner renews its leases while calls are up; every later write is
  conditional on ``lease_owner`` still being the owner;
* a lease that runs out (the owner died or lost the database) is taken over by
  ``take_stale``; the new owner checks on the PBX that no leg of the old attempt
  is still up before ``resolve_stale`` makes the row due again, so a callback is
  never dialled twice at once.

Times: every function takes ``now`` (``None`` means the database clock), so
tests and the simulator's scaled clock can drive them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from voiceai_ivr.domain.causes import ATTEMPT_OUTCOMES
from voiceai_ivr.domain.retry import Resolution
from voiceai_ivr.ports import Cursor
from voiceai_ivr.stores.outbox import OutboxEvent, enqueue_events

# Where a callback's call goes: the destination the caller named; when they named
# no one (and no agent is responsible), ``callbacks.default_destination`` (by
# name) when it is set and exists, else the fallback destination of the
# secretary that took the call (or, when that is unknown, of the domain's first
# secretary that has one). ``route_source`` says which; NULL: nobody to call.
_CLAIM_COLUMNS = """
    c.id, c.public_id::text AS public_id, c.domain, c.number_e164, c.caller_name,
    c.window_start, c.window_end, c.reason, c.category, c.language,
    c.destination_id, c.destination_name, c.agent_extension, c.call_uuid,
    c.attempts, c.max_attempts, c.next_attempt_at, c.created_at, c.ticket_id,
    COALESCE(d.type, dd.type, fb.type) AS destination_type,
    COALESCE(d.target, dd.target, fb.target) AS destination_target,
    COALESCE(d.gateway, dd.gateway, fb.gateway) AS destination_gateway,
    CASE WHEN d.id IS NOT NULL THEN d.hours WHEN dd.id IS NOT NULL THEN dd.hours ELSE fb.hours END
        AS destination_hours,
    dom.hours AS domain_hours, dom.holidays AS domain_holidays,
    dom.timezone AS domain_timezone, dom.region AS domain_region,
    COALESCE(dom.settings, '{}'::jsonb) AS domain_settings,
    CASE WHEN d.id IS NOT NULL THEN 'destination' WHEN dd.id IS NOT NULL THEN 'default_destination'
         WHEN fb.id IS NOT NULL THEN 'fallback' END AS route_source,
    COALESCE(d.name, dd.name, fb.name) AS route_name
"""

_CLAIM_FROM = """
    FROM callbacks c
    LEFT JOIN destinations d ON d.id = c.destination_id
    LEFT JOIN domains dom ON dom.domain = c.domain
    LEFT JOIN destinations dd
           ON d.id IS NULL AND c.agent_extension IS NULL
          AND dd.domain = c.domain AND dd.name = %(default_destination)s AND dd.enabled
    LEFT JOIN LATERAL (
        SELECT fd.id, fd.name, fd.type, fd.target, fd.gateway, fd.hours
          FROM secretaries s
          JOIN destinations fd ON fd.domain = s.domain AND fd.name = s.fallback_destination AND fd.enabled
         WHERE s.domain = c.domain
         ORDER BY (s.id IS NOT DISTINCT FROM (SELECT k.secretary_id FROM calls k WHERE k.call_uuid = c.call_uuid))
                  DESC, s.id
         LIMIT 1
    ) fb ON d.id IS NULL AND c.agent_extension IS NULL
"""


@dataclass(frozen=True)
class Candidate:
    """A due callback, locked but not yet leased (what the hours check sees)."""

    id: int
    public_id: str
    domain: str
    number_e164: str
    caller_name: Optional[str]
    window_start: datetime
    window_end: datetime
    reason: str
    category: Optional[str]
    language: str
    destination_id: Optional[int]
    destination_name: Optional[str]
    agent_extension: Optional[str]
    call_uuid: Optional[str]
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    created_at: datetime
    ticket_id: Optional[str]
    destination_type: Optional[str]
    destination_target: Optional[str]
    destination_gateway: Optional[str]
    destination_hours: Any
    domain_hours: Any
    domain_holidays: Any
    domain_timezone: Optional[str]
    domain_region: Optional[str]
    domain_settings: dict[str, Any] = field(default_factory=dict)
    route_source: Optional[str] = None  # destination | default_destination | fallback | None (nobody)
    route_name: Optional[str] = None  # the destination dialled

    @property
    def route_extension(self) -> Optional[str]:
        """The extension responsible for this callback: its agent, or the
        destination it is routed to when that is one extension."""
        if self.agent_extension:
            return self.agent_extension
        if self.destination_type == "extension" and self.destination_target:
            return self.destination_target
        return None


@dataclass(frozen=True)
class Claimed:
    """A leased callback with its open attempt row."""

    callback: Candidate
    attempt_id: int
    attempt_no: int
    attempts: int  # counted attempts including this one
    agent_uuid: str
    lease_owner: str
    lease_until: datetime
    trigger: str = "cron"
    agent_extension: Optional[str] = None  # who is called for this attempt

    @property
    def id(self) -> int:
        return self.callback.id

    @property
    def public_id(self) -> str:
        return self.callback.public_id

    @property
    def domain(self) -> str:
        return self.callback.domain


@dataclass(frozen=True)
class Stale:
    """An in-progress callback whose lease ran out, now leased to the caller of
    ``take_stale`` while it checks that no leg of the old attempt is still up."""

    id: int
    domain: str
    public_id: str
    previous_owner: Optional[str]
    attempt_id: Optional[int]
    agent_uuid: Optional[str]
    customer_uuid: Optional[str]
    attempt_no: Optional[int] = None
    agent_extension: Optional[str] = None
    started_at: Optional[datetime] = None


def _rows(cur: Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _candidate(row: dict[str, Any]) -> Candidate:
    values: dict[str, Any] = {k: row.get(k) for k in Candidate.__dataclass_fields__}
    values["domain_settings"] = row.get("domain_settings") or {}
    return Candidate(**values)


# --------------------------------------------------------------------------- claiming

# Decides, for one locked candidate, whether it may be dialled now. Returns None
# when it may; otherwise the time it should next be looked at (next opening).
HoursCheck = Callable[[Candidate], Optional[datetime]]


def claim_due(
    cur: Cursor,
    owner: str,
    *,
    limit: int,
    lease_seconds: float,
    hours_check: Optional[HoursCheck] = None,
    now: Optional[datetime] = None,
    domains: Optional[Sequence[str]] = None,
    default_destination: str = "",
) -> list[Claimed]:
    """Lock up to ``limit`` due callbacks (pending, next attempt due, window
    open) skipping rows other claimers hold, lease those inside business hours
    to ``owner`` and open their attempt rows. Candidates outside business hours
    get ``next_attempt_at`` moved to the next opening instead. A callback for no
    one in particular is routed as ``_CLAIM_COLUMNS`` says."""
    if limit <= 0:
        return []
    params: dict[str, Any] = {
        "now": now,
        "limit": int(limit),
        "domains": list(domains) if domains else None,
        "default_destination": default_destination or "",
    }
    cur.execute(
        f"""
        SELECT {_CLAIM_COLUMNS}
        {_CLAIM_FROM}
        WHERE c.status = 'pending'
          AND c.next_attempt_at <= COALESCE(%(now)s, now())
          AND c.window_start <= COALESCE(%(now)s, now())
          AND c.window_end > COALESCE(%(now)s, now())
          AND (%(domains)s::text[] IS NULL OR c.domain = ANY(%(domains)s::text[]))
        ORDER BY c.next_attempt_at, c.id
        LIMIT %(limit)s
        FOR UPDATE OF c SKIP LOCKED
        """,
        params,
    )
    candidates = [_candidate(r) for r in _rows(cur)]
    take: list[Candidate] = []
    for cand in candidates:
        reopen = hours_check(cand) if hours_check else None
        if reopen is None:
            take.append(cand)
        else:
            cur.execute(
                "UPDATE callbacks SET next_attempt_at = %(at)s, updated_at = now() WHERE id = %(id)s",
                {"at": reopen, "id": cand.id},
            )
    return _lease(cur, take, owner, lease_seconds, now, trigger="cron")


def claim_one(
    cur: Cursor,
    public_id: str,
    domain: str,
    owner: str,
    *,
    lease_seconds: float,
    agent_extension: Optional[str] = None,
    now: Optional[datetime] = None,
    trigger: str = "api",
    default_destination: str = "",
) -> tuple[str, Optional[Claimed]]:
    """Claim one callback by its public id for an immediate attempt (click-to-call).

    Returns ``(state, claimed)``: ``("claimed", Claimed)``, or ``("not_found", None)``
    (unknown, or another domain's), ``("busy", None)`` (leased or being claimed by
    someone else), ``("closed", None)`` (completed/failed/expired/cancelled)."""
    cur.execute(
        f"""
        SELECT {_CLAIM_COLUMNS}, c.status, c.lease_until
        {_CLAIM_FROM}
        WHERE c.public_id = %(pid)s::uuid AND c.domain = %(domain)s
        """,
        {"pid": public_id, "domain": domain, "default_destination": default_destination or ""},
    )
    found = _rows(cur)
    if not found:
        return "not_found", None
    cur.execute(
        f"""
        SELECT {_CLAIM_COLUMNS}, c.status, c.lease_until
        {_CLAIM_FROM}
        WHERE c.public_id = %(pid)s::uuid AND c.domain = %(domain)s
        FOR UPDATE OF c SKIP LOCKED
        """,
        {"pid": public_id, "domain": domain, "default_destination": default_destination or ""},
    )
    locked = _rows(cur)
    if not locked:
        return "busy", None
    row = locked[0]
    if row["status"] == "in_progress":
        return "busy", None
    if row["status"] != "pending":
        return "closed", None
    claimed = _lease(
        cur, [_candidate(row)], owner, lease_seconds, now, trigger=trigger, agent_extension=agent_extension
    )
    return "claimed", claimed[0]


def route_of(cur: Any, callback_id: int, *, default_destination: str = "") -> Optional[Candidate]:
    """Where callback ``callback_id`` would be called now, by the very joins the
    claim uses (``route_source`` / ``route_name``: the destination named, the
    default destination, the secretary's fallback, or nobody); None: no such
    callback. Reads only; locks nothing."""
    cur.execute(
        f"SELECT {_CLAIM_COLUMNS} {_CLAIM_FROM} WHERE c.id = %(id)s",
        {"id": int(callback_id), "default_destination": default_destination or ""},
    )
    found = _rows(cur)
    return _candidate(found[0]) if found else None


def _lease(
    cur: Cursor,
    cands: Sequence[Candidate],
    owner: str,
    lease_seconds: float,
    now: Optional[datetime],
    *,
    trigger: str,
    agent_extension: Optional[str] = None,
) -> list[Claimed]:
    if not cands:
        return []
    ids = [c.id for c in cands]
    cur.execute(
        """
        UPDATE callbacks
           SET status = 'in_progress', lease_owner = %(owner)s,
               lease_until = COALESCE(%(now)s, now()) + make_interval(secs => %(lease)s),
               attempts = attempts + 1, updated_at = now()
         WHERE id = ANY(%(ids)s)
        RETURNING id, attempts, lease_until
        """,
        {"owner": owner, "lease": float(lease_seconds), "ids": ids, "now": now},
    )
    leased = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    # The attempt's agent: the one asked for (click-to-call), else the callback's
    # responsible extension (its agent, or the one extension it is routed to).
    agents = [agent_extension or c.route_extension for c in cands]
    cur.execute(
        """
        INSERT INTO callback_attempts
               (callback_id, attempt_no, domain, dispatcher, trigger, agent_extension, agent_uuid, started_at)
        SELECT c.id,
               COALESCE((SELECT max(a.attempt_no) FROM callback_attempts a
                          WHERE a.callback_id = c.id), 0) + 1,
               c.domain, %(owner)s, %(trigger)s, x.agent,
               gen_random_uuid()::text, COALESCE(%(now)s, now())
          FROM callbacks c
          JOIN unnest(%(ids)s::bigint[], %(agents)s::text[]) AS x(id, agent) ON x.id = c.id
        RETURNING callback_id, id, attempt_no, agent_uuid, agent_extension
        """,
        {"owner": owner, "trigger": trigger, "agents": agents, "ids": ids, "now": now},
    )
    attempts = {r[0]: r[1:] for r in cur.fetchall()}
    out = []
    for cand in cands:
        count, until = leased[cand.id]
        attempt_id, attempt_no, agent_uuid, agent_ext = attempts[cand.id]
        out.append(
            Claimed(
                callback=cand,
                attempt_id=attempt_id,
                attempt_no=attempt_no,
                attempts=count,
                agent_uuid=agent_uuid,
                lease_owner=owner,
                lease_until=until,
                trigger=trigger,
                agent_extension=agent_ext,
            )
        )
    return out


def renew_leases(
    cur: Cursor, owner: str, ids: Sequence[int], lease_seconds: float, now: Optional[datetime] = None
) -> set[int]:
    """Extend ``owner``'s leases on ``ids``; returns the ids still held."""
    if not ids:
        return set()
    cur.execute(
        """
        UPDATE callbacks SET lease_until = COALESCE(%(now)s, now()) + make_interval(secs => %(lease)s)
         WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s AND status = 'in_progress'
        RETURNING id
        """,
        {"ids": list(ids), "owner": owner, "lease": float(lease_seconds), "now": now},
    )
    return {r[0] for r in cur.fetchall()}


def record_legs(
    cur: Cursor,
    claimed: Claimed,
    *,
    agent_uuid: Optional[str] = None,
    customer_uuid: Optional[str] = None,
    details: Optional[dict[str, Any]] = None,
) -> bool:
    """Note a leg's uuid on the open attempt BEFORE dialling it (so a successor can
    check it on the PBX), only while the lease is still ours. False: lease lost,
    do not dial."""
    cur.execute(
        """
        UPDATE callback_attempts a
           SET agent_uuid = COALESCE(%(agent)s, a.agent_uuid),
               customer_uuid = COALESCE(%(customer)s, a.customer_uuid),
               details = a.details || %(details)s::jsonb
          FROM callbacks c
         WHERE a.id = %(attempt)s AND c.id = a.callback_id AND a.outcome IS NULL
           AND c.lease_owner = %(owner)s AND c.status = 'in_progress'
        RETURNING a.id
        """,
        {
            "agent": agent_uuid,
            "customer": customer_uuid,
            "details": json.dumps(details or {}),
            "attempt": claimed.attempt_id,
            "owner": claimed.lease_owner,
        },
    )
    return cur.fetchone() is not None


# --------------------------------------------------------------------------- results


def finish_attempt(
    cur: Cursor,
    claimed: Claimed,
    *,
    outcome: str,
    resolution: Resolution,
    hangup_cause: Optional[str] = None,
    sip_status: Optional[str] = None,
    customer_uuid: Optional[str] = None,
    details: Optional[dict[str, Any]] = None,
    events: Sequence[OutboxEvent] = (),
    now: Optional[datetime] = None,
) -> bool:
    """Close the attempt and move the callback on, with its outbox rows, in the
    caller's transaction. The callback is only touched while ``claimed`` still
    holds the lease; returns False (attempt closed, callback untouched, no
    events) when the lease was lost."""
    if outcome not in ATTEMPT_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    cur.execute(
        """
        UPDATE callback_attempts
           SET outcome = %(outcome)s, hangup_cause = %(cause)s, sip_status = %(sip)s,
               customer_uuid = COALESCE(%(customer)s, customer_uuid),
               ended_at = COALESCE(%(now)s, now()), details = details || %(details)s::jsonb
         WHERE id = %(attempt)s AND outcome IS NULL
        """,
        {
            "outcome": outcome,
            "cause": hangup_cause,
            "sip": sip_status,
            "customer": customer_uuid,
            "details": json.dumps(dict(details or {}, counted=resolution.counted)),
            "attempt": claimed.attempt_id,
            "now": now,
        },
    )
    if resolution.keep_lease:
        cur.execute(
            """
            UPDATE callbacks SET last_outcome = %(outcome)s, updated_at = now()
             WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'in_progress'
            RETURNING id
            """,
            {"outcome": outcome, "id": claimed.id, "owner": claimed.lease_owner},
        )
    else:
        cur.execute(
            """
            UPDATE callbacks
               SET status = %(status)s,
                   next_attempt_at = COALESCE(%(next)s, next_attempt_at),
                   attempts = attempts - %(uncount)s,
                   lease_owner = NULL, lease_until = NULL,
                   last_outcome = %(outcome)s, updated_at = now(),
                   completed_at = CASE WHEN %(status)s = 'completed'
                                       THEN COALESCE(%(now)s, now()) ELSE completed_at END
             WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'in_progress'
            RETURNING id
            """,
            {
                "status": resolution.status,
                "next": resolution.next_attempt_at,
                "uncount": 0 if resolution.counted else 1,
                "outcome": outcome,
                "id": claimed.id,
                "owner": claimed.lease_owner,
                "now": now,
            },
        )
    if cur.fetchone() is None:
        return False
    enqueue_events(cur, claimed.domain, claimed.id, events)
    return True


def release(
    cur: Cursor, claimed: Claimed, *, reason: str, retry_at: Optional[datetime] = None, now: Optional[datetime] = None
) -> bool:
    """Give a claimed callback back untouched (nothing was dialled): the attempt
    row is removed, the attempt count restored, the callback due again (at
    ``retry_at`` when given)."""
    cur.execute(
        """
        UPDATE callbacks
           SET status = 'pending', lease_owner = NULL, lease_until = NULL,
               attempts = GREATEST(attempts - 1, 0), updated_at = now(),
               next_attempt_at = COALESCE(%(retry_at)s, next_attempt_at)
         WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'in_progress'
        RETURNING id
        """,
        {"id": claimed.id, "owner": claimed.lease_owner, "retry_at": retry_at},
    )
    if cur.fetchone() is None:
        return False
    cur.execute(
        "DELETE FROM callback_attempts WHERE id = %(attempt)s AND outcome IS NULL",
        {"attempt": claimed.attempt_id},
    )
    return True


# --------------------------------------------------------------------------- stale leases


def take_stale(
    cur: Cursor, owner: str, *, lease_seconds: float, limit: int = 100, now: Optional[datetime] = None
) -> list[Stale]:
    """Take over in-progress callbacks whose lease ran out (their owner died or
    lost the database). They stay ``in_progress`` under ``owner``'s lease until
    ``resolve_stale`` decides, after the PBX was asked about the old legs."""
    cur.execute(
        """
        WITH stale AS (
            SELECT id, lease_owner FROM callbacks
             WHERE status = 'in_progress' AND lease_until < COALESCE(%(now)s, now())
             ORDER BY lease_until
             LIMIT %(limit)s
             FOR UPDATE SKIP LOCKED
        )
        UPDATE callbacks c
           SET lease_owner = %(owner)s,
               lease_until = COALESCE(%(now)s, now()) + make_interval(secs => %(lease)s),
               updated_at = now()
          FROM stale
         WHERE c.id = stale.id
        RETURNING c.id, c.domain, c.public_id::text, stale.lease_owner
        """,
        {"owner": owner, "lease": float(lease_seconds), "limit": int(limit), "now": now},
    )
    taken = cur.fetchall()
    if not taken:
        return []
    cur.execute(
        """
        SELECT DISTINCT ON (callback_id) callback_id, id, agent_uuid, customer_uuid, attempt_no,
               agent_extension, started_at
          FROM callback_attempts
         WHERE callback_id = ANY(%(ids)s) AND outcome IS NULL
         ORDER BY callback_id, attempt_no DESC
        """,
        {"ids": [t[0] for t in taken]},
    )
    open_attempts = {r[0]: r[1:] for r in cur.fetchall()}
    out = []
    for cid, domain, public_id, previous in taken:
        attempt = open_attempts.get(cid, (None,) * 6)
        out.append(Stale(cid, domain, public_id, previous, *attempt))
    return out


def resolve_stale(
    cur: Cursor,
    stale: Stale,
    owner: str,
    *,
    max_attempts: int,
    events: Sequence[OutboxEvent] = (),
    now: Optional[datetime] = None,
    completed: bool = False,
    details: Optional[dict[str, Any]] = None,
) -> str:
    """Settle a taken-over callback once its old attempt's legs are accounted for.

    No leg up any more: the lost attempt is closed as ``failed``
    (``details.reason = lease_expired``) and does not use up one of
    ``max_attempts``, unless the callback has already lost ``max_attempts``
    attempts that way (a callback that kills every dispatcher must stop
    somewhere): then it is ``failed``; otherwise it is due again now.

    ``completed``: the old attempt's agent and customer are talking (bridged):
    the attempt is closed as ``completed`` and so is the callback.

    Returns the new status, or ``""`` when the lease is no longer ``owner``'s."""
    if completed:
        cur.execute(
            """
            UPDATE callback_attempts
               SET outcome = 'completed', ended_at = COALESCE(%(now)s, now()),
                   details = details || '{"reason": "recovered_bridged"}'::jsonb
             WHERE callback_id = %(id)s AND outcome IS NULL
            """,
            {"id": stale.id, "now": now},
        )
        cur.execute(
            """
            UPDATE callbacks
               SET status = 'completed', lease_owner = NULL, lease_until = NULL, last_outcome = 'completed',
                   completed_at = COALESCE(%(now)s, now()), updated_at = now()
             WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'in_progress'
            RETURNING status
            """,
            {"id": stale.id, "owner": owner, "now": now},
        )
        row = cur.fetchone()
        if row is None:
            return ""
        enqueue_events(cur, stale.domain, stale.id, events)
        return str(row[0])
    cur.execute(
        """
        SELECT count(*) FROM callback_attempts
         WHERE callback_id = %(id)s AND details->>'reason' = 'lease_expired'
        """,
        {"id": stale.id},
    )
    lost_before = int(cur.fetchone()[0])
    cur.execute(
        """
        UPDATE callback_attempts
           SET outcome = 'failed', ended_at = COALESCE(%(now)s, now()),
               details = details || %(details)s::jsonb
                         || '{"reason": "lease_expired", "infrastructure": true}'::jsonb
         WHERE callback_id = %(id)s AND outcome IS NULL
        """,
        {"id": stale.id, "now": now, "details": json.dumps(details or {})},
    )
    cur.execute(
        """
        UPDATE callbacks
           SET status = CASE WHEN %(lost)s + 1 >= %(max)s THEN 'failed' ELSE 'pending' END,
               attempts = CASE WHEN %(lost)s + 1 >= %(max)s THEN attempts
                               ELSE GREATEST(attempts - 1, 0) END,
               next_attempt_at = COALESCE(%(now)s, now()), lease_owner = NULL, lease_until = NULL,
               last_outcome = 'failed', updated_at = now()
         WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'in_progress'
        RETURNING status
        """,
        {"id": stale.id, "owner": owner, "lost": lost_before, "max": int(max_attempts), "now": now},
    )
    row = cur.fetchone()
    if row is None:
        return ""
    enqueue_events(cur, stale.domain, stale.id, events)
    return str(row[0])


def stale_ticket(cur: Cursor, callback_id: int) -> tuple[Optional[str], int]:
    """``(ticket_id, attempts)`` of a callback (for the messages recovery sends)."""
    cur.execute("SELECT ticket_id, attempts FROM callbacks WHERE id = %s", (callback_id,))
    row = cur.fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def attempt_summary(cur: Cursor, attempt_id: int, domain: str) -> Optional[dict[str, Any]]:
    cur.execute(
        """
        SELECT a.id, c.public_id::text AS callback_id, a.attempt_no, a.trigger, a.agent_extension,
               a.outcome, a.hangup_cause, a.started_at, a.ended_at
          FROM callback_attempts a JOIN callbacks c ON c.id = a.callback_id
         WHERE a.id = %(id)s AND a.domain = %(domain)s
        """,
        {"id": attempt_id, "domain": domain},
    )
    rows = _rows(cur)
    return rows[0] if rows else None


def count_due(cur: Cursor, now: Optional[datetime] = None) -> int:
    """How many callbacks a pass would try now (for a progress bar)."""
    cur.execute(
        """
        SELECT count(*) FROM callbacks
         WHERE status = 'pending' AND next_attempt_at <= COALESCE(%(now)s, now())
           AND window_start <= COALESCE(%(now)s, now()) AND window_end > COALESCE(%(now)s, now())
        """,
        {"now": now},
    )
    return int(cur.fetchone()[0])


def status_counts(cur: Cursor) -> dict[str, int]:
    """Callbacks per status, every domain (for metrics)."""
    cur.execute("SELECT status, count(*) FROM callbacks GROUP BY status")
    return {r[0]: int(r[1]) for r in cur.fetchall()}


# --------------------------------------------------------------------------- FusionPBX DND

__all__ = [
    "Candidate",
    "Claimed",
    "Resolution",
    "Stale",
    "attempt_summary",
    "claim_due",
    "claim_one",
    "count_due",
    "finish_attempt",
    "record_legs",
    "release",
    "renew_leases",
    "resolve_stale",
    "route_of",
    "stale_ticket",
    "status_counts",
    "take_stale",
]
