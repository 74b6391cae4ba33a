from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceai_ivr.errors import MigrationError
from voiceai_ivr.stores.db import Database
from voiceai_ivr.stores.migrate import SQL_DIR, discover, migrate, pending, status


@pytest.fixture
def empty_db(empty_db_dsn: str) -> Iterator[Database]:
    database = Database(empty_db_dsn, pool_size=4, statement_timeout_ms=0)
    yield database
    database.close()


@pytest.fixture
def sql_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sql"
    d.mkdir()
    (d / "001_first.sql").write_text("CREATE TABLE t1 (id int PRIMARY KEY);\n")
    (d / "002_second.sql").write_text("ALTER TABLE t1 ADD COLUMN note text;\n")
    return d


def test_package_migrations_apply_once(empty_db: Database) -> None:
    names = [m.name for m in discover()]
    assert names[0] == "001_initial.sql"
    assert pending(empty_db) == names
    assert migrate(empty_db) == names
    assert migrate(empty_db) == []  # second run applies nothing
    assert pending(empty_db) == []
    st = status(empty_db)
    assert [a.name for a in st.applied] == names
    assert st.pending == [] and st.changed == [] and st.unknown == []
    assert st.version == discover()[-1].version
    with empty_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM secretaries")
        assert cur.fetchone() == (0,)


def test_sql_dir_is_the_repository_sql(empty_db: Database) -> None:
    assert (SQL_DIR / "001_initial.sql").is_file()


def test_edited_applied_migration_is_refused(empty_db: Database, sql_dir: Path) -> None:
    assert migrate(empty_db, sql_dir) == ["001_first.sql", "002_second.sql"]
    (sql_dir / "001_first.sql").write_text("CREATE TABLE t1 (id bigint PRIMARY KEY);\n")
    (sql_dir / "003_third.sql").write_text("CREATE TABLE t3 (id int);\n")
    with pytest.raises(MigrationError, match=r"001_first\.sql"):
        migrate(empty_db, sql_dir)
    with pytest.raises(MigrationError, match=r"001_first\.sql"):
        pending(empty_db, sql_dir)
    assert status(empty_db, sql_dir).changed == ["001_first.sql"]
    # nothing after the edited file was applied either
    with empty_db.cursor() as cur:
        cur.execute("SELECT to_regclass('t3') IS NULL")
        assert cur.fetchone() == (True,)


def test_failing_migration_is_rolled_back_and_named(empty_db: Database, sql_dir: Path) -> None:
    (sql_dir / "003_bad.sql").write_text("CREATE TABLE t3 (id int);\nSELECT * FROM no_such_table;\n")
    with pytest.raises(MigrationError, match=r"003_bad\.sql: .*no_such_table"):
        migrate(empty_db, sql_dir)
    st = status(empty_db, sql_dir)
    assert [a.name for a in st.applied] == ["001_first.sql", "002_second.sql"]
    assert st.pending == ["003_bad.sql"]
    with empty_db.cursor() as cur:
        cur.execute("SELECT to_regclass('t3') IS NULL")
        assert cur.fetchone() == (True,)


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"1_x\.sql"):
        discover(tmp_path)


def test_duplicate_version_is_refused(sql_dir: Path) -> None:
    shutil.copy(sql_dir / "001_first.sql", sql_dir / "001_again.sql")
    with pytest.raises(MigrationError, match="version 1"):
        discover(sql_dir)


def test_concurrent_migrators_apply_each_file_once(empty_db: Database) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    applied = sorted(name for r in results for name in r)
    assert applied == sorted(m.name for m in discover())
