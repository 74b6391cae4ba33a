"""``domain.text``: the one accent-folding function."""

from __future__ import annotations

import pytest

from voiceai_ivr.domain.text import fold, strip_accents


@pytest.mark.parametrize(
    ("text", "stripped", "folded"),
    [
        ("São Paulo", "Sao Paulo", "sao paulo"),
        ("AÇÃO às 14h", "ACAO as 14h", "acao as 14h"),
        ("Straße", "Straße", "strasse"),
        ("", "", ""),
    ],
)
def test_strip_accents_keeps_case_fold_does_not(text: str, stripped: str, folded: str) -> None:
    assert strip_accents(text) == stripped
    assert fold(text) == folded


def test_none_is_empty() -> None:
    assert strip_accents(None) == fold(None) == ""  # type: ignore[arg-type]
