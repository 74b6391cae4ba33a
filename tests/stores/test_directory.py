from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from voiceai_ivr.domain.destinations import directory_to_doc, parse_directory
from voiceai_ivr.errors import DirectoryError, ValidationError
from voiceai_ivr.stores import directory as store
from voiceai_ivr.stores.db import Database

SAMPLE = Path(__file__).resolve().parents[2] / "conf" / "directory.sample.yaml"
SP = ZoneInfo("America/Sao_Paulo")


def sample_doc() -> dict:
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM domains), (SELECT count(*) FROM secretaries),"
            " (SELECT count(*) FROM secretary_dids), (SELECT count(*) FROM destinations)"
        )
        row = cur.fetchone()
    return tuple(row)  # type: ignore[return-value]


def test_import_issue_sample_then_reimport_changes_nothing(db: Database) -> None:
    report = store.import_directory(db, parse_directory(sample_doc()))
    assert report.domain_created
    assert report.destinations.created == ["Financeiro", "Suporte Técnico", "Plantão"]
    assert report.secretaries.created == ["Recepção"]
    assert counts(db) == (1, 1, 2, 3)
    with db.cursor() as cur:
        cur.execute("SELECT target, gateway FROM destinations WHERE name = 'Plantão'")
        assert cur.fetchone() == ("+5511999990000", "operadora")
        cur.execute("SELECT updated_at FROM domains")
        version = cur.fetchone()[0]
    again = store.import_directory(db, parse_directory(sample_doc()))
    assert again.changes == 0
    assert len(again.destinations.unchanged) == 3 and again.secretaries.unchanged == ["Recepção"]
    with db.cursor() as cur:
        cur.execute("SELECT updated_at FROM domains")
        assert cur.fetchone()[0] == version


def test_export_round_trip(db: Database) -> None:
    original = parse_directory(sample_doc())
    store.import_directory(db, original)
    exported = store.export_directory(db, "demo.local")
    assert exported == original
    doc = directory_to_doc(exported)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    assert store.import_directory(db, parse_directory(yaml.safe_load(text))).changes == 0


def test_upsert_updates_changed_rows_and_keeps_unlisted(db: Database) -> None:
    store.import_directory(db, parse_directory(sample_doc()))
    doc = sample_doc()
    doc["destinations"] = [dict(doc["destinations"][0], target="1002")]
    doc["secretaries"][0]["dids"] = ["8000"]
    report = store.import_directory(db, parse_directory(doc))
    assert report.destinations.updated == ["Financeiro"]
    assert report.destinations.removed == []
    assert report.secretaries.updated == ["Recepção"]
    assert counts(db) == (1, 1, 1, 3)
    assert store.get_destination(db, "demo.local", "Financeiro").target == "1002"  # type: ignore[union-attr]


def test_replace_removes_what_the_file_no_longer_lists(db: Database) -> None:
    store.import_directory(db, parse_directory(sample_doc()))
    doc = sample_doc()
    doc["destinations"] = doc["destinations"][:1]
    report = store.import_directory(db, parse_directory(doc), replace=True)
    assert sorted(report.destinations.removed) == ["Plantão", "Suporte Técnico"]
    assert [d.name for d in store.list_destinations(db, "demo.local")] == ["Financeiro"]
    assert store.import_directory(db, parse_directory(doc), replace=True).changes == 0


def test_dry_run_writes_nothing(db: Database) -> None:
    report = store.import_directory(db, parse_directory(sample_doc()), dry_run=True)
    assert report.changes == 5 and report.dry_run
    assert counts(db) == (0, 0, 0, 0)


def test_did_moves_between_secretaries(db: Database) -> None:
    doc = sample_doc()
    doc["secretaries"].append({"name": "Noite", "dids": ["8001"]})
    store.import_directory(db, parse_directory(doc))
    doc["secretaries"][0]["dids"] = ["+551130000000"]
    doc["secretaries"][1]["dids"] = ["8001", "8000"]
    report = store.import_directory(db, parse_directory(doc))
    assert sorted(report.secretaries.updated) == ["Noite", "Recepção"]
    rec = store.get_secretary_by_did(db, "demo.local", "8000")
    assert rec is not None and rec.name == "Noite" and set(rec.dids) == {"8000", "8001"}


