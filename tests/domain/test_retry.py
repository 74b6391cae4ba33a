"""The retry/backoff policy (``domain.retry``): pure, no database, no PBX."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from voiceai_ivr.config import RetryPolicy
from voiceai_ivr.domain.retry import Resolution, resolve, retry_delay

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)


def test_retry_policy():
    p = RetryPolicy()
    now = NOW
    assert resolve("completed", 1, p, now).status == "completed"
    assert resolve("invalid_number", 1, p, now).status == "failed"
    assert resolve("agent_unavailable", 3, p, now).status == "failed"
    r = resolve("agent_unavailable", 1, p, now)
    assert r.status == "pending" and r.next_attempt_at == now + timedelta(minutes=15)
    assert retry_delay("customer_busy", 1, p) < retry_delay("customer_no_answer", 1, p)
    assert retry_delay("agent_declined", 2, p) == timedelta(minutes=30)  # backoff 2


@pytest.mark.parametrize(
    ("outcome", "minutes"),
    [("customer_busy", 5.0), ("customer_no_answer", 15.0), ("agent_no_answer", 15.0), ("agent_declined", 15.0)],
)
def test_first_retry_waits_by_outcome(outcome: str, minutes: float) -> None:
    assert retry_delay(outcome, 1, RetryPolicy()) == timedelta(minutes=minutes)


def test_backoff_multiplies_each_further_attempt() -> None:
    p = RetryPolicy(busy_retry_minutes=2.0, backoff=3.0)
    assert [retry_delay("customer_busy", n, p) for n in (1, 2, 3)] == [
        timedelta(minutes=2), timedelta(minutes=6), timedelta(minutes=18)
    ]
    # attempts below one count as the first
    assert retry_delay("customer_busy", 0, p) == timedelta(minutes=2)


def test_no_destination_waits_uncounted_even_past_max_attempts() -> None:
    p = RetryPolicy(max_attempts=1, min_interval_minutes=10.0)
    r = resolve("no_destination", 5, p, NOW)
    assert r == Resolution("pending", NOW + timedelta(minutes=10), counted=False)


def test_max_attempts_ends_in_failure_and_invalid_number_is_never_retried() -> None:
    p = RetryPolicy(max_attempts=2)
    assert resolve("customer_busy", 1, p, NOW).status == "pending"
    assert resolve("customer_busy", 2, p, NOW) == Resolution("failed")
    assert resolve("invalid_number", 0, RetryPolicy(max_attempts=9), NOW) == Resolution("failed")
