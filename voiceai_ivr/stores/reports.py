"""Report queries over callbacks and their attempts (parameterised SQL only).

Listing and streaming live in ``stores.callbacks``; this module adds the
aggregates an administrator asks for: counts by status, median time from the
request to the completed callback, completion rate per destination, and the
attempts of one callback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from voiceai_ivr.ports import Cursor
from voiceai_ivr.stores.callbacks import CallbackFilter, counts_by_status

# The name reports give the callbacks / transfers that named no destination.
NO_DESTINATION = "(none)"


@dataclass(frozen=True)
class DestinationRate:
    destination: str
    total: int
    completed: int
    failed: int
    expired: int

    @property
    def completion_rate(self) -> Optional[float]:
        finished = self.completed + self.failed + self.expired
        return round(self.completed / finished, 4) if finished else None


@dataclass(frozen=True)
class CallbackStats:
    total: int
    by_status: dict[str, int]
    median_seconds_to_callback: Optional[float]
    p90_seconds_to_callback: Optional[float]
    completion_rate: Optional[float]
    per_destination: list[DestinationRate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_status": self.by_status,
            "median_seconds_to_callback": self.median_seconds_to_callback,
            "p90_seconds_to_callback": self.p90_seconds_to_callback,
            "completion_rate": self.completion_rate,
            "per_destination": [
                {
                    "destination": d.destination,
                    "total": d.total,
                    "completed": d.completed,
                    "failed": d.failed,
                    "expired": d.expired,
                    "completion_rate": d.completion_rate,
                }
                for d in self.per_destination
            ],
        }


def callback_stats(cur: Cursor, filters: Optional[CallbackFilter] = None) -> CallbackStats:
    """Aggregates for the callbacks matching ``filters`` (by ``created_at``)."""
    filters = filters or CallbackFilter()
    by_status = counts_by_status(cur, filters)
    where, args = filters.where()
    elapsed = "extract(epoch FROM completed_at - created_at)"
    # ``where`` is built by CallbackFilter from fixed column names; values are parameters.
    query = f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {elapsed}), percentile_cont(0.9) WITHIN GROUP (ORDER BY {elapsed}) FROM callbacks WHERE {where} AND status = 'completed' AND completed_at IS NOT NULL"  # noqa: S608, E501
    cur.execute(query, args)
    median, p90 = cur.fetchone()
    counts = ", ".join(f"count(*) FILTER (WHERE status = '{s}')" for s in ("completed", "failed", "expired"))
    query = f"SELECT coalesce(destination_name, %s), count(*), {counts} FROM callbacks WHERE {where} GROUP BY 1 ORDER BY 2 DESC, 1"  # noqa: S608, E501
    cur.execute(query, [NO_DESTINATION, *args])
    per_destination = [
        DestinationRate(str(name), int(total), int(done), int(failed), int(expired))
        for name, total, done, failed, expired in cur.fetchall()
    ]
    finished = by_status["completed"] + by_status["failed"] + by_status["expired"]
    return CallbackStats(
        total=sum(by_status.values()),
        by_status=by_status,
        median_seconds_to_callback=round(float(median), 1) if median is not None else None,
        p90_seconds_to_callback=round(float(p90), 1) if p90 is not None else None,
        completion_rate=round(by_status["completed"] / finished, 4) if finished else None,
        per_destination=per_destination,
    )


def callback_attempts(cur: Cursor, callback_id: int) -> list[dict[str, Any]]:
    """Every dispatch attempt of one callback, oldest first; ``detail`` says why it
    ended as it did (e.g. why nobody could be called), ``destination`` where it went."""
    cur.execute(
        "SELECT attempt_no, trigger, dispatcher, agent_extension, outcome, hangup_cause, sip_status,"
        " started_at, ended_at, COALESCE(details->>'reason', details->>'error') AS detail,"
        " details->>'destination' AS destination"
        " FROM callback_attempts WHERE callback_id = %s ORDER BY attempt_no",
        (callback_id,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


@dataclass(frozen=True)
class CallActivity:
    """Calls and transfers of one domain in one period (the console's dashboard)."""

    calls_by_outcome: dict[str, int]
    transfers_by_status: dict[str, int]
    top_transfer_destinations: list[tuple[str, int, int]]  # (name, attempts, accepted)
    calls_per_day: list[tuple[str, int]]  # (YYYY-MM-DD in the domain's zone, calls)
    callbacks_per_day: list[tuple[str, int]]  # (YYYY-MM-DD, callbacks created)
    callbacks_closed: dict[str, int]  # closed in the period (whenever created), by status
    median_seconds_to_callback: Optional[float]  # of those completed in the period

    @property
    def calls(self) -> int:
        return sum(self.calls_by_outcome.values())


def call_activity(cur: Any, domain: str, since: Any, until: Any, zone: str, *, top: int = 5) -> CallActivity:
    """Calls by outcome, transfer attempts by status, the most asked-for transfer
    destinations, calls / callbacks created per local day (``zone``), for
    ``since <= started_at < until``; and the callbacks closed in that period by
    status (completed, expired, ...) with the median time from request to
    completed callback."""
    rng = (domain, since, until)
    cur.execute(
        "SELECT coalesce(outcome, 'in_progress'), count(*) FROM calls"
        " WHERE domain = %s AND started_at >= %s AND started_at < %s GROUP BY 1 ORDER BY 2 DESC, 1",
        rng,
    )
    calls = {str(k): int(n) for k, n in cur.fetchall()}
    cur.execute(
        "SELECT status, count(*) FROM transfer_attempts"
        " WHERE domain = %s AND started_at >= %s AND started_at < %s GROUP BY 1 ORDER BY 2 DESC, 1",
        rng,
    )
    transfers = {str(k): int(n) for k, n in cur.fetchall()}
    cur.execute(
        "SELECT coalesce(destination_name, %s), count(*), count(*) FILTER (WHERE status = 'accepted')"
        " FROM transfer_attempts"
        " WHERE domain = %s AND started_at >= %s AND started_at < %s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s",
        (NO_DESTINATION, *rng, int(top)),
    )
    top_rows = [(str(name), int(n), int(ok)) for name, n, ok in cur.fetchall()]
    cur.execute(
        "SELECT to_char(started_at AT TIME ZONE %s, 'YYYY-MM-DD'), count(*) FROM calls"
        " WHERE domain = %s AND started_at >= %s AND started_at < %s GROUP BY 1 ORDER BY 1",
        (zone, *rng),
    )
    calls_day = [(str(d), int(n)) for d, n in cur.fetchall()]
    cur.execute(
        "SELECT to_char(created_at AT TIME ZONE %s, 'YYYY-MM-DD'), count(*) FROM callbacks"
        " WHERE domain = %s AND created_at >= %s AND created_at < %s GROUP BY 1 ORDER BY 1",
        (zone, *rng),
    )
    callbacks_day = [(str(d), int(n)) for d, n in cur.fetchall()]
    cur.execute(
        "SELECT status, count(*), percentile_cont(0.5) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM completed_at - created_at)) FROM callbacks"
        " WHERE domain = %s AND completed_at >= %s AND completed_at < %s GROUP BY 1",
        rng,
    )
    closed: dict[str, int] = {}
    median: Optional[float] = None
    for status, n, mid in cur.fetchall():
        closed[str(status)] = int(n)
        if status == "completed" and mid is not None:
            median = round(float(mid), 1)
    return CallActivity(calls, transfers, top_rows, calls_day, callbacks_day, closed, median)
