"""The callback dispatcher: replay the spool, expire, recover dead leases, claim
due callbacks and run their attempts (agent first), report every outcome to
the helpdesk through the outbox.

Safety (see ``stores.dispatch`` for the lease protocol):

* a claim commits before anything is dialled; each leg's uuid is recorded
  (under the lease) before it is dialled; leases are renewed while calls run;
* an attempt that ends normally commits its outcome, the callback's next state
  and the outbox rows in one transaction;
* the PBX failing before anything was dialled gives the callback back at once
  (attempt row removed); failing after an originate went out leaves the lease
  to run out, and whoever takes it over asks the PBX whether the old legs are
  still up before dialling again. Either way the run stops claiming and exits
  non-zero (``Summary.infrastructure_error``). The database failing leaves
  the leases to run out: nothing is lost, nothing is dialled twice at once.

One claimed callback (plan, attempt, outcome) is ``flows.callback_dispatch.AttemptRunner``;
the retry/backoff policy is ``domain.retry``. This module keeps the pass loop,
the leases and the agent-leg server. ``Dispatcher`` is also the engine of the
API's click-to-call (``call_now``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from voiceai_ivr.channel.esl import ESLChannel
from voiceai_ivr.config import Config
from voiceai_ivr.errors import ConfigError, DatabaseUnavailable, ESLError, StoreError, ValidationError
from voiceai_ivr.esl.outbound import OutboundServer
from voiceai_ivr.flows.callback_dispatch import AgentDesk, AttemptRunner
from voiceai_ivr.flows.context import Services
from voiceai_ivr.integrations import helpdesk_contract as contract
from voiceai_ivr.integrations.helpdesk import HelpdeskClient
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages, result_event, whatsapp_event
from voiceai_ivr.integrations.outbox_worker import deliver_for
from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores import dispatch as store
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.spool import replay_spool, spool_path, spool_pending
from voiceai_ivr.switch import check_extension, parse_socket_address, socket_app, wake_link

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

KIND_ATTEMPT = contract.KIND_ATTEMPT
KIND_RESULT = contract.KIND_RESULT
KIND_UPDATED = contract.KIND_UPDATED
# A callback whose agent this process is already calling waits this long.
DEFER_SECONDS = 60.0


def new_owner() -> str:
    """``host:pid:random``: unique per dispatcher process (and per restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    claimed: int = 0
    completed: int = 0
    retried: int = 0
    expired: int = 0
    failed: int = 0  # final failures (max attempts, invalid number)
    released: int = 0  # given back untouched (infrastructure)
    deferred: int = 0  # given back untouched: this process was already calling that agent
    recovered: int = 0  # dead dispatchers' leases made due again
    spool_replayed: int = 0
    outcomes: dict = field(default_factory=dict)
    infrastructure_error: str = ""
    attempt_ids: list = field(default_factory=list)
    # the helpdesk outbox after the pass (``Dispatcher.deliver_outbox``)
    outbox_delivered: int = 0
    outbox_not_delivered: int = 0  # failed (retried later, or dead-lettered) or left for the next worker
    outbox_backlog: Optional[int] = None
    outbox_oldest_age_seconds: Optional[float] = None
    outbox_error: str = ""

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def merge(self, other: Summary) -> None:
        for name in (
            "claimed",
            "completed",
            "retried",
            "expired",
            "failed",
            "released",
            "deferred",
            "recovered",
            "spool_replayed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v
        self.infrastructure_error = self.infrastructure_error or other.infrastructure_error

    def as_dict(self) -> dict:
        return {
            "claimed": self.claimed,
            "completed": self.completed,
            "retried": self.retried,
            "expired": self.expired,
            "failed": self.failed,
            "released": self.released,
            "deferred": self.deferred,
            "recovered": self.recovered,
            "spool_replayed": self.spool_replayed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "infrastructure_error": self.infrastructure_error,
            "outbox": {
                "delivered": self.outbox_delivered,
                "not_delivered": self.outbox_not_delivered,
                "backlog": self.outbox_backlog,
                "oldest_age_seconds": self.outbox_oldest_age_seconds,
                "error": self.outbox_error,
            },
        }

    def line(self) -> str:
        return (
            f"claimed {self.claimed}, completed {self.completed}, retried {self.retried}, "
            f"expired {self.expired}, failed {self.failed}"
            + (f", released {self.released}" if self.released else "")
            + (f", deferred {self.deferred}" if self.deferred else "")
            + (f", recovered {self.recovered}" if self.recovered else "")
            + self._outbox_line()
        )

    def _outbox_line(self) -> str:
        parts = []
        if self.outbox_delivered:
            parts.append(f"delivered {self.outbox_delivered}")
        if self.outbox_not_delivered:
            parts.append(f"not delivered {self.outbox_not_delivered}")
        if self.outbox_backlog:
            parts.append(f"backlog {self.outbox_backlog}")
        return "; helpdesk: " + ", ".join(parts) if parts else ""


# --------------------------------------------------------------------------- dispatcher


class Dispatcher:
    """One dispatcher process's engine. ``start()`` opens the agent-leg listener;
    ``run_once()`` does one pass; ``close()`` stops everything (bounded)."""

    def __init__(
        self,
        config: Config,
        db: Any,
        switch: Any,
        *,
        owner: Optional[str] = None,
        clock: Optional[Clock] = None,
        availability: Any = None,
        services: Services,
        listen: Optional[tuple[str, int]] = None,
        advertise: str = "",
        concurrency: Optional[int] = None,
        server_factory: Any = None,
    ) -> None:
        self.config = config
        self.db = db
        self.switch = switch
        self.owner = owner or new_owner()
        self._clock = clock
        self.availability = availability
        self.concurrency = int(concurrency or config.dispatcher.concurrency)
        self.desk = AgentDesk(services)
        self._listen = listen or (config.dispatcher.listen_host, config.dispatcher.listen_port)
        self._advertise = advertise or config.dispatcher.agent_socket_address
        self._server_factory = server_factory
        self._server: Any = None
        self.socket_app = ""
        self._held: dict[int, store.Claimed] = {}
        self._held_lock = threading.Lock()
        self._agents_busy: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._infra = threading.Event()
        self._infra_reason = ""
        self._renewer: Optional[threading.Thread] = None
        # Set when the PBX could not be reached at start: a pass then only does
        # the database work (spool, expiry) and reports the failure.
        self._no_switch_reason = ""
        self.esl_client: Any = None  # the inbound connection behind ``switch`` (closed by its owner)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="dispatch")
        self._api_slots = threading.BoundedSemaphore(self.concurrency)
        self.attempts = AttemptRunner(
            config,
            db,
            self.desk,
            owner=self.owner,
            availability=availability,
            now=self.now,
            sql_now=self._sql_now,
            infrastructure=self._infrastructure,
            giving_back=lambda: self._infra.is_set() or self._stop.is_set(),
        )

    # ------------------------------------------------------------------ lifecycle

    def now(self) -> datetime:
        return self._clock() if self._clock is not None else utcnow()

    def _sql_now(self) -> Optional[datetime]:
        # Leases and due times follow the database clock unless a clock was injected.
        return self._clock() if self._clock is not None else None

    @property
    def no_pbx_reason(self) -> str:
        """Why this dispatcher runs without a PBX ("" when it has one)."""
        return self._no_switch_reason

    def without_pbx(self, reason: str) -> Dispatcher:
        """Run passes with no PBX: spool replay and expiry only, then report ``reason``."""
        self.switch = None
        self._no_switch_reason = reason
        return self

    def count_due(self) -> int:
        with self.db.transaction() as cur:
            return store.count_due(cur, self._sql_now())

    def start(self) -> Dispatcher:
        """Open the agent-leg listener and the lease renewer (nothing to open without a PBX)."""
        if self.switch is None:
            return self
        if not self.config.callbacks.caller_id_number:

            raise ConfigError(["callbacks.caller_id_number: required to call customers back"])

        factory = self._server_factory
        if factory is None:

            factory = OutboundServer
        host, port = self._listen
        self._server = factory(host, port, self._agent_leg, max_calls=max(16, self.concurrency * 2))
        self._server.start()
        bound_host, bound_port = self._server.address[:2]
        address = self._advertise or f"{bound_host}:{bound_port}"
        self.socket_app = socket_app(*parse_socket_address(address, "dispatcher.agent_socket_address"))
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        self._renewer.start()
        log.info("dispatcher %s listening for agent legs on %s", self.owner, address)
        return self

    def _agent_leg(self, session: Any) -> None:
        """Outbound-server handler: one callback agent leg."""

        speech = self.config.speech
        channel = ESLChannel(
            session,
            listen_engine=speech.asr_engine,
            grammar=speech.asr_grammar,
            digit_timeout_s=speech.digit_timeout,
        )
        self.desk.handle(channel)

    def stop(self) -> None:
        """Ask a running pass to stop claiming (SIGTERM): attempts in progress finish."""
        self._stop.set()

    def close(self, timeout: float = 60.0) -> None:
        """Stop claiming, let attempts in progress finish (each is bounded), stop the listener."""
        self._stop.set()
        self._pool.shutdown(wait=True)
        self._closed.set()
        if self._server is not None:
            self._server.stop(grace=min(timeout, 10.0))
            self._server = None
        if self._renewer is not None:
            self._renewer.join(timeout=5.0)

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _infrastructure(self, reason: str) -> None:
        if not self._infra.is_set():
            self._infra_reason = reason
            self._infra.set()
            log.error("dispatcher %s: infrastructure failure: %s", self.owner, reason)

    # ------------------------------------------------------------------ leases

    def _renew_loop(self) -> None:
        # Runs until close(): after SIGTERM (stop) attempts still in progress keep their leases.
        interval = max(0.5, float(self.config.callbacks.lease_seconds) / 3.0)
        while not self._closed.wait(interval):
            self.renew()

    def renew(self) -> None:
        with self._held_lock:
            ids = list(self._held)
        if not ids:
            return
        try:
            with self.db.transaction() as cur:
                kept = store.renew_leases(cur, self.owner, ids, self.config.callbacks.lease_seconds, self._sql_now())
        except StoreError as exc:
            self._infrastructure(f"database: {exc}")
            return
        lost = set(ids) - kept
        if lost:
            log.warning("dispatcher %s lost the lease of %d callback(s)", self.owner, len(lost))

    def _hold(self, claimed: store.Claimed) -> None:
        with self._held_lock:
            self._held[claimed.id] = claimed

    def _drop(self, claimed: store.Claimed) -> None:
        with self._held_lock:
            self._held.pop(claimed.id, None)

    # ------------------------------------------------------------------ one pass

    def run_once(
        self,
        limit: Optional[int] = None,
        progress: Optional[Callable[[int], None]] = None,
        *,
        deliver: bool = True,
    ) -> Summary:
        """Spool, expiry, lease recovery, then claim and dial until nothing is due
        (or ``limit`` claims); then, with ``deliver``, the helpdesk outbox
        (``deliver_outbox``: what this pass queued, and whatever else is due).
        Never raises for PBX/database failures: see ``Summary.infrastructure_error``."""
        summary = Summary()
        self._infra.clear()
        self._infra_reason = ""
        database_down = False
        if self.switch is not None:  # the Event Socket down (FreeSWITCH restarting): try it again now
            wake_link(self.switch)
        try:
            summary.spool_replayed = self.replay_spool()
            summary.expired = self.expire()
            if self.switch is None:
                self._infrastructure(self._no_switch_reason or "PBX: not connected")
            else:
                summary.recovered = self.recover()
                self._claim_and_run(summary, limit, progress)
        except StoreError as exc:  # DatabaseUnavailable included
            database_down = True
            self._infrastructure(f"database: {exc}")
        except ESLError as exc:
            self._infrastructure(f"PBX: {exc}")
        summary.infrastructure_error = self._infra_reason
        if deliver and not database_down and not self.infrastructure_is_database:
            self.deliver_outbox(summary)
        return summary

    @property
    def infrastructure_is_database(self) -> bool:
        return self._infra_reason.startswith("database:")

    def deliver_outbox(self, summary: Summary, seconds: Optional[float] = None) -> Summary:
        """Deliver the helpdesk outbox for at most ``seconds``
        (``dispatcher.outbox_delivery_seconds``) plus one request timeout, and
        read the backlog into ``summary``. Without ``helpdesk.url`` only the
        backlog is read. Never raises."""

        budget = float(self.config.dispatcher.outbox_delivery_seconds if seconds is None else seconds)
        try:
            if self.config.helpdesk.url and budget > 0:

                with HelpdeskClient.from_config(self.config) as client:
                    report = deliver_for(self.db, client, self.config, budget, stop=self._stop)
                summary.outbox_delivered = report.delivered + report.duplicates
                summary.outbox_not_delivered = report.retried + report.dead + report.released
                if report.errors:
                    summary.outbox_error = report.errors[-1]
            with self.db.cursor() as cur:
                summary.outbox_backlog, summary.outbox_oldest_age_seconds = outbox.backlog(cur)
        except StoreError as exc:
            summary.outbox_error = f"database: {exc}"
        except ValidationError as exc:  # a helpdesk.url the client refuses
            summary.outbox_error = str(exc)
        return summary

    def replay_spool(self) -> int:
        """Replay callbacks spooled while PostgreSQL was down (exactly once)."""

        path = spool_path(self.config)
        if not spool_pending(path):
            return 0
        report = replay_spool(self.db, path, messages=confirmed_messages(self.config))
        if report.database_unavailable:
            raise DatabaseUnavailable("spool replay: " + "; ".join(report.errors[:1]))
        return int(report.replayed)

    def expire(self, max_rounds: int = 100) -> int:
        """Expire pending callbacks past their window or max age (helpdesk told,
        WhatsApp notice queued). Bounded: ``max_rounds`` batches of 500."""
        total = 0
        for _ in range(max_rounds):
            now = self.now()
            with self.db.transaction() as cur:
                items = cbstore.select_expirable(
                    cur, max_age_hours=self.config.callbacks.max_age_hours, limit=500, now=self._sql_now()
                )
                for item in items:
                    events = [
                        result_event(
                            item.public_id, item.domain, item.ticket_id, "expired", item.why, item.attempts, now
                        )
                    ]
                    notice = whatsapp_event(cur, item.id, "expired", self.config)
                    if notice is not None:
                        events.append(notice)
                    cbstore.mark_expired(cur, item, events=events, now=self._sql_now())
            total += len(items)
            if len(items) < 500:
                break
        return total

    def recover(self, limit: int = 200) -> int:
        """Take over leases that ran out (their dispatcher died or lost the
        database) and settle them before anything is dialled again:

        * the old attempt's agent and customer are bridged (talking): the
          callback is ``completed``;
        * a leg of it is still up on its own (a customer parked, an agent still
          ringing or hearing a whisper nobody will answer): it is hung up; once
          the PBX says no leg is left the callback is due again (this pass dials
          it), the lost attempt not counted;
        * a leg that will not go away keeps the callback for the next pass."""
        with self.db.transaction() as cur:
            stale = store.take_stale(
                cur,
                self.owner,
                lease_seconds=self.config.callbacks.lease_seconds,
                limit=limit,
                now=self._sql_now(),
            )
        recovered = 0
        for item in stale:
            try:
                state, killed = self.attempts.stale_legs(item, self.switch)
            except ESLError as exc:
                self._infrastructure(f"PBX: {exc}")
                return recovered  # the leases we took run out again; nothing changes
            if state == "up":
                log.warning("callback %s: old legs still up after uuid_kill; checking again next pass", item.public_id)
                continue
            if self.attempts.settle_stale(item, bridged=state == "bridged", killed=killed):
                recovered += 1
        return recovered

    def _claim_and_run(self, summary: Summary, limit: Optional[int], progress: Optional[Callable[[int], None]]) -> None:
        in_flight: set[Future] = set()
        batch_size = int(self.config.dispatcher.batch_size)
        remaining = limit if limit is not None else None
        try:
            while not self._stop.is_set() and not self._infra.is_set():
                if remaining is not None and remaining <= 0:
                    break
                free = self.concurrency - len(in_flight)
                if free <= 0:
                    done, in_flight = wait(in_flight, timeout=5.0, return_when=FIRST_COMPLETED)
                    self._harvest(done, summary, progress)
                    continue
                n = min(free, batch_size)
                if remaining is not None:
                    n = min(n, remaining)
                with self.db.transaction() as cur:
                    batch = store.claim_due(
                        cur,
                        self.owner,
                        limit=n,
                        lease_seconds=self.config.callbacks.lease_seconds,
                        hours_check=self.attempts.hours_check,
                        now=self._sql_now(),
                        default_destination=self.config.callbacks.default_destination,
                    )
                    for claimed in batch:
                        self._hold(claimed)
                if not batch:
                    break
                summary.claimed += len(batch)
                if remaining is not None:
                    remaining -= len(batch)
                for claimed in batch:
                    in_flight.add(self._pool.submit(self.attempt, claimed))
                done = {f for f in in_flight if f.done()}
                in_flight -= done
                self._harvest(done, summary, progress)
        finally:
            while in_flight:  # attempts in progress always finish (each is bounded)
                done, in_flight = wait(in_flight, timeout=5.0, return_when=FIRST_COMPLETED)
                self._harvest(done, summary, progress)

    def _harvest(self, done: set, summary: Summary, progress: Optional[Callable[[int], None]]) -> None:
        for fut in done:
            try:
                kind, outcome = fut.result()
            except Exception as exc:  # an attempt thread must never take the run down silently
                log.exception("attempt crashed")
                self._infrastructure(f"attempt crashed: {exc!r}")
                continue
            summary.count(outcome)
            if kind == "completed":
                summary.completed += 1
            elif kind == "pending":
                summary.retried += 1
            elif kind == "failed":
                summary.failed += 1
            elif kind == "released":
                summary.released += 1
            elif kind == "deferred":
                summary.deferred += 1
            if progress is not None:
                progress(1)

    # ------------------------------------------------------------------ one attempt (AttemptRunner runs it)

    def attempt(self, claimed: store.Claimed) -> tuple[str, str]:
        """Run one claimed attempt and commit its outcome. Returns (kind, outcome):
        kind is completed / pending / failed / released / deferred / kept / lost."""

        agent_key = (claimed.agent_extension or "", claimed.domain)
        per_agent = bool(claimed.agent_extension) and claimed.trigger == "cron"
        if per_agent:
            with self._held_lock:
                busy = agent_key in self._agents_busy
                if not busy:
                    self._agents_busy.add(agent_key)
            if busy:
                # This process is already calling that agent for another callback:
                # give this one back (not an attempt) and look at it again shortly.
                return self._defer(claimed)
        try:
            return self._attempt(claimed)
        finally:
            if per_agent:
                with self._held_lock:
                    self._agents_busy.discard(agent_key)

    def _attempt(self, claimed: store.Claimed) -> tuple[str, str]:
        try:
            return self.attempts.run(claimed, self.switch, self.socket_app)
        finally:
            self._drop(claimed)

    def _defer(self, claimed: store.Claimed) -> tuple[str, str]:
        try:
            retry_at = self.now() + timedelta(seconds=DEFER_SECONDS)
            with self.db.transaction() as cur:
                store.release(cur, claimed, reason="agent_busy_here", retry_at=retry_at)
        except StoreError as exc:
            self._infrastructure(f"database: {exc}")
            return "lost", "failed"
        finally:
            self._drop(claimed)
        return "deferred", "deferred"

    # ------------------------------------------------------------------ click-to-call

    def call_now(self, public_id: str, domain: str, agent_extension: str) -> tuple[str, Optional[int]]:
        """Claim one callback for an immediate attempt by ``agent_extension`` and
        run it in the background (at most ``concurrency`` at once). Returns
        ``(state, attempt_id)``: state is ``started`` / ``not_found`` / ``busy`` /
        ``closed`` / ``overloaded``."""

        check_extension("agent_extension", agent_extension)
        if not self._api_slots.acquire(blocking=False):
            return "overloaded", None
        started = False
        try:
            with self.db.transaction() as cur:
                state, claimed = store.claim_one(
                    cur,
                    public_id,
                    domain,
                    self.owner,
                    lease_seconds=self.config.callbacks.lease_seconds,
                    agent_extension=agent_extension,
                    now=self._sql_now(),
                    trigger="api",
                    default_destination=self.config.callbacks.default_destination,
                )
                if claimed is not None:
                    self._hold(claimed)
            if claimed is None:
                return state, None
            future = self._pool.submit(self.attempt, claimed)
            started = True
            future.add_done_callback(lambda _f: self._api_slots.release())
            return "started", claimed.attempt_id
        finally:
            if not started:
                self._api_slots.release()


def socket_address(server: Any) -> str:
    host, port = server.address[:2]
    return f"{host}:{port}"


def sleep_bounded(event: threading.Event, seconds: float) -> bool:
    """Sleep up to ``seconds`` or until ``event`` is set; True when set."""
    return event.wait(max(0.0, min(seconds, 3600.0)))


__all__ = [
    "KIND_ATTEMPT",
    "KIND_RESULT",
    "KIND_UPDATED",
    "Dispatcher",
    "Summary",
    "new_owner",
    "sleep_bounded",
    "utcnow",
]
