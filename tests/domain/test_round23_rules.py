"""Round 23 of issue 18 (benchmarks/README.md, "Round 23"): a callback declined with
words between ("another", "time for"), tired of waiting for one, a full name nobody
here has whose first name someone of the named department has, a name split by the
recogniser before a word that follows it, "brigada" as thanks, sound-alike first
names, "in front of" as no department."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Financeiro", ("cobrança",), "billing"),
    D("Comercial", ("vendas",), "sales"), D("Peças e Acessórios", ("peças",)), D("Logística", (), "logistics"),
    D("Plantão 24 Horas", ("brigada", "emergência"), "emergency"),
    D("Compras", (), "purchasing"), D("Rafael Drumond", (), "purchasing"), D("Thiago Ramos", ()),
    D("Wellington Souza", ()), D("Marcos Oliveira", ()), D("Sérgio Teixeira", ()),
    D("Thaís Albuquerque", ()),
])
EN = Resolver([
    D("Front Desk", ("front office",), "reception"), D("Billing", (), "billing"), D("Sales", (), "sales"),
    D("Inventory and Purchasing", (), "purchasing"), D("Karla Reyes", ()), D("Carla Benton", ()),
])


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "i don t want another callback connect me to billing now", "Billing"),
    (EN, "i don t have time for a call back can i just talk to sales now", "Sales"),
    (PT, "nao aguento mais esperar retorno quero falar com o sergio agora", "Sérgio Teixeira"),
    (PT, "não aguento mais esperar retorno passa pro marcos oliveira", "Marcos Oliveira"),
])
def test_a_callback_declined_or_waited_for_too_long_is_a_transfer_now(resolver: Resolver, said: str,
                                                                      wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


def test_not_able_to_wait_now_is_still_a_callback() -> None:
    intent_is(PT, "nao posso esperar agora pede pro comercial me retornar", "callback", "Comercial")


def test_a_surname_nobody_here_has_with_the_department_of_someone_of_that_first_name() -> None:
    """"o rafael queiroz do setor de compras": no Rafael Queiroz, but Rafael of Compras
    (his surname misheard); Thiago of a department nobody knows is offered; a first
    name nobody here has, with a department, is still the reception's."""
    intent_is(PT, "o rafael queiroz do setor de compras", "transfer", "Rafael Drumond")
    offered = classify("o thiago mendes das peças", resolver=PT)
    assert offered.destination is None and offered.unsure_which, offered
    assert offered.resolution is not None and [n for n, _ in offered.resolution.alternatives] == ["Thiago Ramos"]
    intent_is(PT, "o joao batista do financeiro", "operator")


@pytest.mark.parametrize("said, wanted", [
    ("o wel lington ta ai", "Wellington Souza"),
    ("a tais ta", "Thaís Albuquerque"),
])
def test_a_name_split_or_spelled_as_heard(said: str, wanted: str) -> None:
    intent_is(PT, said, "transfer", wanted)


@pytest.mark.parametrize("said", ["brigada viu boa tarde", "ta bom brigado boa tarde", "ah ta bom obrigada viu"])
def test_brigada_is_thanks_not_the_fire_brigade(said: str) -> None:
    intent_is(PT, said, "goodbye")


def test_karla_and_carla_are_one_name_to_the_ear() -> None:
    intent = classify("i m returning a call from karla i didn t get her last name", resolver=EN)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent
    assert {n for n, _ in intent.resolution.alternatives} == {"Karla Reyes", "Carla Benton"}


def test_in_front_of_names_no_front_desk() -> None:
    intent_is(EN, "hi i m a rep with a pet food company and i d like to get our diets in front of whoever does"
                  " your ordering", "transfer", "Inventory and Purchasing")
    intent_is(EN, "the front desk please", "transfer", "Front Desk")
