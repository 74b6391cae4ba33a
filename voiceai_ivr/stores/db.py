"""PostgreSQL access: a bounded connection pool, transactions, and the embedded server.

``Database.from_config(cfg)`` connects to ``database.dsn`` when one is configured.
Without a DSN it uses an embedded PostgreSQL (pgserver) whose cluster lives in
``<data dir>/pg`` (``database.data_dir`` or ``default_data_dir()``). The embedded
server is left running when the process exits, so the next command only has to
open a Unix socket: it reads ``postmaster.pid`` itself and connects directly,
without even importing pgserver. ``voiceai-ivr db stop`` stops it.

Error mapping (at this boundary only): psycopg2 ``OperationalError`` and
``InterfaceError`` (connection refused, server gone mid-query, statement timeout)
become ``DatabaseUnavailable``; every other database error becomes ``StoreError``.
Both are raised ``from`` the psycopg2 error; ``pgcode(exc)`` reads its SQLSTATE.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from voiceai_ivr.config import default_data_dir
from voiceai_ivr.errors import DatabaseUnavailable, StoreError

if TYPE_CHECKING:
    from voiceai_ivr.config import Config

log = logging.getLogger(__name__)

EMBEDDED_DBNAME = "voiceai"
APPLICATION_NAME = "voiceai-ivr"
_EMBEDDED_START_TIMEOUT = 60.0  # initdb + first start on a slow disk



def pgcode(exc: BaseException) -> Optional[str]:
    """The SQLSTATE behind a ``StoreError`` (or a psycopg2 error), if any."""
    cur: Optional[BaseException] = exc
    for _ in range(5):
        if cur is None:
            return None
        code = getattr(cur, "pgcode", None)
        if code:
            return str(code)
        cur = cur.__cause__
    return None


def _translate(exc: BaseException, what: str) -> StoreError:
    """psycopg2 error -> our error tree (the caller raises it ``from exc``)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg2.errors.QueryCanceled):
        return DatabaseUnavailable(f"{what}: statement timed out ({detail})")
    if isinstance(exc, psycopg2.extensions.TransactionRollbackError):
        # deadlock / serialization failure: a conflict, not an outage
        return StoreError(f"{what}: {detail}")
    if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
        return DatabaseUnavailable(f"{what}: {detail}")
    return StoreError(f"{what}: {detail}")


# --------------------------------------------------------------------------- pool


