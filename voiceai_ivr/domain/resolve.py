"""Fuzzy resolution of what a caller said (as ASR returns it) to a transfer destination.

How it scores
-------------
Names and aliases are normalised once (casefold, accents stripped, punctuation
removed, pt/en filler words dropped, a light plural stemmer) into token phrases,
and their tokens go into an inverted index. An utterance is normalised the same
way; each of its tokens is looked up exactly and, when it is not an exact
vocabulary word, fuzzily with ``rapidfuzz.process.extract`` (``fuzz.ratio`` with a
length-dependent cut-off, so "finaceiro"/"suport" match but "mario" is not "maria").

A phrase scores the length-weighted mean similarity of its tokens when every token
was found anywhere in the utterance (so an alias inside a longer sentence counts in
full). A *name* with only some of its tokens present ("Maria" for "Maria Silva")
keeps most of its score; an alias with missing tokens keeps less. A destination
scores its best phrase.

Decision: below ``MATCH_MIN`` -> no match (never a wrong guess); a runner-up within
``AMBIGUITY_GAP`` of the best (and itself above ``MATCH_MIN``) -> ambiguous, with
both listed and no match; otherwise the best.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    from voiceai_ivr.domain.hours import BusinessHours

MATCH_MIN = 72
AMBIGUITY_GAP = 8
ALTERNATIVE_MIN = 50
MAX_ALTERNATIVES = 5
#: Share of a score that depends on how much of the utterance's content a
#: destination explains (unrelated words cost at most this much).
QUERY_COVERAGE_WEIGHT = 0.30
#: A destination reached only by filler words that are part of its name, and not
#: by the whole name ("o pessoal" for "Departamento Pessoal"), keeps this share.
FILLER_ONLY_FACTOR = 0.8

# --------------------------------------------------------------------------- normalisation

_NON_ALNUM = re.compile(r"[^a-z0-9]+")

STOPWORDS = frozenset(
    """
    a o e os as um uma uns umas de do da dos das no na nos nas em com para pra pro pros pras por
    ao aos ate sobre que qual quem ou se la ai aqui ali isso isto esse essa este esta aquele
    eu me mim meu minha meus minhas seu sua seus suas voce voces vc vcs ele ela nos gente
    quero queria quer gostaria preciso precisava precisando desejo tem tenho tinha estou esta
    falar fala falando conversar converse transferir transfere transfira passar passa passe
    chamar chama ligacao atender atende alguem pessoal setor departamento area equipe turma
    favor obrigado obrigada oi ola alo bom boa dia tarde noite tudo bem ta to ja entao pode
    poderia podia consegue conseguir senhor senhora moca moco ne tipo assim agora hoje ver
    saber sim nao so mais muito pouco por ai hein hum uhm eh ah
    pessoa atendente humano operador operadora telefonista nome ligando porque desde ontem
    problema ajuda informacao
    i id im ive ill like would want wanna need needed to talk speak speaking with someone
    somebody anyone in the an of for please can could you your me my is it its get put
    through connect transfer department dept team office hi hello hey about this that there
    on at and or some okay ok um uh er thanks thank just be do does
    person human operator agent representative real live name calling because since yesterday
    problem help information regarding
    """.split()
)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize_text(text: str) -> str:
    """casefold, strip accents, punctuation to spaces, collapse: "Suporte Técnico!" -> "suporte tecnico"."""
    return _NON_ALNUM.sub(" ", strip_accents(text or "").casefold()).strip()


def stem(token: str) -> str:
    """Light plural stemmer for pt-BR and en-US, applied to both sides alike."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith(("oes", "aes")) and len(token) > 4:
        return token[:-3] + "ao"
    if token.endswith("ais") and len(token) > 4:
        return token[:-3] + "al"
    if token.endswith("eis") and len(token) > 4:
        return token[:-3] + "el"
    if token.endswith("ns") and len(token) > 4:
        return token[:-2] + "m"
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(
    text: str, *, keep_stopwords: bool = False, keep: Optional[Container[str]] = None
) -> list[str]:
    """Content tokens of ``text``: normalised, 1-letter words and fillers dropped, stemmed.
    Filler words whose stem is in ``keep`` stay (a destination called "Departamento
    Pessoal" is made of filler words only)."""
    out = []
    for tok in normalize_text(text).split():
        if len(tok) == 1 and not tok.isdigit():
            continue
        st = stem(tok)
        if not keep_stopwords and tok in STOPWORDS and (keep is None or st not in keep):
            continue
        out.append(st)
    return out


