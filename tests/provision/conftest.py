"""FusionPBX's tables (tests/fixtures/fusionpbx_schema.sql) in a fresh database of
the session's real PostgreSQL (``empty_db_dsn`` from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "fusionpbx_schema.sql"


@pytest.fixture
def fusion_dsn(empty_db_dsn: str) -> str:
    conn = psycopg2.connect(empty_db_dsn, connect_timeout=10)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(FIXTURE.read_text())
    finally:
        conn.close()
    return empty_db_dsn
