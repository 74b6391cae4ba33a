"""Claim / lease / attempt SQL against a real PostgreSQL (no PBX needed)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores import dispatch as store

from .helpers import add_callbacks, add_domain, callback_row, fetch

NOW = datetime.now(timezone.utc)


def _claim(db, owner, limit=10, now=None, lease=300.0, hours_check=None):
    with db.transaction() as cur:
        return store.claim_due(cur, owner, limit=limit, lease_seconds=lease, now=now, hours_check=hours_check)


def test_claim_leases_and_opens_attempt(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    claimed = _claim(db, "h:1:x")
    assert [c.public_id for c in claimed] == [pid]
    c = claimed[0]
    assert c.attempt_no == 1 and c.attempts == 1 and c.agent_extension == "1001"
    row = callback_row(db_dsn, pid)
    assert row["status"] == "in_progress" and row["lease_owner"] == "h:1:x"
    assert row["lease_until"] > datetime.now(timezone.utc) + timedelta(seconds=250)
    attempts = fetch(db_dsn, "SELECT attempt_no, outcome, agent_uuid, dispatcher FROM callback_attempts")
    assert attempts == [(1, None, c.agent_uuid, "h:1:x")]
    # leased: nobody else gets it
    assert _claim(db, "h:2:y") == []


def test_not_due_outside_window_or_future(db, db_dsn):
    add_domain(db_dsn, "a.example")
    add_callbacks(db_dsn, "a.example", 1, next_attempt_at=NOW + timedelta(minutes=30))
    add_callbacks(
        db_dsn,
        "a.example",
        1,
        number_base=5511800000000,
        window_start=NOW + timedelta(hours=1),
        window_end=NOW + timedelta(hours=2),
    )
    assert _claim(db, "h:1:x") == []
    assert len(_claim(db, "h:1:x", now=NOW + timedelta(minutes=31))) == 1
    assert len(_claim(db, "h:1:x", now=NOW + timedelta(hours=1, minutes=1))) == 1


def test_concurrent_claimers_never_share_a_row(db, db_dsn):
    add_domain(db_dsn, "a.example")
    add_callbacks(db_dsn, "a.example", 300)
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(6)

    def worker(name: str) -> None:
        mine: list[int] = []
        barrier.wait(5)
        while True:
            batch = _claim(db, name, limit=7)
            if not batch:
                break
            mine.extend(c.id for c in batch)
        got[name] = mine

    threads = [threading.Thread(target=worker, args=(f"h:{i}:z",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    all_ids = [i for ids in got.values() for i in ids]
    assert len(all_ids) == 300 and len(set(all_ids)) == 300
    assert fetch(db_dsn, "SELECT count(*) FROM callback_attempts")[0][0] == 300


def test_hours_check_moves_closed_candidates(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    reopen = NOW + timedelta(hours=1)
    assert _claim(db, "h:1:x", hours_check=lambda cand: reopen) == []
    row = callback_row(db_dsn, pid)
    assert row["status"] == "pending" and row["next_attempt_at"] == reopen


def test_finish_retry_and_lost_lease(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    (c,) = _claim(db, "h:1:x")
    nxt = NOW + timedelta(minutes=15)
    with db.transaction() as cur:
        ok = store.finish_attempt(
            cur,
            c,
            outcome="agent_unavailable",
            resolution=store.Resolution("pending", nxt),
            details={"reason": "in_call"},
        )
    assert ok
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"], row["next_attempt_at"], row["lease_owner"]) == ("pending", 1, nxt, None)
    # an attempt whose lease was taken over cannot move the callback any more
    (c2,) = _claim(db, "h:1:x", now=nxt + timedelta(seconds=1))
    assert c2.attempt_no == 2 and c2.attempts == 2
    with db.transaction() as cur:
        cur.execute("UPDATE callbacks SET lease_owner = 'someone:else:1' WHERE id = %s", (c2.id,))
    with db.transaction() as cur:
        assert not store.finish_attempt(cur, c2, outcome="completed", resolution=store.Resolution("completed"))
    assert callback_row(db_dsn, pid)["status"] == "in_progress"
    assert fetch(db_dsn, "SELECT outcome FROM callback_attempts WHERE attempt_no = 2") == [("completed",)]


def test_release_gives_back_untouched(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    (c,) = _claim(db, "h:1:x")
    with db.transaction() as cur:
        assert store.release(cur, c, reason="pbx down")
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
    assert fetch(db_dsn, "SELECT count(*) FROM callback_attempts")[0][0] == 0
    assert len(_claim(db, "h:2:y")) == 1


def test_stale_lease_taken_over_then_due_again(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    (c,) = _claim(db, "dead:1:x", lease=30)
    with db.transaction() as cur:
        assert store.record_legs(cur, c, customer_uuid="cust-1")
    with db.transaction() as cur:  # lease still running: nothing to take
        assert store.take_stale(cur, "h:2:y", lease_seconds=30) == []
    later = datetime.now(timezone.utc) + timedelta(seconds=31)
    with db.transaction() as cur:
        (stale,) = store.take_stale(cur, "h:2:y", lease_seconds=30, now=later)
    assert (stale.previous_owner, stale.agent_uuid, stale.customer_uuid) == ("dead:1:x", c.agent_uuid, "cust-1")
    assert _claim(db, "h:3:z", now=later) == []  # still in progress under the new owner
    with db.transaction() as cur:
        assert store.resolve_stale(cur, stale, "h:2:y", max_attempts=3, now=later) == "pending"
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"]) == ("pending", 0)  # the lost attempt does not count
    assert fetch(db_dsn, "SELECT outcome, details->>'reason' FROM callback_attempts") == [("failed", "lease_expired")]
    (again,) = _claim(db, "h:3:z", now=later)
    assert again.attempt_no == 2 and again.attempts == 1


def test_repeatedly_lost_callback_fails_eventually(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1)
    t = datetime.now(timezone.utc)
    statuses = []
    for _ in range(3):
        _claim(db, "dead:1:x", lease=10, now=t)
        t += timedelta(seconds=11)
        with db.transaction() as cur:
            (stale,) = store.take_stale(cur, "h:2:y", lease_seconds=10, now=t)
            statuses.append(store.resolve_stale(cur, stale, "h:2:y", max_attempts=3, now=t))
    assert statuses == ["pending", "pending", "failed"]
    assert callback_row(db_dsn, pid)["status"] == "failed"


def test_expiry_window_and_max_age(db, db_dsn):
    add_domain(db_dsn, "a.example")
    (old,) = add_callbacks(
        db_dsn,
        "a.example",
        1,
        created_at=NOW - timedelta(hours=80),
        window_start=NOW - timedelta(hours=80),
        window_end=NOW + timedelta(hours=1),
    )
    (passed,) = add_callbacks(
        db_dsn,
        "a.example",
        1,
        number_base=5511700000000,
        window_start=NOW - timedelta(hours=3),
        window_end=NOW - timedelta(minutes=1),
    )
    (fresh,) = add_callbacks(db_dsn, "a.example", 1, number_base=5511600000000)
    with db.transaction() as cur:
        items = cbstore.select_expirable(cur, max_age_hours=72)
        for item in items:
            cbstore.mark_expired(cur, item)
    assert sorted((i.public_id, i.why) for i in items) == sorted([(old, "max_age"), (passed, "window_passed")])
    assert callback_row(db_dsn, old)["status"] == "expired"
    assert callback_row(db_dsn, passed)["status"] == "expired"
    assert callback_row(db_dsn, fresh)["status"] == "pending"


def test_claim_one_states(db, db_dsn):
    add_domain(db_dsn, "a.example")
    add_domain(db_dsn, "b.example")
    (pid,) = add_callbacks(db_dsn, "a.example", 1, next_attempt_at=NOW + timedelta(hours=2))
    with db.transaction() as cur:
        assert store.claim_one(cur, pid, "b.example", "h:1:x", lease_seconds=60) == ("not_found", None)
    with db.transaction() as cur:
        state, c = store.claim_one(cur, pid, "a.example", "h:1:x", lease_seconds=60, agent_extension="1002")
    assert state == "claimed" and c is not None and c.agent_extension == "1002" and c.trigger == "api"
    with db.transaction() as cur:
        assert store.claim_one(cur, pid, "a.example", "h:2:y", lease_seconds=60) == ("busy", None)
    with db.transaction() as cur:
        store.finish_attempt(cur, c, outcome="completed", resolution=store.Resolution("completed"))
    with db.transaction() as cur:
        assert store.claim_one(cur, pid, "a.example", "h:2:y", lease_seconds=60) == ("closed", None)


@pytest.mark.parametrize("outcome", ["bogus", ""])
def test_unknown_outcome_refused(db, db_dsn, outcome):
    add_domain(db_dsn, "a.example")
    add_callbacks(db_dsn, "a.example", 1)
    (c,) = _claim(db, "h:1:x")
    with db.transaction() as cur, pytest.raises(ValueError):
        store.finish_attempt(cur, c, outcome=outcome, resolution=store.Resolution("failed"))
