"""Console benchmark: how long each console page takes with 100,000 callbacks.

Seeds a database with ``--rows`` callbacks of one domain (spread over 90 days,
every status, three destinations, an attempt per finished one) plus calls and
transfer attempts, and a second domain's rows beside them; serves the API with
its console (``api.server``, waitress, in this process) and times each page
over HTTP from a logged-in client: dashboard (today, 7 days), callbacks list
(first page, filtered by status / destination / dates, and 20 pages deep),
one callback, destinations list and edit form. Then drops the indexes of
sql/005 and times those pages again, to show what they buy.

    python benchmarks/console_bench.py [--rows 100000] [--repeat 30] [--out FILE]

Prints one JSON object (milliseconds per page: median, p95, max). Uses a
throw-away embedded PostgreSQL (pgserver) unless VOICEAI_BENCH_DSN names an
admin DSN of another server. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pg import admin_uri, fresh_database  # noqa: E402

from voiceai_ivr.api import ApiServices, create_app  # noqa: E402
from voiceai_ivr.api.server import create_server  # noqa: E402
from voiceai_ivr.config import APIToken, Config  # noqa: E402
from voiceai_ivr.domain.destinations import parse_directory  # noqa: E402
from voiceai_ivr.stores.db import Database  # noqa: E402
from voiceai_ivr.stores.directory import import_directory  # noqa: E402
from voiceai_ivr.stores.migrate import migrate  # noqa: E402

TOKEN = "bench-console-token-0123456789"
DOMAIN = "bench.example"
NAMES = ("Financeiro", "Suporte Técnico", "Comercial")
DIRECTORY = {
    "domain": DOMAIN,
    "timezone": "America/Sao_Paulo",
    "secretaries": [{"name": "Recepção", "dids": ["8000"], "language": "pt-BR"}],
    "destinations": [
        {"name": n, "aliases": [n.lower()], "type": "extension", "target": str(1001 + i), "menu_key": i + 1}
        for i, n in enumerate(NAMES)
    ],
}
# Callbacks over the last 90 days; a quarter finished with an attempt each.
SEED = """
INSERT INTO callbacks (public_id, domain, status, number_e164, window_start, window_end, reason,
                       transcript, destination_name, next_attempt_at, created_at, completed_at, attempts)
SELECT md5(i::text || %(salt)s)::uuid, %(domain)s,
       CASE WHEN i %% 4 = 0 AND i <= %(open)s THEN 'pending'
            WHEN i %% 1000 = 7 THEN 'cancelled'  -- a rare status: 0.1%% of the rows, spread over 90 days
            ELSE (ARRAY['completed','failed','expired','completed'])[1 + i %% 4] END,
       '+55119' || lpad(i::text, 8, '0'),
       now() + interval '1 hour', now() + interval '3 hours',
       'Cliente pediu retorno sobre o boleto ' || i, 'quero falar sobre o boleto numero ' || i,
       (ARRAY['Financeiro','Suporte Técnico','Comercial'])[1 + i %% 3],
       now(), now() - (i * %(spread)s || ' seconds')::interval,
       CASE WHEN i %% 4 = 0 AND i <= %(open)s THEN NULL
            ELSE now() - (i * %(spread)s || ' seconds')::interval + interval '2 hours' END,
       1
FROM generate_series(1, %(n)s) AS i
"""
SEED_ATTEMPTS = """
INSERT INTO callback_attempts (callback_id, attempt_no, domain, dispatcher, agent_extension, outcome,
                               started_at, ended_at)
SELECT id, 1, domain, 'bench:1', '1001', CASE status WHEN 'completed' THEN 'completed' ELSE 'no_answer' END,
       completed_at - interval '1 minute', completed_at
FROM callbacks WHERE completed_at IS NOT NULL AND domain = %(domain)s
"""
SEED_CALLS = """
INSERT INTO calls (call_uuid, domain, did, caller_number, started_at, ended_at, outcome)
SELECT %(domain)s || '-' || i, %(domain)s, '8000', '+55119' || lpad(i::text, 8, '0'),
       now() - (i * %(spread)s || ' seconds')::interval, now() - (i * %(spread)s || ' seconds')::interval,
       (ARRAY['transferred','callback_created','caller_hangup','ended'])[1 + i %% 4]
FROM generate_series(1, %(n)s) AS i;
INSERT INTO transfer_attempts (call_uuid, domain, destination_name, status, started_at)
SELECT %(domain)s || '-' || i, %(domain)s, (ARRAY['Financeiro','Suporte Técnico','Comercial'])[1 + i %% 3],
       (ARRAY['accepted','busy','no_answer','offline'])[1 + i %% 4], now() - (i * %(spread)s || ' seconds')::interval
