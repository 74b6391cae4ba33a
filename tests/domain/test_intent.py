"""Deterministic intent rules in both languages, with the resolver and the keyed menu."""

from __future__ import annotations

from typing import Optional

import pytest

from voiceai_ivr.domain.intent import KINDS, classify
from voiceai_ivr.domain.resolve import Resolver

RESOLVER = Resolver([
    ("Financeiro", ["boleto", "cobrança"]),
    ("Suporte Técnico", ["suporte", "internet caiu"]),
    ("Maria Silva", []),
    ("Maria Souza", []),
    ("Billing", ["invoice"]),
    ("Sales", []),
])
MENU = {"1": "Financeiro", "2": "Suporte Técnico", "3": "Billing"}

SPEECH = [
    # callback
    ("me liga depois", "callback", None),
    ("pode me ligar mais tarde", "callback", None),
    ("me liga amanhã de manhã", "callback", None),
    ("prefiro que vocês me liguem", "callback", None),
    ("could you call me tomorrow", "callback", None),
    ("quero um retorno", "callback", None),
    ("pede pro financeiro me ligar depois", "callback", "Financeiro"),
    ("call me back", "callback", None),
    ("can someone call me back later", "callback", None),
    ("please have billing call me", "callback", "Billing"),
    # operator
    ("atendente", "operator", None),
    ("quero falar com uma atendente", "operator", None),
    ("falar com uma pessoa", "operator", None),
    ("quero falar com um humano", "operator", None),
    ("operador", "operator", None),
    ("human", "operator", None),
    ("operator", "operator", None),
    ("can I talk to a real person", "operator", None),
    ("representative", "operator", None),
    # repeat
    ("repete", "repeat", None),
    ("pode repetir por favor", "repeat", None),
    ("não entendi", "repeat", None),
    ("repeat", "repeat", None),
    ("say that again", "repeat", None),
    ("sorry, come again?", "repeat", None),
    # goodbye
    ("tchau", "goodbye", None),
    ("obrigado, era só isso", "goodbye", None),
    ("era só isso mesmo obrigada", "goodbye", None),
    ("goodbye", "goodbye", None),
    ("that's all, thanks", "goodbye", None),
    ("bye", "goodbye", None),
    # bare yes / no
    ("sim", "yes", None),
    ("isso", "yes", None),
    ("pode", "yes", None),
    ("correto", "yes", None),
    ("sim, por favor", "yes", None),
    ("yes", "yes", None),
    ("yeah", "yes", None),
    ("não", "no", None),
    ("nao", "no", None),
    ("no", "no", None),
    ("nope", "no", None),
    # transfer
    ("quero falar com o financeiro", "transfer", "Financeiro"),
    ("eu queria falar com o pessoal do financeiro por favor", "transfer", "Financeiro"),
    ("minha internet caiu de novo", "transfer", "Suporte Técnico"),
    ("falar com uma pessoa do financeiro", "transfer", "Financeiro"),
    ("I'd like to talk to someone in billing please", "transfer", "Billing"),
    ("sales please", "transfer", "Sales"),
    ("tecnico", "transfer", "Suporte Técnico"),  # part of a name
    ("quero falar sobre o tempo", "unknown", None),
    # unknown
    ("quero pizza de calabresa", "unknown", None),
    ("", "unknown", None),
]


@pytest.mark.parametrize(("utterance", "kind", "destination"), SPEECH)
def test_speech(utterance: str, kind: str, destination: Optional[str]) -> None:
    intent = classify(utterance, resolver=RESOLVER, menu=MENU)
    assert intent.kind == kind, intent
    assert intent.destination == destination
    assert intent.kind in KINDS


def test_ambiguous_transfer() -> None:
    intent = classify("quero falar com a Maria", resolver=RESOLVER)
    assert intent.kind == "transfer" and intent.destination is None
    assert intent.ambiguous
    assert set(intent.alternatives[:2]) == {"Maria Silva", "Maria Souza"}


