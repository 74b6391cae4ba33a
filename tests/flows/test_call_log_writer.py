"""The background call-log writer (``stores.calllog.CallLogWriter``): rows reach the
table in batches, a crash of the process loses nothing (the journal is replayed by
the next writer, once), a row the database refuses is kept apart, and an outage is
waited out."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from harness import scenario_stack

from voiceai_ivr.config import Config
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.stores import calllog, calls
from voiceai_ivr.stores.db import Database

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _row(db: Database, call_uuid: str) -> dict[str, Any]:
    with db.cursor() as cur:
        row = calls.get_call(cur, call_uuid)
    assert row is not None, call_uuid
    return row


def _count(db: Database, like: str) -> int:
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM calls WHERE call_uuid LIKE %s", (like,))
        return int(cur.fetchone()[0])


def _journals(directory: Path) -> list[Path]:
    return sorted(directory.glob("calllog-*.jsonl"))


def test_rows_are_written_in_batches_with_the_call_times(db: Database, tmp_path: Path) -> None:
    writer = calllog.CallLogWriter(db, tmp_path / "j").start()
    try:
        before = time.time()
        for i in range(40):
            writer.open_call(call_uuid=f"w-{i}", domain="demo.local", did="8000", caller_number="+5511998765432",
                             language="pt-BR", mode="socket", details={"clock": "x"})
        for i in range(40):
            writer.close_call(call_uuid=f"w-{i}", domain="demo.local", mode="socket", outcome="transferred",
                              hangup_cause="NORMAL_CLEARING", intents=[{"intent": "transfer"}],
                              details={"states": ["greeting", f"s{i}"]})
        writer.close_call(call_uuid="w-nostart", domain="demo.local", mode="socket", outcome="ended")
        assert writer.flush(10.0)
        assert writer.batches < 81  # rows queued together share a transaction
    finally:
        assert writer.stop(10.0)
    assert _journals(tmp_path / "j") == []  # everything committed: the journal is gone
    row = _row(db, "w-7")
    assert row["outcome"] == "transferred" and row["hangup_cause"] == "NORMAL_CLEARING"
    assert row["details"] == {"clock": "x", "states": ["greeting", "s7"]}
    assert row["intents"] == [{"intent": "transfer"}] and row["caller_number"] == "+5511998765432"
    assert before - 1 <= row["started_at"].timestamp() <= row["ended_at"].timestamp() <= time.time() + 1
    closed_only = _row(db, "w-nostart")  # no start row: inserted, then closed (as close_call_log did)
    assert closed_only["outcome"] == "ended" and closed_only["ended_at"] is not None


def test_bad_rows_are_refused_in_the_calling_thread(db: Database, tmp_path: Path) -> None:
    writer = calllog.CallLogWriter(db, tmp_path / "j").start()
    try:
        with pytest.raises(ValidationError):
            writer.open_call(call_uuid="", domain="d")
        with pytest.raises(ValidationError):
            writer.open_call(call_uuid="x", domain="d", mode="carrier-pigeon")
        with pytest.raises(ValidationError):
            writer.close_call(call_uuid="x", domain="d", mode="socket", outcome="maybe")
        loop: dict[str, Any] = {}
        loop["self"] = loop
        with pytest.raises(ValidationError):
            writer.close_call(call_uuid="x", domain="d", mode="socket", outcome="ended", details=loop)
        assert writer.flush(2.0) and writer.rows_written == 0
    finally:
        writer.stop(5.0)


def test_a_row_the_database_refuses_is_kept_apart_and_the_others_written(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "j"
    writer = calllog.CallLogWriter(db, directory, linger_s=0.05).start()
    try:
        writer.open_call(call_uuid="ok-1", domain="demo.local")
        writer.open_call(call_uuid="bad-1", domain="demo.local", secretary_id=987654321)  # no such secretary
        writer.open_call(call_uuid="ok-2", domain="demo.local")
        assert writer.flush(10.0)
    finally:
        writer.stop(5.0)
    assert _count(db, "ok-%") == 2 and _count(db, "bad-%") == 0
    rejected = [json.loads(line) for line in (directory / "calllog.rejected").read_text().splitlines()]
    assert [r["row"]["call_uuid"] for r in rejected] == ["bad-1"]


CRASHING_WRITER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from voiceai_ivr.stores.calllog import CallLogWriter
    from voiceai_ivr.stores.db import Database

    # A database nobody listens on: rows can only reach the journal.
    db = Database("postgresql://nobody@127.0.0.1:9/none", pool_size=1, connect_timeout=1)
    writer = CallLogWriter(db, Path(sys.argv[1]), max_pending=int(sys.argv[2])).start()
    for i in range(int(sys.argv[3])):
        writer.open_call(call_uuid=f"crash-{i}", domain="demo.local", caller_number="+5511998765432")
        writer.close_call(call_uuid=f"crash-{i}", domain="demo.local", mode="socket", outcome="caller_hangup",
                          details={"n": i})
    os._exit(0)  # no stop, no flush: as a kill -9 would leave it
""")


