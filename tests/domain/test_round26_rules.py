"""Round 26 of issue 18 (benchmarks/README.md, "Round 26"): first names spelt two ways
that sound alike, "give me X" after callbacks offered again and again, "pede pro X me
chamar", and goodbyes that end in a reason or in "depois eu ligo"."""

from __future__ import annotations

import pytest

from tests.domain.test_round19_rules import intent_is
from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.lexicon import spelling_key
from voiceai_ivr.domain.resolve import Resolver

PT = Resolver([
    D("Recepção", (), "reception"), D("Implantação", ()), D("Suporte Técnico", ("suporte",)),
    D("Wellington Souza", ()), D("Welington Prado", ()), D("Rafael Lima", ()), D("Rafaela Martins", ()),
])
EN = Resolver([D("Front Desk", (), "reception"), D("Technical Support", ("tech support",))])


@pytest.mark.parametrize("a, b", [("wellington", "welington"), ("thais", "tais"), ("karla", "carla"),
                                  ("bryan", "brian"), ("raphael", "rafael"), ("anna", "ana")])
def test_spellings_of_one_name_share_a_key(a: str, b: str) -> None:
    assert spelling_key(a) == spelling_key(b)


@pytest.mark.parametrize("a, b", [("rafael", "rafaela"), ("maria", "mario"), ("daniel", "danielle")])
def test_other_names_do_not(a: str, b: str) -> None:
    assert spelling_key(a) != spelling_key(b)


@pytest.mark.parametrize("said", ["queria falar com o wellington", "o welington ta por ai"])
def test_first_names_spelt_two_ways_are_asked_between(said: str) -> None:
    intent = classify(said, resolver=PT)
    assert intent.resolution is not None and intent.resolution.ambiguous, intent
    assert {n for n, _ in intent.resolution.alternatives} == {"Wellington Souza", "Welington Prado"}


def test_a_surname_still_says_which() -> None:
    intent_is(PT, "o wellington souza por favor", "transfer", "Wellington Souza")
    intent_is(PT, "a rafaela por favor", "transfer", "Rafaela Martins")


def test_give_me_x_after_callbacks_offered_again_and_again() -> None:
    intent_is(EN, "stop offering me a call back and give me tech support", "transfer", "Technical Support")


def test_pede_pro_x_me_chamar_is_a_callback() -> None:
    intent_is(PT, "pede pro pessoal da implantacao me chamar amanha cedinho por favor", "callback", "Implantação")


@pytest.mark.parametrize("said", ["vou ligar mais tarde que agora to dirigindo",
                                  "vou ter que desligar que chegou paciente depois eu ligo"])
def test_goodbyes(said: str) -> None:
    intent_is(PT, said, "goodbye")
