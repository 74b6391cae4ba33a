from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from voiceai_ivr.stores.db import Database

SAMPLE = Path(__file__).resolve().parents[2] / "conf" / "directory.sample.yaml"
D = ["--domain", "demo.local"]


def snapshot(db: Database) -> list:
    with db.cursor() as cur:
        out = []
        for table in ("domains", "secretaries", "secretary_dids", "destinations"):
            cur.execute(f"SELECT to_jsonb(t) FROM {table} t")
            out.append(sorted(json.dumps(r[0], sort_keys=True) for r in cur.fetchall()))
    return out


def write_doc(tmp_path: Path, doc: dict, name: str = "doc.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return str(path)


def sample() -> dict:
    return yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))


def test_import_sample_twice(run) -> None:
    first = run("destinations", "import", str(SAMPLE))
    assert first.exit_code == 0, first.output
    assert "5 change(s)" in first.stdout
    assert "destinations created: Financeiro, Suporte Técnico, Plantão" in first.stdout
    second = run("destinations", "import", str(SAMPLE), "--json")
    assert second.exit_code == 0
    report = json.loads(second.stdout)
    assert report["changes"] == 0 and report["destinations"]["unchanged"] == 3


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["destinations"][0].update(type="department"), "destinations[0].type: unknown type"),
        (lambda d: d["destinations"][0].update(target="1001,user/9999"), "destinations[0].target:"),
        (lambda d: d["destinations"][1].update(target="${system(rm)}"), "destinations[1].target:"),
        (lambda d: d["destinations"][2].update(gateway="op|x"), "destinations[2].gateway:"),
        (lambda d: d["destinations"][2].update(target="+55 11 9999 ; hangup"), "destinations[2].target:"),
        (lambda d: d["destinations"][1].update(hours={"mon-fri": ["18:00-08:00"]}), "destinations[1].hours"),
        (lambda d: d.update(hours={"funday": ["08:00-12:00"]}), "hours.funday"),
    ],
)
def test_malformed_import_is_refused_and_writes_nothing(
    run, imported, db: Database, tmp_path: Path, mutate, expected: str
) -> None:
    before = snapshot(db)
    doc = sample()
    doc["destinations"].append({"name": "Novo", "type": "extension", "target": "4000"})  # a valid new row
    mutate(doc)
    result = run("destinations", "import", write_doc(tmp_path, doc), "--replace")
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr
    assert "nothing was written" in result.stderr
    assert snapshot(db) == before


def test_every_problem_is_listed_with_row_and_field(run, db: Database, tmp_path: Path) -> None:
    doc = sample()
    doc["destinations"][0]["type"] = "nope"
    doc["destinations"][1]["target"] = "2000|9"
    doc["destinations"][2]["timeout"] = 9999
    doc["secretaries"][0]["language"] = "fr-FR"
    result = run("destinations", "import", write_doc(tmp_path, doc))
    assert result.exit_code == 1
    for field in (
        "destinations[0].type",
        "destinations[1].target",
        "destinations[2].timeout",
        "secretaries[0].language",
    ):
        assert field in result.stderr
    assert snapshot(db) == [[], [], [], []]


