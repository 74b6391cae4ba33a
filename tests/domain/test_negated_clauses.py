"""Round 9 of issue 18: the scope of a negated request, money words that name
neither side of the ledger, suppliers who say so, and departments whose name joins
two kinds of work."""

from __future__ import annotations

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.resolve import Resolver, _negated_clauses, words_of


@pytest.fixture(scope="module")
def shop() -> Resolver:
    return Resolver([
        D("Loja Agropecuária", ("loja",)),
        D("Mesa de Grãos", (), None, ("soja", "vender grãos")),
        D("Central de Passagens", (), "sales"),
        D("Encomendas", (), "logistics"),
        D("Suprimentos", (), "purchasing"),
        D("Controle de Qualidade"),
        D("Cobrança de Mensalidades", (), "billing"),
        D("Contas a Pagar"),
        D("Patron Accounts", (), "billing", ("fines",)),
        D("Acquisitions", (), "purchasing"),
    ])


@pytest.mark.parametrize(
    ("utterance", "scopes"),
    [
        # a negated request reaches up to where the caller starts over
        ("nao quero comprar nada na loja eu quero vender minha soja", [(0, 6)]),
        ("it's not about my fines it's about a book", [(2, 6)]),
        ("i don't need leasing i need the deposit refunds", [(1, 5)]),
        # the emphatic second "não" closes it
        ("nao quero comprar passagem nao e sobre uma encomenda", [(0, 5)]),
        ("nao preciso de montagem so que a gaveta quebrou", [(0, 4)]),
        # a negator describing the problem opens none; nor does one running to the end
        ("nao consigo entrar no sistema eu quero o suporte", []),
        ("i didn't get my paycheck i need payroll", []),
        ("nao quero cancelar", []),
    ],
)
def test_negated_clauses(utterance: str, scopes: list[tuple[int, int]]) -> None:
    assert _negated_clauses(words_of(utterance), []) == scopes


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # what is asked for after a negated request wins over what was under it
        ("nao quero comprar nada na loja eu quero vender minha soja", "Mesa de Grãos"),
        ("nao quero comprar passagem nao e sobre uma encomenda que sumiu", "Encomendas"),
        # "não não" corrects what came before; it does not negate what follows
        ("eh suprimentos nao nao e a qualidade que eu quero", None),
    ],
)
def test_the_request_after_a_negated_one_wins(shop: Resolver, utterance: str, expected: str) -> None:
    res = shop.resolve(utterance)
    if expected is None:
        # Suprimentos was taken back; Controle de Qualidade is at least offered
        assert res.match != "Suprimentos"
        assert "Controle de Qualidade" in [n for n, _ in res.alternatives] + [res.match]
    else:
        assert res.match == expected


def test_a_negated_topic_does_not_transfer(shop: Resolver) -> None:
    res = shop.resolve("it's not about my fines it's about a book i want you guys to order")
    assert res.match != "Patron Accounts"


def test_a_negation_describing_the_problem_keeps_its_topic(shop: Resolver) -> None:
    assert shop.resolve("nao quero pagar a mensalidade duas vezes, a cobranca veio em dobro").match == (
        "Cobrança de Mensalidades")


@pytest.mark.parametrize("utterance", ["financeiro por favor", "o financeiro", "i have a question about a payment"])
def test_money_without_a_side_asks_which(utterance: str) -> None:
    r = Resolver([D("Cobrança de Mensalidades", (), "billing"), D("Contas a Pagar"), D("Suprimentos", (), "purchasing"),
                  D("Encomendas", (), "logistics")])
    res = r.resolve(utterance)
    assert res.match is None and res.ambiguous
    assert {n for n, _ in res.alternatives} == {"Cobrança de Mensalidades", "Contas a Pagar"}


def test_money_with_a_side_or_a_name_does_not_ask() -> None:
    r = Resolver([D("Financeiro", (), "billing"), D("Contas a Pagar")])
    assert r.resolve("financeiro por favor").match == "Financeiro"  # its own name
    r2 = Resolver([D("Cobrança", (), "billing"), D("Contas a Pagar")])
    assert r2.resolve("quero a segunda via do boleto").match == "Cobrança"  # a customer's bill


@pytest.mark.parametrize(
    "utterance",
    [
        "eh o seguinte a gente e fornecedor de espuma e o pagamento da ultima nota nao caiu",
        "we're the company that did your carpet cleaning and our invoice still hasn't been paid",
    ],
)
def test_a_supplier_waiting_for_payment_goes_to_payables(utterance: str) -> None:
    r = Resolver([D("Cobrança", (), "billing"), D("Contas a Pagar"), D("Suprimentos", (), "purchasing")])
    res = r.resolve(utterance)
    heard = [res.match, *(n for n, _ in res.alternatives)]
    # who pays suppliers, perhaps asked about beside purchasing; never the customers' billing
    assert res.match == "Contas a Pagar" or (res.ambiguous and heard[1] == "Contas a Pagar")
    assert "Cobrança" not in heard


def test_a_joined_name_is_each_of_its_parts() -> None:
    r = Resolver([D("Facilities and Security"), D("Circulation Services"), D("Human Resources", (), "hr")])
    profile = r._profiles[r.names.index("Facilities and Security")]
    assert "facilities" in profile and len(profile) >= 2
    # each part counts fully, not a share of one ("Security" is itself two kinds:
    # loss prevention and alarm monitoring)
    assert profile["facilities"] == 1.0 and sum(q for k, q in profile.items() if k != "facilities") > 0.9
