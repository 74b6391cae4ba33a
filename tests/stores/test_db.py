from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from voiceai_ivr.errors import DatabaseUnavailable, StoreError
from voiceai_ivr.stores.db import Database, pgcode


def test_fresh_database_is_migrated(db: Database) -> None:
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM destinations")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT name FROM schema_migrations ORDER BY version")
        assert cur.fetchall()[0][0] == "001_initial.sql"


def test_transaction_commits_and_rolls_back(db: Database) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO domains (domain) VALUES (%s)", ("a.example",))
    with pytest.raises(RuntimeError):
        with db.transaction() as cur:
            cur.execute("INSERT INTO domains (domain) VALUES (%s)", ("b.example",))
            raise RuntimeError("boom")
    with db.cursor(dict_rows=True) as cur:
        cur.execute("SELECT domain FROM domains ORDER BY domain")
        assert [r["domain"] for r in cur.fetchall()] == ["a.example"]


def test_sql_error_becomes_store_error_with_cause(db: Database) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO domains (domain) VALUES (%s)", ("a.example",))
    with pytest.raises(StoreError) as info:
        with db.transaction() as cur:
            cur.execute("INSERT INTO domains (domain) VALUES (%s)", ("a.example",))
    assert not isinstance(info.value, DatabaseUnavailable)
    assert isinstance(info.value.__cause__, psycopg2.errors.UniqueViolation)
    assert pgcode(info.value) == "23505"
    # the pool is still usable afterwards
    assert db.ping().startswith(("1", "9"))


def test_statement_timeout_is_applied(db_dsn: str) -> None:
    database = Database(db_dsn, statement_timeout_ms=200)
    try:
        with pytest.raises(DatabaseUnavailable, match="timed out"):
            with database.cursor() as cur:
                cur.execute("SELECT pg_sleep(5)")
    finally:
        database.close()


def test_unreachable_server_is_database_unavailable(tmp_path) -> None:
    database = Database(f"postgresql://postgres@/x?host={tmp_path}&port=1", connect_timeout=1)
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        database.ping()
    assert isinstance(info.value.__cause__, psycopg2.OperationalError)
    assert time.monotonic() - t0 < 5


def test_server_gone_mid_session_is_database_unavailable(db: Database) -> None:
    with db.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    # kill the pooled backend from another connection, then use the pool again
    other = Database(db.dsn, pool_size=1)
    with other.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    other.close()
    with pytest.raises(DatabaseUnavailable):
        with db.cursor() as cur:
            cur.execute("SELECT 1")
    # the broken connection was discarded; the next use reconnects
    assert db.ping()


def test_pool_acquisition_is_bounded(db_dsn: str) -> None:
    database = Database(db_dsn, pool_size=1, acquire_timeout=0.3)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with database.cursor():
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        t0 = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="no database connection free"):
            with database.cursor():
                pass
        assert 0.25 <= time.monotonic() - t0 < 2
    finally:
        release.set()
        t.join(5)
    assert database.ping()
    database.close()


def test_repr_hides_dsn(db: Database) -> None:
    assert "postgres" not in repr(db)
