"""Round 11 of issue 18: the list asked for again in other words, "put him on the
line" and "me liga com o financeiro" (a transfer, said as "call me"), a request
opened with a greeting ("yeah, the pharmacy"), a person's alias said in part
("Deb"), an unknown surname after a first name, a topic said not to be the
matter ("it's not a complaint"), and a department split in three by the ASR."""

from __future__ import annotations

from typing import Optional

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver


@pytest.fixture(scope="module")
def shop() -> Resolver:
    return Resolver([
        D("Recepção", (), "reception"),
        D("Financeiro", (), "billing"),
        D("Recursos Humanos", (), "hr"),
        D("Confeitaria"),
        D("Ouvidoria", (), "complaints"),
        D("Maria Silva"),
        D("Maria Souza"),
        D("Jorge Oliveira"),
    ])


@pytest.fixture(scope="module")
def clinic() -> Resolver:
    return Resolver([
        D("Front Desk", (), "reception"),
        D("Billing Office", (), "billing"),
        D("Pharmacy"),
        D("Patient Relations", (), "complaints"),
        D("Deborah Faulkner", ("Deb Faulkner",)),
        D("Michael Ortiz"),
    ])


def _resolver(utterance: str, shop: Resolver, clinic: Resolver) -> Resolver:
    english = set(utterance.split()) & {"i", "my", "the", "what", "which", "wait", "yeah", "its", "put", "michael",
                                        "deb"}
    return clinic if english else shop


@pytest.mark.parametrize(
    ("utterance", "kind"),
    [
        # the list of destinations, asked for again
        ("quais sao os setores mesmo", "repeat"),
        ("quais eram as areas", "repeat"),
        ("what was number three", "repeat"),
        ("wait go back", "repeat"),
        ("which were the departments again", "repeat"),
        # put through now, said as "put her on the line" or "call me with the ...",
        # after callbacks that never came
        ("cansei de deixar recado coloca a maria silva na linha por favor", "transfer"),
        ("cansei de deixar recado pedindo retorno", "callback"),
        ("me liga com o financeiro", "transfer"),
        # ... while "me liga" alone is still a callback
        ("me liga amanha de manha", "callback"),
        # a callback the caller turns down
        ("dispenso retorno quero falar com o financeiro agora", "transfer"),
    ],
)
def test_turn_kinds(shop: Resolver, clinic: Resolver, utterance: str, kind: str) -> None:
    assert classify(utterance, resolver=_resolver(utterance, shop, clinic)).kind == kind


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # a greeting before the name does not make it a name said in passing
        ("yeah the pharmacy", "Pharmacy"),
        ("oi o financeiro", "Financeiro"),
        # a person's alias, said in part
        ("deb please", "Deborah Faulkner"),
        # the article, then the name in two pieces
        ("a confei taria por favor", "Confeitaria"),
        # a topic said not to be the matter, nothing else said
        ("its not a complaint", None),
        ("it's not a complaint", None),
    ],
)
def test_resolution(shop: Resolver, clinic: Resolver, utterance: str, expected: Optional[str]) -> None:
    assert _resolver(utterance, shop, clinic).resolve(utterance).match == expected


def test_an_unknown_surname_after_a_first_name_is_someone_else(shop: Resolver, clinic: Resolver) -> None:
    # "michael reyes": this directory's Michael is Ortiz; someone it does not have
    assert classify("michael reyes please", resolver=clinic).kind == "operator"
    assert classify("o jorge pereira", resolver=shop).kind == "operator"
    # ... but an ordinary word after the first name is not a surname
    res = shop.resolve("maria alguma coisa nao lembro o resto do nome")
    assert res.ambiguous
    assert {n for n, _ in res.alternatives} >= {"Maria Silva", "Maria Souza"}
