"""Round 22 of issue 18 (benchmarks/README.md, "Round 22"): a saint's town is not a
person, a first name like a person's before their surname, first names that sound
alike, a common surname that sounds like the directory's, "let X know I called", "get
me X" after past callbacks, goodbyes, the line cutting what was said, talking to
someone else in the room, lexicon phrases."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Financeiro", ("cobrança",), "billing"),
    D("Logística", ("entrega",), "logistics"), D("Suporte Técnico", ("suporte",)),
    D("Comercial", ("vendas",), "sales"), D("Compras", (), "purchasing"), D("Superintendência", ()),
    D("Centro de Controle Operacional", ("acidente", "batida")), D("Carlos Amaral", ()),
    D("Paula Reis", ()),
])
EN = Resolver([
    D("Front Desk", (), "reception"), D("Billing", (), "billing"), D("Shipping", (), "logistics"),
    D("Sales", (), "sales"), D("Purchasing", (), "purchasing"), D("Technical Support", ("support",)),
    D("Daniel Kim", ()), D("Danielle Price", ()), D("Katelyn Brooks", ()), D("Caitlin Mercer", ()),
    D("LaToya Greene", ()), D("Elizabeth Wright", ()), D("Guest Relations", ("complaints",)),
])


def test_a_saint_s_town_is_a_place_not_a_person() -> None:
    intent_is(PT, "acabei de ver uma batida feia na altura de sao carlos tem gente presa no carro", "transfer",
              "Centro de Controle Operacional")
    intent_is(PT, "o carlos por favor", "transfer", "Carlos Amaral")


def test_a_first_name_like_theirs_before_a_surname_names_that_person() -> None:
    """"daniel price": no Daniel Price, but Danielle Price (not Daniel Kim); "price"
    alone is still a word ("the price list")."""
    intent_is(EN, "daniel price", "transfer", "Danielle Price")
    intent_is(EN, "danielle price please", "transfer", "Danielle Price")
    intent_is(EN, "daniel please", "transfer", "Daniel Kim")
    assert classify("what s the price list", resolver=EN).destination != "Danielle Price"


def test_first_names_that_sound_alike_are_asked_about() -> None:
    """Katelyn and Caitlin are one name to the ear: asked, unless a surname says which."""
    intent = classify("katelyn i don t know her last name sorry", resolver=EN)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent
    assert {n for n, _ in intent.resolution.alternatives} == {"Katelyn Brooks", "Caitlin Mercer"}
    intent_is(EN, "katelyn brooks please", "transfer", "Katelyn Brooks")
    intent_is(EN, "caitlin mercer please", "transfer", "Caitlin Mercer")


def test_a_common_surname_that_sounds_like_the_directory_s_is_theirs() -> None:
    """"green" is a common surname, but LaToya Greene is the LaToya here."""
    intent_is(EN, "is latoya green there", "transfer", "LaToya Greene")


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "just let elizabeth wright know i called", "Elizabeth Wright"),
    (EN, "can you tell elizabeth that i called", "Elizabeth Wright"),
    (PT, "avisa a paula que eu liguei", "Paula Reis"),
])
def test_let_someone_know_i_called_is_a_message(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "callback", wanted)


def test_get_me_someone_after_callbacks_that_never_came_is_a_transfer() -> None:
    intent_is(EN, "i already asked for a callback twice yesterday get me guest relations please", "transfer",
              "Guest Relations")


@pytest.mark.parametrize("resolver, said, kind", [
    (PT, "ah ta bom obrigado vou ligar mais tarde", "goodbye"),
    (PT, "entao eu vou tentar de novo amanha", "goodbye"),
    (EN, "alright y all have a good one", "goodbye"),
    (PT, "desculpa cortou o que voce falou", "repeat"),
    (PT, "quais sao os numero mesmo", "repeat"),
    (EN, "sorry you cut out", "repeat"),
])
def test_goodbyes_and_repeats(resolver: Resolver, said: str, kind: str) -> None:
    intent_is(resolver, said, kind)


def test_a_request_later_in_the_sentence_is_not_a_goodbye() -> None:
    intent_is(PT, "vou ligar depois mas antes me passa pro financeiro", "transfer", "Financeiro")


def test_talking_to_someone_else_in_the_room_is_no_request() -> None:
    assert classify("sorry i was talking to somebody else", resolver=EN).kind == "unknown"
    assert classify("i want to talk to somebody", resolver=EN).kind == "operator"


@pytest.mark.parametrize("resolver, said, wanted", [
    (PT, "boa tarde queria fazer um pedido", "Comercial"),
    (PT, "ja falei com tres atendente e ninguem resolve quero falar com o superintendente", "Superintendência"),
    (EN, "we sell office furniture and i wanted to know who does your buying", "Purchasing"),
])
def test_lexicon_phrases(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)
