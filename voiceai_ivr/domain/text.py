"""Accent folding: the one function that compares what a caller said or keyed with
what we expect ("São Paulo" and "sao paulo" are the same words). ``domain/lexicon``'s
``normalize_text`` (the resolver's) and ``domain/phone`` use it.
"""

from __future__ import annotations

import unicodedata


def strip_accents(text: str) -> str:
    """``text`` without its combining marks (NFKD: "ação" -> "acao"); case kept."""
    return "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))


def fold(text: str) -> str:
    """``strip_accents`` then ``casefold``: the form words are compared in."""
    return strip_accents(text).casefold()


__all__ = ["fold", "strip_accents"]
