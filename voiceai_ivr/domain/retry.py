"""When a callback is tried again: the retry/backoff policy, pure (no I/O).

``resolve`` says what becomes of a callback after one attempt ended with an
outcome (``domain.causes.ATTEMPT_OUTCOMES``): completed, failed for good, or
pending again at a time ``retry_delay`` computes from the domain's
``RetryPolicy`` (``callbacks.retry`` / ``callbacks.domain_retry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from voiceai_ivr.config import RetryPolicy


@dataclass(frozen=True)
class Resolution:
    """What becomes of the callback after an attempt."""

    status: str  # pending (retry) | completed | failed
    next_attempt_at: Optional[datetime] = None
    counted: bool = True  # False: the attempt does not use one of max_attempts (infrastructure)
    keep_lease: bool = False  # True: leave the lease to run out (a leg may still be up)


def retry_delay(outcome: str, attempts: int, policy: RetryPolicy) -> timedelta:
    """How long to wait before the next attempt after ``outcome`` (``attempts``
    counted so far, this one included). A busy customer is tried again sooner
    than one who did not answer; everything else waits the minimum interval.
    Each further attempt multiplies the wait by ``backoff``."""
    if outcome == "customer_busy":
        base = float(policy.busy_retry_minutes)
    elif outcome in ("customer_no_answer", "agent_no_answer"):
        base = float(policy.no_answer_retry_minutes)
    else:
        base = float(policy.min_interval_minutes)
    factor = float(policy.backoff) ** max(0, attempts - 1)
    return timedelta(minutes=base * factor)


def resolve(outcome: str, attempts: int, policy: RetryPolicy, now: datetime) -> Resolution:
    """What becomes of a callback after an attempt ended with ``outcome``."""
    if outcome == "completed":
        return Resolution("completed")
    if outcome == "invalid_number":
        return Resolution("failed")  # never retried
    if outcome == "no_destination":
        # Nobody to call is a configuration problem, not the customer's: the
        # request waits (the attempt is not counted) until an admin gives it a
        # destination, or its window passes.
        return Resolution(
            "pending", now + timedelta(minutes=float(policy.min_interval_minutes)), counted=False
        )
    if attempts >= int(policy.max_attempts):
        return Resolution("failed")
    return Resolution("pending", now + retry_delay(outcome, attempts, policy))


__all__ = ["Resolution", "resolve", "retry_delay"]