@pytest.mark.parametrize(
    ("utterance", "kind", "destination"),
    [
        ("sim", "yes", None),
        ("isso mesmo, pode transferir", "yes", None),
        ("pode ser", "yes", None),
        ("yes please", "yes", None),
        ("that's right", "yes", None),
        ("não é isso", "no", None),
        ("não, o suporte", "no", "Suporte Técnico"),
        ("no, billing", "no", "Billing"),
        ("nope", "no", None),
        ("errado", "no", None),
    ],
)
def test_yes_no_expected(utterance: str, kind: str, destination: Optional[str]) -> None:
    intent = classify(utterance, resolver=RESOLVER, expect="yes_no")
    assert (intent.kind, intent.destination) == (kind, destination)


@pytest.mark.parametrize(
    ("keys", "expect", "kind", "destination"),
    [
        ("0", "open", "operator", None),
        ("*", "open", "repeat", None),
        ("1", "open", "transfer", "Financeiro"),
        ("2", "open", "transfer", "Suporte Técnico"),
        ("3#", "open", "transfer", "Billing"),
        ("9", "open", "unknown", None),
        ("1", "yes_no", "yes", None),
        ("2", "yes_no", "no", None),
        ("3", "yes_no", "unknown", None),
        ("0", "yes_no", "operator", None),
        ("*", "yes_no", "repeat", None),
    ],
)
def test_keys(keys: str, expect: str, kind: str, destination: Optional[str]) -> None:
    intent = classify("tchau", keys=keys, resolver=RESOLVER, menu=MENU, expect=expect)  # keys win over speech
    assert (intent.kind, intent.destination, intent.source) == (kind, destination, "dtmf")


def test_without_resolver() -> None:
    assert classify("quero falar com o financeiro").kind == "unknown"
    assert classify("me liga depois").kind == "callback"


# --------------------------------------------------------------------------- issue 13: meaning, not wording


@pytest.mark.parametrize(
    "utterance",
    [
        "queria que alguém me retornasse amanhã",  # imperfect subjunctive
        "seria possível vocês me ligarem à tarde",  # personal infinitive
        "liguem pra mim mais tarde",  # plural imperative, object after
        "retornem nesse número por favor",  # plural imperative alone
        "me retornando amanhã tá ótimo",  # gerund
        "aguardo o retorno de vocês",
        "tem como me chamarem de volta",
        "entrem em contato comigo",
        "gostaria de receber uma ligação",
        "calling me back tomorrow would be great",
        "please get back to me",
        "have someone reach out to me",
        "i'd rather you called me",
        "would it be possible to schedule a call back",
    ],
)
def test_callback_in_any_verb_form(utterance: str) -> None:
    assert classify(utterance, resolver=RESOLVER).kind == "callback", utterance


@pytest.mark.parametrize(
    ("utterance", "kind", "destination"),
    [
        ("não precisa me ligar, quero falar agora com o financeiro", "transfer", "Financeiro"),
        ("não quero retorno, quero falar com alguém", "operator", None),
        ("não quero que ninguém me retorne", "unknown", None),
        ("caso ninguém atenda, me liguem", "callback", None),  # the negation governs "atenda" only
        ("don't call me back, put me through to billing", "transfer", "Billing"),
        ("i don't want a callback", "unknown", None),
        ("vocês me ligaram e eu estou retornando", "unknown", None),  # a past call, the caller returning it
        ("someone called me from this number", "unknown", None),
        ("i'm returning a call", "unknown", None),
        ("estou ligando sobre um boleto", "transfer", "Financeiro"),  # the caller's own calling
        # messages left before and a transfer asked for now
        ("já deixei recado pro financeiro ontem e anteontem, me transfere pra lá agora", "transfer", "Financeiro"),
        ("i left two voicemails for billing, put me through now", "transfer", "Billing"),
        ("deixa um recado pro financeiro", "callback", "Financeiro"),
    ],
)
def test_negated_past_and_own_calls_are_not_callbacks(utterance: str, kind: str, destination: Optional[str]) -> None:
    intent = classify(utterance, resolver=RESOLVER)
    assert (intent.kind, intent.destination) == (kind, destination), intent


