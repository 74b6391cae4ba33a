"""Deliver the helpdesk outbox: claim due rows, send each with its idempotency
key, record the outcome. Run by the dispatcher every minute and by
``voiceai-ivr outbox flush``; any number of workers may run at once (rows are
claimed with ``SKIP LOCKED`` and a lease).

A worker that dies after sending but before recording leaves the row leased;
when the lease expires the row is sent again with the same key and the
helpdesk recognises it (``409`` or the original response): delivered once.

When the helpdesk looks down (``stop_after_failures`` retryable failures in a
row) the rest of the batch is released untouched instead of waiting for a
timeout on every row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from voiceai_ivr.errors import HelpdeskError
from voiceai_ivr.stores import outbox

if TYPE_CHECKING:
    from voiceai_ivr.config import Config
    from voiceai_ivr.integrations.helpdesk import HelpdeskClient

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    duplicates: int = 0  # delivered, the helpdesk had seen the key (409)
    retried: int = 0  # failed, will be retried after backoff
    dead: int = 0  # failed permanently or too old: dead-lettered
    released: int = 0  # claimed but not attempted (helpdesk looked down)
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.duplicates += other.duplicates
        self.retried += other.retried
        self.dead += other.dead
        self.released += other.released
        self.errors.extend(other.errors)


def _now(now: Optional[datetime]) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def deliver_due(
    db: Any,
    client: HelpdeskClient,
    config: Config,
    *,
    limit: int = 50,
    now: Optional[datetime] = None,
    stop_after_failures: int = 3,
) -> DeliveryReport:
    """Claim up to ``limit`` due rows and deliver them. ``DatabaseUnavailable``
    propagates (claimed rows are re-delivered after their lease)."""
    report = DeliveryReport()
    at = _now(now)
    lease = max(60.0, limit * client.timeout * 1.5 + 30.0)
    with db.transaction() as cur:
        rows = outbox.claim_due(cur, limit=limit, lease_seconds=lease, now=at)
    report.claimed = len(rows)
    failures_in_row = 0
    for index, row in enumerate(rows):
        if failures_in_row >= stop_after_failures:
            rest = [r.id for r in rows[index:]]
            with db.transaction() as cur:
                report.released += outbox.release(cur, rest)
            break
        try:
            resp = client.send(row.kind, row.payload, row.idempotency_key)
        except HelpdeskError as exc:
            with db.transaction() as cur:
                status = outbox.mark_failed(
                    cur,
                    row.id,
                    str(exc),
                    permanent=exc.permanent,
                    max_backoff_seconds=config.helpdesk.max_backoff_seconds,
                    dead_letter_after_hours=config.helpdesk.dead_letter_after_hours,
                    now=now,
                )
            report.errors.append(f"{row.kind} #{row.id}: {exc}")
            if status == "dead":
                report.dead += 1
                log.error("helpdesk message %s #%s dead-lettered: %s", row.kind, row.id, exc)
            else:
                report.retried += 1
                log.warning("helpdesk message %s #%s will be retried: %s", row.kind, row.id, exc)
            failures_in_row = 0 if exc.permanent else failures_in_row + 1
            continue
        failures_in_row = 0
        body = dict(resp.body)
        body.setdefault("http_status", resp.status)
        if resp.duplicate:
            body["duplicate"] = True
            report.duplicates += 1
        with db.transaction() as cur:
            if outbox.mark_delivered(cur, row.id, body, now=now):
                report.delivered += 1
    return report


def flush(
    db: Any,
    client: HelpdeskClient,
    config: Config,
    *,
    batch: int = 50,
    max_batches: int = 1000,
    now: Optional[datetime] = None,
) -> DeliveryReport:
    """Deliver until nothing is due (each batch claims again: rows of one callback
    go one after another), the helpdesk looks down, or ``max_batches``."""
    total = DeliveryReport()
    for _ in range(max_batches):
        report = deliver_due(db, client, config, limit=batch, now=now)
        total.add(report)
        if report.claimed == 0 or report.released or (report.retried and not report.delivered):
            break
    return total