@pytest.mark.parametrize("max_pending", [20000, 3])  # in memory, and past the memory bound
def test_rows_of_a_crashed_process_are_replayed_once_by_the_next_writer(db: Database, tmp_path: Path,
                                                                         max_pending: int) -> None:
    directory = tmp_path / "j"
    out = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(directory), str(max_pending), "25"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert _journals(directory), "the crashed writer left no journal"
    assert _count(db, "crash-%") == 0

    writer = calllog.CallLogWriter(db, directory).start()
    try:
        deadline = time.monotonic() + 20
        while _journals(directory) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.replayed == 50
    finally:
        assert writer.stop(5.0)
    assert _journals(directory) == []
    assert _count(db, "crash-%") == 25
    row = _row(db, "crash-24")
    assert row["outcome"] == "caller_hangup" and row["details"] == {"n": 24}
    assert row["caller_number"] == "+5511998765432"


def test_replaying_a_journal_twice_changes_nothing(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "j"
    directory.mkdir()
    rows = [
        {"op": "open", "call_uuid": "twice-1", "domain": "demo.local", "secretary_id": None, "did": "8000",
         "caller_number": "+5511998765432", "caller_name": None, "language": "pt-BR", "mode": "socket",
         "details": "{}", "at": "2026-11-24T13:30:00+00:00"},
        {"op": "close", "call_uuid": "twice-1", "domain": "demo.local", "mode": "socket", "outcome": "ended",
         "hangup_cause": None, "intents": "[]", "details": '{"states": ["a"]}', "at": "2026-11-24T13:31:00+00:00"},
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows) + '{"op": "open", "call_uu'  # torn last line
    for attempt in range(2):
        (directory / f"calllog-1-{attempt}.jsonl").write_text(text)
        writer = calllog.CallLogWriter(db, directory).start()
        deadline = time.monotonic() + 10
        while _journals(directory) and time.monotonic() < deadline:
            time.sleep(0.05)
        writer.stop(5.0)
        row = _row(db, "twice-1")
        assert row["details"] == {"states": ["a"]} and row["outcome"] == "ended"
        assert row["ended_at"].isoformat() == "2026-11-24T13:31:00+00:00"
    assert _count(db, "twice-%") == 1


def _attempts(db: Database, call_uuid: str) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        return calls.list_transfer_attempts(cur, call_uuid)


def _notices(db: Database, key: str) -> int:
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM helpdesk_outbox WHERE idempotency_key = %s", (key,))
        return int(cur.fetchone()[0])


def _attempt(call_uuid: str, transfer_id: str, **changes: Any) -> calls.TransferAttemptRecord:
    rec = calls.TransferAttemptRecord(call_uuid=call_uuid, domain="demo.local", destination_name="Financeiro",
                                      status="accepted", dial_string="user/1001@demo.local", wait_seconds=4.25,
                                      details={"transfer_id": transfer_id, "states": ["ringing", "accepted"]})
    for name, value in changes.items():
        setattr(rec, name, value)
    return rec


def test_transfer_attempts_and_their_notice_are_written_once_even_when_replayed(db: Database,
                                                                                tmp_path: Path) -> None:
    """An attempt goes through the journal like the call log; replaying a journal
    whose rows were already committed (a writer killed after its commit, before
    deleting the file) adds no second attempt and no second notice."""
    directory = tmp_path / "j"
    writer = calllog.CallLogWriter(db, directory).start()
    try:
        writer.record_attempt(_attempt("att-1", "t-1"), notice=("transfer.completed", {"call_id": "att-1"},
                                                                "transfer.completed:t-1"))
        writer.record_attempt(_attempt("att-1", "t-2", status="busy"))
        writer.record_attempt(_attempt("att-1", "t-2", status="busy"))  # the same attempt twice in one batch
        with pytest.raises(ValidationError, match="transfer_id"):
            writer.record_attempt(_attempt("att-1", "", details={}))
        with pytest.raises(ValidationError, match="kind"):
            writer.record_attempt(_attempt("att-1", "t-3"), notice=("", {}, "k"))
        assert writer.flush(10.0)
        journal = b"".join(p.read_bytes() for p in _journals(directory))
    finally:
        assert writer.stop(5.0)
    assert [(a["details"]["transfer_id"], a["status"]) for a in _attempts(db, "att-1")] == [("t-1", "accepted"),
                                                                                            ("t-2", "busy")]
    assert float(_attempts(db, "att-1")[0]["wait_seconds"]) == 4.25
    assert _notices(db, "transfer.completed:t-1") == 1
    for n in range(2):  # the committed rows' journal, left behind by a crash, replayed twice
        (directory / f"calllog-9-{n}.jsonl").write_bytes(journal)
        writer = calllog.CallLogWriter(db, directory).start()
        deadline = time.monotonic() + 10
        while _journals(directory) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.stop(5.0) and writer.replayed == 3
    assert len(_attempts(db, "att-1")) == 2 and _notices(db, "transfer.completed:t-1") == 1


def test_an_attempt_whose_destination_was_deleted_meanwhile_is_kept(db: Database, tmp_path: Path) -> None:
    """Replayed after the destination it names was deleted: written with no
    destination id (as ON DELETE SET NULL would have left it), not refused."""
    writer = calllog.CallLogWriter(db, tmp_path / "j").start()
    try:
        writer.record_attempt(_attempt("att-gone", "t-gone", destination_id=2**62))
        assert writer.flush(10.0)
    finally:
        assert writer.stop(5.0)
    (row,) = _attempts(db, "att-gone")
    assert row["destination_id"] is None and row["destination_name"] == "Financeiro"


def test_an_outage_is_waited_out(db: Database, tmp_path: Path) -> None:
    """Rows submitted while the database refuses connections are written once it
    answers again (the writer keeps them and retries)."""
    down = Database("postgresql://nobody@127.0.0.1:9/none", pool_size=1, connect_timeout=1)
    writer = calllog.CallLogWriter(down, tmp_path / "j", retry_max_s=0.2).start()
    try:
        writer.open_call(call_uuid="outage-1", domain="demo.local")
        assert not writer.flush(0.5)
        writer.db = db  # the database is back
        assert writer.flush(10.0)
    finally:
        assert writer.stop(5.0)
    assert _row(db, "outage-1")["domain"] == "demo.local"


def test_calls_through_the_server_log_in_the_background(db: Database, config: Config, tmp_path: Path) -> None:
    """With the writer installed (as ``serve`` does), a whole transfer call writes its
    start and end rows through it, and nothing else about the call changes."""
    with scenario_stack(db, config, SCENARIOS / "directory.yaml") as stack:
        writer = calllog.install_writer(db, tmp_path / "j")
        assert writer is not None
        try:
            result = stack.run(SCENARIOS / "transfer_accepted.yaml")
            assert writer.flush(5.0)
            # the caller leg's start and end rows and the transfer attempt (agent legs log none)
            assert writer.rows_written == 3
        finally:
            assert calllog.uninstall_writer(db, 5.0)
    assert result["outcome"] == "transferred", result["transcript"]
    row = stack.call(result["call_uuid"])
    assert row["outcome"] == "transferred" and row["ended_at"] is not None
    assert row["details"]["states"] and row["intents"]
    (attempt,) = _attempts(db, result["call_uuid"])
    assert attempt["status"] == "accepted" and attempt["destination_id"] is not None
    assert _notices(db, f"transfer.completed:{attempt['details']['transfer_id']}") == 1
    assert _journals(tmp_path / "j") == []


def test_an_unusable_journal_folder_leaves_the_rows_to_each_call(db: Database, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert calllog.install_writer(db, blocker / "j") is None
    assert calllog.writer_for(db) is None