def _token_min(a: str, b: str) -> float:
    """Minimum ``fuzz.ratio`` for two tokens to count as the same word: short words
    must match exactly (a 1-letter slip in a 4-letter name is another name)."""
    n = min(len(a), len(b))
    if n <= 4:
        return 100.0
    if n <= 6:
        return 80.0
    return 75.0


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Resolution:
    match: Optional[str]
    score: int
    alternatives: list[tuple[str, int]] = field(default_factory=list)
    ambiguous: bool = False
    open: Optional[bool] = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict ``resolve --json`` prints (``open`` is null when no
        single destination matched or its hours are unknown)."""
        return {
            "match": self.match,
            "score": self.score,
            "alternatives": [{"name": n, "score": s} for n, s in self.alternatives],
            "ambiguous": self.ambiguous,
            "open": self.open,
            "reason": self.reason,
        }


class DestinationLike(Protocol):
    name: str
    aliases: Any  # Iterable[str]


@dataclass(frozen=True)
class _Phrase:
    dest: int
    text: str  # as configured, for the reason
    tokens: tuple[str, ...]
    weights: tuple[int, ...]
    is_name: bool


HoursFor = Callable[[str], "Optional[BusinessHours]"]


class Resolver:
    """Precomputed index over one domain's destinations. Read-only after construction,
    so one instance may serve many calls at once. Disabled destinations (``enabled``
    false) are left out. On equal scores the destination listed first wins the tie
    in the listing order (it still counts as ambiguous)."""

    def __init__(self, destinations: Iterable[Any]) -> None:
        self._names: list[str] = []
        self._phrases: list[_Phrase] = []
        vocab: dict[str, int] = {}
        # Per vocabulary token: destinations whose one-token phrase it is (with the
        # phrase index), and (phrase, position) pairs of longer phrases.
        single: list[list[tuple[int, int]]] = []
        multi: list[list[tuple[int, int]]] = []
        seen: set[str] = set()
        stop_vocab: set[str] = set()
        for d in destinations:
            name, aliases = _name_aliases(d)
            if not getattr(d, "enabled", True) or name in seen:
                continue
            seen.add(name)
            di = len(self._names)
            self._names.append(name)
            texts = [(name, True)] + [(a, False) for a in aliases]
            done: set[tuple[str, ...]] = set()
            for text, is_name in texts:
                toks = tokenize(text)
                if not toks:
                    # Made of filler words only ("Departamento Pessoal"): keep them,
                    # and keep them in utterances too.
                    toks = tokenize(text, keep_stopwords=True)
                    stop_vocab.update(toks)
                if not toks or tuple(toks) in done:
                    continue
                done.add(tuple(toks))
                pi = len(self._phrases)
                self._phrases.append(_Phrase(di, text, tuple(toks), tuple(len(t) for t in toks), is_name))
                for pos, tok in enumerate(toks):
                    vid = vocab.get(tok)
                    if vid is None:
                        vid = vocab[tok] = len(single)
                        single.append([])
                        multi.append([])
                    if len(toks) == 1:
                        single[vid].append((di, pi))
                    else:
                        multi[vid].append((pi, pos))
        self._vocab = vocab
        self._vocab_list = list(vocab)
        self._total_w = [sum(p.weights) for p in self._phrases]
        # Per vocabulary token, precomputed so an utterance costs dictionary merges:
        #   solo[vid]: destination -> (score if this token alone matched exactly, phrase)
        #   phrases_of[vid]: the multi-token phrases containing it
        #   dests_of[vid]: the destinations it can reach
        self._solo: list[dict[int, tuple[float, int]]] = []
        self._phrases_of: list[frozenset[int]] = []
        for vid in range(len(single)):
            solo: dict[int, tuple[float, int]] = {}
            for pi, pos in multi[vid]:
                ph = self._phrases[pi]
                sc = 100.0 * _partial_factor(ph.weights[pos] / self._total_w[pi], ph.is_name)
                cur = solo.get(ph.dest)
                if cur is None or sc > cur[0]:
                    solo[ph.dest] = (sc, pi)
            for di, pi in single[vid]:
                solo[di] = (100.0, pi)
            self._solo.append(solo)
            self._phrases_of.append(frozenset(pi for pi, _ in multi[vid]))
        self._dests_of = [frozenset(s) for s in self._solo]
        self._stop_vocab = frozenset(stop_vocab)

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    # ------------------------------------------------------------------ scoring

    def _token_hits(self, tok: str) -> list[tuple[int, float]]:
        vid = self._vocab.get(tok)
        if vid is not None:
            return [(vid, 100.0)]
        if len(tok) < 5 or tok.isdigit():
            return []
        hits = process.extract(
            tok, self._vocab_list, scorer=fuzz.ratio, score_cutoff=75.0, limit=None
        )
        return [(idx, float(score)) for choice, score, idx in hits if score >= _token_min(tok, choice)]

    def _phrase_score(self, pi: int, sim_of: dict[int, float]) -> float:
        ph = self._phrases[pi]
        got_w = 0
        acc = 0.0
        for tok, w in zip(ph.tokens, ph.weights):
            sim = sim_of.get(self._vocab[tok], 0.0)
            if sim > 0:
                got_w += w
                acc += w * sim
        if not got_w:
            return 0.0
        total_w = self._total_w[pi]
        if got_w == total_w:
            return acc / got_w
        return acc / got_w * _partial_factor(got_w / total_w, ph.is_name)

    def _ranked(self, utterance: str, limit: Optional[int]) -> list[tuple[int, int, int]]:
        """(score, destination index, phrase index), best first, ties in listing order.

        A destination's raw score is its best phrase; the final score scales it by
        how much of the utterance's content the destination explains
        (``QUERY_COVERAGE_WEIGHT``), so "Júlia Dias" prefers the person with both
        names over one whose alias is just "Dias". Final <= raw, which lets the
        ranking stop early once no raw score can beat the ``limit``-th final one."""
        qtoks = list(dict.fromkeys(tokenize(utterance, keep=self._stop_vocab)))
        if not qtoks:
            return []
        raw: dict[int, tuple[float, int]] = {}
        sim_of: dict[int, float] = {}  # vocabulary id -> best similarity to any query token
        reach: list[frozenset[int]] = []  # per query token: destinations it reaches
        phrase_sets: list[frozenset[int]] = []
        for q in qtoks:
            hits = self._token_hits(q)
            reach.append(frozenset().union(*(self._dests_of[v] for v, _ in hits)))
            phrase_sets.append(frozenset().union(*(self._phrases_of[v] for v, _ in hits)))
            for vid, sim in hits:
                if sim > sim_of.get(vid, 0.0):
                    sim_of[vid] = sim
                solo = self._solo[vid]
                if not raw and sim == 100.0:
                    raw.update(solo)
                    continue
                f = sim / 100.0
                for di, (sc, pi) in solo.items():
                    v = sc * f
                    cur = raw.get(di)
                    if cur is None or v > cur[0]:
                        raw[di] = (v, pi)
        if len(qtoks) > 1:
            # Phrases matched by two or more query tokens: score them exactly.
            seen: set[int] = set()
            several: set[int] = set()
            for ps in phrase_sets:
                several |= seen & ps
                seen |= ps
            for pi in several:
                v = self._phrase_score(pi, sim_of)
                di = self._phrases[pi].dest
                cur = raw.get(di)
                if cur is None or v > cur[0]:
                    raw[di] = (v, pi)
        order = sorted((-sc, di, pi) for di, (sc, pi) in raw.items())
        # Filler words kept only because some name is made of them ("Departamento
        # Pessoal") count for the destinations they match, never against the others;
        # and a part of such a name said alone ("o pessoal") is weak evidence.
        qlens = [len(q) for q in qtoks]
        filler = [q in self._stop_vocab for q in qtoks]
        if len(qtoks) == 1 and not filler[0]:
            top = order if limit is None else order[:limit]
            return [(round(-neg), di, pi) for neg, di, pi in top]
        content_total = sum(n for n, f in zip(qlens, filler) if not f)
        final: list[tuple[float, int, int]] = []
        kth = -1.0
        for neg, di, pi in order:
            rsc = -neg
            if limit is not None and len(final) >= limit and rsc < kth:
                break
            got = 0
            total = content_total
            content_hit = False
            for n, r, f in zip(qlens, reach, filler):
                if di in r:
                    got += n
                    total += n if f else 0
                    content_hit = content_hit or not f
            fsc = rsc * (1.0 - QUERY_COVERAGE_WEIGHT * (1.0 - got / total)) if total else rsc
            if not content_hit and rsc < 100.0:
                fsc *= FILLER_ONLY_FACTOR
            final.append((-fsc, di, pi))
            if limit is not None and len(final) >= limit:
                final.sort()
                del final[limit:]
                kth = -final[-1][0]
        final.sort()
        top2 = final if limit is None else final[:limit]
        return [(round(-neg), di, pi) for neg, di, pi in top2]

    def scores(self, utterance: str, limit: Optional[int] = None) -> list[tuple[str, int, str]]:
        """Destinations with a non-zero score: (name, score 0-100, the name or alias
        that scored), best first."""
        return [
            (self._names[di], sc, self._phrases[pi].text)
            for sc, di, pi in self._ranked(utterance, limit)
            if sc > 0
        ]

    def resolve(
        self,
        utterance: str,
        *,
        at: Optional[datetime] = None,
        hours_for: Optional[HoursFor] = None,
    ) -> Resolution:
        """Resolve one utterance. ``hours_for(name)`` gives the destination's effective
        business hours (``None``: always open); ``open`` is evaluated at ``at``
        (default now) only for a single match and only when ``hours_for`` is given."""
        ranked = self.scores(utterance, limit=MAX_ALTERNATIVES + 1)
        if not ranked or ranked[0][1] < MATCH_MIN:
            alts = [(n, s) for n, s, _ in ranked if s >= ALTERNATIVE_MIN][:MAX_ALTERNATIVES]
            if not ranked and not tokenize(utterance, keep=self._stop_vocab):
                reason = "no destination named"
            elif alts:
                reason = f"no destination matched well enough (best {alts[0][0]!r} {alts[0][1]} < {MATCH_MIN})"
            else:
                reason = "no destination matched"
            return Resolution(None, ranked[0][1] if ranked else 0, alts, False, None, reason)
        top_name, top_score, top_text = ranked[0]
        close = [(n, s) for n, s, _ in ranked[1:] if s >= MATCH_MIN and top_score - s < AMBIGUITY_GAP]
        if close:
            tied = [(top_name, top_score), *close]
            rest = [(n, s) for n, s, _ in ranked[len(tied):] if s >= ALTERNATIVE_MIN]
            alts = (tied + rest)[:MAX_ALTERNATIVES]
            more = " (and others)" if len(tied) > MAX_ALTERNATIVES - 1 else ""
            reason = "ambiguous: " + " or ".join(f"{n!r} ({s})" for n, s in tied[:MAX_ALTERNATIVES]) + more
            return Resolution(None, top_score, alts, True, None, reason)
        alts = [(n, s) for n, s, _ in ranked[1:] if s >= ALTERNATIVE_MIN][:MAX_ALTERNATIVES]
        how = "name" if normalize_text(top_text) == normalize_text(top_name) else f"alias {top_text!r}"
        reason = f"matched {how}"
        is_open: Optional[bool] = None
        if hours_for is not None:
            hours = hours_for(top_name)
            if hours is None:
                is_open = True
            else:
                when = at if at is not None else datetime.now(timezone.utc)
                is_open = hours.is_open(when)
                if not is_open:
                    reason += "; closed at " + hours.local(when).strftime("%Y-%m-%d %H:%M %Z")
        return Resolution(top_name, top_score, alts, False, is_open, reason)


def _partial_factor(coverage: float, is_name: bool) -> float:
    """Share of a phrase's score kept when only ``coverage`` (by length) of its tokens
    were said: a first name for a full name keeps most, a fragment of an alias less."""
    return (0.80 + 0.15 * coverage) if is_name else (0.50 + 0.30 * coverage)


def _name_aliases(d: Any) -> tuple[str, tuple[str, ...]]:
    if isinstance(d, str):
        return d, ()
    if isinstance(d, tuple):
        return str(d[0]), tuple(d[1]) if len(d) > 1 else ()
    return str(d.name), tuple(getattr(d, "aliases", ()) or ())


__all__ = [
    "ALTERNATIVE_MIN",
    "AMBIGUITY_GAP",
    "MATCH_MIN",
    "STOPWORDS",
    "Resolution",
    "Resolver",
    "normalize_text",
    "stem",
    "strip_accents",
    "tokenize",
]
