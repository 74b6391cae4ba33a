"""PostgreSQL unreachable at call start, in the middle of a callback capture and at
the confirmation: the caller still hears a confirmation (the request is spooled,
fsync'd), and once PostgreSQL is back the replay puts every request in the
database exactly once; calls after the outage are stored directly again.

This uses its OWN embedded PostgreSQL, stopped and restarted here (stopping the
shared test server would break every other test).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from own_postgres import own_cluster, restart_cluster, stop_cluster

from voiceai_ivr.config import Config
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores.calllog import install_writer, journal_dir, uninstall_writer
from voiceai_ivr.stores.calls import get_call, list_transfer_attempts
from voiceai_ivr.stores.db import Database, ensure_embedded
from voiceai_ivr.stores.migrate import migrate
from voiceai_ivr.stores.spool import replay_spool, spool_path, spool_status

from .conftest import Ledger, SlotHooks, build_fault_stack, ivr_text, scenario

AGENT = {"1001": {"behavior": "answer", "answer_after": 2, "accept": True}}
TRANSFER_CALL = scenario([{"say": "financeiro"}], agents=AGENT)
CALLBACK_CALL = [{"say": "me liga depois por favor"}, {"say": "sim"}, {"say": "amanhã de manhã"},
                 {"say": "segunda via do boleto"}, {"say": "sim"}]


@pytest.fixture
def own_pg() -> Iterator[Path]:
    with own_cluster("faultpg") as path:
        yield path


def _stack_on_own_pg(own_pg: Path, tmp_path: Path) -> tuple[Database, Config]:
    dsn = ensure_embedded(own_pg, connect_timeout=10)
    db = Database(dsn, pool_size=4, connect_timeout=2, statement_timeout_ms=5000)
    migrate(db)
    config = Config()
    config.database.dsn = dsn
    config.database.data_dir = str(tmp_path)
    return db, config


def test_postgres_down_mid_capture_and_at_confirmation(own_pg: Path, tmp_path: Path, ledger: Ledger,
                                                       on_slot: SlotHooks) -> None:
    db, config = _stack_on_own_pg(own_pg, tmp_path)
    spool = spool_path(config)
    try:
        with build_fault_stack(db, config) as fs:
            warm = fs.run(scenario(CALLBACK_CALL))  # directory cached, pool connected, one callback stored
            assert "confirmad" in ivr_text(warm).lower(), warm["transcript"]

            # down when the IVR asks "when" (mid-capture)
            on_slot["when"] = lambda: stop_cluster(own_pg)
            mid = fs.run_wire(scenario(CALLBACK_CALL, caller="+5511998760001"))
            ledger.fault("postgres_down:mid_capture")
            assert on_slot.fired == ["when"] and not on_slot.errors, on_slot.errors

            # back; then down when the IVR reads the request back for confirmation
            restart_cluster(own_pg)
            on_slot["confirm_callback"] = lambda: stop_cluster(own_pg)
            confirm = fs.run_wire(scenario(CALLBACK_CALL, caller="+5511998760003"))
            ledger.fault("postgres_down:confirmation")
            assert "confirm_callback" in on_slot.fired and not on_slot.errors, on_slot.errors

            for result in (mid, confirm):
                assert result["legs_left_up"] == 0 and result["errors"] == [], result["transcript"]
                assert result["socket_end"] == "exit", result["socket_end"]
                # the caller heard the confirmation: the promise is kept in the spool
                assert "confirmad" in ivr_text(result).lower(), result["transcript"]
                ledger.call(result["call_uuid"])
            assert fs.server.server.calls_failed == 0
            assert not fs.handlers.escaped, fs.handlers.escaped
            assert spool_status(spool).entries == 2

            # back again: replay once; a second replay changes nothing
            dsn = restart_cluster(own_pg)
            fresh = Database(dsn, pool_size=2, connect_timeout=5)
            try:
                first = replay_spool(fresh, spool, messages=confirmed_messages(config))
                replay_spool(fresh, spool, messages=confirmed_messages(config))
                rows = _callbacks(fresh)
            finally:
                fresh.close()
            numbers = sorted(r[0] for r in rows)
            expected = ["+5511998760001", "+5511998760003", "+5511998765432"]
            ledger.callbacks(3, len(set(numbers) & set(expected)), "postgres outage")
            assert numbers == expected, (rows, first)
            assert all(r[1] == 1 for r in rows), rows  # one helpdesk ticket each

            # and the running server stores the next one directly, through its old pool
            after = fs.run(scenario(CALLBACK_CALL, caller="+5511998760004"))
            assert "confirmad" in ivr_text(after).lower(), after["transcript"]
            assert len(fs.stack.callbacks(call_uuid=after["call_uuid"])) == 1
            ledger.callbacks(1, 1, "after the outage")
            ledger.call(after["call_uuid"])
    finally:
        db.close()


def test_postgres_down_at_call_start_still_takes_a_callback(own_pg: Path, tmp_path: Path,
                                                            ledger: Ledger) -> None:
    db, config = _stack_on_own_pg(own_pg, tmp_path)
    try:
        with build_fault_stack(db, config) as fs:
            warm = fs.run(scenario(CALLBACK_CALL))  # the directory is cached by now
            assert "confirmad" in ivr_text(warm).lower()
            stop_cluster(own_pg)
            result = fs.run_wire(scenario(CALLBACK_CALL, caller="+5511998760002"))
            ledger.fault("postgres_down:call_start")
            assert result["legs_left_up"] == 0 and result["errors"] == [], result["transcript"]
            assert fs.server.server.calls_failed == 0 and not fs.handlers.escaped
            ledger.call(result["call_uuid"])
            heard = ivr_text(result).lower()
            if "confirmad" not in heard:
                # no callback was lost (none was promised), but the caller was not served
                ledger.note("postgres down at call start: apology only, no callback offered (xfail)")
            assert "confirmad" in heard, heard
            assert spool_status(spool_path(config)).entries == 1
    finally:
        db.close()


def _callbacks(db: Database) -> list[Any]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT c.number_e164, (SELECT count(*) FROM helpdesk_outbox o WHERE o.callback_id = c.id"
            " AND o.kind = 'callback.created') FROM callbacks c ORDER BY c.number_e164"
        )
        return list(cur.fetchall())


def test_postgres_down_during_a_transfer_the_attempt_arrives_once_when_it_returns(
        own_pg: Path, tmp_path: Path, ledger: Ledger) -> None:
    """``serve``'s journaled writer (installed as ``serve`` installs it): a transfer
    while PostgreSQL is stopped still reaches the agent; its attempt row (and the
    helpdesk notice written with it) reach the database once PostgreSQL is back,
    exactly once, also after the writer is restarted on the same journal."""
    db, config = _stack_on_own_pg(own_pg, tmp_path)
    journal = journal_dir(config.database.data_dir)
    try:
        with build_fault_stack(db, config) as fs:
            writer = install_writer(db, journal, retry_max_s=1.0)
            assert writer is not None
            try:
                warm = fs.run(TRANSFER_CALL)  # directory cached, pool connected
                assert warm["outcome"] == "transferred", warm["transcript"]
                stop_cluster(own_pg)
                result = fs.run_wire(scenario([{"say": "financeiro"}], caller="+5511998760005", agents=AGENT))
                ledger.fault("postgres_down:transfer")
                ledger.call(result["call_uuid"])
                assert result["legs_left_up"] == 0 and result["errors"] == [], result["transcript"]
                # the caller reached the agent (the wire's view: no database to ask)
                assert [t["status"] for t in result["transfers"]] == ["bridged"], result["transfers"]
                assert fs.wait_handlers_idle(10.0)
                assert not writer.flush(0.5)  # waiting for the database, kept in the journal
                assert list(journal.glob("calllog-*.jsonl"))

                restart_cluster(own_pg)
                back = time.monotonic()
                assert writer.flush(20.0), "the journaled rows never reached the database"
                print(f"\nattempt row in the database {time.monotonic() - back:.2f}s after PostgreSQL answered")
            finally:
                stopped_clean = uninstall_writer(db, 10.0)
            assert stopped_clean
            again = install_writer(db, journal)  # a restarted serve: nothing left to replay
            assert again is not None and uninstall_writer(db, 10.0) and again.replayed == 0
            with db.cursor() as cur:
                rows = list_transfer_attempts(cur, result["call_uuid"])
                cur.execute("SELECT count(*) FROM helpdesk_outbox WHERE call_uuid = %s AND kind = %s",
                            (result["call_uuid"], "transfer.completed"))
                notices = int(cur.fetchone()[0])
                call = get_call(cur, result["call_uuid"])
            assert [r["status"] for r in rows] == ["accepted"], rows
            assert notices == 1
            assert call is not None and call["outcome"] == "transferred"
            assert list(journal.glob("calllog-*.jsonl")) == []
    finally:
        db.close()
