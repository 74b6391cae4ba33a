"""Issue 13's resolver rules on a small bilingual directory: word forms, topics by
category, names by sound and title, explicit beats generic, phrases and idioms,
resemblances that must not route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest

from voiceai_ivr.domain.lexicon import infer_category, load_lexicon, pt_sound, sound_keys
from voiceai_ivr.domain.resolve import Resolver, topics_of, words_of


@dataclass(frozen=True)
class D:
    name: str
    aliases: tuple[str, ...] = ()
    category: Optional[str] = None
    keywords: tuple[str, ...] = ()
    enabled: bool = True


DIRECTORY = [
    D("Financeiro", ("boleto",), "billing"),
    D("Suporte Técnico", ("suporte",)),  # category inferred
    D("Comercial", ("vendas",), "sales"),
    D("Logística", ("entrega",)),
    D("Jurídico", ("contrato", "legal"), "legal"),
    D("Diretoria", ("diretor",)),
    D("Compras", (), "purchasing"),
    D("Billing", (), "billing"),
    D("Sales", ("buy",)),
    D("Maria Silva", (), "billing"),
    D("Maria Souza", (), "sales"),
    D("Catherine Miller"),
    D("John Thompson", (), None, ("vpn",)),
    D("Michael Reed"),
    D("Danielle Price"),
    D("Luiz Gomes"),
    D("Ouvidoria"),
]


@pytest.fixture(scope="module")
def r() -> Resolver:
    return Resolver(DIRECTORY)


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        # word forms inside long sentences
        ("comprei uma coisa e até hoje não entregaram nada pra mim", "Logística"),
        ("we are buying licenses next month", "Sales"),
        # a described problem, no alias needed
        ("minha fatura veio em dobro", None),  # two billing destinations: asked, see below
        ("o modem não liga", "Suporte Técnico"),
        ("quero saber do meu décimo terceiro", None),  # no HR destination: nobody
        # names: variants, sound, titles, surnames
        ("katherine please", "Catherine Miller"),
        ("mr. thompsen", "John Thompson"),
        ("mr reid", "Michael Reed"),
        ("luis gomes", "Luiz Gomes"),
        ("o senhor gomes", "Luiz Gomes"),
        ("o luiz tá", "Luiz Gomes"),  # a first name is a name even where a common word shares its stem
        ("ms price", "Danielle Price"),
        ("a maria do financeiro", "Maria Silva"),
        # explicit beats generic; phrases and idioms
        ("quero falar com o comercial sobre um contrato", "Comercial"),
        ("tá legal, quero falar com o comercial", "Comercial"),
        ("sales tax question on my invoice", None),  # billing topic, two billing destinations
        # keywords
        ("my vpn won't connect", "John Thompson"),
        # Compras is the company buying: a customer buying is not Compras
        ("fiz uma compra no site e quero saber quando chega", "Logística"),
    ],
)
def test_resolves(r: Resolver, utterance: str, expected: Optional[str]) -> None:
    res = r.resolve(utterance)
    assert res.match == expected, res.to_json()


@pytest.mark.parametrize(
    ("utterance", "options"),
    [
        ("minha fatura veio em dobro", {"Financeiro", "Billing"}),
        ("sales tax question on my invoice", {"Financeiro", "Billing"}),
        ("quero falar com a maria", {"Maria Silva", "Maria Souza"}),
    ],
)
def test_asks_between_equals(r: Resolver, utterance: str, options: set[str]) -> None:
    res = r.resolve(utterance)
    assert res.ambiguous and {n for n, _ in res.alternatives[:len(options)]} == options, res.to_json()


@pytest.mark.parametrize(
    "utterance",
    [
        "quero falar direto com alguém",  # direto is a word, not a slip for diretor
        "o mario",  # another name, not Maria
        "that's right",  # nor Wright-like names
        "vocês entregam pizza",  # off-topic: not routed on a topic word
        "quero falar com o diretor da escola do meu filho",  # another organisation's director
        "the pronoun it is not IT",
        "alô alô, tá me ouvindo?",  # a verb form is not a misheard Ouvidoria
    ],
)
def test_resemblances_do_not_route(r: Resolver, utterance: str) -> None:
    res = r.resolve(utterance)
    assert res.match is None and not res.ambiguous, res.to_json()


def test_ordinary_words_are_not_names(r: Resolver) -> None:
    res = r.resolve("what's on your price list")  # a sales topic; "price" alone is not Ms Price
    assert res.match != "Danielle Price" and "Danielle Price" not in [m["name"] for m in res.matched]
    assert r.resolve("ms price").match == "Danielle Price"  # with a title it is


def test_explanation_names_words_and_evidence(r: Resolver) -> None:
    res = r.resolve("quero falar com o comercial sobre um contrato")
    by = {m["name"]: m for m in res.matched}
    assert by["Comercial"]["evidence"] == "named" and by["Comercial"]["words"] == ["comercial"]
    assert by["Jurídico"]["evidence"] == "topic" and "alias: contrato (generic)" in by["Jurídico"]["via"]


def test_categories_inferred_and_declared(r: Resolver) -> None:
    assert r.category_of("Suporte Técnico") == "support"
    assert r.category_of("Logística") == "logistics"
    assert r.category_of("Sales") == "sales"
    assert r.category_of("Catherine Miller") is None  # people get none unless declared
    assert r.is_person("Maria Silva") and not r.is_person("Financeiro")
    assert infer_category(["Recepção"]) == "reception"
    assert infer_category(["Zeladoria"]) is None
    assert r.pick_by_category(["Maria Silva", "Maria Souza"], "a do comercial") == "Maria Souza"


def test_topics_of_and_words() -> None:
    assert topics_of("quero a segunda via do boleto") == ["segunda via", "boleto"]
    assert topics_of("quero falar com o financeiro") == []
    assert words_of("gente do R H") == ["gente", "do", "rh"]
    assert words_of("e o senhor") == ["e", "o", "senhor"]


def test_sounds_of_names() -> None:
    assert pt_sound("luis") == pt_sound("luiz")
    assert pt_sound("thiago") == pt_sound("tiago")
    assert sound_keys("katherine") & sound_keys("catherine")
    assert not sound_keys("mario") & sound_keys("pedro")


def test_lexicon_files_are_well_formed() -> None:
    lx = load_lexicon()
    assert {"billing", "support", "sales", "hr", "logistics", "legal", "complaints", "management", "emergency",
            "reception"} <= set(lx.categories)
    for cat in lx.categories.values():
        assert cat.label.get("pt-BR") and cat.label.get("en-US"), cat.name
        assert cat.names, cat.name
    assert lx.same_name("bob", "robert") and lx.same_name("zé", "jose") is False  # accents are normalised by callers
    assert lx.same_name("ze", "jose")
    assert lx.is_common("direto") and not lx.is_common("finaceiro")


def test_a_destination_heard_only_in_part_is_offered_not_guessed() -> None:
    """Named, but only two words of a three-word alias: "did you mean Arquivo?"
    rather than a transfer or a plain re-ask; a topic word alone is never offered."""
    r = Resolver([D("Arquivo", ("documentos antigos da matriz",)), D("Financeiro", (), "billing")])
    res = r.resolve("quero os documentos antigos")
    assert res.match is None and res.ambiguous and [n for n, _ in res.alternatives] == ["Arquivo"]
    assert res.reason.startswith("unsure:")
    weak = r.resolve("qual o valor")  # a weak billing word only
    assert weak.match is None and not weak.ambiguous


def test_topics_reach_people_only_without_a_department() -> None:
    with_dept = Resolver([D("Recursos Humanos", ("rh",)), D("Ana Lima", ("rh do prédio",), "hr")])
    assert with_dept.resolve("meu salário não caiu").match == "Recursos Humanos"
    only_people = Resolver([D("Financeiro"), D("Ana Lima", ("recursos humanos", "rh"))])
    assert only_people.category_of("Ana Lima") == "hr"  # from her aliases
    assert only_people.resolve("meu salário não caiu").match == "Ana Lima"
