"""Shared fixtures: a real PostgreSQL for the whole session, a fresh database per test.

Fixtures
- ``pg_admin_uri`` (session): superuser URI of the test server (``postgres`` db). By
  default an embedded pgserver cluster in a private temp dir, started on first use
  and deleted at the end; ``VOICEAI_TEST_DSN`` selects an existing server instead
  (its user must be allowed to CREATE DATABASE).
- ``pg_template`` (session): name of a database migrated once; tests clone it.
- ``db_dsn`` (function): DSN of a fresh database cloned from the template, dropped
  after the test.
- ``db`` (function): a ``Database`` on ``db_dsn``.
- ``empty_db_dsn`` (function): DSN of a fresh database with no schema (not migrated).
- ``config`` (function): a ``Config`` whose ``database.dsn`` is ``db_dsn`` and whose
  ``database.data_dir`` is a per-test temp dir (so ``default`` paths stay private).
- ``cli_env`` (function): environment for ``CliRunner.invoke(..., env=cli_env)`` or a
  subprocess, pointing the CLI at the same database and data dir.

Several pytest sessions may run at once on one machine: every session owns its
own cluster directory (Unix socket inside it, no TCP port) and unique database names.

Run in parallel (``pytest -n 2 --dist loadgroup``, the default ``addopts``), each
pytest-xdist worker is such a session. Suites that share one outside resource
mark their tests ``xdist_group`` so one worker runs them in order (the real
switch: ``tests/freeswitch``); summary lines a suite prints at the end
(``summaries.add_summary``) travel from the workers and are printed once here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import pytest
from summaries import LINES, WORKER_SUMMARY

from voiceai_ivr.config import Config
from voiceai_ivr.stores.db import Database

_CLUSTERS_ROOT = Path(tempfile.gettempdir()) / "voiceai-test-pg"
_FROM_WORKERS: list[list[str]] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: a worker ended; keep its summary lines."""
    _FROM_WORKERS.extend(getattr(node, "workeroutput", {}).get(WORKER_SUMMARY, []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The suites' summary lines (this process's and the workers'), each section
    once (a line two workers sent, once)."""
    pairs = terminalreporter.config.stash.get(LINES, []) + _FROM_WORKERS
    for section in dict.fromkeys(s for s, _ in pairs):
        if section:
            terminalreporter.write_sep("-", section)
        for line in dict.fromkeys(line for s, line in pairs if s == section):
            terminalreporter.write_line(line, yellow=not section)


def _with_dbname(uri: str, dbname: str) -> str:
    """Replace the database of a libpq URI or key=value DSN."""
    if uri.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(uri)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))
    return psycopg2.extensions.make_dsn(uri, dbname=dbname)


def _reap_orphans() -> None:
    """Remove clusters left by test sessions that died (owner pid gone)."""
    if not _CLUSTERS_ROOT.is_dir():
        return
    from voiceai_ivr.stores.db import embedded_status_at, stop_embedded_at

    for entry in _CLUSTERS_ROOT.iterdir():
        try:
            owner = int((entry / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue  # still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        data = entry / "data"
        if embedded_status_at(data).pid:
            try:
                stop_embedded_at(data, timeout=15)
            except Exception:
                continue
        shutil.rmtree(entry, ignore_errors=True)


def _speed_up(uri: str) -> None:
    # A throw-away cluster: durability buys nothing, and CREATE DATABASE gets faster.
    conn = psycopg2.connect(uri, connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            cur.execute(f"ALTER SYSTEM SET {setting}")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()


@pytest.fixture(scope="session")
def pg_admin_uri() -> Iterator[str]:
    external = os.environ.get("VOICEAI_TEST_DSN", "").strip()
    if external:
        yield external
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    _reap_orphans()
    _CLUSTERS_ROOT.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="s", dir=_CLUSTERS_ROOT))
    (home / "owner.pid").write_text(str(os.getpid()))
    server = pgserver.get_server(home / "data", cleanup_mode="delete")
    uri = server.get_uri()
    _speed_up(uri)
    try:
        yield uri
    finally:
        try:
            server.cleanup()
        except (OSError, subprocess.SubprocessError, AssertionError, KeyError):
            pass
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def _pg_admin_conn(pg_admin_uri: str) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(pg_admin_uri, connect_timeout=10)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def pg_template(pg_admin_uri: str, _pg_admin_conn: psycopg2.extensions.connection) -> Iterator[str]:
    from voiceai_ivr.stores.migrate import migrate

    name = f"voiceai_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    with _pg_admin_conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    tpl = Database(_with_dbname(pg_admin_uri, name), pool_size=1, statement_timeout_ms=0)
    try:
        migrate(tpl)
    finally:
        tpl.close()
    yield name
    with _pg_admin_conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_dsn(
    pg_admin_uri: str, pg_template: str, _pg_admin_conn: psycopg2.extensions.connection
) -> Iterator[str]:
    name = f"voiceai_t_{secrets.token_hex(6)}"
    with _pg_admin_conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _with_dbname(pg_admin_uri, name)
    finally:
        with _pg_admin_conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_dsn(pg_admin_uri: str, _pg_admin_conn: psycopg2.extensions.connection) -> Iterator[str]:
    """DSN of a fresh database with no schema at all (for migration tests)."""
    name = f"voiceai_e_{secrets.token_hex(6)}"
    with _pg_admin_conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_dbname(pg_admin_uri, name)
    finally:
        with _pg_admin_conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_dsn: str) -> Iterator[Database]:
    database = Database(db_dsn, pool_size=8, connect_timeout=5.0, statement_timeout_ms=15000)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def config(db_dsn: str, tmp_path: Path) -> Config:
    cfg = Config()
    cfg.database.dsn = db_dsn
    data_dir = tmp_path / "voiceai-data"
    data_dir.mkdir()
    cfg.database.data_dir = str(data_dir)
    return cfg


@pytest.fixture
def cli_env(config: Config) -> dict[str, str]:
    return {
        "VOICEAI_DATABASE_DSN": config.database.dsn,
        "VOICEAI_DATA_DIR": config.database.data_dir,
        "VOICEAI_CONFIG": "",
    }
