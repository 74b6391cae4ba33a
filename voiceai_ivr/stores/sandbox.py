"""A database of its own for ``voiceai-ivr demo`` and ``voiceai-ivr simulate``.

Neither may touch the operator's data: demo tickets must never reach the real
outbox (and so the real helpdesk), and a scenario's ``directory`` must never
re-import a real domain. ``sandbox(config, purpose)`` creates a fresh database
on the same PostgreSQL server the configuration points at (the embedded cluster,
or the ``database.dsn`` server), applies the migrations, hands back a copy of
the configuration that uses it, and drops it afterwards. The copy also gets a
spool file of its own (a call spooled while the sandbox database is down must
not be replayed into the real one) and no helpdesk, node-exporter textfile or
API tokens.

Sandbox databases are named ``voiceai_<purpose>_<pid>_<random>`` and carry a
comment with their creation time; one left behind by a process that was killed
is dropped by a later sandbox once it is ``STALE_AFTER`` old.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import psycopg2
import psycopg2.extensions

from voiceai_ivr.errors import DatabaseUnavailable, StoreError
from voiceai_ivr.ports import Cursor
from voiceai_ivr.stores.db import Database, _translate, embedded_path, ensure_embedded
from voiceai_ivr.stores.migrate import migrate

if TYPE_CHECKING:
    from voiceai_ivr.config import Config

log = logging.getLogger(__name__)

PURPOSES = ("demo", "sim")
STALE_AFTER = 6 * 3600.0  # seconds: no demo or simulation runs that long
_COMMENT = "voiceai-ivr sandbox"
_NAME_RE = re.compile(r"^voiceai_(demo|sim)_[0-9]+_[0-9a-f]{6}$")


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: ``config`` uses database ``name`` on ``server``."""

    config: Config
    name: str
    server: str  # where it lives, said for people ("the embedded PostgreSQL at …")


def _admin_dsn(config: Config) -> tuple[str, str]:
    """A DSN to the server the configuration uses, and how to name that server."""
    if config.database.dsn:
        return config.database.dsn, "the PostgreSQL server of database.dsn"
    path = embedded_path(config)
    dsn = ensure_embedded(path, connect_timeout=config.database.connect_timeout)
    return dsn, f"the embedded PostgreSQL at {path}"


def _connect(dsn: str, timeout: float) -> Any:
    try:
        conn = psycopg2.connect(dsn, connect_timeout=max(1, int(timeout)), application_name="voiceai-ivr sandbox")
    except psycopg2.Error as exc:
        raise _translate(exc, "cannot connect to PostgreSQL") from exc
    conn.autocommit = True
    return conn


def _drop(cur: Cursor, name: str) -> None:
    if not _NAME_RE.match(name):  # never anything but a sandbox
        raise StoreError(f"refusing to drop {name!r}: not a sandbox database")
    try:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg2.errors.SyntaxError:  # PostgreSQL before 13
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _reap(cur: Cursor) -> None:
    """Drop sandboxes left behind by killed processes (older than ``STALE_AFTER``)."""
    cur.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        " WHERE datname LIKE 'voiceai\\_demo\\_%' OR datname LIKE 'voiceai\\_sim\\_%'"
    )
    now = time.time()
    for name, comment in cur.fetchall():
        match = re.match(rf"^{_COMMENT} created ([0-9]+)", comment or "")
        if not _NAME_RE.match(name) or match is None or now - int(match.group(1)) < STALE_AFTER:
            continue
        try:
            _drop(cur, name)
            log.info("dropped the stale sandbox database %s", name)
        except psycopg2.Error as exc:  # in use after all, or not ours to drop: leave it
            log.debug("stale sandbox %s not dropped: %s", name, exc)


@contextlib.contextmanager
def sandbox(config: Config, purpose: str) -> Iterator[Sandbox]:
    """A fresh, migrated database of its own for ``purpose`` (``demo``/``sim``),
    dropped when the block ends. ``DatabaseUnavailable`` when the server cannot
    be reached; ``StoreError`` when it refuses to create a database."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}")
    admin_dsn, server = _admin_dsn(config)
    name = f"voiceai_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
    timeout = config.database.connect_timeout
    conn = _connect(admin_dsn, timeout)
    try:
        with conn.cursor() as cur:
            _reap(cur)
            try:
                cur.execute(f'CREATE DATABASE "{name}"')
            except psycopg2.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise StoreError(
                    f"cannot create a database of its own on {server} ({detail}); "
                    f"{purpose} never uses the operator's database: grant CREATEDB, or run it without "
                    "VOICEAI_DATABASE_DSN to use the embedded PostgreSQL"
                ) from exc
            cur.execute(f"COMMENT ON DATABASE \"{name}\" IS %s", (f"{_COMMENT} created {int(time.time())}",))
    finally:
        conn.close()
    spool_dir = tempfile.mkdtemp(prefix=f"voiceai-{purpose}-")
    try:
        dsn = psycopg2.extensions.make_dsn(admin_dsn, dbname=name)
        database = dataclasses.replace(config.database, dsn=dsn, pool_size=max(4, config.database.pool_size))
        db = Database.from_config(dataclasses.replace(config, database=database))
        try:
            migrate(db)
        finally:
            db.close()
        cfg = dataclasses.replace(
            config,
            database=database,
            callbacks=dataclasses.replace(config.callbacks, spool_path=os.path.join(spool_dir, "spool.jsonl")),
            helpdesk=dataclasses.replace(config.helpdesk, url="", token=""),
            dispatcher=dataclasses.replace(config.dispatcher, textfile_path=""),
            api=dataclasses.replace(config.api, tokens=[]),
        )
        yield Sandbox(cfg, name, server)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
        _remove(admin_dsn, name, timeout)


def _remove(admin_dsn: str, name: str, timeout: float) -> None:
    try:
        conn = _connect(admin_dsn, timeout)
    except DatabaseUnavailable as exc:
        log.warning("sandbox database %s not dropped (%s); a later run drops it", name, exc)
        return
    try:
        with conn.cursor() as cur:
            _drop(cur, name)
    except psycopg2.Error as exc:
        log.warning("sandbox database %s not dropped (%s); a later run drops it", name, exc)
    finally:
        conn.close()


def describe(box: Optional[Sandbox]) -> str:
    if box is None:
        return "-"
    return f"database {box.name} of its own on {box.server} (dropped afterwards; your data is not touched)"


__all__ = ["PURPOSES", "STALE_AFTER", "Sandbox", "describe", "sandbox"]
