"""Round 13 of issue 18: what the topic model's round-13 training material and the
department profiles built on it decide (see benchmarks/README.md, "Round 13")."""

from __future__ import annotations

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver


@pytest.mark.parametrize("said", [
    "a descarga do banheiro do vestiario quebrou e ta vazando agua",
    "o ar condicionado da sala de reuniao parou de funcionar",
])
def test_a_joined_name_is_also_what_it_reads_as_whole(said: str) -> None:
    # "Patrimônio" alone reads as investments, "Manutenção" alone as a factory's
    # maintenance; read whole, the name is the building's upkeep
    r = Resolver([D("Patrimônio e Manutenção"), D("Recursos Humanos", (), "hr"), D("Financeiro", (), "billing"),
                  D("Recepção", (), "reception")])
    intent = classify(said, resolver=r)
    assert (intent.kind, intent.destination) == ("transfer", "Patrimônio e Manutenção")


def test_a_declared_category_is_also_the_kind_its_name_reads_as() -> None:
    # "Customer Care" declared complaints (a lexicon category) is customer service to
    # the topic model too; a name that reads as its own category alone gains nothing
    r = Resolver([D("Customer Care", (), "complaints"), D("Departamento Pessoal", (), "hr"),
                  D("Financeiro", (), "billing"), D("Recepção", (), "reception")])
    assert r._profiles[0] == {"complaints": 1.0, "customer_service": 1.0}
    assert r._profiles[1] == {"hr": 1.0}


def test_words_of_the_call_itself_are_no_kind() -> None:
    r = Resolver([D("Financeiro", (), "billing"), D("Billing", (), "billing"), D("Recepção", (), "reception")])
    assert classify("vocês me ligaram e eu estou retornando", resolver=r).kind == "unknown"
