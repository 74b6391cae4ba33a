"""Round 19 of issue 18: "ops" corrects, a title between "this is" and a name keeps
the name the caller's own, "don't put me on a callback list" declines one, a word
and a one-letter "e" are not glued into another word, a supplier offering what it
sells is Purchasing's, and lexicon phrases (see benchmarks/README.md, "Round 19")."""

from __future__ import annotations

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Financeiro", ("contas a pagar", "cobrança"), "billing"),
    D("Suporte Técnico", ("suporte",)), D("Comercial", ("vendas",), "sales"), D("Recursos Humanos", ("rh",), "hr"),
    D("Logística", ("entregas",), "logistics"), D("Jurídico", (), "legal"), D("Diretoria", (), "management"),
    D("Compras", ("fornecedores", "suprimentos"), "purchasing"),
])
EN = Resolver([
    D("Front Desk", (), "reception"), D("Billing", (), "billing"), D("Sales", (), "sales"),
    D("Shipping", (), "logistics"), D("Legal", (), "legal"), D("Management", (), "management"),
    D("Airfield Operations", ("airfield ops",)),
])


def intent_is(resolver: Resolver, said: str, kind: str, destination: object = None) -> None:
    """What ``said`` is understood as: its kind and destination (rounds 19 and 20)."""
    intent = classify(said, resolver=resolver)
    assert (intent.kind, intent.destination) == (kind, destination), intent


def _transfers(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "me passa pro financeiro ops pro comercial", "Comercial"),
    (PT, "o rh ops desculpa a logistica", "Logística"),
    (EN, "billing ops i mean sales", "Sales"),
])
def test_ops_corrects_what_was_said_before(resolver: Resolver, said: str, wanted: str) -> None:
    _transfers(resolver, said, wanted)


@pytest.mark.parametrize("said", ["airfield ops", "can i get airfield ops please", "the airfield ops team"])
def test_ops_that_is_operations_is_no_correction(said: str) -> None:
    _transfers(EN, said, "Airfield Operations")


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "hello this is attorney mark delaney calling about a lawsuit against your company", "Legal"),
    (EN, "this is officer brenda cole i need to talk to someone about a lawsuit", "Legal"),
    (PT, "aqui e o doutor paulo mendes advogado de um cliente sobre um processo contra a empresa", "Jurídico"),
])
def test_a_title_between_this_is_and_a_name_keeps_it_the_callers_own(resolver: Resolver, said: str,
                                                                     wanted: str) -> None:
    """Not "a person nobody here is, by full name" (the reception): the caller's own
    name, with their trade or title before it; what they need decides."""
    _transfers(resolver, said, wanted)


def test_a_full_name_asked_for_with_a_title_still_goes_to_the_reception() -> None:
    assert classify("i need to talk to attorney mark delaney", resolver=EN).kind == "operator"


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "please don't put me on a callback list just put me through to sales", "Sales"),
    (PT, "nao me coloca na lista de retorno eu quero falar com o comercial agora", "Comercial"),
])
def test_being_put_on_a_callback_list_declined(resolver: Resolver, said: str, wanted: str) -> None:
    _transfers(resolver, said, wanted)


def test_a_callback_list_asked_for_is_a_callback() -> None:
    assert classify("can you put me on the callback list for sales", resolver=EN).kind == "callback"


def test_a_word_and_a_one_letter_e_are_not_glued_into_another_word() -> None:
    """"fornecedor e o" is not "fornecedore(s)" (Compras' alias): the supplier's unpaid
    invoice goes to who pays suppliers."""
    said = "sou fornecedor e o meu pagamento atrasou a nota venceu semana passada"
    _transfers(PT, said, "Financeiro")
    heard = [via for m in PT.resolve(said).matched for via in m["via"]]
    assert not any("fornecedores" in via for via in heard), heard
    assert PT.resolve("queria falar com pras").match == "Compras"  # a word split in two is still mended


@pytest.mark.parametrize("said", [
    "sou fornecedor e queria apresentar o nosso catalogo",
    "sou fornecedor e quero oferecer nossos produtos pra voces",
])
def test_a_supplier_offering_what_it_sells_is_purchasing(said: str) -> None:
    _transfers(PT, said, "Compras")


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "e sobre uma proposta de investimento preciso falar com a alta gestao", "Diretoria"),
    (EN, "i need someone from upper management about an investment", "Management"),
    (EN, "we have three offices and i wanted to know what you would charge for the same service", "Sales"),
    (EN, "where is my package it should have been here monday", "Shipping"),
])
def test_lexicon_phrases_of_round_19(resolver: Resolver, said: str, wanted: str) -> None:
    _transfers(resolver, said, wanted)


ONCALL = Resolver([D("Front Desk", (), "reception"), D("Billing", (), "billing"),
                   D("On-Call Technician", ()), D("Lawn Care", ("lawn program",))])


@pytest.mark.parametrize("said, wanted", [
    ("can the lawn program guy call me back", "Lawn Care"),
    ("could someone call me back please", None),
    ("can billing call me back tomorrow", "Billing"),
])
def test_a_callback_s_own_words_name_no_destination(said: str, wanted: object) -> None:
    """"call" in "call me back" is not the On-Call Technician's name."""
    intent_is(ONCALL, said, "callback", wanted)


PEOPLE_PT = Resolver([D("Recepção", (), "reception"), D("Ana Paula Ribeiro", ()), D("Ana Cláudia Schmidt", ())])
PEOPLE_EN = Resolver([D("Front Desk", (), "reception"), D("Chris Lassiter", ()), D("Kris Whitfield", ()),
                      D("Catherine Miller", ()), D("Catherine Brooks", ())])


@pytest.mark.parametrize("said", ["anapaula por favor", "a paula por favor", "a paula ribeiro"])
def test_ana_paula_is_not_any_ana(said: str) -> None:
    """"Ana Paula" is one name: "paula" is no variant of "ana", and "anapaula" is the
    two glued (not a first name of its own matching every Ana)."""
    _transfers(PEOPLE_PT, said, "Ana Paula Ribeiro")


def test_any_ana_is_still_asked_which() -> None:
    intent = classify("a ana por favor", resolver=PEOPLE_PT)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent


def test_chris_and_kris_sound_alike() -> None:
    intent = classify("is chris there", resolver=PEOPLE_EN)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent
    assert {n for n, _ in intent.resolution.alternatives} >= {"Chris Lassiter", "Kris Whitfield"}


def test_a_namesake_s_surname_heard_one_letter_off() -> None:
    _transfers(PEOPLE_EN, "catherine crooks please", "Catherine Brooks")
    other = classify("catherine oneill please", resolver=PEOPLE_EN)
    assert other.destination is None, other
