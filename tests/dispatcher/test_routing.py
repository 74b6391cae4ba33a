"""Who calls back a customer who named no one (issue 12, point 2), and customer
legs that cannot outlive their dispatcher (point 9): against the simulator and
PostgreSQL, in-process.

* a callback for nobody in particular goes to the fallback destination of the
  secretary that took the call (or the domain's first secretary with one), or to
  ``callbacks.default_destination`` when that is set;
* with nobody to call the request stays pending, the attempt says why in words
  an admin can act on (``callbacks show`` prints them) and is not counted;
* the customer leg is originated into ``&park()`` with ``park_timeout``: the
  simulator, like ``switch_ivr_park``, hangs it up when nothing bridges it;
* a later dispatcher hangs up a dead dispatcher's lone legs before dialling
  again, and completes a callback whose agent and customer are talking.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg2
import pytest
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.stores.directory import import_directory

from .conftest import DOMAIN
from .helpers import add_callbacks, callback_row, fetch

DIRECTORY: dict[str, Any] = {
    "domain": DOMAIN,
    "timezone": "America/Sao_Paulo",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "secretaries": [
        {"name": "Recepção", "dids": ["8000"], "fallback": "Atendimento"},
        {"name": "Suporte", "dids": ["8001"], "fallback": "Plantão"},
    ],
    "destinations": [
        {"name": "Atendimento", "type": "extension", "target": "4000"},
        {"name": "Plantão", "type": "extension", "target": "4001"},
        {"name": "Central de retorno", "type": "extension", "target": "4002"},
    ],
}


@pytest.fixture
def make_dispatcher(dispatchers) -> Any:
    return dispatchers


def _import(db, document: dict) -> None:
    import_directory(db, parse_directory(document))


def _call_taken_by(dsn: str, did: str) -> str:
    """A call log row of a call the secretary of ``did`` took; returns its uuid."""
    call_uuid = str(uuid.uuid4())
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT secretary_id FROM secretary_dids WHERE domain = %s AND did = %s", (DOMAIN, did))
            (secretary_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO calls (call_uuid, domain, secretary_id, did, outcome) VALUES (%s, %s, %s, %s, %s)",
                (call_uuid, DOMAIN, secretary_id, did, "callback_created"),
            )
            cur.execute("UPDATE callbacks SET call_uuid = %s WHERE call_uuid IS NULL", (call_uuid,))
    finally:
        conn.close()
    return call_uuid


def _for_nobody(db_dsn: str, sim, *, number_base: int, taken_by: str = "") -> tuple[str, str]:
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension=None, number_base=number_base)
    if taken_by:
        _call_taken_by(db_dsn, taken_by)
    number = callback_row(db_dsn, pid)["number_e164"]
    return pid, number


def _attempt(db_dsn: str, pid: str) -> dict:
    (row,) = fetch(
        db_dsn,
        "SELECT a.outcome, a.agent_extension, a.details FROM callback_attempts a"
        " JOIN callbacks c ON c.id = a.callback_id WHERE c.public_id = %s",
        (pid,),
    )
    return {"outcome": row[0], "agent_extension": row[1], "details": row[2]}


def _accepting(sim, agents: list[str], numbers: list[str]) -> None:
    sim.set_endpoints(
        agents={a: {"behavior": "answer", "answer_after": 1, "accept": True} for a in agents},
        customers={n: {"behavior": "answer", "answer_after": 1, "talk_for": 2} for n in numbers},
    )


def test_callback_for_nobody_goes_to_the_fallback_of_the_secretary_that_took_it(sim, db, db_dsn, make_dispatcher):
    _import(db, DIRECTORY)
    # one taken by the second secretary (fallback Plantão), one with no call log
    # (the domain's first secretary with a fallback: Atendimento)
    by_support, n1 = _for_nobody(db_dsn, sim, number_base=5511911110000, taken_by="8001")
    unknown, n2 = _for_nobody(db_dsn, sim, number_base=5511922220000)
    _accepting(sim, ["4000", "4001"], [n1, n2])
    summary = make_dispatcher().run_once()
    assert (summary.claimed, summary.completed) == (2, 2), summary.outcomes
    assert _attempt(db_dsn, by_support)["agent_extension"] == "4001"
    assert _attempt(db_dsn, by_support)["details"]["destination"] == "Plantão"
    assert _attempt(db_dsn, unknown)["agent_extension"] == "4000"
    assert _attempt(db_dsn, unknown)["details"]["destination_source"] == "fallback"
    counts = sim.originate_counts()
    assert (counts.get("4000"), counts.get("4001"), counts.get("4002")) == (1, 1, None)
    # the helpdesk hears where the attempt went
    payloads = [p for (p,) in fetch(db_dsn, "SELECT payload FROM helpdesk_outbox WHERE kind = 'callback.attempt'")]
    assert {p["destination"]["name"] for p in payloads} == {"Plantão", "Atendimento"}
    assert {p["destination"]["source"] for p in payloads} == {"fallback"}


def test_default_destination_wins_when_set(sim, db, db_dsn, dconfig, make_dispatcher):
    _import(db, DIRECTORY)
    dconfig.callbacks.default_destination = "Central de retorno"
    pid, number = _for_nobody(db_dsn, sim, number_base=5511933330000, taken_by="8000")
    _accepting(sim, ["4002"], [number])
    summary = make_dispatcher().run_once()
    assert summary.completed == 1, summary.outcomes
    attempt = _attempt(db_dsn, pid)
    assert attempt["agent_extension"] == "4002"
    assert attempt["details"]["destination_source"] == "default_destination"
    assert callback_row(db_dsn, pid)["status"] == "completed"


def test_nobody_to_call_keeps_the_request_and_says_why(sim, db, db_dsn, cli_env, make_dispatcher):
    no_fallback = dict(DIRECTORY, secretaries=[{"name": "Recepção", "dids": ["8000"]}])
    _import(db, no_fallback)
    pid, number = _for_nobody(db_dsn, sim, number_base=5511944440000, taken_by="8000")
    before = datetime.now(timezone.utc)
    summary = make_dispatcher().run_once()
    assert summary.outcomes == {"no_destination": 1} and summary.failed == 0
    assert sim.originate_counts().get(number, 0) == 0  # nobody was dialled
    row = callback_row(db_dsn, pid)
    # still pending, the attempt not counted, looked at again after min_interval_minutes
    assert (row["status"], row["attempts"], row["last_outcome"]) == ("pending", 0, "no_destination")
    assert row["next_attempt_at"] >= before + timedelta(minutes=14)
    reason = _attempt(db_dsn, pid)["details"]["reason"]
    assert "no secretary of a.example has a fallback destination" in reason
    assert "callbacks.default_destination" in reason
    (payload,) = [p for (p,) in fetch(db_dsn, "SELECT payload FROM helpdesk_outbox WHERE kind = 'callback.attempt'")]
    assert payload["outcome"] == "no_destination" and payload["detail"] == reason
    assert payload["status"] == "pending" and payload["next_attempt_at"]
    # an admin sees it plainly
    shown = CliRunner().invoke(cli, ["callbacks", "show", pid], env=cli_env)
    assert shown.exit_code == 0, shown.output
    assert "attempt 1: no_destination" in shown.output
    assert f"    why: {reason}" in shown.output
    shown_json = json.loads(CliRunner().invoke(cli, ["callbacks", "show", pid, "--json"], env=cli_env).output)
    assert shown_json["attempt_log"][0]["detail"] == reason
    # ... and once the secretary has a fallback, the next pass calls the customer back
    _import(db, DIRECTORY)
    fetch(db_dsn, "UPDATE callbacks SET next_attempt_at = now() - interval '1 second' RETURNING id")
    _accepting(sim, ["4000"], [number])
    assert make_dispatcher().run_once().completed == 1
    assert callback_row(db_dsn, pid)["status"] == "completed"


def test_a_misnamed_default_destination_falls_back_and_says_so(sim, db, db_dsn, dconfig, make_dispatcher):
    _import(db, dict(DIRECTORY, secretaries=[{"name": "Recepção", "dids": ["8000"]}]))
    dconfig.callbacks.default_destination = "Central"  # no such destination
    pid, _number = _for_nobody(db_dsn, sim, number_base=5511955550000)
    summary = make_dispatcher().run_once()
    assert summary.outcomes == {"no_destination": 1}
    reason = _attempt(db_dsn, pid)["details"]["reason"]
    assert "callbacks.default_destination 'Central' is not an enabled destination of a.example" in reason


# --------------------------------------------------------------------------- legs that outlive a dispatcher


def test_customer_leg_is_parked_with_a_timeout(sim, db_dsn, make_dispatcher):
    """The customer's originate carries park_timeout; a parked customer nobody
    bridges is hung up by the PBX (here the simulator, as switch_ivr_park does)."""
    from voiceai_ivr.flows.callback_dispatch import CUSTOMER_PARK_TIMEOUT_S
    from voiceai_ivr.switch import new_uuid

    d = make_dispatcher()
    number = "+5511966660000"
    sim.set_endpoints(customers={number: {"behavior": "answer", "answer_after": 1, "talk_for": 3600}})
    leg = new_uuid()
    job = d.switch.originate(
        f"sofia/gateway/pstn/{number}",
        uuid=leg,
        timeout_s=10,
        caller_id_number="+551140040000",
        park_timeout_s=CUSTOMER_PARK_TIMEOUT_S,
    )
    assert job.wait(10).ok
    assert d.switch.exists(leg)  # answered and parked, waiting for a bridge that never comes
    # SCALE real seconds per simulated second: the park timeout passes in a fraction of a second
    deadline = time.monotonic() + 10
    while d.switch.exists(leg):
        assert time.monotonic() < deadline, "the parked customer leg was never hung up"
        time.sleep(0.05)
    # the same leg without park_timeout stays parked (nothing else hangs it up)
    other = new_uuid()
    assert d.switch.originate(
        f"sofia/gateway/pstn/{number}", uuid=other, timeout_s=10, caller_id_number="+551140040000"
    ).wait(10).ok
    time.sleep(sim.clock.real(CUSTOMER_PARK_TIMEOUT_S * 2))
    assert d.switch.exists(other)
    d.switch.kill(other)


def test_dispatch_sends_park_timeout_on_the_customer_leg_only(sim, db_dsn, make_dispatcher):
    from .helpers import add_domain

    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="2001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(agents={"2001": {"behavior": "answer"}}, customers={number: {"behavior": "answer"}})
    assert make_dispatcher().run_once().completed == 1
    commands = sim.call_soon(_originate_commands(sim), 10)
    customer = [c for c in commands if "sofia/gateway/pstn/" in c]
    agent = [c for c in commands if "user/2001@" in c]
    assert len(customer) == 1 and "park_timeout=20:NORMAL_CLEARING" in customer[0] and "&park()" in customer[0]
    assert len(agent) == 1 and "park_timeout" not in agent[0]  # the agent's leg runs our socket, not park


async def _originate_commands(sim) -> list[str]:
    return [entry.command for entry in sim.switch.originates]


def _stale(db_dsn: str, pid: str, agent_uuid: str, customer_uuid: str) -> None:
    """Make ``pid`` look like an attempt whose dispatcher died: in progress, lease run out."""
    fetch(
        db_dsn,
        "WITH c AS (UPDATE callbacks SET status = 'in_progress', lease_owner = 'dead-host:1:x',"
        " lease_until = now() - interval '1 second', attempts = 1 WHERE public_id = %s RETURNING id, domain)"
        " INSERT INTO callback_attempts (callback_id, attempt_no, domain, dispatcher, agent_extension,"
        " agent_uuid, customer_uuid) SELECT id, 1, domain, 'dead-host:1:x', '2001', %s, %s FROM c RETURNING id",
        (pid, agent_uuid, customer_uuid),
    )


def _park(d, target: str, leg: str) -> None:
    job = d.switch.originate(target, uuid=leg, timeout_s=10, caller_id_number="+551140040000")
    assert job.wait(10).ok


def test_a_later_dispatcher_hangs_up_a_dead_dispatchers_parked_customer_then_dials_again(
    sim, db_dsn, make_dispatcher
):
    from voiceai_ivr.switch import new_uuid

    from .helpers import add_domain

    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="2001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(
        agents={"2001": {"behavior": "answer", "accept": True}},
        customers={number: {"behavior": "answer", "talk_for": 3600}},
    )
    d = make_dispatcher()
    # the dead dispatcher's customer leg: answered, parked, no park timeout (an
    # old dispatcher), no agent any more
    old_customer = new_uuid()
    _park(d, f"sofia/gateway/pstn/{number}", old_customer)
    _stale(db_dsn, pid, agent_uuid=new_uuid(), customer_uuid=old_customer)
    summary = d.run_once()
    assert summary.recovered == 1 and summary.completed == 1, summary.as_dict()
    assert not d.switch.exists(old_customer)  # hung up before the customer was dialled again
    attempts = fetch(
        db_dsn,
        "SELECT a.attempt_no, a.outcome, a.details->'hung_up_legs' FROM callback_attempts a"
        " JOIN callbacks c ON c.id = a.callback_id WHERE c.public_id = %s ORDER BY a.attempt_no",
        (pid,),
    )
    assert attempts[0][:2] == (1, "failed") and attempts[0][2] == [old_customer]
    assert attempts[1][1] == "completed"
    assert callback_row(db_dsn, pid)["status"] == "completed"


def test_a_later_dispatcher_leaves_a_bridged_conversation_alone_and_completes_it(sim, db_dsn, make_dispatcher):
    from voiceai_ivr.switch import new_uuid

    from .helpers import add_domain

    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="2001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(
        agents={"2001": {"behavior": "answer", "talk_for": 3600}},
        customers={number: {"behavior": "answer", "talk_for": 3600}},
    )
    d = make_dispatcher()
    # the dead dispatcher had bridged agent and customer: they are talking
    agent_leg, customer_leg = new_uuid(), new_uuid()
    _park(d, f"user/2001@{DOMAIN}", agent_leg)
    _park(d, f"sofia/gateway/pstn/{number}", customer_leg)
    d.switch.bridge(agent_leg, customer_leg)
    deadline = time.monotonic() + 5
    while d.switch.getvar(customer_leg, "bridge_uuid") != agent_leg:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    _stale(db_dsn, pid, agent_uuid=agent_leg, customer_uuid=customer_leg)
    summary = d.run_once()
    assert summary.recovered == 1 and summary.claimed == 0
    assert d.switch.exists(agent_leg) and d.switch.exists(customer_leg)  # never cut
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["last_outcome"]) == ("completed", "completed")
    kinds = [(k, s) for k, s in fetch(
        db_dsn,
        "SELECT o.kind, o.payload->>'status' FROM helpdesk_outbox o JOIN callbacks c ON c.id = o.callback_id"
        " WHERE c.public_id = %s ORDER BY o.id",
        (pid,),
    )]
    assert kinds == [("callback.attempt", "completed"), ("callback.result", "completed")]
    assert sim.originate_counts().get(number) == 1  # nobody dialled again
