"""Round 24 of issue 18 (benchmarks/README.md, "Round 24"): the press asking for the
head they name, "none of the teachers" is no "none of these", a matter dropped at the
end of a sentence, writing instead, thanks with a word after them, "didnt catch"."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Financeiro", (), "billing"), D("Diretoria", ("presidente",), "management"),
    D("Remoção e Urgência 24h", ("ambulância",), "emergency"),
])
EN = Resolver([
    D("Front Desk", ("front office",), "reception"), D("Management", ("president",), "management"),
    D("Technical Support", ("support",)), D("Transportation", ("bus", "pick up"), "logistics"),
])


@pytest.mark.parametrize("resolver, said, wanted", [
    (EN, "hi this is dave from the business journal i m hoping to get a comment from your president", "Management"),
    (PT, "bom dia sou jornalista da folha e queria uma entrevista com o presidente de voces", "Diretoria"),
])
def test_the_press_asking_for_the_head_they_name(resolver: Resolver, said: str, wanted: str) -> None:
    """With nobody here for the press, a reporter who names the head is put through to
    them; one who names no one still goes to the reception."""
    intent_is(resolver, said, "transfer", wanted)


def test_the_press_naming_no_one_goes_to_the_reception() -> None:
    intent_is(PT, "sou jornalista e queria uma entrevista", "operator")


def test_none_of_the_teachers_is_not_none_of_these() -> None:
    intent_is(EN, "ever since the update this morning none of the teachers can log in at all", "transfer",
              "Technical Support")
    intent_is(EN, "none of these options", "operator")


@pytest.mark.parametrize("resolver, said", [
    (EN, "oh they just picked her up never mind thank you"),
    (EN, "i ll just email them instead thanks"),
    (PT, "brigado moça bom dia"),
    (PT, "falou brigadao"),
])
def test_goodbyes(resolver: Resolver, said: str) -> None:
    intent_is(resolver, said, "goodbye")


def test_a_request_after_never_mind_is_still_a_request() -> None:
    assert classify("never mind the bus i need technical support", resolver=EN).kind == "transfer"


@pytest.mark.parametrize("said", ["i didnt catch all that", "sorry i didnt hear you"])
def test_didnt_without_its_apostrophe_asks_to_repeat(said: str) -> None:
    intent_is(EN, said, "repeat")
