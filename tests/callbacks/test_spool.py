"""The local spool: durable appends and exactly-once replay (real files, real PostgreSQL)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores.callbacks import CallbackFilter, CallbackRequest, count_callbacks, list_callbacks
from voiceai_ivr.stores.db import Database
from voiceai_ivr.stores.spool import append_to_spool, replay_spool, spool_path, spool_status

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


def req(i: int, **kw) -> CallbackRequest:
    fields = {
        "domain": "a.example",
        "number_e164": f"+5511987654{i:03d}",
        "window_start": T0 + timedelta(hours=1),
        "window_end": T0 + timedelta(hours=3),
        "reason": f"motivo {i}",
        "transcript": f"transcrição {i} ção",
    }
    fields.update(kw)
    return CallbackRequest(**fields)


def count(db) -> int:
    with db.cursor() as cur:
        return count_callbacks(cur)


def dead_database() -> Database:
    """A database nobody listens for (PostgreSQL down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return Database(f"postgresql://postgres@127.0.0.1:{port}/x", connect_timeout=1, pool_size=1)


class Interrupt(BaseException):
    """Stands for the process dying (not an Exception: nothing may swallow it)."""


def test_append_is_durable_json_lines_and_status_counts(tmp_path):
    path = tmp_path / "spool" / "cb.jsonl"
    entries = [append_to_spool(path, req(i)) for i in range(3)]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["spool_id"] == entries[0].spool_id == first["request"]["spool_id"]
    assert first["request"]["source"] == "spool" and first["request"]["transcript"] == "transcrição 0 ção"
    st = spool_status(path)
    assert st.entries == 3 and st.unreadable == 0 and st.files == 1 and st.oldest is not None


def test_default_path_is_in_the_data_dir(config):
    assert spool_path(config).parent == __import__("pathlib").Path(config.database.data_dir)
    config.callbacks.spool_path = "/somewhere/else.jsonl"
    assert str(spool_path(config)) == "/somewhere/else.jsonl"


def test_replay_inserts_each_entry_once_and_removes_the_file(db, tmp_path):
    path = tmp_path / "cb.jsonl"
    for i in range(5):
        append_to_spool(path, req(i))
    report = replay_spool(db, path, messages=confirmed_messages())
    assert (report.created, report.duplicates, report.remaining, report.errors) == (5, 0, 0, [])
    assert not path.exists() and spool_status(path).entries == 0
    with db.cursor() as cur:
        rows = list_callbacks(cur, CallbackFilter(domain="a.example"), limit=10)
    assert all(r.source == "spool" and r.spool_id for r in rows)
    assert replay_spool(db, path, messages=confirmed_messages()).replayed == 0
    assert count(db) == 5


def test_replay_interrupted_halfway_then_rerun_never_duplicates(db, tmp_path):
    path = tmp_path / "cb.jsonl"
    for i in range(10):
        append_to_spool(path, req(i))
    seen = []

    def die_after_four(entry):
        seen.append(entry.spool_id)
        if len(seen) == 4:
            raise Interrupt

    with pytest.raises(Interrupt):
        replay_spool(db, path, messages=confirmed_messages(), on_saved=die_after_four)
    assert count(db) == 4
    assert spool_status(path).entries == 10  # nothing compacted before the crash
    append_to_spool(path, req(99))  # a call spooled meanwhile goes to a fresh file
    report = replay_spool(db, path, messages=confirmed_messages())
    assert report.duplicates == 4 and report.created == 7 and report.remaining == 0
    assert count(db) == 11
    assert spool_status(path).files == 0


def test_merged_entries_are_not_appended_twice_on_rerun(db, tmp_path):
    path = tmp_path / "cb.jsonl"
    append_to_spool(path, req(1, reason="primeiro"))
    append_to_spool(path, req(1, reason="segundo"))  # same number: merges into one callback
    n = []

    def die_at_end(entry):
        n.append(entry)
        if len(n) == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        replay_spool(db, path, messages=confirmed_messages(), on_saved=die_at_end)
    report = replay_spool(db, path, messages=confirmed_messages())
    assert report.duplicates == 2 and report.replayed == 0
    with db.cursor() as cur:
        (cb,) = list_callbacks(cur)
    assert cb.reason == "primeiro\n---\nsegundo"


def test_torn_line_is_rejected_not_lost_and_next_append_survives(db, tmp_path):
    path = tmp_path / "cb.jsonl"
    append_to_spool(path, req(1))
    with open(path, "ab") as fh:
        fh.write(b'{"v":1,"spool_id":"tor')  # a writer died mid-line
    append_to_spool(path, req(2))
    st = spool_status(path)
    assert st.entries == 2 and st.unreadable == 1
    report = replay_spool(db, path, messages=confirmed_messages())
    assert report.created == 2 and report.rejected == 1
    rejected = (tmp_path / "cb.jsonl.rejected").read_text().splitlines()
    assert len(rejected) == 1 and "tor" in json.loads(rejected[0])["line"]
    assert spool_status(path).rejected == 1


def test_database_unreachable_keeps_everything(tmp_path):
    dead = dead_database()
    path = tmp_path / "cb.jsonl"
    for i in range(3):
        append_to_spool(path, req(i))
    report = replay_spool(dead, path, messages=confirmed_messages())
    assert report.database_unavailable and report.remaining == 3 and report.replayed == 0
    assert spool_status(path).entries == 3


def test_concurrent_replays_from_several_processes(db, tmp_path, cli_env):
    path = tmp_path / "cb.jsonl"
    for i in range(60):
        append_to_spool(path, req(i))
    env = {**os.environ, **cli_env}
    env.pop("VOICEAI_CONFIG", None)
    cmd = [
        sys.executable,
        "-c",
        "from voiceai_ivr.cli import main; main()",
        "spool",
        "replay",
        "--path",
        str(path),
        "--json",
    ]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-500:] for o in outs]
    reports = [json.loads(o[0]) for o in outs]
    assert sum(r["created"] for r in reports) == 60
    assert count(db) == 60
    assert spool_status(path).entries == 0


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_spool_folder_and_files_are_private_whatever_the_umask(db, tmp_path, umask):
    path = tmp_path / "new" / "deeper" / "cb.jsonl"
    old = os.umask(umask)
    try:
        append_to_spool(path, req(1))
        with open(path, "ab") as fh:
            fh.write(b'{"v":1,"spool_id":"tor')  # a torn line: replay rejects it to a file of its own
        append_to_spool(path, req(2))
        modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in (path, path.with_name("cb.jsonl.lock"))}
        report = replay_spool(db, path, messages=confirmed_messages())
    finally:
        os.umask(old)
    assert report.created == 2 and report.rejected == 1
    assert modes == {"cb.jsonl": 0o600, "cb.jsonl.lock": 0o600}
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "deeper").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.with_name("cb.jsonl.rejected")).st_mode) == 0o600


