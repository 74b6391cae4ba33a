"""Ordered schema migrations from the package's ``sql/`` directory.

Files are named ``NNN_name.sql`` and applied in version order, each in its own
transaction, recorded in ``schema_migrations`` with the SHA-256 of its text.
Running again applies nothing. A file whose text changed after it was applied is
refused (``MigrationError`` naming it): released migrations are never edited, a
new ``NNN_name.sql`` is added instead. Concurrent migrators (several hosts
starting at once) are serialised with a transaction-scoped advisory lock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

import psycopg2

from voiceai_ivr.errors import MigrationError
from voiceai_ivr.stores.db import Cursor, Database

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_FILE_RE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
# pg_advisory_xact_lock key: "voiceaiv" as a bigint, unlikely to collide with FusionPBX
_LOCK_KEY = 0x766F696365616976

_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # file name, e.g. ``001_initial.sql``
    sql: str
    checksum: str  # sha256 hex of the text (line endings normalised)


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass
class MigrationStatus:
    applied: list[AppliedMigration] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # applied files edited since
    unknown: list[str] = field(default_factory=list)  # applied here, missing from sql/

    @property
    def version(self) -> int:
        return max((m.version for m in self.applied), default=0)


def _checksum(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def discover(directory: Optional[Path] = None) -> list[Migration]:
    """Every migration file in version order; a misnamed or duplicate file is an error."""
    root = Path(directory) if directory is not None else SQL_DIR
    if not root.is_dir():
        raise MigrationError(f"migrations directory {root} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(root.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files must be named NNN_name.sql (lowercase)")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is also used by {found[version].name}")
        text = path.read_text(encoding="utf-8")
        found[version] = Migration(version, path.name, text, _checksum(text))
    return [found[v] for v in sorted(found)]


def _lock_and_read(cur: Cursor) -> dict[int, AppliedMigration]:
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    cur.execute("SET LOCAL statement_timeout = 0")  # migrations may legitimately take long
    cur.execute(_TABLE_DDL)
    cur.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
    return {row[0]: AppliedMigration(row[0], row[1], row[2], row[3]) for row in cur.fetchall()}


def _read_only(db: Database) -> dict[int, AppliedMigration]:
    with db.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        if not row or not row[0]:
            return {}
        cur.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        return {r[0]: AppliedMigration(r[0], r[1], r[2], r[3]) for r in cur.fetchall()}


def _check_unchanged(files: list[Migration], applied: dict[int, AppliedMigration]) -> None:
    changed = [
        f"{m.name} (applied as {applied[m.version].name})"
        if applied[m.version].name != m.name
        else m.name
        for m in files
        if m.version in applied and applied[m.version].checksum != m.checksum
    ]
    if changed:
        raise MigrationError(
            "already-applied migration changed since it was applied: "
            + ", ".join(changed)
            + "; restore the original file and add a new NNN_name.sql instead"
        )


def migrate(db: Database, directory: Optional[Path] = None) -> list[str]:
    """Apply every pending migration, each in its own transaction; return their names."""
    files = discover(directory)
    done: list[str] = []
    for _ in range(len(files) + 1):
        with db.transaction() as cur:
            applied = _lock_and_read(cur)
            _check_unchanged(files, applied)
            todo = [m for m in files if m.version not in applied]
            if not todo:
                return done
            mig = todo[0]
            try:
                cur.execute(mig.sql)
            except psycopg2.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise MigrationError(f"{mig.name}: {detail}") from exc
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
        done.append(mig.name)
    return done


def pending(db: Database, directory: Optional[Path] = None) -> list[str]:
    """Names of the migrations ``migrate`` would apply (refuses edited files too)."""
    files = discover(directory)
    applied = _read_only(db)
    _check_unchanged(files, applied)
    return [m.name for m in files if m.version not in applied]


def status(db: Database, directory: Optional[Path] = None) -> MigrationStatus:
    """Applied, pending, changed and unknown migrations (never raises on edits)."""
    files = discover(directory)
    applied = _read_only(db)
    by_version = {m.version: m for m in files}
    return MigrationStatus(
        applied=list(applied.values()),
        pending=[m.name for m in files if m.version not in applied],
        changed=[m.name for m in files if m.version in applied and applied[m.version].checksum != m.checksum],
        unknown=[a.name for v, a in applied.items() if v not in by_version],
    )


__all__ = [
    "SQL_DIR",
    "AppliedMigration",
    "Migration",
    "MigrationStatus",
    "discover",
    "migrate",
    "pending",
    "status",
]