FROM generate_series(1, %(n)s, 2) AS i;
"""
CONSOLE_INDEXES = (
    "callbacks_domain_status_created",
    "callbacks_domain_destination_created",
    "callbacks_domain_completed",
)


def seed(db: Database, rows: int) -> None:
    spread = 90 * 86400 / rows  # seconds between two callbacks: 90 days in all
    import_directory(db, parse_directory(DIRECTORY))
    other = dict(DIRECTORY, domain="noise.example")
    import_directory(db, parse_directory(other))
    with db.transaction() as cur:
        for domain, n in ((DOMAIN, rows), ("noise.example", rows // 10)):
            cur.execute(SEED, {"salt": domain, "domain": domain, "n": n, "open": 2000, "spread": spread})
            cur.execute(SEED_ATTEMPTS, {"domain": domain})
            cur.execute(SEED_CALLS, {"domain": domain, "n": n, "spread": spread})
    with db.cursor() as cur:
        cur.execute("ANALYZE")


def timings(session: requests.Session, url: str, repeat: int) -> dict[str, Any]:
    session.get(url, timeout=30)  # warm: first use of a template, a plan, a pool connection
    spent = []
    status = 0
    for _ in range(repeat):
        start = time.perf_counter()
        resp = session.get(url, timeout=30, allow_redirects=False)
        spent.append((time.perf_counter() - start) * 1000)
        status = resp.status_code
    spent.sort()
    return {
        "status": status,
        "median_ms": round(statistics.median(spent), 1),
        "p95_ms": round(spent[max(0, int(len(spent) * 0.95) - 1)], 1),
        "max_ms": round(spent[-1], 1),
    }


def login(base: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/console/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    resp = s.post(base + "/console/login", data={"csrf": csrf.group(1), "token": TOKEN}, allow_redirects=False,
                  timeout=10)
    if resp.status_code != 303:
        raise SystemExit(f"login failed: {resp.status_code}")
    return s


def deep_page(s: requests.Session, base: str, pages: int) -> str:
    url = base + "/console/callbacks"
    for _ in range(pages):
        found = re.search(r'href="([^"]+)" id="next-page"', s.get(url, timeout=30).text)
        if not found:
            break
        url = base + found.group(1).replace("&amp;", "&")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        dsn = fresh_database(admin_uri(Path(tmpdir)))
        config = Config()
        config.database.dsn = dsn
        config.database.data_dir = tmpdir
        config.api.tokens = [APIToken(TOKEN, DOMAIN)]
        config.server.metrics_port = 0
        db = Database.from_config(config)
        migrate(db)
        start = time.perf_counter()
        seed(db, args.rows)
        seeded = time.perf_counter() - start
        server = create_server(create_app(config, ApiServices(db=db)), host="127.0.0.1", port=0, threads=4,
                               loop_timeout=0.05)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.effective_port}"
        try:
            s = login(base)
            with db.cursor() as cur:
                cur.execute("SELECT public_id FROM callbacks WHERE domain = %s ORDER BY created_at DESC LIMIT 1",
                            (DOMAIN,))
                pid = cur.fetchone()[0]
                cur.execute("SELECT id FROM destinations WHERE domain = %s ORDER BY id LIMIT 1", (DOMAIN,))
                dest_id = cur.fetchone()[0]
                cur.execute("SELECT count(*) FROM callbacks")
                total = cur.fetchone()[0]
            today = datetime.now(timezone.utc).date()
            pages = {
                "dashboard_today": "/console/dashboard",
                "dashboard_7_days": "/console/dashboard?period=7d",
                "callbacks_first_page": "/console/callbacks",
                "callbacks_status_pending": "/console/callbacks?status=pending",
                "callbacks_status_completed": "/console/callbacks?status=completed",
                "callbacks_destination": "/console/callbacks?destination=Comercial",
                # no row matches: without an index on status the whole domain is read
                "callbacks_status_in_progress": "/console/callbacks?status=in_progress",
                "callbacks_status_cancelled_rare": "/console/callbacks?status=cancelled",
                "callbacks_destination_without_callbacks": "/console/callbacks?destination=Nobody",
                "callbacks_30_days_ago_week": (
                    f"/console/callbacks?from={today.fromordinal(today.toordinal() - 37)}"
                    f"&to={today.fromordinal(today.toordinal() - 30)}"
                ),
                "callback_detail": f"/console/callbacks/{pid}",
                "destinations": "/console/destinations",
                "destination_edit": f"/console/destinations/{dest_id}",
            }
            results = {name: timings(s, base + path, args.repeat) for name, path in pages.items()}
            deep = deep_page(s, base, 20)
            results["callbacks_page_21"] = timings(s, deep, args.repeat)
            with db.cursor() as cur:
                for index in CONSOLE_INDEXES:
                    cur.execute(f"DROP INDEX {index}")
                cur.execute("ANALYZE callbacks")
            without = {
                name: timings(s, base + pages[name], args.repeat)
                for name in ("callbacks_first_page", "callbacks_status_pending", "callbacks_destination",
                             "callbacks_status_in_progress", "callbacks_status_cancelled_rare",
                             "callbacks_destination_without_callbacks",
                             "callbacks_30_days_ago_week", "dashboard_today", "dashboard_7_days")
            }
            without["callbacks_page_21"] = timings(s, deep, args.repeat)
        finally:
            server.close()
            db.close()
    report = {
        "benchmark": "console_bench",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "callbacks_in_database": total,
        "callbacks_of_the_domain": args.rows,
        "seed_seconds": round(seeded, 1),
        "repeat": args.repeat,
        "measured": "wall time per request at the client over HTTP (loopback), logged in, after one warm-up",
        "pages": results,
        "without_sql_005_list_indexes": without,
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
