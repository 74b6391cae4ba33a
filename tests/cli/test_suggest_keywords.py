"""``voiceai-ivr destinations suggest-keywords`` against a local OpenAI-compatible
server (a real HTTP server): the phrases a model suggests are added to the
departments' keywords in a file for review; nothing is written to the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_destinations_cli import D, snapshot
from tests.flows.llm_server import Server, tool_reply
from voiceai_ivr.stores.db import Database

SUGGESTED = {"departments": [
    {"name": "financeiro", "phrases": ["Segunda  via", "conta atrasada", "boleto", "suporte", "pagar a parcela",
                                       "uma frase longa demais para ser uma palavra chave", 7]},
    {"name": "Suporte Técnico", "phrases": ["sem sinal", "roteador piscando"]},
    {"name": "Diretoria de Marte", "phrases": ["foguete"]},
]}


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "voiceai.yaml"
    path.write_text(yaml.safe_dump({"llm": {"url": url, "model": "test-model", "api_key": "sk-Secret123"}}))
    return str(path)


@pytest.fixture
def model() -> Any:
    server = Server(lambda body: (200, json.dumps(tool_reply("suggest_keywords", SUGGESTED)).encode(), 0.0))
    yield server
    server.close()


def test_suggestions_are_written_for_review_and_import_back(run, imported, db: Database, model: Server,
                                                            tmp_path: Path) -> None:
    before = snapshot(db)
    out = tmp_path / "suggested.yaml"
    result = run("destinations", "suggest-keywords", *D, "--output", str(out),
                 env={"VOICEAI_CONFIG": _config(tmp_path, model.url)})
    assert result.exit_code == 0, result.output
    assert "suggested 5 phrase(s) for 2 of 3 department(s) of demo.local" in result.stderr
    assert "destinations import " + str(out) in result.stderr
    assert snapshot(db) == before  # nothing written
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    keywords = {d["name"]: d.get("keywords", []) for d in doc["destinations"]}
    # as listed, lower case, spaces collapsed; an alias of any destination, a phrase
    # of more than 4 words and a non-text item are left out; unknown names ignored
    assert keywords["Financeiro"] == ["segunda via", "conta atrasada", "pagar a parcela"]
    assert keywords["Suporte Técnico"] == ["sem sinal", "roteador piscando"]
    assert keywords["Plantão"] == []
    request = model.requests[0]
    system = request["messages"][0]["content"]
    assert "Brazilian Portuguese" in system and "- Financeiro (contas a pagar, boleto" in system
    assert system.rstrip().endswith("Financeiro\nSuporte Técnico\nPlantão")
    assert "sk-Secret123" not in result.output
    # the file imports back: the reviewed suggestions reach the resolver
    check = run("destinations", "import", str(out), "--dry-run")
    assert check.exit_code == 0, check.output


def test_without_a_model_or_with_a_useless_answer_nothing_is_written(run, imported, tmp_path: Path) -> None:
    out = tmp_path / "suggested.yaml"
    result = run("destinations", "suggest-keywords", *D, "--output", str(out))
    assert result.exit_code == 1 and "llm.url and llm.model are needed" in result.output
    broken = Server(lambda body: (200, json.dumps(tool_reply("suggest_keywords", {"departments": [
        {"name": "Nada Disso", "phrases": ["x"]}]})).encode(), 0.0))
    try:
        result = run("destinations", "suggest-keywords", *D, "--output", str(out),
                     env={"VOICEAI_CONFIG": _config(tmp_path, broken.url)})
    finally:
        broken.close()
    assert result.exit_code == 1, result.output
    assert "no usable suggestions for pt-BR: the suggestions name none of the departments" in result.output
    assert "Traceback" not in result.output and not out.exists()
