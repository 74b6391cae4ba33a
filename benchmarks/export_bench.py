"""Export benchmark: `voiceai-ivr callbacks export --format csv` over N callbacks.

Prints one JSON object: rows per second and the exporting process's peak RSS for
a small and a large export, so a flat memory profile is visible at a glance.

    python benchmarks/export_bench.py [--rows 100000] [--small 10000]

Uses a throw-away embedded PostgreSQL (pgserver) unless VOICEAI_BENCH_DSN names
an admin DSN of another server. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pg import admin_uri, fresh_database  # noqa: E402

from voiceai_ivr.config import Config  # noqa: E402
from voiceai_ivr.stores.db import Database  # noqa: E402
from voiceai_ivr.stores.migrate import migrate  # noqa: E402

SEED = """
INSERT INTO callbacks (public_id, domain, status, number_e164, window_start, window_end, reason,
                       transcript, destination_name, next_attempt_at, created_at, completed_at)
SELECT md5(i::text || %(salt)s)::uuid, 'bench.example',
       (ARRAY['pending','completed','failed','expired'])[1 + i %% 4],
       '+55119' || lpad(i::text, 8, '0'),
       now() + interval '1 hour', now() + interval '3 hours',
       'Cliente pediu retorno sobre o boleto ' || i, 'quero falar sobre o boleto numero ' || i,
       (ARRAY['Financeiro','Suporte Técnico','Comercial'])[1 + i %% 3],
       now(), now() - (i || ' seconds')::interval,
       CASE WHEN i %% 4 = 1 THEN now() ELSE NULL END
FROM generate_series(1, %(n)s) AS i
"""




def _export(dsn: str, out: Path) -> dict:
    env = dict(os.environ, VOICEAI_DATABASE_DSN=dsn, VOICEAI_CONFIG="")
    cmd = [sys.executable, "-c", "from voiceai_ivr.cli import main; main()",
           "callbacks", "export", "--format", "csv", "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait4 gives this child's own peak RSS (KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"export failed with exit code {proc.returncode}")
    peak_kib = usage.ru_maxrss
    rows = sum(1 for _ in out.open(encoding="utf-8")) - 1
    return {
        "rows": rows,
        "seconds": round(elapsed, 3),
        "rows_per_second": round(rows / elapsed) if elapsed else None,
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        admin = admin_uri(tmp)
        results = {}
        for label, n in (("small", args.small), ("large", args.rows)):
            dsn = fresh_database(admin)
            cfg = Config()
            cfg.database.dsn = dsn
            db = Database.from_config(cfg)
            migrate(db)
            with db.transaction() as cur:
                cur.execute(SEED, {"n": n, "salt": label})
            db.close()
            results[label] = _export(dsn, tmp / f"{label}.csv")
        growth = results["large"]["peak_rss_mib"] - results["small"]["peak_rss_mib"]
        print(json.dumps({
            "benchmark": "callbacks_export_csv",
            "cores": os.cpu_count(),
            "small": results["small"],
            "large": results["large"],
            "peak_rss_growth_mib": round(growth, 1),
        }))


if __name__ == "__main__":
    main()
