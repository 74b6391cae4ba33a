"""A surname many people share (``Resolver._undominated``): past ``PRUNE_PEOPLE``
people heard in one sentence, those heard only by one word of their name, where
another person's name is heard by more of its words as closely, are not scored.
The decision is the one scoring everybody would give; what changes is the time
(``resolve_bench.py``'s slowest sentences) and that the dropped namesakes are no
longer listed as alternatives."""

from __future__ import annotations

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.resolve import PRUNE_PEOPLE, Resolver

FIRST = ["Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gisele", "Hugo", "Irene", "Jorge", "Karina", "Lucas"]
PEOPLE = [D(f"{first} Ferreira") for first in FIRST] + [D(f"{first} Santana") for first in FIRST] + [
    D("Márcia Ferreira Santana"), D("Márcia Ferreira"), D("Financeiro", (), "billing")]
R = Resolver(PEOPLE)


def test_the_directory_is_large_enough_to_prune() -> None:
    assert len(FIRST) > PRUNE_PEOPLE


def test_a_full_name_wins_and_its_namesakes_by_one_word_are_not_alternatives() -> None:
    res = R.resolve("é sobre a márcia ferreira santana")
    assert res.match == "Márcia Ferreira Santana"
    names = [n for n, _ in res.alternatives]
    assert not any(n.endswith(" Ferreira") and not n.startswith("Márcia") for n in names)
    assert not any(n.endswith(" Santana") and not n.startswith("Márcia") for n in names)


def test_two_people_heard_by_the_same_words_are_still_asked_between() -> None:
    """"márcia ferreira" is the whole of Márcia Ferreira and two words of Márcia
    Ferreira Santana: neither is dropped, and the closer one is taken or asked."""
    res = R.resolve("quero falar com a márcia ferreira")
    assert res.match == "Márcia Ferreira" or {"Márcia Ferreira", "Márcia Ferreira Santana"} <= {
        n for n, _ in res.alternatives}


def test_a_surname_alone_is_not_pruned() -> None:
    """Nobody is heard by more than one word: nothing dominates, the caller is asked."""
    res = R.resolve("quero falar com o senhor ferreira")
    assert res.match is None and res.ambiguous
    assert len([n for n, _ in res.alternatives if "Ferreira" in n]) >= 2


def test_a_department_said_with_the_names_is_kept() -> None:
    """Only people are dropped: a department heard beside them keeps its evidence."""
    res = R.resolve("é o financeiro")
    assert res.match == "Financeiro"