def test_an_open_spool_file_left_by_an_older_version_is_narrowed(tmp_path):
    path = tmp_path / "cb.jsonl"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    append_to_spool(path, req(1))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755  # a folder the admin made is left as it is


def test_serve_replayer_waits_out_an_outage_then_writes_each_entry_once(db, tmp_path):
    """``SpoolReplayer`` (serve's background replay): while the database is away
    the entries wait (the gauge says how many), once it answers they are written,
    exactly once, with no operator command."""
    from voiceai_ivr.metrics import Metrics
    from voiceai_ivr.stores.spool import SpoolReplayer, spool_pending

    dead = dead_database()
    path = tmp_path / "cb.jsonl"
    metrics = Metrics()
    # nothing waits: no database touched
    assert SpoolReplayer(dead, path, messages=confirmed_messages(), metrics=metrics).run_once() is None
    for i in range(3):
        append_to_spool(path, req(i))
    down = SpoolReplayer(dead, path, messages=confirmed_messages(), metrics=metrics)
    report = down.run_once()
    assert report is not None and report.database_unavailable and report.remaining == 3
    assert metrics.health()["spool_entries"] == 3 and spool_pending(path)
    append_to_spool(path, req(3))  # confirmed meanwhile: a fresh spool file beside the replay file
    up = SpoolReplayer(db, path, messages=confirmed_messages(), metrics=metrics, interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while (count(db) < 4 or spool_pending(path)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        up.stop()
    assert count(db) == 4 and not spool_pending(path) and up.replayed == 4
    assert metrics.health()["spool_entries"] == 0
    assert up.run_once() is None and count(db) == 4