@pytest.mark.parametrize(
    ("utterance", "language", "kind", "destination"),
    [
        ("opção dois", "pt-BR", "transfer", "Suporte Técnico"),
        ("tecla três", "pt-BR", "transfer", "Billing"),
        ("um", "pt-BR", "transfer", "Financeiro"),
        ("zero", "pt-BR", "operator", None),
        ("quero a opção quatro", "pt-BR", "unknown", None),
        ("press one", "en-US", "transfer", "Financeiro"),
        ("option 2", "en-US", "transfer", "Suporte Técnico"),
        ("um", "en-US", "unknown", None),  # a filler in English
        ("um atendente", "pt-BR", "operator", None),  # not a key: more than a key was said
    ],
)
def test_spoken_menu_keys(utterance: str, language: str, kind: str, destination: Optional[str]) -> None:
    intent = classify(utterance, resolver=RESOLVER, menu=MENU, language=language)
    assert (intent.kind, intent.destination) == (kind, destination), intent


@pytest.mark.parametrize(
    "utterance",
    ["recepção", "a recepcionista por favor", "telefonista", "front desk", "reception please",
     "quero falar direto com alguém", "i want to speak directly with someone", "não quero falar com robô",
     "i was on hold with somebody and got disconnected", "eu tava falando com uma moça e caiu a ligação"],
)
def test_reception_is_the_operator(utterance: str) -> None:
    assert classify(utterance, resolver=RESOLVER).kind == "operator", utterance


@pytest.mark.parametrize(
    "utterance", ["foi engano, desculpa", "liguei errado", "deixa pra lá, tchau", "sorry, wrong number", "never mind"]
)
def test_more_goodbyes(utterance: str) -> None:
    assert classify(utterance, resolver=RESOLVER).kind == "goodbye", utterance


def test_unknown_surname_is_flagged_on_the_ambiguity() -> None:
    plain = classify("quero falar com a maria", resolver=RESOLVER)
    unsure = classify("a maria, mas não sei o sobrenome", resolver=RESOLVER)
    assert plain.ambiguous and not plain.unsure_which
    assert unsure.ambiguous and unsure.unsure_which
    assert set(unsure.alternatives) == {"Maria Silva", "Maria Souza"}


@pytest.mark.parametrize(
    ("utterance", "kind", "destination"),
    [
        # callbacks refused or complained about, and someone asked for now: the transfer
        ("stop offering me a callback and transfer me to billing", "transfer", "Billing"),
        ("i keep getting told somebody will call me i need to talk to billing today", "transfer", "Billing"),
        ("nao adianta deixar recado que ninguem retorna me coloca com o financeiro", "transfer", "Financeiro"),
        ("faz uma semana que eu to esperando o financeiro me ligar me transfere", "transfer", "Financeiro"),
        ("voces falaram que o financeiro ia me retornar e nada passa pro financeiro", "transfer", "Financeiro"),
        ("retorno nao eu espero na linha mesmo o financeiro", "transfer", "Financeiro"),
        ("forget the callback i need billing", "transfer", "Billing"),
        ("you dont need to have anyone call me i can hold for billing", "transfer", "Billing"),
        # ... but a callback asked for stays one
        ("pede pro financeiro me ligar amanha", "callback", "Financeiro"),
        ("retorno nao veio ainda pede pro financeiro me ligar", "callback", "Financeiro"),
        # the caller will call again themselves: a goodbye
        ("never mind ill call back later", "goodbye", None),
        ("deixa eu ligo de novo amanha", "goodbye", None),
        ("ill call back later can you have billing call me", "callback", "Billing"),
        # a message for someone is a callback request
        ("quero deixar uma mensagem pro financeiro", "callback", "Financeiro"),
    ],
)
def test_insistent_transfers_and_calling_again(utterance: str, kind: str, destination: Optional[str]) -> None:
    intent = classify(utterance, resolver=RESOLVER)
    assert (intent.kind, intent.destination) == (kind, destination), intent


def test_a_key_pressed_again_and_again_is_that_key() -> None:
    assert classify("zero zero zero", resolver=RESOLVER).kind == "operator"
    assert classify("um um", resolver=RESOLVER, menu={"1": "Financeiro"}).destination == "Financeiro"


def test_im_is_a_contraction_not_initials() -> None:
    r = Resolver([("Internal Medicine", ["IM"]), ("Human Resources", ["hr"])])
    assert r.resolve("i m in meetings all day could human resources call me").match == "Human Resources"
