"""Dispatcher claim benchmark: claims per second with N dispatcher processes on
M due callbacks, against PostgreSQL.

Each process runs the dispatcher's database path for every callback, exactly as
``Dispatcher.attempt`` does around a call: claim a batch (``SELECT ... FOR
UPDATE SKIP LOCKED`` + lease + attempt rows), then per callback record the
agent leg (``record_legs``) and finish the attempt as ``completed`` with its
helpdesk outbox rows (``finish_attempt``), each in its own short transaction.
(A release-only mode would make every callback due again at once, so there is
none: a released callback is simply claimed again.) The PBX part
(originate, whisper, bridge) is EXCLUDED: this measures the database side only;
the simulator tests measure whole attempts.

    python benchmarks/dispatch_bench.py [--processes 4] [--callbacks 10000] [--batch 50]

Prints one JSON object (with the machine's core count) and checks that every
callback was claimed exactly once. Uses a throw-away embedded PostgreSQL
(pgserver) unless VOICEAI_BENCH_DSN names an admin DSN of another server.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pg import admin_uri, fresh_database  # noqa: E402

from voiceai_ivr.config import RetryPolicy  # noqa: E402
from voiceai_ivr.domain.retry import resolve  # noqa: E402
from voiceai_ivr.integrations.helpdesk_messages import attempt_event, result_event  # noqa: E402
from voiceai_ivr.stores import dispatch as store  # noqa: E402
from voiceai_ivr.stores.db import Database  # noqa: E402
from voiceai_ivr.stores.migrate import migrate  # noqa: E402

SEED = """
INSERT INTO domains (domain) VALUES ('bench.example') ON CONFLICT DO NOTHING;
INSERT INTO callbacks (public_id, domain, number_e164, window_start, window_end, reason,
                       agent_extension, next_attempt_at)
SELECT md5(i::text || %(salt)s)::uuid, 'bench.example', '+55119' || lpad(i::text, 8, '0'),
       now() - interval '5 minutes', now() + interval '3 hours', 'boleto ' || i, '1001',
       now() - interval '1 minute'
FROM generate_series(1, %(n)s) AS i
"""




def _worker(dsn: str, index: int, batch: int, start: Any, out: Any) -> None:
    db = Database(dsn, pool_size=2, statement_timeout_ms=30000)
    owner = f"bench:{os.getpid()}:{index}"
    policy = RetryPolicy()
    claimed = finished = 0
    start.wait(60)
    t0 = time.perf_counter()
    claim_s = 0.0
    while True:
        c0 = time.perf_counter()
        with db.transaction() as cur:
            items = store.claim_due(cur, owner, limit=batch, lease_seconds=300.0)
        claim_s += time.perf_counter() - c0
        if not items:
            break
        claimed += len(items)
        for item in items:
            with db.transaction() as cur:
                store.record_legs(cur, item, agent_uuid=item.agent_uuid)
            now = datetime.now(timezone.utc)
            resolution = resolve("completed", item.attempts, policy, now)
            events = [
                attempt_event(item, "completed", None, resolution, now),
                result_event(item.public_id, item.domain, None, "completed", "completed", item.attempts, now),
            ]
            with db.transaction() as cur:
                if store.finish_attempt(cur, item, outcome="completed", resolution=resolution, events=events):
                    finished += 1
    elapsed = time.perf_counter() - t0
    db.close()
    out.put({"worker": index, "claimed": claimed, "finished": finished, "seconds": elapsed, "claim_seconds": claim_s})


def run(dsn: str, processes: int, batch: int) -> dict:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(dsn, i, batch, start, out)) for i in range(processes)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process import and connect before the clock starts
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    return {"wall_seconds": wall, "workers": sorted(results, key=lambda r: r["worker"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="claims per transaction (dispatcher.batch_size)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        admin = admin_uri(Path(tmpdir))
        dsn = fresh_database(admin)
        db = Database(dsn, pool_size=1, statement_timeout_ms=0)
        migrate(db)
        with db.transaction() as cur:
            cur.execute(SEED, {"n": args.callbacks, "salt": secrets.token_hex(4)})
        db.close()
        result = run(dsn, args.processes, args.batch)
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT callback_id) FROM callback_attempts")
            attempts, distinct = cur.fetchone()
            cur.execute("SELECT count(*) FROM callbacks WHERE status = 'completed'")
            completed = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM helpdesk_outbox")
            outbox_rows = cur.fetchone()[0]
        conn.close()
    claimed = sum(w["claimed"] for w in result["workers"])
    wall = result["wall_seconds"]
    print(json.dumps({
        "benchmark": "dispatch_claims",
        "cores": os.cpu_count(),
        "processes": args.processes,
        "callbacks": args.callbacks,
        "batch": args.batch,
        "pbx": "excluded (database path only: claim + lease + record leg + finish with outbox rows)",
        "wall_seconds": round(wall, 3),
        "claims_per_second": round(claimed / wall, 1) if wall else None,
        "claimed": claimed,
        "claimed_exactly_once": claimed == args.callbacks == attempts == distinct,
        "completed": completed,
        "outbox_rows": outbox_rows,
        "per_worker": [{"claimed": w["claimed"], "seconds": round(w["seconds"], 3),
                        "claim_tx_seconds": round(w["claim_seconds"], 3)} for w in result["workers"]],
    }))


if __name__ == "__main__":
    main()
