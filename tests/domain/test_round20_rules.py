"""Round 20 of issue 18 (benchmarks/README.md, "Round 20"): common surnames, a negator
right after a correction, names of those the caller speaks for, going there in person
as a goodbye, a supplier's open invoices, a department's name misheard as a word that
sounds like it, spelling variants, lexicon phrases, "you talked too fast"."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify, none_of_them
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Financeiro", ("cobrança",), "billing"),
    D("Contas a Pagar", ()), D("Suporte Técnico", ("suporte",)), D("Comercial", ("vendas",), "sales"),
    D("Jurídico", (), "legal"), D("Ouvidoria", (), "complaints"), D("Compras", (), "purchasing"),
    D("Loja Centro", ()), D("Maria Silva", ()), D("Rafael Drumond", ()), D("Raphael Bicalho", ()),
])
EN = Resolver([
    D("Front Desk", (), "reception"), D("Billing", (), "billing"), D("Accounts Payable", ()),
    D("Technical Support", ("support",)), D("Sales", (), "sales"), D("Legal", (), "legal"),
    D("Branch Operations", ()), D("John Thompson", ()),
])


@pytest.mark.parametrize("resolver, said, namesake", [
    (EN, "john smith please", "John Thompson"),
    (EN, "can i talk to john brown", "John Thompson"),
    (PT, "a maria oliveira por favor", "Maria Silva"),
    (PT, "queria falar com a maria costa", "Maria Silva"),
])
def test_a_common_surname_not_the_directory_s_is_someone_else(resolver: Resolver, said: str,
                                                              namesake: str) -> None:
    """"smith", "costa" are words the topic model knows, but after a first name they are
    a surname: John Smith is not John Thompson. He is offered ("did you mean John
    Thompson?"), not transferred to."""
    intent = classify(said, resolver=resolver)
    assert intent.destination is None, intent
    assert intent.kind == "transfer" and intent.resolution is not None and intent.resolution.ambiguous, intent
    assert [n for n, _ in intent.resolution.alternatives] == [namesake]
    assert intent.unsure_which  # offered with their departments


def test_namesakes_of_a_full_name_nobody_here_has_are_offered() -> None:
    both = Resolver([D("Recepção", (), "reception"), D("Maria Silva", ()), D("Maria Souza", ())])
    intent = classify("a maria fernandes por favor", resolver=both)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent
    assert {n for n, _ in intent.resolution.alternatives} == {"Maria Silva", "Maria Souza"}
    # nobody of that first name, or a title and a surname only: the reception
    intent_is(both, "o joao batista por favor", "operator")
    intent_is(EN, "can i speak to mister abernathy", "operator")


def test_the_directory_s_own_surname_still_names_the_person() -> None:
    intent_is(PT, "a maria silva por favor", "transfer", "Maria Silva")
    intent_is(EN, "john thompson please", "transfer", "John Thompson")


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "me passa pro comercial desculpa nao pro suporte", "Suporte Técnico"),
    (PT, "o comercial ops nao o suporte", "Suporte Técnico"),
    (EN, "sorry not sales i need support", "Technical Support"),
])
def test_a_negator_right_after_a_correction_is_the_correction_s(resolver: Resolver, said: str,
                                                                 wanted: str) -> None:
    """"X, sorry, no, Y": the "no" takes X back, not Y; an apology before anything was
    named leaves the negation where it is."""
    intent_is(resolver, said, "transfer", wanted)


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "boa tarde sou advogado do senhor joao batista no processo contra a empresa queria falar de um acordo",
     "Jurídico"),
    (EN, "hi i'm calling on behalf of my client mark delaney about the lawsuit", "Legal"),
])
def test_the_name_of_whom_the_caller_speaks_for_is_not_asked_for(resolver: Resolver, said: str,
                                                                 wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


@pytest.mark.parametrize("resolver, said", [
    (PT, "deixa pra la vou passar na loja amanha"),
    (PT, "vou passar ai pessoalmente"),
    (EN, "actually i'll just swing by the branch instead thanks"),
    (EN, "i'll stop by tomorrow"),
])
def test_going_there_in_person_instead_is_a_goodbye(resolver: Resolver, said: str) -> None:
    intent_is(resolver, said, "goodbye")


def test_going_there_with_a_request_is_the_request() -> None:
    intent_is(PT, "vou passar na loja amanha mas antes queria falar com o financeiro", "transfer", "Financeiro")


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "aqui e da distribuidora a gente tem umas duplicatas em aberto com voces", "Contas a Pagar"),
    (EN, "i'm calling from one of your suppliers about the payment of our last invoice", "Accounts Payable"),
])
def test_a_supplier_s_open_invoices_go_to_who_pays_suppliers(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


def test_a_department_s_name_misheard_as_a_word_that_sounds_like_it() -> None:
    intent_is(EN, "i need the sails department", "transfer", "Sales")
    assert classify("i need the sails for my boat", resolver=EN).destination is None


def test_rafael_and_raphael_are_one_name() -> None:
    intent = classify("queria falar com o rafael", resolver=PT)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "o atendimento de voces e uma vergonha", "Ouvidoria"),
    (PT, "fui mal tratada na loja e quero reclamar", "Ouvidoria"),
    (PT, "voces compram embalagem de papelao", "Compras"),
    (EN, "my screen just went black", "Technical Support"),
    (EN, "a question about the liability clause in our agreement", "Legal"),
    (EN, "we're thinking about switching over to you guys", "Sales"),
    (EN, "hola i have a question about my factura", "Billing"),
])
def test_lexicon_phrases_of_round_20(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


@pytest.mark.parametrize("resolver, said", [
    (PT, "desculpa voce falou muito rapido"),
    (EN, "sorry you talked way too fast"),
])
def test_too_fast_asks_to_repeat(resolver: Resolver, said: str) -> None:
    intent_is(resolver, said, "repeat")


@pytest.mark.parametrize("said", ["nenhuma das duas", "nao e nenhuma delas", "nenhum", "neither", "none of them",
                                  "neither of them thanks"])
def test_none_of_them(said: str) -> None:
    """The answer to "X or Y?" that neither is: the reception takes the call."""
    assert none_of_them(said)


@pytest.mark.parametrize("said", ["a primeira", "the one in billing", "nenhum problema quero a maria",
                                  "nao sei"])
def test_not_none_of_them(said: str) -> None:
    assert not none_of_them(said)
