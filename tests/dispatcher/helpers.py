"""Test data for the dispatcher and API tests: domains, destinations and due
callbacks written straight into a real database (bulk, so 10,000 rows take
well under a second)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import psycopg2
import psycopg2.extras


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def add_domain(
    dsn: str,
    domain: str,
    *,
    hours: Any = None,
    settings: Optional[dict] = None,
    timezone_name: str = "America/Sao_Paulo",
) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO domains (domain, timezone, hours, settings) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (domain) DO NOTHING",
                (domain, timezone_name, json.dumps(hours) if hours is not None else None, json.dumps(settings or {})),
            )
    finally:
        conn.close()


def add_callbacks(
    dsn: str,
    domain: str,
    count: int,
    *,
    agent_extension: Optional[str] = "1001",
    agents: Optional[list] = None,
    window_start: Optional[datetime] = None,
    window_end: Optional[datetime] = None,
    next_attempt_at: Optional[datetime] = None,
    created_at: Optional[datetime] = None,
    number_base: int = 5511900000000,
    reason: str = "segunda via do boleto",
    status: str = "pending",
) -> list[str]:
    """``count`` callbacks (distinct numbers); returns their public ids in order."""
    now = datetime.now(timezone.utc)
    ws = window_start or now - timedelta(minutes=5)
    we = window_end or now + timedelta(hours=4)
    nxt = next_attempt_at or ws
    created = created_at or now - timedelta(minutes=10)
    rows = []
    ids = []
    for i in range(count):
        pid = str(uuid.uuid4())
        ids.append(pid)
        ext = agents[i % len(agents)] if agents else agent_extension
        rows.append(
            (pid, domain, status, f"+{number_base + i}", f"Cliente {i}", ws, we, reason, "pt-BR", ext, nxt, created)
        )
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO callbacks (public_id, domain, status, number_e164, caller_name, window_start,"
                " window_end, reason, language, agent_extension, next_attempt_at, created_at) VALUES %s",
                rows,
                page_size=1000,
            )
    finally:
        conn.close()
    return ids


def fetch(dsn: str, sql: str, params: Any = None) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def callback_row(dsn: str, public_id: str) -> dict:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM callbacks WHERE public_id = %s", (public_id,))
            row = cur.fetchone()
            assert row is not None, public_id
            return dict(row)
    finally:
        conn.close()
