"""What the agent hears about the caller: the number as people say it in the
call's language (or the name), and a short reason, never the caller's sentence or
an internal code (the real switch once announced "..., sobre fallback, para Financeiro")."""

from __future__ import annotations

import pytest

from voiceai_ivr.flows.agent import spoken_caller_for, spoken_number, spoken_reason
from voiceai_ivr.flows.prompts import PromptBook


@pytest.mark.parametrize(
    ("caller", "language", "said"),
    [
        ("5 5 1 1 9 9 8 7 6 5 4 3 2", "pt-BR", "onze, nove nove oito sete meia, cinco quatro três dois"),
        ("+5511998765432", "pt-BR", "onze, nove nove oito sete meia, cinco quatro três dois"),
        ("11998765432", "pt-BR", "onze, nove nove oito sete meia, cinco quatro três dois"),  # national, no +55
        ("+552133334444", "pt-BR", "vinte e um, três três três três, quatro quatro quatro quatro"),
        ("+12125550123", "en-US", "two one two, five five five, zero one two three"),
        ("+12125550123", "pt-BR", "mais um, dois um dois, cinco cinco cinco, zero um dois três"),
        ("+5511998765432", "en-US", "plus five five, one one, nine nine eight seven six, five four three two"),
        ("1001", "pt-BR", "um zero zero um"),  # an internal extension: its digits
        ("Maria Silva", "pt-BR", "Maria Silva"),  # a name as it is
        ("", "pt-BR", ""),
    ],
)
def test_spoken_caller(caller: str, language: str, said: str) -> None:
    assert spoken_caller_for(caller, language) == said


def test_spoken_number_is_only_digits_and_words() -> None:
    assert spoken_number("abc", "pt-BR") == ""
    assert "," in spoken_number("+5511998765432", "pt-BR")


@pytest.mark.parametrize(
    ("reason", "language", "said"),
    [
        ("fallback", "pt-BR", "não disse com quem quer falar"),
        ("operator", "pt-BR", "pediu a recepção"),
        ("operator", "en-US", "asking for the front desk"),
        ("voicemail", "pt-BR", ""),
        ("", "en-US", ""),
        ("segunda via, boleto", "pt-BR", "sobre segunda via, boleto"),  # the conversation's topic words
        ("pedido grande", "pt-BR", "sobre pedido grande"),  # an LLM's short reason
        # a caller's whole sentence (e.g. a callback's reason): only its topic words
        ("oi bom dia então eu queria saber da minha fatura que veio em dobro", "pt-BR", "sobre fatura, em dobro"),
        ("well you know i just wanted to ask about something else entirely", "en-US", ""),
    ],
)
def test_spoken_reason(reason: str, language: str, said: str) -> None:
    assert spoken_reason(PromptBook.load(), language, reason) == said


def test_announcement_template_puts_them_together() -> None:
    book = PromptBook.load()
    text = book.render("pt-BR", "agent.announce", caller="onze, três zero zero zero, zero zero zero zero",
                       reason=spoken_reason(book, "pt-BR", "fallback"), destination="Financeiro")
    assert text.startswith("Ligação de onze, três zero zero zero, zero zero zero zero, "
                           "não disse com quem quer falar, para Financeiro.")
    assert "fallback" not in text