def test_get_secretary_by_did(db: Database) -> None:
    store.import_directory(db, parse_directory(sample_doc()))
    rec = store.get_secretary_by_did(db, "demo.local", "+55 11 3000-0000")
    assert rec is not None
    assert rec.name == "Recepção" and rec.language == "pt-BR" and rec.recording is False
    assert isinstance(rec.id, int)
    assert rec.secretary.fallback == "Financeiro" and rec.secretary.callback is True
    assert store.get_secretary_by_did(db, "demo.local", "9999") is None
    assert store.get_secretary_by_did(db, "other.local", "8000") is None
    dom = store.get_domain(db, "demo.local")
    assert dom is not None and dom.timezone == "America/Sao_Paulo" and dom.holidays is not None


def test_add_update_remove_destination(db: Database) -> None:
    store.import_directory(db, parse_directory(sample_doc()))
    added = store.add_destination(
        db, "demo.local", {"name": "Comercial", "type": "queue", "target": "3000", "aliases": ["vendas"]}
    )
    assert added.type == "queue" and added.aliases == ("vendas",)
    with pytest.raises(ValidationError, match="already exists"):
        store.add_destination(db, "demo.local", {"name": "Comercial", "type": "queue", "target": "3001"})
    with pytest.raises(DirectoryError) as info:
        store.add_destination(db, "demo.local", {"name": "X", "type": "extension", "target": "1001,user/9999"})
    assert any(p.startswith("target:") for p in info.value.problems)
    updated = store.update_destination(db, "demo.local", "Comercial", {"target": "3002", "timeout": 40})
    assert updated.target == "3002" and updated.timeout == 40
    # renaming follows the secretary's fallback
    store.update_destination(db, "demo.local", "Financeiro", {"name": "Contas"})
    rec = store.get_secretary_by_did(db, "demo.local", "8000")
    assert rec is not None and rec.secretary.fallback == "Contas"
    # a destination something falls back to cannot be removed
    with pytest.raises(DirectoryError, match="fallback"):
        store.remove_destination(db, "demo.local", "Contas")
    assert store.remove_destination(db, "demo.local", "Comercial") is True
    assert store.remove_destination(db, "demo.local", "Comercial") is False
    assert store.get_destination(db, "demo.local", "Comercial") is None


def test_add_creates_domain_update_needs_existing(db: Database) -> None:
    store.add_destination(db, "new.example", {"name": "Geral", "type": "extension", "target": "100"})
    assert store.list_domains(db) == ["new.example"]
    with pytest.raises(ValidationError, match="no destination"):
        store.update_destination(db, "new.example", "Nope", {"target": "101"})
    with pytest.raises(ValidationError, match="no such domain"):
        store.update_destination(db, "missing.example", "Geral", {"target": "101"})


def test_load_resolver_caches_and_sees_changes(db: Database) -> None:
    store.import_directory(db, parse_directory(sample_doc()))
    first = store.load_resolver(db, "demo.local")
    assert first is not None
    assert store.load_resolver(db, "demo.local") is first  # cached
    at = datetime(2026, 3, 2, 10, 0, tzinfo=SP)  # a Monday, 10:00
    res = first.resolve("eu queria falar com o pessoal do financeiro por favor", at=at)
    assert res.match == "Financeiro" and res.open is True
    assert first.resolve("financeiro", at=datetime(2026, 3, 2, 12, 30, tzinfo=SP)).open is False
    assert first.resolve("suporte", at=datetime(2026, 3, 1, 3, 0, tzinfo=SP)).open is True
    store.add_destination(db, "demo.local", {"name": "Comercial", "type": "queue", "target": "3000"})
    second = store.load_resolver(db, "demo.local")
    assert second is not first and second is not None
    assert second.resolve("comercial").match == "Comercial"
    # a change made through another handle (another process) is seen too
    other = Database(db.dsn, pool_size=1)
    try:
        store.remove_destination(other, "demo.local", "Comercial")
    finally:
        other.close()
    third = store.load_resolver(db, "demo.local")
    assert third is not None and third.destination("Comercial") is None
    assert store.load_resolver(db, "missing.example") is None


def test_concurrent_imports_of_one_domain_are_serialised(db: Database) -> None:
    directory = parse_directory(sample_doc())
    reports = []
    errors = []

    def run() -> None:
        try:
            reports.append(store.import_directory(db, directory))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(r.changes for r in reports) == [0, 0, 5]
    assert counts(db) == (1, 1, 2, 3)
