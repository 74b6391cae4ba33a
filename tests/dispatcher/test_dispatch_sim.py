"""The dispatcher against the FreeSWITCH simulator and PostgreSQL, in-process:
agent first, whisper, customer with the company caller id, bridge; outcomes,
retries, max attempts, expiry."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import pytest

from voiceai_ivr.cli.dispatch_cmd import build_dispatcher

from .conftest import DOMAIN, LegWatch
from .helpers import add_callbacks, add_domain, callback_row, fetch

AGENT = "2001"


class Clock:
    """The dispatcher's wall clock, movable by tests."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_dispatcher(dispatchers, clock) -> Any:
    def make(**overrides: Any) -> Any:
        # the scaled test clock drives due times and leases
        return dispatchers(_clock=clock, **overrides)

    return make


def _setup(sim, db_dsn, n=1, *, agent="answer", customer="answer", settings=None, agents=None, **cb):
    add_domain(db_dsn, DOMAIN, settings=settings if settings is not None else {"whatsapp": True})
    ids = add_callbacks(db_dsn, DOMAIN, n, agent_extension=AGENT, agents=agents, **cb)
    numbers = [callback_row(db_dsn, pid)["number_e164"] for pid in ids]
    behaviour = agent if isinstance(agent, dict) else {"behavior": agent}
    sim.set_endpoints(
        agents=dict.fromkeys(agents or [AGENT], behaviour),
        customers={num: customer if isinstance(customer, dict) else {"behavior": customer} for num in numbers},
    )
    return ids, numbers


def _attempts(db_dsn: str, pid: str) -> list[tuple]:
    return fetch(
        db_dsn,
        "SELECT a.attempt_no, a.outcome, a.hangup_cause, a.trigger FROM callback_attempts a"
        " JOIN callbacks c ON c.id = a.callback_id WHERE c.public_id = %s ORDER BY a.attempt_no",
        (pid,),
    )


def _outbox(db_dsn: str, pid: Optional[str] = None) -> list[tuple]:
    return fetch(
        db_dsn,
        "SELECT o.kind, o.payload->>'outcome', o.payload->>'status', o.payload->>'event' FROM helpdesk_outbox o"
        " JOIN callbacks c ON c.id = o.callback_id WHERE %s::uuid IS NULL OR c.public_id = %s::uuid ORDER BY o.id",
        (pid, pid),
    )


def test_completed_agent_first_then_customer(sim, db_dsn, make_dispatcher):
    agents = ["2001", "2002", "2003"]
    ids, numbers = _setup(sim, db_dsn, 3, agents=agents)
    d = make_dispatcher()
    with LegWatch(sim) as watch:
        summary = d.run_once()
    assert summary.infrastructure_error == ""
    assert (summary.claimed, summary.completed, summary.retried, summary.failed) == (3, 3, 0, 0), summary.outcomes
    counts = sim.originate_counts()
    assert all(counts[a] == 1 for a in agents), counts
    assert all(counts[n] == 1 for n in numbers), counts
    for pid in ids:
        row = callback_row(db_dsn, pid)
        assert (row["status"], row["attempts"], row["lease_owner"]) == ("completed", 1, None)
        assert _attempts(db_dsn, pid) == [(1, "completed", None, "cron")]
        assert [k for k, *_ in _outbox(db_dsn, pid)] == ["callback.attempt", "callback.result"]
    # the customer saw the company's caller id; the agent leg came back on our socket
    logs = sim.call_soon(_originates(sim), 10)
    customer_cmds = [c for c in logs if "sofia/gateway/pstn/" in c]
    assert len(customer_cmds) == 3
    assert customer_cmds and all("origination_caller_id_number=+551140040000" in c for c in customer_cmds)
    agent_cmds = [c for c in logs if f"@{DOMAIN}" in c and "user/" in c]
    assert agent_cmds and all("voiceai_role=callback_agent" in c and "socket" in c for c in agent_cmds)
    assert max(watch.max_at_once[n] for n in numbers) == 1


