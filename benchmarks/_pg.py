"""PostgreSQL for the benchmarks: a throw-away embedded server (pgserver) unless
VOICEAI_BENCH_DSN names an admin DSN of another server, and a fresh database in it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg2


def admin_uri(tmp: Path) -> str:
    if os.environ.get("VOICEAI_BENCH_DSN"):
        return os.environ["VOICEAI_BENCH_DSN"]
    import pgserver

    return str(pgserver.get_server(str(tmp / "pg"), cleanup_mode="stop").get_uri())


def fresh_database(admin: str) -> str:
    """Create an empty database; returns its DSN (same server and options)."""
    name = f"voiceai_bench_{secrets.token_hex(4)}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base, _, query = admin.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")
