"""PostgreSQL stops during a call: the request is spooled, the caller is still
confirmed, and after the restart the replay puts it in the database once.

Uses its OWN embedded PostgreSQL (stopped and restarted here), never the shared
test server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from voiceai_ivr.flows.callback import SAVED, SPOOLED, store_confirmed
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores.callbacks import CallbackRequest, list_callbacks
from voiceai_ivr.stores.db import Database, ensure_embedded, stop_embedded_at
from voiceai_ivr.stores.migrate import migrate
from voiceai_ivr.stores.spool import replay_spool, spool_path, spool_status

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


@pytest.fixture
def own_pg():
    root = Path(tempfile.mkdtemp(prefix="cbdown", dir=tempfile.gettempdir()))
    path = root / "pg"
    try:
        yield path
    finally:
        try:
            stop_embedded_at(path, timeout=20)
        except Exception:
            pass
        shutil.rmtree(root, ignore_errors=True)


def _restart(path: Path) -> str:
    # pgserver caches its server object per process, so this process cannot start
    # the cluster again after stopping it: start it from a fresh interpreter (as
    # the next `voiceai-ivr` command would after an outage).
    code = "import sys; from pathlib import Path; from voiceai_ivr.stores.db import ensure_embedded; "
    code += "print(ensure_embedded(Path(sys.argv[1]), connect_timeout=5))"
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-1000:]
    return out.stdout.strip().splitlines()[-1]


def req(i: int) -> CallbackRequest:
    return CallbackRequest(
        domain="a.example",
        number_e164=f"+5511987654{i:03d}",
        window_start=T0 + timedelta(hours=1),
        window_end=T0 + timedelta(hours=3),
        reason=f"motivo {i}",
        transcript=f"motivo {i}",
    )


def test_database_stopped_mid_call_spools_then_replays_once(own_pg, config):
    dsn = ensure_embedded(own_pg, connect_timeout=5)
    db = Database(dsn, pool_size=2, connect_timeout=2, statement_timeout_ms=5000)
    migrate(db)
    assert store_confirmed(db, req(1), config).outcome == SAVED  # the pool holds a live connection now

    assert stop_embedded_at(own_pg, timeout=30)
    started = datetime.now(timezone.utc)
    result = store_confirmed(db, req(2), config)
    assert (datetime.now(timezone.utc) - started).total_seconds() < 15  # bounded: the caller is waiting
    assert result.outcome == SPOOLED and result.confirmed
    assert spool_status(spool_path(config)).entries == 1
    db.close()

    dsn = _restart(own_pg)
    db = Database(dsn, pool_size=2, connect_timeout=2)
    try:
        first = replay_spool(db, spool_path(config), messages=confirmed_messages(config))
        second = replay_spool(db, spool_path(config), messages=confirmed_messages(config))
        assert (first.created, second.replayed) == (1, 0)
        with db.cursor() as cur:
            rows = {c.number_e164: c for c in list_callbacks(cur, limit=10)}
        assert sorted(rows) == ["+5511987654001", "+5511987654002"]
        spooled = rows["+5511987654002"]
        assert spooled.source == "spool" and spooled.spool_id == result.request.request_id
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM helpdesk_outbox WHERE callback_id = %s", (spooled.id,))
            assert cur.fetchone()[0] == 1
    finally:
        db.close()
