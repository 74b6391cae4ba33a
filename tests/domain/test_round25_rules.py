"""Round 25 of issue 18 (benchmarks/README.md, "Round 25"): a surname heard that sounds
like the one namesake's, "hold on" as a correction, whom the caller calls for, a call
to return for someone else, "enquanto não" as no negation, and goodbye and repeat
phrasings."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Diretoria", (), "management"), D("Recursos Humanos", ("desligamento",), "hr"),
    D("Felipe Araújo", ()), D("Cátia Souza", ()),
])
EN = Resolver([
    D("Front Desk", (), "reception"), D("Sales", (), "sales"), D("Legal", (), "legal"),
    D("Human Resources", ("hr",), "hr"), D("Management", (), "management"),
    D("Matthew Hughes", ()), D("Jennifer Adams", ()), D("Elizabeth Wright", ()), D("John Thompson", ()),
])


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "matthew hues please", "Matthew Hughes"),
    (EN, "can i speak to jennifer atoms", "Jennifer Adams"),
    (PT, "falar com o felipe arrojo", "Felipe Araújo"),
    (PT, "a dona katia sousa", "Cátia Souza"),
])
def test_a_surname_heard_like_the_one_namesake_s_is_theirs(resolver: Resolver, said: str, wanted: str) -> None:
    intent_is(resolver, said, "transfer", wanted)


def test_a_surname_unlike_the_namesake_s_still_asks() -> None:
    """"john smith": John Thompson is offered, not put through to."""
    intent = classify("john smith please", resolver=EN)
    assert intent.destination is None and intent.unsure_which, intent


@pytest.mark.parametrize("said, wanted", [
    ("jennifer adams oh hold on no elizabeth wright is who i need", "Elizabeth Wright"),
    ("human resources or no hold on it s a legal thing yeah legal", "Legal"),
])
def test_hold_on_corrects(said: str, wanted: str) -> None:
    intent_is(EN, said, "transfer", wanted)


def test_whom_the_caller_calls_for_is_not_asked_for() -> None:
    intent_is(EN, "hi i m calling for my boss mister delgado he wants to schedule a demo of your product", "transfer",
              "Sales")


def test_a_call_to_return_for_someone_else_is_a_message() -> None:
    intent_is(EN, "hi i m calling for mrs alvarez she d like jennifer adams to return her call before five",
              "callback", "Jennifer Adams")


def test_enquanto_nao_is_until_not_a_refusal() -> None:
    intent_is(PT, "eu não vou desligar enquanto não falar com a diretoria", "transfer", "Diretoria")


def test_the_press_asking_for_the_top_of_the_company() -> None:
    intent_is(EN, "hi i m a reporter with the tribune i d like a comment from someone at the top of your company",
              "transfer", "Management")


@pytest.mark.parametrize("said, kind", [
    ("sorry what was that", "repeat"),
    ("wait go back what was that last part", "repeat"),
    ("all right i ll try again monday", "goodbye"),
])
def test_goodbyes_and_repeats(said: str, kind: str) -> None:
    intent_is(EN, said, kind)