def test_import_not_yaml_and_wrong_domain(run, db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("domain: [unclosed\n")
    result = run("destinations", "import", str(bad))
    assert result.exit_code == 1 and "not valid YAML at line" in result.stderr
    other = run("destinations", "import", str(SAMPLE), "--domain", "other.local")
    assert other.exit_code == 1 and "domain:" in other.stderr
    assert snapshot(db) == [[], [], [], []]


def test_replace_and_dry_run(run, imported, tmp_path: Path) -> None:
    doc = sample()
    doc["destinations"] = doc["destinations"][:2]
    path = write_doc(tmp_path, doc)
    dry = run("destinations", "import", path, "--replace", "--dry-run")
    assert dry.exit_code == 0 and "destinations removed: Plantão" in dry.stdout and "dry run" in dry.stdout
    assert "Plantão" in run("destinations", "list", *D).stdout
    real = run("destinations", "import", path, "--replace")
    assert "destinations removed: Plantão" in real.stdout
    assert "Plantão" not in run("destinations", "list", *D).stdout


def test_export_round_trip(run, imported, tmp_path: Path) -> None:
    out = tmp_path / "export.yaml"
    result = run("destinations", "export", *D, "--output", str(out))
    assert result.exit_code == 0
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert doc["domain"] == "demo.local"
    assert [d["name"] for d in doc["destinations"]] == ["Financeiro", "Suporte Técnico", "Plantão"]
    assert doc["destinations"][2]["target"] == "+5511999990000"
    assert doc["secretaries"][0]["dids"] == ["8000", "+551130000000"]
    again = run("destinations", "import", str(out), "--json")
    assert json.loads(again.stdout)["changes"] == 0
    stdout_export = run("destinations", "export", *D)
    assert stdout_export.stdout == out.read_text(encoding="utf-8")


def test_list_and_show(run, imported) -> None:
    table = run("destinations", "list", *D)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TYPE", "TARGET"]
    assert any(line.startswith("Suporte Técnico") and "ring_group" in line for line in lines)
    data = json.loads(run("destinations", "list", *D, "--json").stdout)
    assert [d["name"] for d in data] == ["Financeiro", "Suporte Técnico", "Plantão"]
    shown = json.loads(run("destinations", "show", *D, "Plantão", "--json").stdout)
    assert shown == {"name": "Plantão", "type": "external", "target": "+5511999990000", "gateway": "operadora"}
    missing = run("destinations", "show", *D, "Nope")
    assert missing.exit_code == 1 and "no destination" in missing.output
    assert "no destinations in" in run("destinations", "list", "--domain", "empty.local").stdout


def test_add_update_remove(run, imported, db: Database) -> None:
    added = run(
        "destinations", "add", *D, "--name", "Comercial", "--type", "queue", "--target", "3000",
        "--alias", "vendas", "--alias", "orçamento", "--hours", '{mon-fri: ["09:00-17:00"]}', "--menu-key", "3",
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(run("destinations", "show", *D, "Comercial", "--json").stdout)
    assert shown["aliases"] == ["vendas", "orçamento"] and shown["menu_key"] == 3
    assert shown["hours"] == {"mon-fri": ["09:00-17:00"]}
    before = snapshot(db)
    bad = run("destinations", "add", *D, "--name", "X", "--type", "extension", "--target", "1001|user/2")
    assert bad.exit_code == 1 and "target:" in bad.stderr
    bad_hours = run("destinations", "update", *D, "Comercial", "--hours", '{mon: ["25:00-26:00"]}')
    assert bad_hours.exit_code == 1 and "hours.mon" in bad_hours.stderr
    dup_key = run("destinations", "add", *D, "--name", "Y", "--type", "extension", "--target", "5", "--menu-key", "3")
    assert dup_key.exit_code == 1 and "menu_key" in dup_key.stderr
    assert snapshot(db) == before
    upd = run("destinations", "update", *D, "Comercial", "--target", "3001", "--clear", "hours", "--disabled")
    assert upd.exit_code == 0, upd.output
    shown = json.loads(run("destinations", "show", *D, "Comercial", "--json").stdout)
    assert shown["target"] == "3001" and "hours" not in shown and shown["enabled"] is False
    assert run("destinations", "update", *D, "Comercial").exit_code == 2  # nothing to change
    refused = run("destinations", "remove", *D, "Financeiro")  # the secretary falls back to it
    assert refused.exit_code == 1 and "secretary 'Recepção' falls back to it" in refused.stderr
    assert run("destinations", "remove", *D, "Comercial").exit_code == 0
    assert run("destinations", "remove", *D, "Comercial").exit_code == 1


def resolve(run, utterance: str, *extra: str) -> dict:
    result = run("destinations", "resolve", *D, "--json", *extra, utterance)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["match", "score", "alternatives", "ambiguous", "open", "reason", "matched", "unrouted"]
    return data


MONDAY_10 = "2026-03-02T10:00:00-03:00"


@pytest.mark.parametrize(
    ("utterance", "match"),
    [
        ("eu queria falar com o pessoal do financeiro por favor", "Financeiro"),
        ("FINANCEIRO", "Financeiro"),
        ("finaceiro", "Financeiro"),  # ASR misspelling
        ("é sobre um boleto atrasado", "Financeiro"),  # alias inside a sentence
        ("minha internet caiu de novo", "Suporte Técnico"),
        ("suporte tecnico", "Suporte Técnico"),  # no accents
        ("plantao", "Plantão"),
        ("I need to talk to someone in financeiro please", "Financeiro"),
        ("quero pedir uma pizza", None),
    ],
)
def test_resolve_cases(run, imported, utterance: str, match) -> None:
    data = resolve(run, utterance, "--at", MONDAY_10)
    assert data["match"] == match, data
    if match:
        assert data["score"] >= 72 and data["open"] is True and data["ambiguous"] is False
    else:
        assert data["open"] is None


def test_resolve_business_hours(run, imported) -> None:
    # Financeiro inherits the domain's hours: lunch break, Saturday morning only, holidays
    assert resolve(run, "financeiro", "--at", "2026-03-02T12:30:00-03:00")["open"] is False
    assert resolve(run, "financeiro", "--at", "2026-03-07T09:00:00-03:00")["open"] is True
    assert resolve(run, "financeiro", "--at", "2026-03-07T14:00:00-03:00")["open"] is False
    assert resolve(run, "financeiro", "--at", "2026-12-24T10:00:00-03:00")["open"] is False  # listed date
    assert resolve(run, "financeiro", "--at", "2026-12-25T10:00:00-03:00")["open"] is False  # BR calendar
    # 13:30 UTC is 10:30 in São Paulo
    assert resolve(run, "financeiro", "--at", "2026-03-02T13:30:00Z")["open"] is True
    # Suporte Técnico has its own 24x7 hours
    assert resolve(run, "suporte", "--at", "2026-03-08T03:00:00-03:00")["open"] is True
    bad = run("destinations", "resolve", *D, "--at", "tomorrow", "financeiro")
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_resolve_ambiguous_and_first_name(run, imported) -> None:
    for name, ext in (("Maria Silva", "1101"), ("Maria Souza", "1102"), ("João Pereira", "1103")):
        assert run("destinations", "add", *D, "--name", name, "--type", "extension", "--target", ext).exit_code == 0
    amb = resolve(run, "quero falar com a maria", "--at", MONDAY_10)
    assert amb["match"] is None and amb["ambiguous"] is True
    assert {a["name"] for a in amb["alternatives"][:2]} == {"Maria Silva", "Maria Souza"}
    assert resolve(run, "o joão está?", "--at", MONDAY_10)["match"] == "João Pereira"
    human = run("destinations", "resolve", *D, "--at", MONDAY_10, "financeiro")
    assert human.stdout.startswith("Financeiro (score 100, open)")


def test_resolve_unknown_domain(run) -> None:
    result = run("destinations", "resolve", "--domain", "nope.local", "financeiro")
    assert result.exit_code == 1 and "no such domain" in result.output


def test_console_script_subprocess(cli_env: dict[str, str], imported) -> None:
    exe = Path(sys.executable).with_name("voiceai-ivr")
    env = {**os.environ, **cli_env}
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(exe), "destinations", "resolve", *D, "--json", "--at", MONDAY_10, "boleto"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["match"] == "Financeiro"
    print(f"\nconsole script resolve (external test database): {took:.3f}s")
    assert took < 3.0
