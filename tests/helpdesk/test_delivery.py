"""Outbox delivery through a real local helpdesk and a real PostgreSQL: a helpdesk
outage delays tickets but never drops or duplicates them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from doubles.helpdesk import HelpdeskServer

from voiceai_ivr.integrations.helpdesk import HelpdeskClient
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.integrations.outbox_worker import deliver_due, flush
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.callbacks import CallbackRequest, get_callback, save_confirmed_callback

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


@pytest.fixture
def hd():
    with HelpdeskServer() as server:
        yield server


def _request(i: int, **kw) -> CallbackRequest:
    fields = {
        "domain": "a.example",
        "number_e164": f"+55119876543{i:02d}",
        "window_start": T0 + timedelta(hours=1),
        "window_end": T0 + timedelta(hours=3),
        "reason": f"reason {i}",
        "transcript": f"quero falar sobre {i}",
    }
    fields.update(kw)
    return CallbackRequest(**fields)


def _configure(config, hd: HelpdeskServer):
    config.helpdesk.url = hd.url
    config.helpdesk.token = hd.token
    config.helpdesk.timeout = 0.5
    config.helpdesk.whatsapp.enabled = True
    return HelpdeskClient.from_config(config)


def _rows(db, status=None):
    with db.cursor() as cur:
        return outbox.list_rows(cur, status=status, limit=1000)


def test_outage_then_recovery_delivers_every_callback_exactly_once(db, config, hd):
    client = _configure(config, hd)
    results = []

    # 1. connection refused while the first callbacks are confirmed
    hd.go_down()
    results += [save_confirmed_callback(db, _request(i), confirmed_messages(config)) for i in range(0, 4)]
    now = datetime.now(timezone.utc)
    rep = deliver_due(db, client, config, limit=50, now=now)
    assert rep.delivered == 0 and rep.retried >= 1
    hd.come_up()

    # 2. HTTP 500 for a while
    results += [save_confirmed_callback(db, _request(i), confirmed_messages(config)) for i in range(4, 8)]
    hd.fail_next(6, 500)
    now += timedelta(minutes=20)
    flush(db, client, config, now=now)

    # 3. slower than the client timeout: processed by the helpdesk, answer lost
    results += [save_confirmed_callback(db, _request(i), confirmed_messages(config)) for i in range(8, 12)]
    hd.delay = 1.5
    now += timedelta(minutes=20)
    rep = deliver_due(db, client, config, limit=50, now=now)
    assert rep.retried >= 1
    hd.delay = 0.0

    # 4. the same customer asks again meanwhile: an update, not a second ticket
    results.append(save_confirmed_callback(db, _request(3, reason="again"), confirmed_messages(config)))
    assert results[-1].created is False

    # 5. helpdesk healthy: drain (bounded)
    for _ in range(30):
        now += timedelta(minutes=20)
        flush(db, client, config, now=now)
        if not _rows(db, "pending"):
            break
    assert not _rows(db, "pending") and not _rows(db, "dead")

    # every callback: one ticket, created by one key, processed once
    callbacks = {r.callback.public_id for r in results}
    assert len(callbacks) == 12
    assert set(hd.tickets) == callbacks
    assert all(len(keys) == 1 for keys in hd.tickets.values())
    for row in _rows(db, "delivered"):
        assert hd.processed_count(row.idempotency_key) == 1, row.kind
    # retries happened (the outage was real), yet the helpdesk processed each key once
    counts = hd.count_by_key()
    assert max(counts.values()) >= 2
    assert len(hd.processed) == len(_rows(db, "delivered"))
    # the update went after its ticket's creation, and ticket ids came back
    order = [
        r.kind
        for r in hd.requests
        if r.status in (200, 201) and r.body.get("callback_id") == results[3].callback.public_id
    ]
    assert order.index("callback.created") < order.index("callback.updated")
    with db.cursor() as cur:
        for r in results:
            assert get_callback(cur, r.callback.id).ticket_id
    # WhatsApp "scheduled" notices went out once per request
    assert len(hd.processed_of_kind("whatsapp.send")) == 13


def test_200_delivered_twice_counts_once(db, config, hd):
    client = _configure(config, hd)
    hd.duplicate_status = 200  # this helpdesk replays the original answer
    save_confirmed_callback(db, _request(1), confirmed_messages(config))
    hd.delay = 1.0
    now = datetime.now(timezone.utc)
    rep = deliver_due(db, client, config, limit=10, now=now)
    assert rep.retried == 1
    hd.delay = 0.0
    rep = flush(db, client, config, now=now + timedelta(minutes=5))
    assert rep.delivered == 2  # ticket + WhatsApp
    assert len(hd.tickets) == 1 and all(len(k) == 1 for k in hd.tickets.values())
    assert hd.count_by_key()[_rows(db)[0].idempotency_key] == 2


def test_dead_letter_after_age_and_permanent_errors_then_retry(db, config, hd):
    client = _configure(config, hd)
    config.helpdesk.whatsapp.enabled = False
    config.helpdesk.dead_letter_after_hours = 2.0
    save_confirmed_callback(db, _request(1), confirmed_messages(config))
    save_confirmed_callback(db, _request(2), confirmed_messages(config))
    created = _rows(db)[0].created_at

    hd.go_down()
    rep = deliver_due(db, client, config, limit=10, now=created + timedelta(minutes=30))
    assert rep.retried == 2 and rep.dead == 0
    rep = deliver_due(db, client, config, limit=10, now=created + timedelta(hours=3))
    assert rep.dead == 2
    with db.cursor() as cur:
        st = outbox.stats(cur, now=created + timedelta(hours=3))
    assert st.dead == 2 and st.pending == 0

    # revived: the age restarts, so one more failure does not kill them again
    with db.transaction() as cur:
        assert outbox.retry_dead(cur) == 2
    rep = deliver_due(db, client, config, limit=10)
    assert rep.retried == 2 and rep.dead == 0
    hd.come_up()
    rep = flush(db, client, config, now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert rep.delivered == 2 and len(hd.tickets) == 2

    # a permanent 4xx is dead at once
    save_confirmed_callback(db, _request(3), confirmed_messages(config))
    hd.fail_next(1, 422)
    rep = deliver_due(db, client, config, limit=10)
    assert rep.dead == 1 and "422" in rep.errors[0]


def test_backoff_is_exponential_and_capped(db, config, hd):
    client = _configure(config, hd)
    config.helpdesk.whatsapp.enabled = False
    config.helpdesk.max_backoff_seconds = 60
    save_confirmed_callback(db, _request(1), confirmed_messages(config))
    hd.go_down()
    now = datetime.now(timezone.utc)
    delays = []
    for _ in range(6):
        deliver_due(db, client, config, limit=10, now=now)
        (row,) = _rows(db)
        delays.append((row.next_attempt_at - now).total_seconds())
        now = row.next_attempt_at
    assert delays == [5, 10, 20, 40, 60, 60]


def test_claims_do_not_overlap_between_workers(db, config, hd):
    config.helpdesk.whatsapp.enabled = False
    for i in range(10):
        save_confirmed_callback(db, _request(i), confirmed_messages(config))
    with db.transaction() as cur:
        first = outbox.claim_due(cur, limit=6, lease_seconds=60)
    with db.transaction() as cur:
        second = outbox.claim_due(cur, limit=6, lease_seconds=60)
    assert len(first) == 6 and len(second) == 4
    assert not {r.id for r in first} & {r.id for r in second}
    # after the lease runs out a dead worker's rows are claimable again
    with db.transaction() as cur:
        again = outbox.claim_due(cur, limit=20, lease_seconds=60, now=datetime.now(timezone.utc) + timedelta(minutes=2))
    assert len(again) == 10


def test_delivery_for_a_while_is_bounded_and_leaves_the_rest_due(db, config, hd):
    """What a dispatcher pass does after dialling: deliver for at most N seconds
    (plus one request timeout) against a slow but healthy helpdesk; the rest
    stays due, untouched, for the next worker."""
    import time

    from voiceai_ivr.integrations.outbox_worker import deliver_for

    _configure(config, hd).close()
    config.helpdesk.timeout = 2.0
    client = HelpdeskClient.from_config(config)
    with db.transaction() as cur:
        for i in range(40):
            outbox.enqueue(cur, "a.example", "call.missed", {"call_id": f"c{i}"}, f"call.missed:c{i}")
    hd.delay = 0.2  # each answer takes 0.2 s
    started = time.monotonic()
    report = deliver_for(db, client, config, 1.0, batch=50)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + config.helpdesk.timeout
    assert 2 <= report.delivered < 40 and report.released == 40 - report.delivered
    pending = _rows(db, status="pending")
    assert len(pending) == 40 - report.delivered
    assert all(r.lease_until is None and r.attempts == 0 for r in pending)  # given back untouched
    hd.delay = 0.0
    assert deliver_for(db, client, config, 30.0).delivered == len(pending)
    assert hd.count_by_key() and all(n == 1 for n in hd.count_by_key().values())


def test_background_drain_delivers_and_measures(db, config, hd):
    """serve/api's worker: delivers what is due on its own and keeps the backlog
    and the oldest row's age for /health and the metrics; stops within a bound."""
    import time

    from voiceai_ivr.integrations.outbox_worker import OutboxDrain
    from voiceai_ivr.metrics import Metrics

    _configure(config, hd)
    metrics = Metrics()
    hd.go_down()
    for i in range(3):
        save_confirmed_callback(db, _request(i), confirmed_messages(config))
    drain = OutboxDrain(db, config, interval=0.1, metrics=metrics).start()
    try:
        deadline = time.monotonic() + 10
        while drain.health()["backlog"] != 6:  # 3 tickets + 3 WhatsApp notices waiting
            assert time.monotonic() < deadline, drain.health()
            time.sleep(0.05)
        health = drain.health()
        assert health["helpdesk_configured"] is True and "cannot connect" in health["last_error"]
        assert metrics.outbox_backlog._value.get() == 6
        hd.come_up()
        with db.transaction() as cur:
            outbox.retry_pending_now(cur)  # skip the backoff the outage earned
        while drain.health()["backlog"] != 0:
            assert time.monotonic() < deadline, drain.health()
            time.sleep(0.05)
        assert drain.health()["delivered"] == 6 and drain.health()["oldest_age_seconds"] is None
        assert metrics.outbox_backlog._value.get() == 0
    finally:
        started = time.monotonic()
        drain.stop(5.0)
        assert time.monotonic() - started < 5.0
    assert sorted(r.kind for r in hd.requests if r.status in (200, 201, 202)) == (
        ["callback.created"] * 3 + ["whatsapp.send"] * 3
    )