@pytest.mark.parametrize("name", ["ACME & Co", "D'Ávila, Souza & Cia. Ltda", "Padaria 24h (loja 2) = #1"])
def test_company_caller_id_name_an_admin_types_reaches_the_customer(sim, db_dsn, dconfig, make_dispatcher, name):
    """callbacks.caller_id_name with & ' , accents and digits: the callback
    completes and FreeSWITCH reads the name back exactly (it used to fail every
    callback as invalid_number after the agent accepted)."""
    dconfig.callbacks.caller_id_name = name
    (pid,), (number,) = _setup(sim, db_dsn, 1)
    summary = make_dispatcher().run_once()
    assert (summary.claimed, summary.completed) == (1, 1), summary.outcomes
    assert _attempts(db_dsn, pid) == [(1, "completed", None, "cron")]
    logs = sim.call_soon(_originate_logs(sim), 10)
    (customer,) = [o for o in logs if any(number in t for t in o.targets)]
    assert customer.caller_id_name == name


async def _originate_logs(sim) -> list[Any]:
    return list(sim.switch.originates)


def test_one_agent_one_callback_at_a_time(sim, db_dsn, make_dispatcher, clock):
    ids, _numbers = _setup(sim, db_dsn, 2)
    d = make_dispatcher()
    summary = d.run_once()
    assert (summary.claimed, summary.completed, summary.deferred) == (2, 1, 1)
    deferred = [p for p in ids if callback_row(db_dsn, p)["status"] == "pending"]
    assert len(deferred) == 1
    row = callback_row(db_dsn, deferred[0])
    assert row["attempts"] == 0 and _attempts(db_dsn, deferred[0]) == []  # not an attempt
    _wait_no_legs(sim)  # the first call has ended: the agent is free again
    clock.offset = timedelta(seconds=61)
    assert d.run_once().completed == 1
    assert sim.originate_counts()[AGENT] == 2


def _wait_no_legs(sim, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sim.live_legs():
        assert time.monotonic() < deadline, sim.live_legs()
        time.sleep(0.02)


async def _originates(sim) -> list[str]:
    return [entry.command for entry in sim.switch.originates]


def test_agent_in_call_is_retried_after_min_interval(sim, db_dsn, make_dispatcher, clock):
    (pid,), _ = _setup(sim, db_dsn, agent={"behavior": "answer", "in_call": True})
    d = make_dispatcher()
    summary = d.run_once()
    assert (summary.claimed, summary.retried) == (1, 1)
    assert _attempts(db_dsn, pid) == [(1, "agent_unavailable", None, "cron")]
    assert sim.originate_counts().get(AGENT, 0) == 0  # unavailable: nobody dialled
    row = callback_row(db_dsn, pid)
    assert row["status"] == "pending"
    wait = row["next_attempt_at"] - datetime.now(timezone.utc)
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)
    # not due again before the minimum interval ...
    clock.offset = timedelta(minutes=14)
    assert d.run_once().claimed == 0
    # ... and dialled once it has passed and the agent is free
    sim.set_endpoints(agents={AGENT: {"behavior": "answer"}})
    clock.offset = timedelta(minutes=15, seconds=5)
    summary = d.run_once()
    assert (summary.claimed, summary.completed) == (1, 1)
    assert [o for _, o, *_ in _attempts(db_dsn, pid)] == ["agent_unavailable", "completed"]


def test_agent_busy_on_the_phone_is_unavailable(sim, db_dsn, make_dispatcher):
    (pid,), _ = _setup(sim, db_dsn, agent="busy")
    summary = make_dispatcher().run_once()
    assert summary.retried == 1
    assert _attempts(db_dsn, pid) == [(1, "agent_unavailable", "USER_BUSY", "cron")]


