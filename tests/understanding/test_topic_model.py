"""The topic classifier (voiceai_ivr/domain/topicmodel.py) and how the resolver
uses it: the kinds of department a sentence is about, each destination's profile,
and decisions only where the rules are not sure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver
from voiceai_ivr.domain.topicmodel import MODEL_PATH, TopicModel, features, topic_model

ROOT = Path(__file__).resolve().parents[2]


def _top(model: TopicModel, text: str) -> str:
    dist = model.distribution(text)
    return max(dist, key=lambda k: dist[k])


def test_shipped_model_is_what_the_training_folder_trains() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_topic_model.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert MODEL_PATH.exists()


@pytest.mark.parametrize("text,kind", [
    ("meu salario nao caiu esse mes", "payroll"),
    ("minha encomenda ainda nao chegou e o rastreio nao atualiza", "logistics"),
    ("recebi uma intimacao do tribunal", "legal"),
    ("my package never arrived and tracking says delivered", "logistics"),
    ("i need a refill on my blood pressure medication", "pharmacy"),
    ("there are roaches all over the kitchen", "pest_control"),
])
def test_distribution_names_the_kind(text: str, kind: str) -> None:
    model = topic_model()
    assert model is not None
    assert _top(model, text) == kind


def test_unknown_words_give_no_distribution() -> None:
    model = topic_model()
    assert model is not None
    assert model.distribution("alo") == {}
    assert model.distribution("") == {}
    assert features("uh hum eh", model.stopwords) == []


def test_features_are_stems_and_pairs() -> None:
    feats = features("entregaram a encomenda", frozenset({"a"}))
    assert "p:entreg" in feats and "p:encomend" in feats
    assert any(f.startswith("b:") for f in feats)


CLINIC = [
    {"name": "Front Desk", "category": "reception"},
    {"name": "Pharmacy"},
    {"name": "Dentistry"},
    {"name": "Boarding and Grooming"},
    {"name": "Client Accounts", "category": "billing"},
    {"name": "Oncology"},
    {"name": "Surgery"},
]


class _D:
    def __init__(self, doc: dict[str, object]) -> None:
        self.name = doc["name"]
        self.aliases: list[str] = list(doc.get("aliases", []))  # type: ignore[call-overload]
        self.keywords: list[str] = []
        self.category = doc.get("category")
        self.enabled = True


def _resolver(model: object = None) -> Resolver:
    return Resolver([_D(d) for d in CLINIC], model=model)  # type: ignore[arg-type]


def test_profiles_come_from_the_names_or_the_declared_category() -> None:
    r = _resolver()
    prof = dict(zip(r.names, r._profiles))
    assert prof["Client Accounts"] == {"billing": 1.0}
    assert max(prof["Dentistry"], key=lambda k: prof["Dentistry"][k]) == "dentistry"
    assert max(prof["Pharmacy"], key=lambda k: prof["Pharmacy"][k]) == "pharmacy"


def test_a_need_the_rules_cannot_place_reaches_the_department_it_fits() -> None:
    r = _resolver()
    text = "my dog broke a tooth"
    assert r.resolve(text).match is None  # the rules alone find nothing
    found = classify(text, resolver=r)
    assert found.kind == "transfer" and found.destination == "Dentistry", found.reason
    assert "topic model" in found.reason


def test_without_the_model_the_rules_alone_decide() -> None:
    r = _resolver(model=False)
    found = classify("my dog broke a tooth", resolver=r)
    assert found.kind == "unknown"


def test_a_sentence_about_nothing_here_is_not_placed() -> None:
    r = _resolver()
    for text in ("alo", "what's the weather like tomorrow", "uh hello"):
        found = classify(text, resolver=r)
        assert found.kind not in ("transfer",) or found.destination is None, (text, found)


def test_a_correction_is_not_overruled_by_the_model() -> None:
    r = _resolver()
    found = classify("pharmacy no wait i meant surgery", resolver=r)
    assert found.destination == "Surgery", found.reason


SCHOOL = [
    {"name": "Secretaria Escolar", "category": "reception"},
    {"name": "Transporte Escolar", "category": "logistics"},
    {"name": "Biblioteca"},
    {"name": "Tesouraria", "category": "billing"},
]
#: "devolver" is a logistics topic word to the rules; the model reads a library loan.
RETURN_A_BOOK = "preciso devolver o livro que peguei emprestado semana passada"


def _school(docs: list[dict[str, object]]) -> Resolver:
    return Resolver([_D(d) for d in docs])  # type: ignore[arg-type]


def test_a_department_of_no_kind_the_model_is_sure_of_takes_a_weak_topic_match() -> None:
    res = _school(SCHOOL).resolve(RETURN_A_BOOK)
    assert res.match == "Biblioteca", res.reason
    assert "weak topic match, topic model" in res.reason


def test_a_department_of_a_declared_kind_is_still_asked_about() -> None:
    # the rules' topic tier sees a department of a kind: their match is evidence
    docs = [dict(d, category="library") if d["name"] == "Biblioteca" else d for d in SCHOOL]
    res = _school(docs).resolve(RETURN_A_BOOK)
    assert res.match is None and res.ambiguous
    assert [n for n, _ in res.alternatives] == ["Transporte Escolar", "Biblioteca"]


def test_two_departments_of_one_profile_are_asked_about_not_taken() -> None:
    docs = [*SCHOOL, {"name": "Sala de Leitura", "aliases": ["biblioteca infantil"]}]
    r = _school(docs)
    fits = dict(r.model_fit(RETURN_A_BOOK))
    # alike (the alias "biblioteca infantil" adds youth programmes to the second)
    assert abs(fits["Biblioteca"] - fits["Sala de Leitura"]) < 0.01
    res = r.resolve(RETURN_A_BOOK)
    assert res.match is None and res.ambiguous


@pytest.mark.parametrize("above", [True, False])
def test_the_model_alone_transfers_only_at_fit_transfer(monkeypatch: pytest.MonkeyPatch, above: bool) -> None:
    """Where the rules find nothing, the model's fit must reach ``FIT_TRANSFER`` to
    transfer; under it, a clear lead is offered as "did you mean X?" (a question,
    not a transfer on a guess)."""
    from voiceai_ivr.domain import resolve

    r = _resolver()
    text = "my dog broke a tooth"
    (name, fit), *_ = r.model_fit(text, 1)
    monkeypatch.setattr(resolve, "FIT_TRANSFER", fit - 0.01 if above else fit + 0.01)
    found = r.by_topic_model(text)
    assert found is not None
    if above:
        assert found.match == name and not found.ambiguous
    else:
        assert found.match is None and found.ambiguous and found.guess == name
