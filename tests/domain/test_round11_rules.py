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
from voiceai_ivr.domain.resolve import Resolver, words_of


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
        # a line check is greeted again; someone to attend to the caller is the operator
        ("alo tem alguem ai", "unknown"),
        ("hello hello anybody there", "unknown"),
        ("tem alguem ai pra me atender", "operator"),
        ("is there anybody there who can help me", "operator"),
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
    # "michael reyes": this directory's Michael is Ortiz; someone it does not have (he
    # is offered, not transferred to)
    for said, directory in (("michael reyes please", clinic), ("o jorge pereira", shop)):
        got = classify(said, resolver=directory)
        assert got.destination is None and got.resolution is not None and got.resolution.ambiguous, got
        assert directory.resolve(said).match is None
    # ... but an ordinary word after the first name is not a surname
    res = shop.resolve("maria alguma coisa nao lembro o resto do nome")
    assert res.ambiguous
    assert {n for n, _ in res.alternatives} >= {"Maria Silva", "Maria Souza"}


@pytest.fixture(scope="module")
def builder() -> Resolver:
    return Resolver([
        D("Engenharia de Obras", ("EO",)),
        D("Financeiro", (), "billing"),
        D("Contas a Pagar"),
        D("Compras", (), "purchasing"),
        D("Vendas Corporativas", ("cesta básica",), "sales"),
    ])


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # "X não" then a request: X is taken back, and its topic word with it
        ("compras nao eu quero comprar pra empresa cesta basica no atacado", "Vendas Corporativas"),
        # two negated clauses in a row, then a supplier's unpaid invoice
        ("nao quero vender nada nao sou fornecedor e voces nao pagaram minha nota", "Contas a Pagar"),
        ("sou empreiteiro e a medicao de abril ainda nao foi paga", "Contas a Pagar"),
        # "e o" between words is not the alias EO spelled out
        ("ja sou cliente e o meu boleto nao chegou", "Financeiro"),
        ("queria falar com e o", "Engenharia de Obras"),
    ],
)
def test_negated_clauses_and_suppliers(builder: Resolver, utterance: str, expected: str) -> None:
    assert builder.resolve(utterance).match == expected


def test_i_m_a_is_a_contraction_and_an_article() -> None:
    assert words_of("i'm a vendor") == ["i", "m", "a", "vendor"]
    assert words_of("the h r department") == ["the", "hr", "department"]
    r = Resolver([D("Purchasing", (), "purchasing"), D("Accounts Payable"), D("Credit and Collections", (), "billing")])
    assert r.resolve("hi i'm a vendor checking on the status of a check you guys said was mailed").match \
        == "Accounts Payable"


def test_a_long_story_of_a_need_nobody_here_has_is_not_routed_by_its_tail() -> None:
    # the tail alone ("i'd like a comment about ... the bus crash") reads as IT's "crash"
    r = Resolver([D("IS Service Desk", (), "support"), D("Patient Relations", (), "complaints"),
                  D("Front Desk", (), "reception")])
    said = "i'm a reporter with channel five and i'd like a comment about the patients from the bus crash"
    assert classify(said, resolver=r).destination != "IS Service Desk"


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("o meu boleto ainda nao chegou", "Financeiro"),
        ("o meu pedido ainda nao chegou", "Centro de Distribuição"),
        ("my bill never arrived", None),  # asked "Billing Office or Shipping?" by the model, not sent to Shipping
        ("my package never arrived", "Shipping"),
    ],
)
def test_what_did_not_arrive_gives_the_kind(utterance: str, expected: Optional[str]) -> None:
    pt = Resolver([D("Financeiro", (), "billing"), D("Centro de Distribuição", (), "logistics")])
    en = Resolver([D("Billing Office", (), "billing"), D("Shipping", (), "logistics")])
    res = (en if utterance.startswith("my") else pt).resolve(utterance)
    assert res.match == expected
    if expected is None:
        assert "Billing Office" in [n for n, _ in res.alternatives]


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # a supplier in other words, and one unpaid for what it delivered
        ("a gente entrega produto de limpeza pra rede de voces e o pagamento ta atrasado", "Contas a Pagar"),
        ("we delivered corrugated boxes to you in march and we still haven't been paid for it", "Accounts Payable"),
        ("i haven't got my check yet for the pallets we delivered in august", "Accounts Payable"),
        # ... while a delivery problem is still the dock's
        ("we delivered the boxes but the dock refused them", "Shipping"),
    ],
)
def test_suppliers_unpaid_for_what_they_delivered(utterance: str, expected: str) -> None:
    pt = Resolver([D("Financeiro", (), "billing"), D("Contas a Pagar"), D("Tesouraria", (), "billing"),
                   D("Centro de Distribuição", (), "logistics")])
    en = Resolver([D("Credit and Collections", (), "billing"), D("Accounts Payable"),
                   D("Shipping", (), "logistics")])
    english = bool(set(utterance.split()) & {"we", "i", "i'm", "i haven't"})
    res = (en if english else pt).resolve(utterance)
    # sent there, or asked with it as the guess ("a check for the pallets": the topic
    # model reads pallets and deliveries as the dock's, the rules a supplier's pay)
    assert res.match == expected or (res.match is None and res.guess == expected)