def test_outcomes_by_leg(sim, db_dsn, make_dispatcher):
    add_domain(db_dsn, DOMAIN)
    cases = {
        "declined": ({"behavior": "answer", "accept": False}, "answer", "agent_declined"),
        "no_key": ({"behavior": "answer", "accept": None}, "answer", "agent_no_answer"),
        "agent_no_answer": ("no_answer", "answer", "agent_no_answer"),
        "cust_busy": ("answer", "busy", "customer_busy"),
        "cust_no_answer": ("answer", "no_answer", "customer_no_answer"),
        "invalid": ("answer", "invalid", "invalid_number"),
    }
    agents, customers, expected = {}, {}, {}
    for i, (name, (agent, customer, outcome)) in enumerate(cases.items()):
        ext = str(3000 + i)
        (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension=ext, number_base=5511910000000 + i * 100)
        agents[ext] = agent if isinstance(agent, dict) else {"behavior": agent}
        customers[callback_row(db_dsn, pid)["number_e164"]] = {"behavior": customer}
        expected[pid] = (name, outcome)
    sim.set_endpoints(agents=agents, customers=customers)
    dconfig_timeout = 3  # no-answer legs ring this many simulated seconds
    d = make_dispatcher()
    d.config.callbacks.agent_answer_timeout = dconfig_timeout
    d.config.callbacks.customer_answer_timeout = dconfig_timeout
    summary = d.run_once()
    assert summary.claimed == len(cases)
    for pid, (name, outcome) in expected.items():
        attempts = _attempts(db_dsn, pid)
        assert [a[1] for a in attempts] == [outcome], (name, attempts)
        row = callback_row(db_dsn, pid)
        assert row["status"] == ("failed" if outcome == "invalid_number" else "pending"), name
    busy = next(p for p, (n, _) in expected.items() if n == "cust_busy")
    no_answer = next(p for p, (n, _) in expected.items() if n == "cust_no_answer")
    assert callback_row(db_dsn, busy)["next_attempt_at"] < callback_row(db_dsn, no_answer)["next_attempt_at"]


def test_max_attempts_then_failed_with_whatsapp_notice(sim, db_dsn, make_dispatcher, clock):
    (pid,), (number,) = _setup(sim, db_dsn, customer="no_answer")
    d = make_dispatcher()
    d.config.callbacks.customer_answer_timeout = 2
    for i in range(3):
        summary = d.run_once()
        assert summary.claimed == 1, i
        _wait_no_legs(sim)  # the agent hears the closing message, then hangs up
        clock.offset += timedelta(hours=1)
    assert d.run_once().claimed == 0
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"], row["last_outcome"]) == ("failed", 3, "customer_no_answer")
    assert [a[1] for a in _attempts(db_dsn, pid)] == ["customer_no_answer"] * 3
    assert sim.originate_counts()[number] == 3
    kinds = _outbox(db_dsn, pid)
    assert [k for k, *_ in kinds].count("callback.attempt") == 3
    assert ("callback.result", "failed") in [(k, s) for k, _, s, _ in kinds]
    assert ("whatsapp.send", "failed") in [(k, e) for k, _, _, e in kinds]


def test_window_passed_expires_with_notice(sim, db_dsn, make_dispatcher):
    now = datetime.now(timezone.utc)
    (pid,), (number,) = _setup(
        sim, db_dsn, window_start=now - timedelta(hours=3), window_end=now - timedelta(minutes=1)
    )
    summary = make_dispatcher().run_once()
    assert (summary.expired, summary.claimed) == (1, 0)
    assert callback_row(db_dsn, pid)["status"] == "expired"
    assert sim.originate_counts().get(number, 0) == 0
    kinds = _outbox(db_dsn, pid)
    assert ("callback.result", "expired") in [(k, s) for k, _, s, _ in kinds]
    assert ("whatsapp.send", "expired") in [(k, e) for k, _, _, e in kinds]


def test_outside_business_hours_not_dialled(sim, db_dsn, make_dispatcher):
    add_domain(db_dsn, DOMAIN, hours={"mon": ["00:00-00:01"]})  # practically always closed
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension=AGENT)
    sim.set_endpoints(agents={AGENT: {"behavior": "answer"}})
    summary = make_dispatcher().run_once()
    assert summary.claimed == 0
    row = callback_row(db_dsn, pid)
    assert row["status"] == "pending" and row["next_attempt_at"] > datetime.now(timezone.utc)


def test_pbx_unreachable_exits_with_nothing_lost(db_dsn, dconfig, db):
    dconfig.esl.port = _free_port()
    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension=AGENT)
    d = build_dispatcher(dconfig, db)
    try:
        summary = d.run_once()
    finally:
        d.close()
    assert summary.infrastructure_error.startswith("PBX unreachable")
    assert summary.claimed == 0
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)


def _free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