class _Pool:
    """At most ``size`` connections; ``acquire`` waits at most ``timeout`` seconds."""

    def __init__(self, connect: Any, size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[Connection] = []
        self._open = 0
        self._closed = False
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> Connection:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise DatabaseUnavailable("database handle is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.closed:
                        return conn
                    self._open -= 1
                if self._open < self._size:
                    self._open += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseUnavailable(
                        f"no database connection free within {timeout:.1f}s (pool of {self._size})"
                    )
                self._cond.wait(remaining)
        try:
            conn = self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise
        return conn

    def release(self, conn: Connection, *, discard: bool = False) -> None:
        if not discard and not conn.closed:
            try:
                if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
                if conn.autocommit:
                    conn.autocommit = False
            except psycopg2.Error:
                discard = True
        with self._cond:
            if discard or conn.closed or self._closed:
                self._open -= 1
                with contextlib.suppress(psycopg2.Error):
                    conn.close()
            else:
                self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            with contextlib.suppress(psycopg2.Error):
                conn.close()


# --------------------------------------------------------------------------- database


class Database:
    """A pooled PostgreSQL handle, safe to share between threads.

    ``with db.transaction() as cur:`` commits on success and rolls back on any
    exception; ``with db.cursor() as cur:`` runs statements in autocommit (reads,
    or single self-contained statements). Cursors return tuples; pass
    ``dict_rows=True`` for ``RealDictCursor`` rows.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 8,
        connect_timeout: float = 5.0,
        statement_timeout_ms: int = 5000,
        acquire_timeout: Optional[float] = None,
        embedded_path: Optional[Path] = None,
    ) -> None:
        self._dsn = dsn
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        # waiting for a pooled connection: long enough to connect, never forever
        self.acquire_timeout = acquire_timeout if acquire_timeout is not None else connect_timeout + 5.0
        self.embedded_path = embedded_path
        self._pool = _Pool(self._new_connection, pool_size)

    def __repr__(self) -> str:  # never shows the DSN: it may carry a password
        kind = f"embedded {self.embedded_path}" if self.embedded_path else "external"
        return f"<Database {kind} pool={self.pool_size}>"

    @property
    def dsn(self) -> str:
        """The connection string (may contain a password: do not print it)."""
        return self._dsn

    @property
    def embedded(self) -> bool:
        return self.embedded_path is not None

    @classmethod
    def from_config(cls, cfg: Config) -> Database:
        """The configured server, or the embedded one (started if needed)."""
        d = cfg.database
        options: dict[str, Any] = {
            "pool_size": d.pool_size,
            "connect_timeout": d.connect_timeout,
            "statement_timeout_ms": d.statement_timeout_ms,
        }
        if d.dsn:
            return cls(d.dsn, **options)
        path = embedded_path(cfg)
        dsn = ensure_embedded(path, connect_timeout=d.connect_timeout)
        return cls(dsn, embedded_path=path, **options)

    # -- connections

    def _new_connection(self) -> Connection:
        try:
            conn = psycopg2.connect(
                self._dsn,
                connect_timeout=max(1, math.ceil(self.connect_timeout)),
                application_name=APPLICATION_NAME,
                options=f"-c statement_timeout={int(self.statement_timeout_ms)}",
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg2.Error as exc:
            raise _translate(exc, "cannot connect to PostgreSQL") from exc
        return conn

    @contextlib.contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[Connection]:
        """A raw pooled connection for callers that manage transactions themselves.
        Whatever is left uncommitted is rolled back when it goes back to the pool."""
        conn = self._pool.acquire(self.acquire_timeout)
        discard = False
        try:
            if autocommit:
                conn.autocommit = True
            yield conn
        except psycopg2.Error as exc:
            broken = isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))
            discard = bool(conn.closed) or broken
            raise _translate(exc, "database error") from exc
        finally:
            self._pool.release(conn, discard=discard)

    @contextlib.contextmanager
    def transaction(self, *, dict_rows: bool = False) -> Iterator[Cursor]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.connection() as conn:
            cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor if dict_rows else None)
            try:
                yield cur
                conn.commit()
            except BaseException:
                if not conn.closed:
                    with contextlib.suppress(psycopg2.Error):
                        conn.rollback()
                raise
            finally:
                with contextlib.suppress(psycopg2.Error):
                    cur.close()

    @contextlib.contextmanager
    def cursor(self, *, dict_rows: bool = False) -> Iterator[Cursor]:
        """A cursor in autocommit mode: each statement is its own transaction."""
        with self.connection(autocommit=True) as conn:
            cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor if dict_rows else None)
            try:
                yield cur
            finally:
                with contextlib.suppress(psycopg2.Error):
                    cur.close()

    def ping(self) -> str:
        """``SELECT version()``; raises ``DatabaseUnavailable`` if unreachable."""
        with self.cursor() as cur:
            cur.execute("SELECT current_setting('server_version')")
            row = cur.fetchone()
        return str(row[0]) if row else ""

    def close(self) -> None:
        """Close idle connections; connections in use are closed when released."""
        self._pool.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- embedded


@dataclass
class EmbeddedStatus:
    path: Path
    initialized: bool  # a cluster exists in ``path``
    running: bool
    pid: Optional[int] = None
    socket_dir: Optional[Path] = None
    port: Optional[int] = None

    def uri(self, dbname: str = EMBEDDED_DBNAME) -> str:
        if self.socket_dir is None or self.port is None:
            raise DatabaseUnavailable(f"embedded PostgreSQL in {self.path} is not running")
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"


def embedded_path(cfg: Config) -> Path:
    """Where the embedded cluster lives: ``<database.data_dir or default_data_dir()>/pg``."""
    root = Path(cfg.database.data_dir).expanduser() if cfg.database.data_dir else default_data_dir()
    return (root / "pg").absolute()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user (the pgserver user when we are root)
    return True


def _read_status(path: Path) -> EmbeddedStatus:
    status = EmbeddedStatus(path=path, initialized=(path / "PG_VERSION").exists(), running=False)
    try:
        lines = (path / "postmaster.pid").read_text().splitlines()
    except OSError:
        return status
    if len(lines) < 8:
        return status  # being written by a starting server
    try:
        pid = int(lines[0].strip())
        port = int(lines[3].strip())
    except ValueError:
        return status
    status.pid = pid
    status.port = port
    status.socket_dir = Path(lines[4].strip()) if lines[4].strip() else None
    status.running = _pid_alive(pid) and lines[7].strip() == "ready" and status.socket_dir is not None
    return status


def embedded_status_at(path: Path) -> EmbeddedStatus:
    return _read_status(path)


def embedded_status(cfg: Config) -> EmbeddedStatus:
    """State of the embedded cluster (never starts it)."""
    return _read_status(embedded_path(cfg))


def _import_pgserver() -> Any:
    # pgserver asks platformdirs for a runtime dir at import time, which warns when
    # XDG_RUNTIME_DIR is unset (root shells, cron). Its fallback is fine for a lock file.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    return pgserver


def _can_connect(uri: str, timeout: float) -> Optional[psycopg2.Error]:
    try:
        conn = psycopg2.connect(uri, connect_timeout=max(1, math.ceil(timeout)))
    except psycopg2.Error as exc:
        return exc
    conn.close()
    return None


def ensure_embedded(path: Path, *, connect_timeout: float = 5.0) -> str:
    """Start the embedded cluster in ``path`` if needed; return a DSN for its database.

    Fast path: ``postmaster.pid`` says a server is ready and it accepts a connection.
    Otherwise pgserver initialises/starts it (serialised across processes by its
    lock) and the ``voiceai`` database is created if missing.
    """
    status = _read_status(path)
    if status.running and _can_connect(status.uri(), connect_timeout) is None:
        return status.uri()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pgserver = _import_pgserver()
        server = pgserver.get_server(path, cleanup_mode=None)
        admin_uri = server.get_uri()
    except (OSError, subprocess.SubprocessError, RuntimeError, AssertionError) as exc:
        raise DatabaseUnavailable(
            f"embedded PostgreSQL in {path} did not start ({exc}); see {path / 'log'}"
        ) from exc
    try:
        conn = psycopg2.connect(admin_uri, connect_timeout=max(1, math.ceil(connect_timeout)))
    except psycopg2.Error as exc:
        raise _translate(exc, f"embedded PostgreSQL in {path}") from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DBNAME,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f'CREATE DATABASE "{EMBEDDED_DBNAME}"')
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process created it first
    except psycopg2.Error as exc:
        raise _translate(exc, f"embedded PostgreSQL in {path}") from exc
    finally:
        conn.close()
    status = _read_status(path)
    if not status.running:
        raise DatabaseUnavailable(f"embedded PostgreSQL in {path} is not ready; see {path / 'log'}")
    return status.uri()


def stop_embedded(cfg: Config, *, timeout: float = 30.0) -> bool:
    """Stop the embedded server. True if it was running and is now stopped."""
    return stop_embedded_at(embedded_path(cfg), timeout=timeout)


def stop_embedded_at(path: Path, *, timeout: float = 30.0) -> bool:
    status = _read_status(path)
    if status.pid is None or not _pid_alive(status.pid):
        return False
    _import_pgserver()
    from pgserver import _commands

    user = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        user = "pgserver"  # pgserver runs the cluster as this user when started by root
    try:
        # pg_ctl is generated at import time from pgserver's bin directory
        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user, timeout=timeout)
    except (subprocess.SubprocessError, OSError) as exc:
        raise DatabaseUnavailable(f"could not stop embedded PostgreSQL in {path}: {exc}") from exc
    return True


__all__ = [
    "Cursor",
    "Database",
    "EmbeddedStatus",
    "embedded_path",
    "embedded_status",
    "ensure_embedded",
    "pgcode",
    "stop_embedded",
]