def test_a_clipped_department_word_names_it() -> None:
    en = Resolver([D("Laboratory Services"), D("Business Office", (), "billing"), D("Library Bookstore"),
                   D("Front Desk", (), "reception")])
    assert en.resolve("the lab please").match == "Laboratory Services"
    assert en.resolve("uh pharmacy no wait i meant the lab").match == "Laboratory Services"
    # not a word of its own that starts one ("book" of "bookstore"), nor one the model
    # reads as another kind ("bus" is not the business office)
    assert en.resolve("i want to renew a book").match != "Library Bookstore"
    assert "Business Office" not in [m["name"] for m in en.resolve("my son missed the school bus").matched]
    pt = Resolver([D("Administração"), D("Recursos Humanos", (), "hr"), D("Recepção", (), "reception")])
    assert pt.resolve("me passa pro adm").match == "Administração"


def test_what_the_caller_calls_from_is_theirs() -> None:
    pt = Resolver([D("Recepção", (), "reception"), D("Diretoria", (), "management"), D("Comunicação", (), "marketing"),
                   D("Secretaria do Cemitério")])
    # "secretaria" of the caller's city hall is not our reception
    said = "sou da secretaria de desenvolvimento da prefeitura e queria marcar uma reuniao com o dono da rede"
    assert pt.resolve(said).match == "Diretoria"
    # one word is what the caller is, and so what they need
    assert pt.resolve("sou da imprensa e queria um posicionamento").match == "Comunicação"
    en = Resolver([D("Front Office", (), "reception"), D("Product Development"),
                   D("Plant Manager's Office", (), "management")])
    said = "i'm with the county economic development office and i'd like a meeting with whoever runs the plant"
    assert "Product Development" not in [m["name"] for m in en.resolve(said).matched]


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # where the caller works or worked is who they are, not whom they ask for
        ("eu trabalhei ai na fabrica de racao e ate agora nao recebi o informe de rendimento", "Gente e Gestão"),
        ("me passa pro rh eu trabalho ai na limpeza", "Gente e Gestão"),
        ("i used to work in dietary and i need my w2 from last year", "Human Resources"),
        # ... while a thing that stopped working there still names it
        ("my badge stopped working at the parking garage", "Parking Office"),
    ],
)
def test_where_the_caller_works_is_not_asked_for(utterance: str, expected: str) -> None:
    pt = Resolver([D("Fábrica de Ração"), D("Limpeza"), D("Gente e Gestão", (), "hr"), D("Recepção", (), "reception")])
    en = Resolver([D("Dietary"), D("Human Resources", (), "hr"), D("Parking Office"), D("Front Desk", (), "reception")])
    english = bool(set(utterance.split()) & {"i", "my"})
    res = (en if english else pt).resolve(utterance)
    # sent there, or asked "did you mean X?" about it alone (the topic model reads
    # "dietary ... w2 from last year" as nothing of HR's)
    assert res.match == expected or (res.match is None and [n for n, _ in res.alternatives] == [expected])


def test_going_back_somewhere_is_not_asking_to_hear_the_list_again(clinic: Resolver) -> None:
    assert classify("i have to go back to work tomorrow", resolver=clinic).kind != "repeat"
    assert classify("can you go back", resolver=clinic).kind == "repeat"
