"""Deliver the helpdesk outbox: claim due rows, send each with its idempotency
key, record the outcome. Any number of workers may run at once (rows are
claimed with ``SKIP LOCKED`` and a lease). Who delivers, with nothing but the
shipped cron line or systemd units running:

* ``voiceai-ivr serve`` and ``voiceai-ivr api``: one ``OutboxDrain`` thread per
  process, polling every ``helpdesk.delivery_interval`` seconds;
* ``voiceai-ivr dispatch-callbacks`` (cron, timer or ``--loop``): after each
  pass's dialling work, ``deliver_for`` at most
  ``dispatcher.outbox_delivery_seconds``;
* an operator: ``voiceai-ivr outbox flush``.

A worker that dies after sending but before recording leaves the row leased;
when the lease expires the row is sent again with the same key and the
helpdesk recognises it (``409`` or the original response): delivered once.

When the helpdesk looks down (``stop_after_failures`` retryable failures in a
row) the rest of the batch is released untouched instead of waiting for a
timeout on every row.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

from voiceai_ivr.errors import HelpdeskError, StoreError
from voiceai_ivr.integrations.helpdesk import HelpdeskClient
from voiceai_ivr.integrations.helpdesk_contract import redact_text
from voiceai_ivr.stores import outbox

if TYPE_CHECKING:
    from voiceai_ivr.config import Config

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
    deadline: Optional[float] = None,
) -> DeliveryReport:
    """Claim up to ``limit`` due rows and deliver them. ``DatabaseUnavailable``
    propagates (claimed rows are re-delivered after their lease). With
    ``deadline`` (``time.monotonic()``), rows not started by then are given back
    untouched: the call ends at most one request timeout after it."""
    report = DeliveryReport()
    at = _now(now)
    lease = max(60.0, limit * client.timeout * 1.5 + 30.0)
    with db.transaction() as cur:
        rows = outbox.claim_due(cur, limit=limit, lease_seconds=lease, now=at)
    report.claimed = len(rows)
    failures_in_row = 0
    for index, row in enumerate(rows):
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if failures_in_row >= stop_after_failures or out_of_time:
            rest = [r.id for r in rows[index:]]
            with db.transaction() as cur:
                report.released += outbox.release(cur, rest)
            break
        try:
            resp = client.send(row.kind, row.payload, row.idempotency_key)
        except HelpdeskError as exc:
            error = redact_text(str(exc))
            with db.transaction() as cur:
                status = outbox.mark_failed(
                    cur,
                    row.id,
                    error,
                    permanent=exc.permanent,
                    max_backoff_seconds=config.helpdesk.max_backoff_seconds,
                    dead_letter_after_hours=config.helpdesk.dead_letter_after_hours,
                    now=now,
                )
            report.errors.append(f"{row.kind} #{row.id}: {error}")
            if status == "dead":
                report.dead += 1
                log.error("helpdesk message %s #%s dead-lettered: %s", row.kind, row.id, error)
            else:
                report.retried += 1
                log.warning("helpdesk message %s #%s will be retried: %s", row.kind, row.id, error)
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


def deliver_for(
    db: Any,
    client: HelpdeskClient,
    config: Config,
    seconds: float,
    *,
    batch: int = 50,
    stop: Optional[threading.Event] = None,
) -> DeliveryReport:
    """Deliver due rows for at most ``seconds`` (plus one request timeout), batch
    after batch, until nothing is due, the helpdesk looks down or ``stop`` is set.
    What is left stays due for the next worker."""
    total = DeliveryReport()
    deadline = time.monotonic() + max(0.0, seconds)
    while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        report = deliver_due(db, client, config, limit=batch, deadline=deadline)
        total.add(report)
        if report.claimed == 0 or report.released or (report.retried and not report.delivered):
            break
    return total


# --------------------------------------------------------------------------- background drain


@dataclass
class DrainState:
    """What the last poll saw (for ``/health``)."""

    backlog: Optional[int] = None
    oldest_age_seconds: Optional[float] = None
    delivered: int = 0  # since the drain started
    last_error: str = ""
    polled_at: Optional[float] = None  # time.monotonic() of the last poll

    def as_dict(self, *, helpdesk_configured: bool) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "oldest_age_seconds": None if self.oldest_age_seconds is None else round(self.oldest_age_seconds, 1),
            "delivered": self.delivered,
            "helpdesk_configured": helpdesk_configured,
            "last_error": self.last_error,
        }


class OutboxDrain:
    """One background worker per process (``serve``, ``api``): every
    ``interval`` seconds it delivers what is due (each round bounded by
    ``budget`` seconds) and reads the backlog and the oldest row's age into the
    metrics. Without ``helpdesk.url`` it only measures. ``stop()`` is bounded."""

    def __init__(
        self,
        db: Any,
        config: Config,
        *,
        interval: Optional[float] = None,
        budget: float = 30.0,
        metrics: Any = None,
        client_factory: Optional[Callable[[], HelpdeskClient]] = None,
    ) -> None:
        self.db = db
        self.config = config
        self.interval = float(interval if interval is not None else config.helpdesk.delivery_interval)
        self.budget = float(budget)
        self.metrics = metrics
        self.state = DrainState()
        self._client_factory = client_factory
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._errors_logged = 0

    @property
    def helpdesk_configured(self) -> bool:
        return bool(self.config.helpdesk.url)

    def start(self) -> OutboxDrain:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-drain", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling; a delivery in progress ends within one request timeout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def health(self) -> dict[str, Any]:
        with self._lock:
            return self.state.as_dict(helpdesk_configured=self.helpdesk_configured)

    def _client(self) -> HelpdeskClient:
        if self._client_factory is not None:
            return self._client_factory()

        return HelpdeskClient.from_config(self.config)

    def _run(self) -> None:
        client: Optional[HelpdeskClient] = None
        try:
            if self.helpdesk_configured:
                client = self._client()
            else:
                log.warning("helpdesk.url is not set: outbox messages are kept until one is configured")
            while not self._stop.is_set():
                self.poll(client)
                self._stop.wait(self.interval)
        finally:
            if client is not None:
                client.close()

    def poll(self, client: Optional[HelpdeskClient]) -> Optional[DeliveryReport]:
        """One round: deliver (when a client is given), then measure. Never raises."""
        report: Optional[DeliveryReport] = None
        error = ""
        try:
            if client is not None:
                report = deliver_for(self.db, client, self.config, self.budget, stop=self._stop)
                if report.errors:
                    error = report.errors[-1]
            with self.db.cursor() as cur:
                backlog, age = outbox.backlog(cur)
        except StoreError as exc:
            backlog, age = None, None
            error = f"database: {redact_text(str(exc))}"
            if self._errors_logged < 3:  # do not flood the log while the database is away
                log.warning("outbox drain: %s", error)
            self._errors_logged += 1
        else:
            self._errors_logged = 0
        with self._lock:
            if backlog is not None:
                self.state.backlog, self.state.oldest_age_seconds = backlog, age
            if report is not None:
                self.state.delivered += report.delivered + report.duplicates
            self.state.last_error = error
            self.state.polled_at = time.monotonic()
        if self.metrics is not None and backlog is not None:
            self.metrics.set_outbox(backlog, age)
        return report
