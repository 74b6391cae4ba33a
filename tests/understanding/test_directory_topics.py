"""Destination categories and keywords: parsed, validated, stored (sql/004) and
exported unchanged; ``destinations resolve`` explains which words matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.domain.destinations import directory_to_doc, parse_directory
from voiceai_ivr.errors import DirectoryError
from voiceai_ivr.stores import directory as store

HERE = Path(__file__).resolve().parent


def _doc(lang: str) -> dict:
    return yaml.safe_load((HERE / f"directory.{lang}.yaml").read_text(encoding="utf-8"))


def test_category_and_keywords_parse_and_export() -> None:
    d = parse_directory(_doc("pt-BR"))
    fin = d.destination("Financeiro")
    sup = d.destination("Suporte Técnico")
    assert fin is not None and sup is not None
    assert fin.category == "billing" and fin.keywords == ()
    assert sup.category is None and sup.keywords == ("sistema erp", "roteador")
    assert parse_directory(directory_to_doc(d)) == d
    # not declared: inferred by the resolver from the name and aliases
    assert d.resolver().category_of("Suporte Técnico") == "support"
    assert d.resolver().category_of("Maria Silva") == "billing"  # declared for a person


def test_bad_category_and_keywords_are_named() -> None:
    doc = _doc("pt-BR")
    doc["destinations"][1]["category"] = "finance-ish"
    doc["destinations"][2]["keywords"] = "roteador"  # one word is fine
    doc["destinations"][3]["keywords"] = [""]
    with pytest.raises(DirectoryError) as err:
        parse_directory(doc)
    text = str(err.value)
    assert "destinations[1].category: unknown category 'finance-ish' (one of billing," in text
    assert "destinations[3].keywords[0]: must not be empty" in text
    assert "destinations[2].keywords" not in text


def test_stored_and_read_back(db) -> None:
    original = parse_directory(_doc("en-US"))
    report = store.import_directory(db, original)
    assert report.destinations.created[:2] == ["Front Desk", "Billing"]
    assert store.export_directory(db, "corpus-en.local") == original
    with db.cursor() as cur:
        cur.execute("SELECT category, keywords FROM destinations WHERE name = 'Technical Support'")
        assert cur.fetchone() == (None, ["vpn"])
        cur.execute("SELECT category FROM destinations WHERE name = 'Billing'")
        assert cur.fetchone() == ("billing",)
    # a changed category is an update; the same document again changes nothing
    doc = _doc("en-US")
    doc["destinations"][5]["category"] = "logistics"
    assert store.import_directory(db, parse_directory(doc)).destinations.updated == ["Shipping"]
    assert store.import_directory(db, parse_directory(doc)).changes == 0


def test_resolve_explains_the_words(cli_env: dict[str, str], tmp_path: Path) -> None:
    run = CliRunner()
    path = tmp_path / "dir.yaml"
    path.write_text(yaml.safe_dump(_doc("pt-BR"), allow_unicode=True), encoding="utf-8")
    assert run.invoke(cli, ["destinations", "import", str(path)], env=cli_env).exit_code == 0
    out = run.invoke(cli, ["destinations", "resolve", "--domain", "corpus-pt.local", "--json",
                           "minha fatura veio com valor errado"], env=cli_env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["match"] == "Financeiro"
    top = data["matched"][0]
    assert top["name"] == "Financeiro" and top["evidence"] == "topic"
    assert "fatura" in top["words"] and "topic billing: fatura" in top["via"]
    # a department named explicitly beats another's generic alias
    out = run.invoke(cli, ["destinations", "resolve", "--domain", "corpus-pt.local", "--json",
                           "quero falar com o comercial sobre um contrato"], env=cli_env)
    data = json.loads(out.stdout)
    assert data["match"] == "Comercial"
    legal = next(m for m in data["matched"] if m["name"] == "Jurídico")
    assert legal["evidence"] == "topic" and legal["words"] == ["contrato"]
    # the text output lists the words too
    out = run.invoke(cli, ["destinations", "resolve", "--domain", "corpus-pt.local", "o modem nao liga"],
                     env=cli_env)
    assert out.exit_code == 0
    assert "Suporte Técnico (" in out.stdout and "modem" in out.stdout and "topic support: modem" in out.stdout
