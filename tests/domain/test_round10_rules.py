"""Round 10 of issue 18: a goodbye or a repeat request whose own words sound like a
department, a person named as such ("somebody named bill yates"), an unknown full
name beside topic words, a negated identity ("não sou fornecedor"), a supplier asking
when their invoice gets paid, a caller who will not talk to a machine, and the kind
of a department the lexicon's names do not give."""

from __future__ import annotations

from typing import Optional

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver


@pytest.fixture(scope="module")
def carrier() -> Resolver:
    return Resolver([
        D("Front Desk", (), "reception"),
        D("Accounts Receivable", (), "billing"),
        D("Accounts Payable"),
        D("Human Resources", (), "hr"),
        D("Road Service", (), "emergency"),
        D("ELD Help Desk", (), "support"),
        D("Home Delivery"),
        D("Rate Desk", ("pricing",)),
        D("Chloe Yoder"),
    ])


@pytest.fixture(scope="module")
def hotel() -> Resolver:
    return Resolver([
        D("Recepção", (), "reception"),
        D("Recursos Humanos", (), "hr"),
        D("Financeiro", ("contas a pagar",), "billing"),
        D("Suprimentos", (), "purchasing"),
        D("Centro de Convenções"),
    ])


def _resolver(utterance: str, carrier: Resolver, hotel: Resolver) -> Resolver:
    english = set(utterance.split()) & {"i", "my", "the", "huh", "how", "this"}
    return carrier if english else hotel


@pytest.mark.parametrize(
    ("utterance", "kind"),
    [
        # the only department word is in the goodbye or the repeat request itself
        ("vou desligar tchau", "goodbye"),
        ("huh say it again slower", "repeat"),
        ("fala mais devagar por favor", "repeat"),
        # ... but a department said beside them is still asked for
        ("quero falar com o financeiro tchau", "transfer"),
        ("my internet is slow can you put me through to the eld help desk", "transfer"),
        # a name, not a department a word of the name means
        ("i missed a call from somebody named bill yates", "operator"),
        # a full name nobody here has, beside words of a topic
        ("i need to talk to my driver manager tony castellano", "operator"),
        # a place or a thing named like a person is not a person asked for
        ("how much to ship six pallets from columbus to charlotte", "transfer"),
        # the caller will not talk to a machine
        ("nao quero falar com maquina nao", "operator"),
        ("i don't want to talk to a recording", "operator"),
        # a call from this number returned, nobody named: asked again, not guessed
        ("recebi uma ligacao desse numero", "unknown"),
        ("i got a missed call from this number", "unknown"),
        # waiting for a call that never came, and asking to be put through now
        ("faz uma semana que espero o pessoal me ligar transfere pro centro de convencoes por favor", "transfer"),
    ],
)
def test_turn_kinds(carrier: Resolver, hotel: Resolver, utterance: str, kind: str) -> None:
    assert classify(utterance, resolver=_resolver(utterance, carrier, hotel)).kind == kind


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # a negated identity takes back what it said ("not a supplier")
        ("eu nao sou fornecedor nao eu quero trabalhar ai como garcom", "Recursos Humanos"),
        ("a gente e fornecedor de voces e o pagamento nao caiu", "Financeiro"),
        # a supplier asking when its invoice is paid: who pays suppliers
        ("i do the unloading for your drivers and i wanted to see when my invoice is getting paid",
         "Accounts Payable"),
        ("i want to pay my invoice", "Accounts Receivable"),
    ],
)
def test_suppliers_and_who_is_not_one(carrier: Resolver, hotel: Resolver, utterance: str,
                                      expected: Optional[str]) -> None:
    assert _resolver(utterance, carrier, hotel).resolve(utterance).match == expected


def test_a_department_gets_the_lexicon_kind_its_name_is_to_the_topic_model(carrier: Resolver) -> None:
    # "Home Delivery" has no lexicon name of logistics; the topic model reads it as one
    assert carrier.category_of("Home Delivery") == "logistics"
    # declared kinds and people are left as they are
    assert carrier.category_of("Road Service") == "emergency"
    assert carrier.category_of("Chloe Yoder") is None


def test_a_table_is_not_the_front_desk(carrier: Resolver) -> None:
    # "mesa" alone was a reception name ("mesa telefônica" is)
    res = carrier.resolve("o tampo da mesa ta empenado desde que chegou")
    assert res.match != "Front Desk"
    assert "Front Desk" not in [n for n, _ in res.alternatives]


def test_a_department_named_under_a_negation_is_taken_back_before_a_topic() -> None:
    # "billing" said once, not asked for, beside a sentence of another kind's topic
    # words is not demoted to a topic of its own: it is named to be taken back
    r = Resolver([D("Accounts Receivable", ("billing",), "billing"), D("Dispatch", (), "logistics"),
                  D("Human Resources", (), "hr")])
    said = "not billing i need the people that handle the damaged freight"
    assert r.taken_back(said) == ["Accounts Receivable"]
    assert r.resolve(said).match == "Dispatch"



def test_a_department_has_the_kinds_of_its_name_aliases_and_keywords_each() -> None:
    # read together, the alias (lost property) drowned the keywords (housekeeping)
    r = Resolver([D("Governança", ("achados e perdidos",), None, ("camareira", "enxoval")),
                  D("Lavanderia"), D("Recepção", (), "reception")])
    kinds = r._profiles[0]
    assert {"lost_and_found", "housekeeping"} <= set(kinds)
    # a room nobody cleaned is the housekeepers' (Governança), not only the laundry's
    guess = r.by_topic_model("ninguem arrumou o meu quarto hoje e ja sao quatro da tarde")
    assert guess is not None and "Governança" in [n for n, _ in guess.alternatives]


def test_a_long_story_is_resolved_by_its_last_request() -> None:
    # the story names two departments on the way; its request, at the end, is a job
    r = Resolver([D("Financeiro", (), "billing"), D("Comercial", (), "sales"), D("Recursos Humanos", (), "hr"),
                  D("Recepção", (), "reception")])
    story = ("eu trabalhei no financeiro e depois no comercial de uma empresa grande por muitos anos "
             "e agora me mudei pra ca e queria saber se voces tem alguma vaga aberta")
    # read whole: never a department named on the way (a question, or the model's pick)
    assert r.resolve(story).match in (None, "Recursos Humanos")
    assert classify(story, resolver=r).destination == "Recursos Humanos"
    # a short sentence is read whole
    short = "trabalhei no financeiro e no comercial e queria uma vaga"
    assert classify(short, resolver=r).destination is None


@pytest.mark.parametrize("said", ["o pessoal do a e bê por favor", "a b por favor", "alimentos e bebidas"])
def test_a_name_joined_by_e_is_spelled_with_the_e(said: str) -> None:
    # "A&B" is read "a e bê" in pt-BR
    r = Resolver([D("Alimentos e Bebidas"), D("Recursos Humanos", (), "hr"), D("Recepção", (), "reception")])
    assert r.resolve(said).match == "Alimentos e Bebidas"
