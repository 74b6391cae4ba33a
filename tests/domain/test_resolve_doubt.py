"""Issue 18, round 4: a receptionist asks rather than guesses when the evidence is
thin, and a few language rules that decide who is meant (initials spelled out,
"it" the pronoun, a supplier to be paid, a person named again after a correction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest

from voiceai_ivr.domain.resolve import Resolver


@dataclass(frozen=True)
class D:
    name: str
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    category: Optional[str] = None
    enabled: bool = True


EN = [
    D("Front Desk", ("reception",), category="reception"),
    D("Accounts Receivable", ("billing", "collections"), ("invoice",), category="billing"),
    D("Accounts Payable", ("vendor payments",), category="purchasing"),
    D("Technical Support", ("support", "tech support"), ("login",), category="support"),
    D("IT Helpdesk", ("it", "it support"), ("laptop",)),
    D("Marketing", ("pr", "communications"), category="marketing"),
    D("Human Resources", ("hr",), category="hr"),
    D("Engineering and Development", ("engineering",)),
    D("Priya Raman", ("controller",)),
    D("Practice Management", ()),
]
PT = [
    D("Recepção", category="reception"),
    D("Oficina", ("mecânica",), category="support"),
    D("Marcelo Fontes", category="sales"),
    D("Marcelo Bittencourt", category="support"),
    D("Financeiro", ("contas a pagar", "cobrança"), category="billing"),
    D("Vendas", category="sales"),
]


@pytest.fixture(scope="module")
def en() -> Resolver:
    return Resolver(EN)


@pytest.fixture(scope="module")
def pt() -> Resolver:
    return Resolver(PT)


def test_initials_spelled_out_name_the_department(en: Resolver) -> None:
    assert en.resolve("a r department please").match == "Accounts Receivable"
    # said as a word, not spelled, "ar" is nothing; initials that spell a time of day are not a department
    assert en.resolve("ar").match is None
    assert en.resolve("call me after five p m").match != "Practice Management"


def test_a_weak_person_match_yields_to_a_department_named_in_the_same_words(en: Resolver) -> None:
    assert en.resolve("p r please").match == "Marketing"


def test_it_as_a_pronoun_is_not_the_it_department(en: Resolver) -> None:
    assert en.resolve("i need the it guy").match == "IT Helpdesk"
    assert en.resolve("can you put me through to it").match == "IT Helpdesk"
    res = en.resolve("how do i know if it is working with my login")
    assert res.match != "IT Helpdesk"
    # (a help desk of no declared kind may share the topic word "working"; "it" is not its name)
    assert not [m for m in res.matched if m["name"] == "IT Helpdesk" and "it" in m["words"]]


def test_a_supplier_to_be_paid_goes_to_who_pays_suppliers(en: Resolver) -> None:
    assert en.resolve("we're a vendor and we still haven't been paid for our invoice").match == "Accounts Payable"
    # a customer with an invoice question is billing's
    assert en.resolve("i have a question about my invoice").match == "Accounts Receivable"


def test_a_department_named_in_passing_with_a_sentence_of_another_kind_is_a_question(en: Resolver) -> None:
    res = en.resolve("i'm an engineering student and i'm looking for a summer internship")
    assert res.match is None and res.ambiguous
    assert {n for n, _ in res.alternatives} >= {"Engineering and Development", "Human Resources"}
    # asked for, it is transferred
    assert en.resolve("engineering please").match == "Engineering and Development"


def test_thin_topic_evidence_is_a_question_naming_the_candidate(pt: Resolver) -> None:
    res = pt.resolve("sobre o pagamento")  # one word several kinds share (billing, hr)
    assert res.match is None and res.ambiguous and res.guess == "Financeiro"
    assert [n for n, _ in res.alternatives] == ["Financeiro"]
    # a word of one kind is enough
    assert pt.resolve("sobre a cobrança do boleto").match == "Financeiro"


def test_a_person_named_again_after_a_correction_is_the_one_asked_for(pt: Resolver) -> None:
    assert pt.resolve("marcelo fontes nao desculpa o marcelo da oficina").match == "Marcelo Bittencourt"
    assert pt.resolve("o marcelo da oficina nao desculpa o marcelo fontes").match == "Marcelo Fontes"


def test_letter_names_that_spell_a_department_are_joined() -> None:
    r = Resolver([D("Departamento Pessoal", ("dp",), category="hr"), D("TI e Suporte", ("ti",), category="support"),
                  D("Jurídico", category="legal")])
    assert r.resolve("nao e o juridico que eu quero e o de pe").match == "Departamento Pessoal"
    assert r.resolve("te i").match == "TI e Suporte"
    # letter names that spell nothing here stay words
    assert r.resolve("e de pe").match != "Jurídico"
