"""Deterministic intent rules (pt-BR and en-US), combined with the destination resolver.

``classify(utterance, keys=..., resolver=..., menu=..., expect=...)`` returns an
``Intent``. Order of the rules, for speech:

1. goodbye ("tchau", "obrigado, era só isso", "goodbye", "that's all");
2. callback ("me liga depois", "pode me ligar mais tarde", "call me back"), with the
   destination when one is named ("pede pro financeiro me ligar");
3. repeat ("repete", "não entendi", "say that again");
4. yes / no: when a yes/no answer is expected, or the utterance is only yes/no words;
5. transfer, when the resolver matches (or finds an ambiguity: ``ambiguous`` is set
   and ``alternatives`` lists the candidates);
6. operator ("atendente", "falar com uma pessoa", "human", "operator"), only when
   no destination matched ("someone in billing" is a transfer to Billing);
7. unknown.

Keys (DTMF): ``0`` operator, ``*`` repeat; with ``expect="yes_no"`` ``1`` yes and
``2`` no; otherwise ``1``-``9`` pick the menu destination (``menu`` maps key ->
name, see ``Directory.menu()``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from voiceai_ivr.domain.resolve import HoursFor, Resolution, Resolver, normalize_text

KINDS = ("transfer", "callback", "operator", "repeat", "goodbye", "yes", "no", "unknown")


@dataclass(frozen=True)
class Intent:
    kind: str
    destination: Optional[str] = None
    resolution: Optional[Resolution] = None
    source: str = "speech"  # speech | dtmf | none
    text: str = ""  # the utterance or keys as received
    reason: str = ""

    @property
    def ambiguous(self) -> bool:
        return bool(self.resolution and self.resolution.ambiguous)

    @property
    def alternatives(self) -> list[str]:
        return [n for n, _ in self.resolution.alternatives] if self.resolution else []


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|\b)(?:" + "|".join(patterns) + r")(?:\b|$)")


# All patterns run on normalize_text() output: lower case, no accents, no punctuation.
_GOODBYE = _rx(
    r"tchau", r"ate logo", r"ate mais", r"era so isso", r"e so isso", r"so isso mesmo", r"so isso obrigad[oa]",
    r"pode desligar", r"vou desligar", r"nao preciso de mais nada", r"nada mais", r"encerrar",
    r"goodbye", r"good bye", r"bye", r"bye bye", r"that s all", r"thats all", r"that is all",
    r"nothing else", r"you can hang up", r"i m done", r"im done",
)
_CALLBACK = _rx(
    r"me (?:liga|ligue|liguem|ligar|retorna|retorne|retornem|retornar)",
    r"(?:pode|podem|poderia|podiam) me (?:ligar|retornar)",
    r"ligar (?:de volta|depois|mais tarde)", r"liga(?:r)? pra mim", r"retorn(?:o|ar|em) (?:a )?(?:ligacao|chamada)",
    r"(?:quero|queria|prefiro|pode|gostaria de)(?: um| uma)? (?:retorno|receber uma ligacao)", r"retorno",
    r"call me back", r"call me later", r"call back", r"callback", r"ring me back", r"return my call",
    r"give me a call", r"have \w+ call me", r"(?:can|could|would|will|please) (?:\w+ )?call me", r"call me",
)
_REPEAT = _rx(
    r"repete", r"repetir", r"repita", r"pode repetir", r"fala de novo", r"nao entendi", r"como e que e",
    r"o que voce disse", r"de novo por favor", r"mais uma vez",
    r"repeat", r"say (?:that|it) again", r"come again", r"pardon", r"what did you say", r"one more time",
    r"i didn t (?:get|understand)", r"didn t catch",
)
_OPERATOR = _rx(
    r"atendente", r"operador(?:a)?", r"telefonista", r"recepcionista", r"humano", r"uma pessoa",
    r"pessoa de verdade", r"alguem de verdade", r"falar com alguem", r"ser humano",
    r"human", r"operator", r"representative", r"a person", r"real person", r"live agent",
    r"an agent", r"someone real", r"talk to someone", r"speak to someone", r"speak with someone",
    r"talk to somebody",
)
_YES_WORDS = frozenset(
    "sim isso isso mesmo pode pode ser correto certo certinho exato exatamente claro com certeza "
    "confirmo confirmado ok okay beleza positivo aham uhum perfeito tá ta esta isso ai "
    "yes yeah yep yup sure correct right affirmative absolutely please do exactly".split()
)
_NO_WORDS = frozenset(
    "nao não negativo errado incorreto nada disso nunca nope no nah wrong incorrect negative not".split()
)
# Filler allowed around yes/no words in a short answer ("sim, por favor").
_YES_NO_FILLER = frozenset(
    "por favor obrigado obrigada e o a esta it is that s thats thank thanks you senhor senhora".split()
)


def _yes_no(norm: str, *, expected: bool) -> Optional[str]:
    words = norm.split()
    if not words:
        return None
    has_no = any(w in _NO_WORDS for w in words) or "of course not" in norm
    has_yes = any(w in _YES_WORDS for w in words) or "that s right" in norm or "tudo certo" in norm
    if not (has_no or has_yes):
        return None
    if not expected:
        # Outside a yes/no question only a bare answer counts ("sim", "no thanks").
        content = [w for w in words if w not in _YES_WORDS and w not in _NO_WORDS and w not in _YES_NO_FILLER]
        if content:
            return None
    return "no" if has_no else "yes"


def classify(
    utterance: str = "",
    *,
    keys: str = "",
    resolver: Optional[Resolver] = None,
    menu: Optional[Mapping[str, str]] = None,
    expect: str = "open",
    at: Optional[datetime] = None,
    hours_for: Optional[HoursFor] = None,
) -> Intent:
    """Classify one turn. ``keys`` (DTMF) win over speech when both are present.
    ``expect`` is ``"open"`` (what can I do for you?) or ``"yes_no"`` (a confirmation)."""
    keys = (keys or "").strip()
    if keys:
        return _from_keys(keys, menu or {}, expect)
    text = utterance or ""
    norm = normalize_text(text)
    if not norm:
        return Intent("unknown", source="none", text=text, reason="no input")
    if _GOODBYE.search(norm) and not _CALLBACK.search(norm):
        return Intent("goodbye", text=text, reason="goodbye words")
    res: Optional[Resolution] = None
    if resolver is not None:
        res = resolver.resolve(text, at=at, hours_for=hours_for)
    if _CALLBACK.search(norm):
        dest = res.match if res is not None else None
        return Intent("callback", destination=dest, resolution=res, text=text, reason="callback request")
    if _REPEAT.search(norm):
        return Intent("repeat", text=text, reason="asked to repeat")
    yn = _yes_no(norm, expected=(expect == "yes_no"))
    if yn is not None:
        dest = res.match if (res is not None and yn == "no") else None  # "não, o suporte"
        return Intent(yn, destination=dest, resolution=res if dest else None, text=text, reason=f"{yn} words")
    if res is not None and (res.match is not None or res.ambiguous):
        return Intent("transfer", destination=res.match, resolution=res, text=text, reason=res.reason)
    if _OPERATOR.search(norm):
        return Intent("operator", resolution=res, text=text, reason="asked for a person")
    return Intent("unknown", resolution=res, text=text, reason=res.reason if res else "no rule matched")


def _from_keys(keys: str, menu: Mapping[str, str], expect: str) -> Intent:
    k = keys.rstrip("#")
    if k == "0":
        return Intent("operator", source="dtmf", text=keys, reason="key 0")
    if k == "*":
        return Intent("repeat", source="dtmf", text=keys, reason="key *")
    if expect == "yes_no":
        if k == "1":
            return Intent("yes", source="dtmf", text=keys, reason="key 1")
        if k == "2":
            return Intent("no", source="dtmf", text=keys, reason="key 2")
        return Intent("unknown", source="dtmf", text=keys, reason=f"key {k!r} is not 1 or 2")
    name = menu.get(k)
    if name is not None:
        return Intent("transfer", destination=name, source="dtmf", text=keys, reason=f"menu key {k}")
    return Intent("unknown", source="dtmf", text=keys, reason=f"no menu entry for key {k!r}")


__all__ = ["KINDS", "Intent", "classify"]
