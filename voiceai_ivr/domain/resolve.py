"""Resolution of what a caller said (as ASR returns it) to a transfer destination,
the way a receptionist would: by a person's name, a department's name or alias,
or the topic of the caller's problem.

Evidence
--------
The utterance is normalised (lower case, no accents, no punctuation; single
letters spelled out are joined: "r h" -> "rh") into words. Each word is compared
with the words of every destination's *entries*:

* ``name``: the destination's name. A person's name matches by any of its words
  (first name, surname), by spelling variant or nickname ("luis" = Luiz, "bob" =
  Robert, lexicon ``names.yaml``) and by sound ("katherine" = Catherine,
  "thompsen" = Thompson; metaphone and a Portuguese spelling key). A title before
  a word ("o senhor almeida", "ms connor") marks it as a name.
* ``alias`` and ``keywords`` from the directory.
* the destination's ``category`` (declared, or inferred from its name and aliases):
  the category's department names ("finanças" for billing) and its topic words
  ("fatura", "double charged", "o modem não liga"), from the packaged lexicon.

Words are compared whole, on their forms (light plural stem, Snowball stems of
both languages: "entregaram" = "entrega", "buying" = "buy"), never inside another
word. A word the lexicon knows as an ordinary word is never taken for a misspelt
name ("direto" is not "diretor"); unknown words may be ASR slips and are matched
with ``rapidfuzz`` ("finaceiro"). Phrases match word by word, in order, with at
most two words between; a phrase claims its words, so "sales tax" is billing, not
Sales, and idioms ("tá legal") claim theirs for nobody.

Decision
--------
Evidence comes in three tiers, and the highest tier present decides:

3. a person named (by name words, not by ordinary words alone);
2. a destination named explicitly: its name, an alias, or its category's
   department name;
1. generic evidence: topic words, aliases that are topic words, keywords.

So a sentence that names one department explicitly and matches another only
through a generic word goes to the one named. Within the tier, below
``MATCH_MIN`` nothing matches (never a wrong guess); a runner-up with as much
evidence and within ``AMBIGUITY_GAP`` makes the result ``ambiguous`` (the caller
is asked "X or Y?"); otherwise the best matches. A sentence about something no
company department handles ("pizza", lexicon ``offtopic``) is not routed on
generic evidence.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from rapidfuzz import fuzz, process

from voiceai_ivr.domain.lexicon import (
    CATEGORIES,
    Lexicon,
    infer_category,
    lexicon,
    normalize_text,
    similar_names,
    snowball,
    sound_keys,
    spelling_key,
    stem,
    stem_keys,
)
from voiceai_ivr.domain.text import strip_accents
from voiceai_ivr.domain.topicmodel import TopicModel, topic_model

if TYPE_CHECKING:
    from voiceai_ivr.domain.hours import BusinessHours

MATCH_MIN = 72
#: A destination *named* (not a topic) but heard only this well (a garbled name, a
#: part of one): the caller is asked "did you mean X (or Y)?" rather than re-asked.
UNSURE_MIN = 64
AMBIGUITY_GAP = 8
#: Topic evidence this much stronger (a phrase against a word, a word of one
#: category against a word several categories share) decides; less is a tie.
EVIDENCE_GAP = 0.5
#: Topic evidence of another kind that outweighs a department named by one word in passing.
OUTWEIGH = 2.0
#: A keyword of the directory (its administrator's routing word) counts this much.
KEYWORD_WEIGHT = 2.0
ALTERNATIVE_MIN = 50
#: Least topic evidence (a topic word of one kind = 1) to transfer on topic alone.
TOPIC_SURE = 1.0
#: Topic evidence the best department needs over the next to transfer rather than ask.
TOPIC_MARGIN = 0.5
#: ... when its evidence is the packaged lexicon's only and its kind was inferred.
TOPIC_MARGIN_INFERRED = 0.5
#: Another kind's topic evidence that makes a department named in passing a question.
PASSING_RIVAL = 1.0
#: ... and that makes one the sentence opens with a question.
OPENING_RIVAL = 3.0
#: Least score of a person to transfer on (a name heard in part or by sound scores less).
PERSON_SURE = 80.0
#: Taken off a person whose first name's gender contradicts the title said ("mister
#: ruiz" when Daniel and Teresa Ruiz work here): the other one wins.
TITLE_MISMATCH = 10.0
#: Taken off a person named in part whose kind is not that of the department said
#: with the name ("megan in customer success" when Megan Tran is HR's).
OTHER_DEPARTMENT = 10.0
#: More people heard than this in one sentence: those heard by one word of their
#: name where another's is heard by more are not scored (``Resolver._undominated``).
PRUNE_PEOPLE = 8
#: A department of no declared kind whose name is one word, or "X e Y" of one word
#: each, takes a caller's word whose root starts that word as a topic word of its
#: own ("flores" / Floricultura): names of at least this many letters, ...
RELATED_NAME_MIN = 8
#: ... and a root at least this many letters shorter (a compound, not a form).
RELATED_COMPOUND = 4
#: A word after a first name at most this like any name of the directory (and
#: unknown to the lexicon and the model) is someone else's surname ("o jorge pereira").
OTHER_SURNAME_MAX = 75.0
#: A common surname at least this close (``fuzz.ratio``) to a name word of the
#: directory is that name misheard ("green": Greene), not someone else's
#: ("fernandes" is not Fernando: 82).
SURNAME_SOUNDS_LIKE = 88.0
#: Words after a department's name ("the sails department"), and before it ("setor de
#: cobras"): an ordinary word there may be that name misheard (matched by sound).
_DEPARTMENT_NOUNS = frozenset("department dept departments division".split())
_DEPARTMENT_OF = frozenset((("setor", "de"), ("setor", "do"), ("setor", "da"), ("departamento", "de"),
                            ("departamento", "do"), ("departamento", "da")))
#: Least letters of a word heard after a shared first name to be taken for one of
#: the namesakes' surnames one letter off ("crooks" for Brooks).
SURNAME_SOUND_LEN = 5
#: Taken off a department named only by words other departments' names have too.
SHARED_PART = 8.0
MAX_ALTERNATIVES = 5
#: Most words allowed between two words of one phrase ("internet is down").
PHRASE_GAP = 2

TIER_PERSON = 3
TIER_EXPLICIT = 2
TIER_GENERIC = 1

# Similarity of one word to an entry word, by how it matched.
SIM_EXACT = 100.0
SIM_VARIANT = 95.0  # a spelling variant or nickname of a first name
SIM_STEM = 92.0  # another form of the word
SIM_SOUND = 90.0  # a name that sounds the same
SIM_CLIP = 95.0  # the first letters of a department's word ("lab" for Laboratory)
#: Least letters of such a clipped form, and the least the topic model must read a
#: known clipped word as the department's kinds, as a share of its likeliest kind
#: ("lab": clinical 0.17 of laboratory's; "bus": billing 0.02 of transport's).
CLIP_MIN = 3
CLIP_FIT = 0.1
#: Least ``fuzz.ratio`` for an unknown word to be taken for a person's name word.
NAME_FUZZY_MIN = 80.0
#: Least Jaro-Winkler similarity for two names that sound alike to count.
SOUND_MIN = 0.78

#: The topic model (``domain/topicmodel.py``), used where the rules are not sure.
#: A destination's fit is its share of the sentence's probability over the kinds
#: of department this directory has. Where the rules found no destination: least
#: share to transfer on (FIT_SURE) with a lead over the next (FIT_MARGIN); two
#: asked between: the second's least share and both together (FIT_PAIR,
#: FIT_BOTH); short of FIT_SURE, a share of FIT_CONFIRM at least FIT_LEAD times the
#: next one's is offered ("did you mean X?"). The best fit must be at least FIT_OWN
#: of the sentence's most likely kind (else it is about something no destination
#: here is) and at least FIT_ABS (else the model does not know). Kinds below
#: PROFILE_LEAST are left out of a destination's profile. A rules' topic match the
#: model gives less than FIT_VETO is doubted when the model gives another
#: destination FIT_SURE, or FIT_CONFIRM and FIT_LEAD times the next while the
#: rules' match has under FIT_ODD.
FIT_SURE = 0.6
#: ... and the least share for the model alone to transfer on, where the rules found
#: nothing (under it, FIT_CONFIRM and FIT_LEAD still offer "did you mean X?").
FIT_TRANSFER = 0.8
FIT_MARGIN = 0.3
FIT_PAIR = 0.25
FIT_BOTH = 0.75
FIT_OWN = 0.5
FIT_ABS = 0.1
PROFILE_LEAST = 0.2
#: A name joining several parts is also of the kind it reads as whole with this share.
JOINED_WHOLE = 0.7
#: A department of a declared category is also of the kind its name reads as with this share.
DECLARED_NAME_LEAST = 0.7
#: Words whose ``_known`` answer is kept, at most (the cache is emptied when full).
KNOWN_CACHE = 50_000
#: A department of no declared kind that the lexicon's names do not place is of the
#: lexicon category its profile gives this much of (see ``_profile_category``).
PROFILE_CATEGORY = 0.8
FIT_VETO = 0.1
FIT_CONFIRM = 0.35
FIT_LEAD = 3.0
FIT_ODD = 0.03
#: A one-word topic match is asked about ("did you mean X?") when the model, reading
#: this many words it knows, gives X's kinds under this share of the likeliest kind's.
ELSEWHERE_WORDS = 4
ELSEWHERE = 0.2
#: Of candidates the rules would ask between, the model picks one only with this
#: share and this lead over the others (the rules' doubt is evidence too).
FIT_PICK = 0.8
FIT_PICK_MARGIN = 0.5
#: Evidence of a kind nobody here has that is enough alone to say so (two words);
#: less, and the topic model must not read the sentence as a kind somebody here is.
ORPHAN_SURE = 2.0
#: The model transfers or picks only on at least this many content words it knows
#: (one word, "sobre o pagamento", is thin evidence: a question).
MODEL_MIN_WORDS = 2
#: What joins the parts of a department's name that are each a kind of department.
_JOINS = re.compile(r"\s(?:and|e|&|\+)\s|[,/;]")

# --------------------------------------------------------------------------- normalisation

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
    i id im ive ill re ve ll don didn doesn isn aren wasn weren won couldn wouldn shouldn haven hasn
    like would want wanna need needed to talk speak speaking with someone
    somebody anyone in the an of for please can could you your me my is it its get put
    through connect transfer department dept team office hi hello hey about this that there
    on at and or some okay ok um uh er thanks thank just be do does
    person human operator agent representative real live name calling because since yesterday
    problem help information regarding
    """.split()
)
#: Filler words that, in a name or alias of several words, are its own words ("help desk").
_CONTENT_STOPWORDS = frozenset("help ajuda informacao information problem problema atendente agent operator "
                               "operador operadora human humano person pessoa representative".split())
#: Filler words that are also a department's short name ("IT"): kept in a name or alias.
_NAMED_STOPWORDS = frozenset(("it", "ti"))
_TITLES = frozenset("dr dra doutor doutora sr sra mr mrs ms miss doctor professor prof".split())
#: Words dropped from lexicon phrases (which keep "não", "no", "sem").
_ARTICLES = frozenset("a o os as um uma uns umas de do da dos das the an of my meu minha meus minhas".split())
#: Portuguese gerunds ("ouvindo", "ligando") are verbs, never a misheard name.
_GERUND = re.compile(r"^[a-z]{2,}(?:ando|endo|indo)$")
#: Words that introduce whose something is ("o diretor DA escola").
_OF = frozenset("de da do dos das of at from the".split())


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


#: Names of letters as said aloud ("erre agá" = "rh", "aitch ar" = "hr"), when they
#: are not also ordinary words: a run of letters spelled out that has one of them
#: is joined like a run of single letters.
LETTER_NAMES = {
    # pt-BR
    "be": "b", "ce": "c", "efe": "f", "ge": "g", "aga": "h", "jota": "j", "ca": "k",
    "eme": "m", "ene": "n", "pe": "p", "erre": "r", "rre": "r", "dablio": "w", "xis": "x",
    "ipsilon": "y", "ze": "z", "te": "t", "de": "d", "ve": "v", "esse": "s", "ele": "l", "que": "q",
    # en-US
    "aitch": "h", "haitch": "h", "ar": "r", "are": "r", "tee": "t", "dee": "d", "ess": "s", "el": "l",
    "em": "m", "en": "n", "eff": "f", "ef": "f", "bee": "b", "cee": "c", "see": "c", "gee": "g",
    "jay": "j", "kay": "k", "pee": "p", "cue": "q", "vee": "v", "ex": "x", "zee": "z", "zed": "z",
    "eye": "i", "oh": "o", "you": "u",
}
#: Letter names that are not ordinary words: one of them makes a run a spelling.
_SPELLING = frozenset(
    "efe aga jota eme ene erre rre dablio xis ipsilon aitch haitch tee dee ess eff bee cee gee pee cue vee zee zed"
    .split()
)


#: English contractions split by normalisation ("i'm" -> "i m"): not a spelling ("IM").
_CONTRACTIONS = frozenset({("i", "m"), ("i", "d")})
#: What an apostrophe leaves of a contraction ("there s", "don t", "we re", "i ll").
_CONTRACTION_TAILS = frozenset("s t d m ll re ve".split())
#: Letters (or letter names) that are also words: not taken into a spelling at its end.
_LETTER_WORDS = frozenset("e a o i you oh de que te ve ele esse ca pe ze em en el see bee".split())


def words_of(text: str) -> list[str]:
    """The utterance's words, normalised; runs of single letters spelled out are
    joined ("r h" -> "rh", "i t" -> "it") unless they are only vowels ("e o"), and
    so are runs of letter names with one that is not also a word ("erre agá" ->
    "rh", "aitch ar" -> "hr")."""
    raw = normalize_text(text).split()
    out: list[str] = []
    i = 0
    while i < len(raw):
        j = i
        while j < len(raw) and ((len(raw[j]) == 1 and raw[j].isalpha()) or raw[j] in LETTER_NAMES):
            j += 1
        run = raw[i:j]
        if any(w in _SPELLING for w in run):
            # the spelling is the letters around the distinctive names ("o erre aga": "o" is an article)
            first = min(k for k, w in enumerate(run) if w in _SPELLING)
            last = max(k for k, w in enumerate(run) if w in _SPELLING)
            while first > 0 and len(run[first - 1]) == 1 and run[first - 1] not in "aeo":
                first -= 1
            last = len(run) - 1  # the letters after, but not a trailing word that is also a letter
            while last > first and run[last] in _LETTER_WORDS:
                last -= 1
            if last > first:
                out.extend(raw[i:i + first])
                out.append("".join(LETTER_NAMES.get(w, w) for w in run[first:last + 1]))
                out.extend(raw[i + last + 1:j])
                i = j
                continue
        j = i
        while j < len(raw) and len(raw[j]) == 1 and raw[j].isalpha():
            j += 1
        run = raw[i:j]
        if len(run) == 2 and run[0] in _CONTRACTION_TAILS and run[1] in ("a", "i") and i > 0 and (
                len(raw[i - 1]) > 1 or (raw[i - 1], raw[i]) in _CONTRACTIONS):
            out.append(raw[i])  # "there s a", "it s a", "i m a": a contraction and an article, not "sa"
            i += 1
            continue
        if len(run) >= 2 and any(c not in "aeiou" for c in run) and tuple(run[:2]) not in _CONTRACTIONS:
            out.append("".join(run))
            i = j
            continue
        out.append(raw[i])
        i += 1
    return out


#: Portuguese noun endings after the Snowball stem: "mudanc" (mudança) and "mud"
#: (mudar), "rompiment" and "romp", "instalaca" and "instal" share a root.
_PT_NOUN_ENDINGS = ("iment", "ament", "ment", "anc", "enc", "aca", "uca", "ica", "ca", "c")
#: English nouns made of verbs ("rental", "renewal", "payment"): the verb is said instead
_EN_NOUN_ENDINGS = ("ment", "al")


@lru_cache(maxsize=65536)
def root_keys(word: str, english: bool = True) -> frozenset[str]:
    """A word's root ("r:<root>") when a noun ending comes off its Portuguese stem
    ("mudança": "mud") or its English one ("rentals": "rent", "payment": "pay"),
    and the stems themselves as roots; used only for a directory's own phrases."""
    if len(word) < 3 or word.isdigit():
        return frozenset()
    out = set()
    for lang, endings in (("pt", _PT_NOUN_ENDINGS), ("en", _EN_NOUN_ENDINGS))[:2 if english else 1]:
        st = snowball(word, lang)
        out.add(f"r:{st}")
        for end in endings:
            if st.endswith(end) and len(st) - len(end) >= 3:
                out.add(f"r:{st[:-len(end)]}")
                break
    return frozenset(out)


def _token_min(a: str, b: str) -> float:
    """Minimum ``fuzz.ratio`` for two words to count as the same word: short words
    must match exactly (a 1-letter slip in a 4-letter name is another name)."""
    n = min(len(a), len(b))
    if n <= 4:
        return 100.0
    return 84.0  # "suprote" is Suporte; "building" is not Billing


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Resolution:
    match: Optional[str]
    score: int
    alternatives: list[tuple[str, int]] = field(default_factory=list)
    ambiguous: bool = False
    open: Optional[bool] = None
    reason: str = ""
    #: Per candidate, the caller's words that matched and how (``resolve --json``).
    matched: list[dict[str, Any]] = field(default_factory=list)
    #: No match because what the caller describes is of a kind (a lexicon category)
    #: no destination of the directory has ("sou jornalista" without a press office).
    unrouted: Optional[str] = None
    #: Asked because the evidence was too thin to transfer on: the destination it
    #: pointed to (a callback request for "o comercial" still goes to it).
    guess: Optional[str] = None

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
            "matched": [dict(m) for m in self.matched],
            "unrouted": self.unrouted,
        }


class DestinationLike(Protocol):
    name: str
    aliases: Any  # Iterable[str]


HoursFor = Callable[[str], "Optional[BusinessHours]"]

# Entry kinds
_NAME, _ALIAS, _KEYWORD, _CATNAME, _TOPIC, _WEAK, _IDIOM, _OFFTOPIC, _EXTERNAL = (
    "name", "alias", "keyword", "category", "topic", "weak", "idiom", "offtopic", "external",
)
_LEXICON_KINDS = (_CATNAME, _TOPIC, _WEAK, _IDIOM, _OFFTOPIC, _EXTERNAL)


@dataclass(frozen=True)
class _Entry:
    owners: tuple[int, ...]  # destinations whose name/alias/keyword this is; () for lexicon entries
    kind: str
    text: str  # as configured, for explanations
    words: tuple[str, ...]  # light-stemmed
    forms: tuple[str, ...]  # as written (normalised), for "said in another form"
    exact: bool  # forms only (no Snowball stems): "=" terms, names made of filler words
    category: Optional[str] = None
    generic: bool = False  # an alias that is a topic word
    person: bool = False
    initials: bool = False  # a department's initials ("a r" for Accounts Receivable): matched only spelled out
    lang: Optional[str] = None  # a lexicon term of one language: its word forms in that language only

    @property
    def own_name(self) -> bool:
        """A destination's own name or alias (not a keyword, not a lexicon entry)."""
        return bool(self.owners) and self.kind in (_NAME, _ALIAS)


@dataclass
class _Word:
    raw: str
    word: str  # light stem
    keys: frozenset[str]
    stop: bool
    common: bool
    topical: bool  # a topic word of some category
    titled: bool  # follows a title ("senhor", "ms")
    first_name: bool
    acronym: bool  # spelled out letter by letter ("i t", "r h")
    surname: bool = False  # follows a first name ("fernanda COSTA"): a name, not a topic word
    framed: bool = False  # said as a department's name ("the SAILS department", "setor de COBRAS")


@dataclass
class _Hit:
    entry: int
    positions: tuple[int, ...]
    sim: float  # mean similarity of the matched words
    matched: int  # entry words matched
    via_stem: bool  # some word matched only as another form


@dataclass
class _Candidate:
    dest: int
    tier: int = 0
    score: float = 0.0
    evidence: float = 0.0
    own: bool = False  # topic evidence through the destination's own alias or keyword
    topic_evidence: float = 0.0  # its topic evidence, also when it was named
    notes: list[tuple[int, tuple[int, ...], str]] = field(default_factory=list)  # (entry, positions, remark)


def _entry_words(
    text: str, *, lexical: bool, common: Optional[Callable[[str], bool]] = None
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """Words of an entry (light-stemmed), the same as written, and whether it
    matches exact forms only."""
    exact = text.startswith("=")
    body = text[1:] if exact else text
    if lexical:
        forms = tuple(w for w in words_of(body) if w not in _ARTICLES)
    else:
        said = words_of(body)
        forms = tuple(w for w in said if not (len(w) == 1 and not w.isdigit()) and w not in STOPWORDS)
        if len(forms) < len(said) and (any(w in _NAMED_STOPWORDS for w in said) or all(w in _TITLES for w in forms)):
            # "IT guy": "it" is the department here, not a pronoun; "Dr K": a title and an initial
            forms, exact = tuple(said), True
        elif len(forms) == 1 and any(w in _CONTENT_STOPWORDS for w in said):
            # "help desk", "balcão de informações": a filler word that is this one's own
            # word, kept (else "help desk" is "desk", and "the front desk" names it)
            forms, exact = tuple(w for w in said if w not in _ARTICLES), True
        elif not forms or (common is not None and all(common(w) for w in forms) and len(words_of(body)) > len(forms)):
            # Made of filler or ordinary words only ("Departamento Pessoal", "On-Call"):
            # the phrase as said, so "call me" is not On-Call.
            forms, exact = tuple(words_of(body)), True
    return tuple(stem(w) for w in forms), forms, exact


@dataclass(frozen=True)
class _Reading:
    """What the topic model makes of one sentence: its distribution over the kinds
    and how many of its content words it knows (one word is thin evidence)."""

    dist: dict[str, float]
    words: int


@dataclass(frozen=True)
class _Fits:
    """The topic model's fit of one sentence to one directory, per profile group
    (``Resolver.model_fit``): ``ranked`` (share, group) best first."""

    ranked: list[tuple[float, int]]
    share: dict[int, float]
    group_of: Sequence[Optional[int]]
    members: Sequence[list[int]]
    #: Content words of the sentence the model knows: one word is thin evidence.
    words: int = 0

    @property
    def best(self) -> float:
        return self.ranked[0][0] if self.ranked else 0.0

    def of(self, di: int) -> float:
        g = self.group_of[di]
        return self.share.get(g, 0.0) if g is not None else 0.0

    def top(self, n: int) -> list[tuple[int, float]]:
        """The first ``n`` destinations (index, share), a group's in listing order."""
        out: list[tuple[int, float]] = []
        for f, gi in self.ranked:
            for di in self.members[gi]:
                out.append((di, f))
                if len(out) >= n:
                    return out
        return out


class Resolver:
    """Precomputed index over one domain's destinations. Read-only after construction,
    so one instance may serve many calls at once. Disabled destinations (``enabled``
    false) are left out. On equal scores the destination listed first wins the tie
    in the listing order (it still counts as ambiguous)."""

    def __init__(
        self, destinations: Iterable[Any], *, lex: Optional[Lexicon] = None, categories: Iterable[str] = (),
        model: Optional[TopicModel | bool] = None,
    ) -> None:
        """``categories``: lexicon categories to index even when no destination has
        them (``topics_of`` uses all of them). ``model``: the topic model (default the
        packaged one; ``False``: none, the rules alone)."""
        self._lex = lx = lex or lexicon()
        self._names: list[str] = []
        self._categories: list[Optional[str]] = []
        self._persons: list[bool] = []
        self._declared: list[bool] = []
        entries: list[_Entry] = []
        # Identical entries of many destinations (a shared alias) are one entry with many owners.
        shared: dict[tuple[Any, ...], int] = {}
        owners: list[list[int]] = []
        seen: set[str] = set()
        cat_names: set[tuple[str, ...]] = set()
        cat_topics: set[tuple[str, ...]] = set()
        for cat in lx.categories.values():
            cat_names.update(_entry_words(t, lexical=True)[0] for t in cat.names)
            cat_topics.update(_entry_words(t, lexical=True)[0] for t in (*cat.topics, *cat.weak))
        self._topical: set[str] = set()
        self._topic_cats: dict[str, set[str]] = {}  # topic word (and its stems) -> categories
        for cat in lx.categories.values():
            for t in (*cat.topics, *cat.weak):
                words = _entry_words(t, lexical=True)[0]
                if len(words) == 1:
                    for k in (words[0], *stem_keys(words[0])):
                        self._topical.add(k)
                        self._topic_cats.setdefault(k, set()).add(cat.name)
        own_words: list[tuple[str, ...]] = []
        model_now: Optional[TopicModel] = topic_model() if model is None else (
            model if isinstance(model, TopicModel) else None)
        for d in destinations:
            name, aliases, keywords, category = _describe(d)
            if not getattr(d, "enabled", True) or name in seen:
                continue
            seen.add(name)
            di = len(self._names)
            # a ring group or a queue is a team, whatever its name looks like ("Ramos
            # Elementares": two words the lexicon does not know, not a person)
            person = getattr(d, "type", None) not in _GROUP_TYPES and _is_person(name, lx, model_now)
            self._declared.append(category is not None)
            if category is None:
                # a person by the aliases only ("Ana Lima", aliases: rh): the contact for that kind
                category = infer_category(list(aliases) if person else [name, *aliases], lx)
                if category is None and not person and model_now is not None:
                    category = _profile_category(model_now, (name, *aliases, *keywords), lx)
            self._names.append(name)
            self._categories.append(category)
            self._persons.append(person)
            own_words.append((name, *aliases, *keywords))
            done: set[tuple[str, tuple[str, ...]]] = set()
            spelled = _initials(name) if not person else ""
            # "Public Information Office" is spelled "p i o": its every word counts too
            spellings = [] if person else [f for f in dict.fromkeys((spelled, _initials(name, every_word=True))) if f]
            spellings = [f for f in spellings if not any(_initials(a) == f or normalize_text(a) == f for a in aliases)]
            if not person:
                # ... and so is an alias of several words ("a r" for the alias "accounts receivable")
                said_as = {normalize_text(a) for a in aliases}
                spellings += [f for f in dict.fromkeys(_initials(a) for a in aliases)
                              if f and f not in said_as and f not in spellings]
            if spellings:
                # "Alimentos e Bebidas" is spelled "a b" and, as "A&B" is read in pt-BR, "a e bê"
                joined = _joined_initials(name)
                for letters in (*spellings, joined) if joined else spellings:
                    key0 = (_ALIAS, (letters,), (letters,), True, category, False, False, True)
                    if key0 in shared:
                        owners[shared[key0]].append(di)
                    else:
                        shared[key0] = len(entries)
                        owners.append([di])
                        entries.append(_Entry((), _ALIAS, spellings[0].upper(), (letters,), (letters,), True,
                                              category, initials=True))
            name_words = set(normalize_text(name).split())
            for kind0, texts in ((_NAME, [name]), (_ALIAS, aliases), (_KEYWORD, keywords)):
                for text in texts:
                    words, forms, exact = _entry_words(text, lexical=False, common=None if person else lx.is_common)
                    kind = kind0
                    if person and kind == _ALIAS and len(words) >= 2 and name_words & set(forms) and all(
                            f in name_words or (f.isalpha() and f not in STOPWORDS and not lx.is_common(f) and not (
                                model_now is not None and model_now.known(f))) for f in forms):
                        # "Deb Faulkner" for Deborah Faulkner: a name, said in part too
                        # ("deb"); not "Maria do Financeiro", a name and where she works
                        kind = _NAME
                    if not words or (kind, words) in done:
                        continue
                    done.add((kind, words))
                    generic = kind == _ALIAS and words in cat_topics
                    key = (kind, words, forms, exact, category, generic, person and kind == _NAME)
                    if key in shared:
                        owners[shared[key]].append(di)
                        continue
                    shared[key] = len(entries)
                    owners.append([di])
                    entries.append(_Entry((), kind, text, words, forms, exact, category, generic,
                                          person and kind == _NAME))
        #: name -> index (names are unique: a repeated one was skipped above)
        self._index: dict[str, int] = {n: di for di, n in enumerate(self._names)}
        used = {c for c in self._categories if c} | set(categories)
        for cat in lx.categories.values():
            # a category no destination has: its names and topics still tell a need
            # this directory has nobody for (the reception should take it)
            kinds = ((_CATNAME, cat.names), (_TOPIC, cat.topics), (_WEAK, cat.weak)) if cat.name in used else (
                (_CATNAME, cat.names), (_TOPIC, cat.topics))
            for kind, terms in kinds:
                for term in terms:
                    words, forms, exact = _entry_words(term, lexical=True)
                    if words:
                        # department names match as said (and plural): "receiving" is not "received"
                        entries.append(_Entry((), kind, term.lstrip("="), words, forms, exact or kind == _CATNAME,
                                              cat.name, lang=cat.language_of.get(term)))
        for kind, terms in ((_IDIOM, lx.idioms), (_OFFTOPIC, lx.offtopic), (_EXTERNAL, lx.external)):
            for term in terms:
                words, forms, _ = _entry_words(term, lexical=True)
                if words:
                    entries.append(_Entry((), kind, term, words, forms, True))
        from dataclasses import replace

        self._entries = [replace(e, owners=tuple(owners[i])) if i < len(owners) else e for i, e in enumerate(entries)]
        entries = self._entries
        self._families = [self._family_of(ei, e) for ei, e in enumerate(entries)]
        # Indexes: entry words by form, by Snowball stem, person name words by
        # first-name group and by sound, and the words ASR slips may be matched to.
        self._by_word: dict[str, list[tuple[int, int]]] = {}
        self._by_key: dict[str, list[tuple[int, int]]] = {}
        self._by_group: dict[int, list[tuple[int, int]]] = {}
        self._by_spelling: dict[str, list[tuple[int, int]]] = {}  # a person's first name by spelling_key
        self._by_sound: dict[str, list[tuple[int, int]]] = {}
        #: a department's own name words by sound, for a word said as a department's name
        self._dept_sound: dict[str, list[tuple[int, int]]] = {}
        fuzzy: dict[str, list[tuple[int, int]]] = {}
        self._clips: dict[str, list[tuple[int, int]]] = {}  # "lab": Laboratory Services' word
        word_of_its_own: dict[str, bool] = {}  # the rest of a clipped word, read once per build
        for ei, e in enumerate(entries):
            for pos, w in enumerate(e.words):
                self._by_word.setdefault(w, []).append((ei, pos))
                if not e.exact and not e.person:
                    keys = stem_keys(w)
                    if e.lang is not None:
                        keys = frozenset(k for k in keys if k.startswith(e.lang))
                    if e.owners and e.kind in (_KEYWORD, _ALIAS) and len(e.words) >= 2:
                        # "mudança de endereço" said "mudar de endereço"; an alias "pavilion
                        # rentals" said "rent a pavilion" (a keyword's English roots would
                        # make its part said a hint where nothing was: "venue rental")
                        keys = keys | root_keys(e.forms[pos], english=e.kind == _ALIAS)
                    for k in keys:
                        self._by_key.setdefault(k, []).append((ei, pos))
                if e.person:
                    # by the name as written too: the light stem cuts a surname's "s" ("Menezes")
                    for g in set(lx.name_groups.get(w, ())) | set(lx.name_groups.get(e.forms[pos], ())):
                        self._by_group.setdefault(g, []).append((ei, pos))
                    if pos == 0 and len(e.forms[pos]) >= 3:
                        # a first name spelt another way is that name to the ear ("welington")
                        self._by_spelling.setdefault(spelling_key(e.forms[pos]), []).append((ei, pos))
                    for k in sound_keys(w) | sound_keys(e.forms[pos]):
                        self._by_sound.setdefault(k, []).append((ei, pos))
                if e.own_name and len(w) >= 5 and not w.isdigit():
                    fuzzy.setdefault(w, []).append((ei, pos))
                if e.own_name and not e.person and len(e.forms[pos]) >= 4 and e.forms[pos].isalpha():
                    for k in sound_keys(e.forms[pos]):
                        self._dept_sound.setdefault(k, []).append((ei, pos))
                form = e.forms[pos]
                if e.own_name and not e.person and len(form) >= CLIP_MIN + 3 and form.isalpha():
                    for n in range(CLIP_MIN, len(form) - 2):
                        rest = form[n:]
                        if len(rest) >= 3:
                            own_word = word_of_its_own.get(rest)
                            if own_word is None:
                                own_word = word_of_its_own[rest] = lx.is_common(rest) or (
                                    model_now is not None and bool(model_now.known(rest)))
                            if own_word:
                                continue  # "book" of "bookstore" is a word of its own, not a clipping
                        self._clips.setdefault(form[:n], []).append((ei, pos))
        self._fuzzy = fuzzy
        # how many people here have each first name ("o jorge pereira" is someone
        # else only when one Jorge works here)
        self._first_names: dict[str, int] = {}
        for e in entries:
            if e.person and e.words:
                self._first_names[e.words[0]] = self._first_names.get(e.words[0], 0) + len(e.owners)
        # words of more than one department's name ("room", "services", "desk"): said
        # alone, they name none of them
        name_count: dict[str, int] = {}
        for e in entries:
            if e.kind == _NAME and e.owners and not e.person:
                for w in set(e.words) | set(e.forms):
                    name_count[w] = name_count.get(w, 0) + len(e.owners)
        # a word several keywords of one department share and no other destination's
        # name or keywords has ("pool hours", "pool pass", "pool party": "pool") says
        # that department even when it is short
        kw_count: dict[str, dict[int, int]] = {}
        for e in entries:
            if e.kind == _KEYWORD and e.owners:
                for w in set(e.forms):
                    for d in e.owners:
                        kw_count.setdefault(w, {})[d] = kw_count.setdefault(w, {}).get(d, 0) + 1
        elsewhere_words = {w for e in entries if e.owners and e.kind in (_NAME, _ALIAS) for w in e.forms}
        self._keyword_words = frozenset(
            w for w, by in kw_count.items()
            if len(by) == 1 and max(by.values()) >= 2 and w not in elsewhere_words and w not in STOPWORDS)
        # ... nor do words for a group of people ("the aftercare people" is not People and Culture)
        self._shared_name_words = frozenset(w for w, n in name_count.items() if n >= 2) | _GROUP_WORDS
        # one-word names (or the one-word parts of "X e Y") of departments of no
        # declared kind, by their roots' first letters (see _compound)
        self._roots: dict[str, list[tuple[str, int, int]]] = {}
        for ei, e in enumerate(entries):
            if e.kind != _NAME or not e.owners or e.person:
                continue
            for part in f" {normalize_text(e.text)} ".replace(" and ", " e ").split(" e "):
                form = part.strip()
                if " " in form or len(form) < RELATED_NAME_MIN or lx.is_common(form):
                    continue
                root = snowball(form, "pt")
                for d in e.owners:
                    if not self._declared[d] and not self._persons[d]:
                        self._roots.setdefault(root[:4], []).append((root, d, ei))
        self._name_vocab = frozenset(w for w, refs in fuzzy.items() if all(entries[ei].person for ei, _ in refs))
        # a person's own alias words ("grooming lead"), to tell people of one first name apart
        self._alias_words: list[frozenset[str]] = [frozenset() for _ in self._names]
        for e in entries:
            if e.kind == _ALIAS:
                for d in e.owners:
                    if self._persons[d]:
                        self._alias_words[d] = self._alias_words[d] | frozenset(e.words)
        # who pays the organisation's suppliers ("Accounts Payable", alias "contas a pagar")
        self._payable: frozenset[int] = frozenset(
            d for e in entries if e.own_name
            and ("payable" in e.forms or {"contas", "pagar"} <= set(e.forms) or {"pagamento", "fornecedores"}
                 <= set(e.forms)) for d in e.owners)
        self._compat: dict[tuple[str, str], bool] = {}  # written from any thread: a plain cache
        self._known_words: dict[str, bool] = {}  # likewise (see _known)
        self._fuzzy_vocab = list(fuzzy)
        # Topic evidence goes to the departments of its category; to the people of
        # that category only when the directory has no such department.
        self._by_category: dict[str, list[int]] = {}
        people: dict[str, list[int]] = {}
        for di, dcat in enumerate(self._categories):
            if dcat:
                (people if self._persons[di] else self._by_category).setdefault(dcat, []).append(di)
        for dcat, who in people.items():
            self._by_category.setdefault(dcat, who)
        # a department declared of a kind takes that kind's topics before one only
        # inferred to be ("Faturamento", category billing, over "Controladoria" whose
        # alias "contas a pagar" is a billing word)
        self._by_category_all = dict(self._by_category)
        for dcat, who in self._by_category.items():
            declared = [d for d in who if self._declared[d]]
            if declared:
                self._by_category[dcat] = declared
        self._model = model_now
        self._profiles = self._model_profiles(own_words)
        # Destinations of one profile fit a sentence alike: the fit is computed per
        # profile (a few dozen), not per destination (thousands of people).
        dept_kinds = {k for di, prof in enumerate(self._profiles) if not self._persons[di] for k in prof}
        groups: dict[tuple[tuple[str, float], ...], int] = {}
        self._group_of: list[Optional[int]] = []
        self._members: list[list[int]] = []
        for di, prof in enumerate(self._profiles):
            if self._persons[di]:
                prof = {k: q for k, q in prof.items() if k not in dept_kinds}
            pkey = tuple(sorted(prof.items()))
            if not pkey:
                self._group_of.append(None)
                continue
            if pkey not in groups:
                groups[pkey] = len(self._members)
                self._members.append([])
            self._group_of.append(groups[pkey])
            self._members[groups[pkey]].append(di)
        self._group_profiles = [dict(g) for g in groups]
        self._dir_kinds = frozenset(k for g in groups for k, _ in g)

    def _model_profiles(self, own_words: Sequence[tuple[str, ...]]) -> list[dict[str, float]]:
        """Per destination, the kinds of department it is to the topic model: its
        declared category; else what its name, aliases and keywords point to (a
        department), or its category inferred from its aliases (a person)."""
        m = self._model
        out: list[dict[str, float]] = []
        for di, words in enumerate(own_words):
            cat = self._categories[di]
            if m is None:
                out.append({})
            elif self._declared[di] and cat in m.labels:
                # a declared category is coarse ("complaints" for Customer Care):
                # the kind the name itself clearly is counts too (customer service)
                named = {} if self._persons[di] else m.profile(words, least=DECLARED_NAME_LEAST)
                out.append(_merged([{cat: 1.0}, named]))
            elif self._persons[di]:
                out.append({cat: 1.0} if cat in m.labels else {})
            else:
                prof = self._joined_profile(words) or self._pieces_profile(words) or m.profile(
                    words, least=PROFILE_LEAST)
                out.append(prof or ({cat: 1.0} if cat in m.labels else {}))
        return out

    def _pieces_profile(self, words: Sequence[str]) -> dict[str, float]:
        """The profile of a department whose name, aliases and keywords say different
        things ("Governança", alias "achados e perdidos", keywords "camareira",
        "enxoval": housekeeping and lost property): the kinds of each, each at its
        own weight. Empty unless two of them at least point somewhere (then the
        words are read together)."""
        assert self._model is not None
        profiles = [p for p in (self._model.profile((t,), least=PROFILE_LEAST) for t in words) if p]
        return _merged(profiles) if len(profiles) >= 2 else {}

    def _joined_profile(self, words: Sequence[str]) -> dict[str, float]:
        """The profile of a department whose name joins several (``Facilities and
        Security``, ``Cobrança e Contratos``): each part's kinds, and those of the
        aliases and keywords, each at the weight its own part gives it (a sentence
        about either part fits the department fully), and the kind the name read whole
        clearly is (``JOINED_WHOLE``). Empty for a name of one part,
        or when a part has no word the model knows (it is then read whole)."""
        assert self._model is not None
        parts = [normalize_text(p) for p in _JOINS.split(f" {words[0].lower()} ")]
        parts = [p for p in parts if p]
        if len(parts) < 2:
            return {}
        profiles = [self._model.profile((p,), least=PROFILE_LEAST) for p in parts]
        if not all(profiles):
            return {}
        if len(words) > 1:
            profiles.append(self._model.profile(words[1:], least=PROFILE_LEAST))
        # and what the name says read whole ("Patrimônio e Manutenção": facilities)
        profiles.append(self._model.profile(words[:1], least=JOINED_WHOLE))
        return _merged(profiles)

    def model_fit(self, utterance: str, limit: int = 10) -> list[tuple[str, float]]:
        """Destinations by how well the topic model says ``utterance`` fits them, best
        first (at most ``limit``): the probability of the kinds of department each
        one is, as a share of the probability of every kind this directory has
        (people count only for a kind no department is). Empty without a model,
        without a word the model knows, or when what the sentence is most about is
        no kind of this directory (its best fit under ``FIT_OWN`` of the sentence's
        most likely kind, or under ``FIT_ABS`` at all: the model does not know what
        the sentence is about)."""
        _, words, _, _, noise = self._ranked(utterance)
        fits = self._fits(self._read(_model_text(words, noise)))
        return [(self._names[di], f) for di, f in fits.top(limit)] if fits else []

    def _read(self, text: str) -> Optional[_Reading]:
        """The topic model's reading of ``text``; None without a model or a word it knows."""
        if self._model is None or not text:
            return None
        known = self._model.known(text)
        if not known:
            return None
        return _Reading(self._model.distribution(text), sum(1 for f in known if f.startswith("p:")))

    def _fits(self, reading: Optional[_Reading]) -> Optional[_Fits]:
        if reading is None:
            return None
        dist = reading.dist
        raw = [(sum(dist.get(k, 0.0) * q for k, q in prof.items()), gi) for gi, prof in enumerate(self._group_profiles)]
        best = max((f for f, _ in raw), default=0.0)
        if best < FIT_ABS or best < FIT_OWN * max(dist.values()):
            return None
        mass = sum(dist.get(k, 0.0) for k in self._dir_kinds)
        ranked = sorted(((f / mass, gi) for f, gi in raw if f > 0.0), key=lambda x: (-x[0], x[1]))
        return _Fits(ranked, {gi: f for f, gi in ranked}, self._group_of, self._members, reading.words)

    def by_topic_model(self, utterance: str) -> Optional[Resolution]:
        """A resolution from the topic model alone, for a sentence the rules found no
        destination in: the one destination it fits (at least ``FIT_SURE``, and
        ``FIT_MARGIN`` ahead of the next), or the two it fits about equally (asked
        "X or Y?"); None when the fit is weak."""
        _, words, unrouted, _, noise = self._ranked(utterance)
        if unrouted == "marketing" and _press_asks(" ".join(w.raw for w in words)):
            return None  # a reporter's story is not the need: nobody here for the press
        found = self._fits(self._read(_model_text(words, noise)))
        if found is None:
            return None
        fits = [(self._names[di], f) for di, f in found.top(3)]
        if self._categories[self._index[fits[0][0]]] == "reception":
            return None  # what the reception handles is the rules' (operator) to say
        first = fits[0]
        second = fits[1] if len(fits) > 1 else ("", 0.0)
        if first[1] >= FIT_TRANSFER and first[1] - second[1] >= FIT_MARGIN and found.words >= MODEL_MIN_WORDS:
            reason = f"topic model: {first[0]!r} fits {first[1]:.2f} (next {second[1]:.2f})"
            return Resolution(first[0], round(100 * first[1]), [(n, round(100 * f)) for n, f in fits[1:3]], False,
                              None, reason)
        if second[1] >= FIT_PAIR and first[1] + second[1] >= FIT_BOTH:
            alts = [(n, round(100 * f)) for n, f in fits[:2]]
            reason = "topic model: " + " or ".join(f"{n!r} ({f:.2f})" for n, f in fits[:2]) + ": ask"
            return Resolution(None, min(s for _, s in alts), alts, True, None, reason)
        if first[1] >= FIT_CONFIRM and first[1] >= FIT_LEAD * second[1]:
            # likely, not sure: "did you mean X?" rather than "sorry, I did not understand"
            reason = f"topic model: {first[0]!r} fits {first[1]:.2f} (next {second[1]:.2f}): confirm"
            return Resolution(None, round(100 * first[1]), [(first[0], round(100 * first[1]))], True, None, reason,
                              guess=first[0])
        return None

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def category_of(self, name: str) -> Optional[str]:
        """The destination's category (declared or inferred), or None."""
        di = self._index.get(name)
        return None if di is None else self._categories[di]

    def is_person(self, name: str) -> bool:
        di = self._index.get(name)
        return di is not None and self._persons[di]

    # ------------------------------------------------------------------ matching

    def _known(self, w: str) -> bool:
        """A word the index or the lexicon knows as it is; cached (``_mend`` asks it of
        every piece of every pair and triple of words)."""
        known = self._known_words.get(w)
        if known is None:
            known = w in self._by_word or stem(w) in self._by_word or self._lex.is_common(w) \
                or self._lex.is_first_name(w) or w in STOPWORDS
            if len(self._known_words) >= KNOWN_CACHE:
                self._known_words.clear()  # bounded: callers' words are not
            self._known_words[w] = known
        return known

    def _own_name_word(self, key: str) -> bool:
        """``key`` is a word of a destination's own name or alias (not of a lexicon topic)."""
        return any(self._entries[ei].own_name for ei, _ in self._by_word.get(key, ()))

    def _name_piece(self, w: str) -> bool:
        """A first name, or a word of a person's or destination's own name or alias:
        not a topic word of the lexicon ("deadline" is not "dead line")."""
        return self._lex.is_first_name(w) or self._own_name_word(w) or self._own_name_word(stem(w))

    def _mend(self, raw: list[str]) -> list[str]:
        """ASR slips of word boundaries mended against the index: two or three
        pieces of one destination word heard apart ("finan ceiro", "ouvi doria",
        "pro cure ment") joined; two names heard glued ("johnthompson",
        "mariasilva") split. Only where a piece is not a word of its own."""
        out: list[str] = []
        i = 0
        while i < len(raw):
            if tuple(raw[i:i + 2]) in _CONTRACTIONS:
                out.extend(raw[i:i + 2])  # "i m" is "I'm", not a piece of "IM"
                i += 2
                continue
            done = False
            for k in (4, 3, 2):
                # letter names that spell a department's alias or initials ("o de pe" = DP),
                # or a kind's abbreviation ("te i" = TI)
                parts = raw[i:i + k]
                if len(parts) == k and all(p in LETTER_NAMES or (len(p) == 1 and p.isalpha()) for p in parts):
                    if all(p in STOPWORDS for p in parts) and i > 0 and not (
                            (raw[i - 1] in _ASKING and parts[0] != "que") or raw[i - 1] in _ARTICLES
                            or raw[i - 1] in _OF):
                        # "cliente e o meu boleto": words, not "EO" spelled out; "quero que a
                        # ouvidoria me ligue": the conjunction, not "QA"
                        continue
                    spelled = "".join(LETTER_NAMES.get(p, p) for p in parts)
                    if any((self._entries[ei].own_name or self._entries[ei].kind == _CATNAME)
                           and not self._entries[ei].person and self._entries[ei].words == (spelled,)
                           for ei, _ in self._by_word.get(spelled, ())):
                        out.append(spelled)
                        i += k
                        done = True
                        break
            if done:
                continue
            # pieces that make a word exactly first, then like one ("wel lington ta ai":
            # Wellington, not "wellingtonta" as like it)
            for k, fuzzy in ((3, False), (2, False), (3, True), (2, True)):
                parts = raw[i:i + k]
                if len(parts) < k or not all(p.isalpha() for p in parts) or parts[0] in self._lex.titles:
                    continue
                joined = "".join(parts)
                if all(self._known(p) for p in parts) and not (
                        k == 2 and len(joined) >= 6 and any(p in STOPWORDS for p in parts)
                        and not (len(parts[1]) == 1 and parts[1] in STOPWORDS)
                        and self._own_name_word(stem(joined))):
                    # words of their own; "com pras" is still Compras, "fornecedor e o"
                    # is not "fornecedore(s)": a one-letter "e"/"a"/"o" after a word is its own
                    continue
                rest = "".join(parts[1:])
                if k == 3 and parts[0] in STOPWORDS and (rest in self._by_word or stem(rest) in self._by_word):
                    continue  # "a confei taria": the article, then Confeitaria in two pieces
                if (not fuzzy and (joined in self._by_word or stem(joined) in self._by_word)) or (
                    fuzzy and len(joined) >= 7 and self._fuzzy_vocab and process.extractOne(
                        joined, self._fuzzy_vocab, scorer=fuzz.ratio, score_cutoff=88.0) is not None
                ):
                    out.append(joined)
                    i += k
                    done = True
                    break
            if done:
                continue
            w = raw[i]
            pieces = self._glued(w, 3) if len(w) >= 7 and w.isalpha() and not self._known(w) else None
            out.extend(pieces or (w,))
            i += 1
        return out

    def _glued(self, w: str, most: int) -> Optional[list[str]]:
        """``w`` cut into two (or up to ``most``) name pieces, the fewest cuts first
        ("mariasilva"; "annemariefontaine" for Anne-Marie Fontaine), or None."""
        for cut in range(2, len(w) - 2):
            # a piece of two letters only as a first name ("zecarlos": Zé Carlos)
            if (cut > 2 or self._lex.is_first_name(w[:cut])) and self._name_piece(w[:cut]) \
                    and self._name_piece(w[cut:]):
                return [w[:cut], w[cut:]]
        if most > 2:
            for cut in range(3, len(w) - 5):
                if self._name_piece(w[:cut]):
                    rest = self._glued(w[cut:], most - 1)
                    if rest:
                        return [w[:cut], *rest]
        return None

    def _analyse(self, utterance: str) -> list[_Word]:
        lx = self._lex
        raw = words_of(utterance)
        said = set(normalize_text(utterance).split())
        raw = self._mend(raw)
        spelled = {w for w in raw if w not in said and len(w) <= 4}
        out: list[_Word] = []
        for i, w in enumerate(raw):
            lw = stem(w)
            out.append(_Word(
                raw=w,
                word=lw,
                keys=stem_keys(w) | root_keys(w),
                stop=w in STOPWORDS,
                common=lx.is_common(w) or bool(_GERUND.match(w)),
                topical=lw in self._topical or bool(stem_keys(w) & self._topical),
                titled=i > 0 and raw[i - 1] in lx.titles,
                first_name=lx.is_first_name(w),
                surname=i > 0 and lx.is_first_name(raw[i - 1]) and not lx.is_common(raw[i - 1])
                and w not in STOPWORDS and not lx.is_first_name(w),
                acronym=w in spelled,
                framed=(i + 1 < len(raw) and raw[i + 1] in _DEPARTMENT_NOUNS)
                or (i > 1 and (raw[i - 2], raw[i - 1]) in _DEPARTMENT_OF),
            ))
        return out

    def _word_hits(self, words: Sequence[_Word]) -> dict[int, dict[int, list[tuple[int, float, bool]]]]:
        """entry -> entry word position -> [(utterance position, similarity, by stem)]."""
        lx = self._lex
        hits: dict[int, dict[int, list[tuple[int, float, bool]]]] = {}

        def add(ei: int, pos: int, i: int, sim: float, by_stem: bool) -> None:
            by_pos = hits.get(ei)
            if by_pos is None:
                hits[ei] = {pos: [(i, sim, by_stem)]}
            elif pos in by_pos:
                by_pos[pos].append((i, sim, by_stem))
            else:
                by_pos[pos] = [(i, sim, by_stem)]

        entries = self._entries
        for i, w in enumerate(words):
            found: set[tuple[int, int]] = set()
            if w.raw in lx.titles:
                # "mr", "senhor": they mark a name, they are not one (but for an alias
                # said as it is written, "Dr K")
                for ei, pos in self._by_word.get(w.raw, ()):
                    if self._entries[ei].exact and self._entries[ei].owners:
                        add(ei, pos, i, SIM_EXACT, False)
                continue
            # A word that is itself a topic word of the lexicon is not also another
            # topic's other form ("contratar" is sales, not legal's "contrato").
            lexical: set[Optional[str]] = set()
            stop, surname, said = w.stop, w.surname, w.raw
            for ei, pos in self._by_word.get(w.word, ()):
                e = entries[ei]
                if stop and not e.exact and e.owners:
                    continue
                if stop and len(e.words) == 1 and not e.owners and not w.acronym:
                    continue  # the pronoun "it" is not IT
                if surname and not e.owners:
                    continue  # "fernanda costa" is not a cost
                found.add((ei, pos))
                # (inline: this loop runs once per person of a surname many share)
                hit = (i, SIM_EXACT, said != e.forms[pos])
                by_pos = hits.get(ei)
                if by_pos is None:
                    hits[ei] = {pos: [hit]}
                elif pos in by_pos:
                    by_pos[pos].append(hit)
                else:
                    by_pos[pos] = [hit]
                if not e.owners and e.kind in (_TOPIC, _WEAK, _CATNAME):
                    lexical.add(e.category)
            if w.stop and not w.titled:
                continue
            for k in w.keys:
                for ei, pos in self._by_key.get(k, ()):
                    if (ei, pos) in found:
                        continue
                    e = entries[ei]
                    if w.surname and not e.owners:
                        continue
                    if w.common and not w.topical and e.owners:
                        continue  # an ordinary word in another form is not a name ("found" is not "founder")
                    if lexical and e.category not in lexical and not (e.owners and len(e.words) >= 2):
                        continue  # (the directory's own phrases match in any form: "visita do técnico")
                    found.add((ei, pos))
                    add(ei, pos, i, SIM_STEM, True)
            if w.first_name or w.titled or not w.common:
                spelt = self._by_spelling.get(spelling_key(w.raw), ()) if (w.first_name or not w.common) \
                    and len(w.raw) >= 3 and w.raw.isalpha() else ()
                variants = chain.from_iterable(self._by_group.get(g, ()) for g in lx.name_groups.get(w.raw, ()))
                for ei, pos in chain(variants, spelt):
                    if (ei, pos) not in found:
                        found.add((ei, pos))
                        add(ei, pos, i, SIM_VARIANT, False)
            if i + 1 < len(words) and not w.first_name and not w.common and len(w.raw) >= 3 and w.raw.isalpha():
                # a short form of a first name before the surname ("gwen pierce" for Gwendolyn Pierce)
                for ei, pos in self._by_word.get(words[i + 1].raw, ()):
                    e = self._entries[ei]
                    if e.person and pos == 1 and (ei, 0) not in found and len(e.forms[0]) > len(w.raw) + 1 \
                            and e.forms[0].startswith(w.raw):
                        found.add((ei, 0))
                        add(ei, 0, i, SIM_VARIANT, False)
            # a word of the callers' language the model knows is not a name misheard
            # ("o carro parado" is not Juliana Prado), unless a title marks it as one
            # (asked only of the words the sound and spelling matches below look at)
            worded = not (w.titled or w.first_name or w.common) and self._model is not None \
                and bool(self._model.known(w.raw))
            if ((not w.first_name and not w.common) or w.titled) and not worded:
                for k in sound_keys(w.raw):
                    for ei, pos in self._by_sound.get(k, ()):
                        target = self._entries[ei].forms[pos]
                        if (ei, pos) in found or (lx.is_first_name(target) and w.first_name):
                            continue
                        if similar_names(w.raw, target) >= SOUND_MIN:
                            found.add((ei, pos))
                            add(ei, pos, i, SIM_SOUND, False)
            if not found and w.framed and len(w.raw) >= 4:
                # "the sails department": a word said as a department's name that
                # sounds like one of its words
                for k in sound_keys(w.raw):
                    for ei, pos in self._dept_sound.get(k, ()):
                        if (ei, pos) not in found and similar_names(w.raw, entries[ei].forms[pos]) >= SOUND_MIN:
                            found.add((ei, pos))
                            add(ei, pos, i, SIM_SOUND, False)
            if not found and not w.common and not w.first_name and len(w.raw) >= 5 and not w.raw.isdigit():
                for choice, score, _ in process.extract(
                    w.word, self._fuzzy_vocab, scorer=fuzz.ratio, score_cutoff=75.0, limit=None
                ):
                    least = _token_min(w.word, choice)
                    if choice in self._name_vocab:
                        if worded:
                            continue
                        least = min(least, NAME_FUZZY_MIN)  # a surname misheard: "castiyo" for Castillo
                    if score >= least:
                        for ei, pos in self._fuzzy[choice]:
                            found.add((ei, pos))
                            add(ei, pos, i, float(score), False)
            if not found and not w.common and not w.stop and not w.topical and w.raw.isalpha() \
                    and w.raw not in self._by_word:
                # a clipped form of a department's word ("the lab", "o adm"), unless the
                # model reads the word as another kind's ("bus" is not the business office)
                clipped = self._clips.get(w.raw, ())
                dist = self._model.distribution(w.raw) if clipped and self._model is not None \
                    and self._model.known(w.raw) else None
                for ei, pos in clipped:
                    if dist is None or self._clip_fits(dist, entries[ei], pos):
                        add(ei, pos, i, SIM_CLIP, False)
        return hits

    def _clip_fits(self, dist: Mapping[str, float], e: _Entry, pos: int) -> bool:
        """Whether the model reads a clipped word (``dist``) as what the department is:
        its kinds (its profile), or the likeliest kind of the whole word it clips
        ("lab" of Laboratory Services, whose name reads as clinical) get at least
        ``CLIP_FIT`` of the clipped word's likeliest kind's probability."""
        assert self._model is not None
        least = CLIP_FIT * max(dist.values())
        if any(sum(dist.get(k, 0.0) * q for k, q in self._profiles[d].items()) >= least for d in e.owners):
            return True
        whole = self._model.distribution(e.forms[pos])
        return bool(whole) and dist.get(max(whole, key=whole.__getitem__), 0.0) >= least

    def _entry_hit(self, ei: int, by_pos: dict[int, list[tuple[int, float, bool]]]) -> Optional[_Hit]:
        e = self._entries[ei]
        n = len(e.words)
        if n == 1:
            heard = by_pos[0]
            i, sim, st = heard[0] if len(heard) == 1 else max(heard, key=lambda h: h[1])
            return _Hit(ei, (i,), sim, 1, st)
        # A name may be said in part ("Maria" for Maria Silva); an alias of three or
        # more words by two of them at least; other phrases only whole.
        partial = (e.kind == _NAME and not e.exact) or (e.kind == _ALIAS and not e.exact and n > 2)
        if partial and len(by_pos) == 1:
            # the usual case of a name said in part: one of its words (a surname many share)
            if e.kind == _ALIAS:
                return None
            hits = next(iter(by_pos.values()))
            i, sim, st = hits[0] if len(hits) == 1 else max(hits, key=lambda h: h[1])
            return _Hit(ei, (i,), sim, 1, st)
        if partial:
            chosen: dict[int, tuple[int, float, bool]] = {}
            used: set[int] = set()
            for pos in sorted(by_pos, key=lambda p: -max(h[1] for h in by_pos[p])):
                best = max((h for h in by_pos[pos] if h[0] not in used), key=lambda h: h[1], default=None)
                if best is not None:
                    chosen[pos] = best
                    used.add(best[0])
            if not chosen or (e.kind == _ALIAS and len(chosen) < 2):
                return None
            sims = [h[1] for h in chosen.values()]
            return _Hit(ei, tuple(sorted(used)), sum(sims) / len(sims), len(chosen),
                        any(h[2] for h in chosen.values()))
        if len(by_pos) < n:
            return self._keyword_part(ei, by_pos) if e.kind == _KEYWORD and not e.exact else None
        # Every word, in order, at most PHRASE_GAP words apart: best chain by DP.
        best_chain: Optional[tuple[float, tuple[int, ...], bool]] = None
        chains: list[tuple[float, tuple[int, ...], bool]] = [(s, (i,), st) for i, s, st in by_pos[0]]
        for pos in range(1, n):
            nxt = []
            for i, s, st in by_pos[pos]:
                prev = [c for c in chains if c[1][-1] < i <= c[1][-1] + PHRASE_GAP + 1]
                if prev:
                    c = max(prev, key=lambda c: c[0])
                    nxt.append((c[0] + s, (*c[1], i), c[2] or st))
            chains = nxt
            if not chains:
                if n == 2 and e.kind == _ALIAS and not e.exact:
                    return self._reversed_pair(ei, by_pos)
                return self._keyword_part(ei, by_pos)
        best_chain = max(chains, key=lambda c: c[0])
        return _Hit(ei, best_chain[1], best_chain[0] / n, n, best_chain[2])

    @staticmethod
    def _reversed_pair(ei: int, by_pos: dict[int, list[tuple[int, float, bool]]]) -> Optional[_Hit]:
        """A two-word alias said the other way round, as English turns a noun phrase
        into a request ("rent a pavilion" for "Pavilion Rentals", "remove a tree" for
        "Tree Removal"): its second word, then its first at most ``PHRASE_GAP`` words
        later."""
        best: Optional[tuple[float, tuple[int, int], bool]] = None
        for i1, s1, st1 in by_pos[1]:
            for i0, s0, st0 in by_pos[0]:
                if i1 < i0 <= i1 + PHRASE_GAP + 1 and (best is None or s0 + s1 > best[0]):
                    best = (s0 + s1, (i1, i0), st0 or st1)
        if best is None:
            return None
        return _Hit(ei, best[1], best[0] / 2, 2, best[2])

    def _keyword_part(self, ei: int, by_pos: dict[int, list[tuple[int, float, bool]]]) -> Optional[_Hit]:
        """A keyword of the directory said in part or in another order ("a fibra
        rompeu" for "rompimento de fibra", "o endereço novo" for "mudança de
        endereço"): half of its words at least, one of them a word of some length."""
        e = self._entries[ei]
        n = len(e.words)
        if e.kind != _KEYWORD or e.exact or 2 * len(by_pos) < n:
            return None
        if all(e.forms[p] in STOPWORDS or (len(e.forms[p]) < 5 and e.forms[p] not in self._keyword_words)
               for p in by_pos):
            return None
        chosen = {p: max(hits, key=lambda h: h[1]) for p, hits in by_pos.items()}
        positions = tuple(sorted({h[0] for h in chosen.values()}))
        if len(positions) < len(chosen):
            return None
        sims = [h[1] for h in chosen.values()]
        return _Hit(ei, positions, sum(sims) / len(sims), len(chosen), any(h[2] for h in chosen.values()))

    def _candidates(
        self, words: Sequence[_Word]
    ) -> tuple[dict[int, _Candidate], bool, Optional[str], Optional[frozenset[int]]]:
        """Candidates by destination index, whether the sentence is off-topic, the
        category of its need when no destination here has it (then no candidate),
        and the positions of idioms the topic model is not to read (None when the
        sentence is about another organisation: the model reads none of it)."""
        found = [h for ei, by_pos in self._word_hits(words).items() if (h := self._entry_hit(ei, by_pos))]
        gone: set[int] = set()
        if len(found) > PRUNE_PEOPLE:
            found, gone = self._undominated(found)
        noise: Optional[frozenset[int]] = frozenset(
            p for h in found if self._entries[h.entry].kind == _IDIOM
            or (self._entries[h.entry].kind == _OFFTOPIC and len(h.positions) > 1) for p in h.positions)
        if any(self._entries[h.entry].kind == _EXTERNAL for h in found):
            noise = None
        # Phrases claim their words: single-word evidence of another owner there goes.
        claims: dict[int, set[Any]] = {}
        # ... but a phrase heard only in other forms does not take a destination's own
        # name or alias said as it is ("quero falar com vendas" is not "quero vender")
        named_as_is = {h.positions[0] for h in found if len(h.positions) == 1 and not h.via_stem
                       and self._entries[h.entry].own_name}
        for h in found:
            if len(h.positions) >= 2 and h.matched == len(self._entries[h.entry].words):
                fam = self._family(h.entry)
                for p in h.positions:
                    if h.via_stem and p in named_as_is:
                        continue
                    claims.setdefault(p, set()).update(fam)
        ext_starts = {min(h.positions) for h in found if self._entries[h.entry].kind == _EXTERNAL}
        theirs = _affiliation([w.raw for w in words])
        own: dict[int, set[int]] = {}  # position -> destinations whose own name/alias/keyword is there
        kept: list[_Hit] = []
        for h in found:
            e = self._entries[h.entry]
            if len(h.positions) == 1 and h.positions[0] in claims and not (
                claims[h.positions[0]] & self._family(h.entry)
            ) and not (e.person and ("p",) in claims[h.positions[0]]):
                continue
            if ext_starts and e.kind not in (_IDIOM, _OFFTOPIC, _EXTERNAL) and self._after_external(
                    h, words, ext_starts):
                continue
            if len(h.positions) > 1 and e.forms[0] in ("nao", "not") and any(
                    words[p].raw in _CLITICS for p in range(h.positions[0] + 1, h.positions[1])):
                continue  # "não me liga" is not a device that "não liga"
            if theirs and e.kind not in (_IDIOM, _OFFTOPIC, _EXTERNAL) and set(h.positions) <= theirs:
                continue  # "sou da secretaria de desenvolvimento da prefeitura": the caller's own
            if e.initials and not all(words[p].acronym for p in h.positions):
                continue  # initials count spelled out only ("a r department"), not as a word ("ar")
            if e.owners and e.forms == ("it",) and _pronoun_it(words, h.positions[0]):
                continue  # "how it connects", "is it open": the pronoun, not the IT department
            if e.owners and len(h.positions) == 1 and h.positions[0] > 0 \
                    and words[h.positions[0] - 1].raw in _DETERMINERS \
                    and (words[h.positions[0]].common or words[h.positions[0]].topical) \
                    and all(self._persons[d] for d in e.owners):
                continue  # "my factura, the bill": a thing, not Bill (William) nor Mr Price
            kept.append(h)
            if e.owners and (h.matched == len(e.words) or (
                    e.kind == _NAME and not e.person and not h.via_stem and h.sim >= SIM_EXACT)) and not (
                len(h.positions) == 1 and h.via_stem and words[h.positions[0]].topical
            ):
                for p in h.positions:
                    own.setdefault(p, set()).update(e.owners)
        offtopic = any(self._entries[h.entry].kind == _OFFTOPIC for h in kept)
        owned_here = {d for h in kept for d in self._entries[h.entry].owners
                      if h.matched == len(self._entries[h.entry].words)}
        cands: dict[int, _Candidate] = {}
        strong: dict[int, list[tuple[int, ...]]] = {}
        weak: dict[int, list[tuple[int, ...]]] = {}
        own_generic: set[int] = set()
        keyword_at: dict[int, set[int]] = {}  # the directory's own routing words weigh most
        part_at: dict[int, set[int]] = {}  # ... and said in part, a hint
        orphan: dict[str, list[tuple[int, ...]]] = {}  # evidence of categories nobody here has
        person_words: dict[int, list[_Hit]] = {}

        def note(d: int, h: _Hit, how: str) -> _Candidate:
            c = cands.get(d)
            if c is None:
                c = cands[d] = _Candidate(d)
            c.notes.append((h.entry, h.positions, how))
            return c

        for h in kept:
            e = self._entries[h.entry]
            demoted = len(h.positions) == 1 and h.via_stem and words[h.positions[0]].topical
            if not e.person and e.kind in (_NAME, _ALIAS, _CATNAME) and e.category in _THEIRS_WHEN_MINE \
                    and (e.kind == _CATNAME or any(self._declared[d] for d in e.owners)) \
                    and _possessed(words, min(h.positions), bare=e.category == "management"):
                # "my immigration lawyer", "o meu chefe": the caller's own, not ours
                for d in (e.owners or self._by_category.get(e.category, [])):
                    note(d, h, " (the caller's own)")
                    weak.setdefault(d, []).append(h.positions)
                continue
            if not e.owners:
                if e.kind not in (_CATNAME, _TOPIC, _WEAK) or e.category is None:
                    continue
                if _ARRIVAL & set(e.forms) and self._arrived_is_other(words, min(h.positions), e.category):
                    continue  # "o meu boleto não chegou": the bill's, not a delivery's
                targets = self._by_category_all.get(e.category, [])
                if not targets:
                    orphan.setdefault(e.category, []).append(h.positions)
                    continue
                # a department whose kind is only inferred shares the kind's topic words
                # with the declared ones ("Central de Sinistros" beside the declared
                # "Seguros Empresariais"): split evidence, so the caller is asked which;
                # who pays suppliers has its own rule (``_to_payable``)
                declared = self._by_category[e.category]
                if len(declared) < len(targets):
                    targets = [d for d in targets if d in declared or d in owned_here or d not in self._payable]
                owners = set().union(*(own.get(p, set()) for p in h.positions))
                if owners:
                    targets = [d for d in targets if d in owners]
                for d in targets:
                    if e.kind == _CATNAME and not demoted and not self._persons[d]:
                        self._raise(note(d, h, ""), TIER_EXPLICIT, 92.0 * h.sim / 100.0)
                    else:
                        note(d, h, " (as a topic word)" if e.kind == _CATNAME else "")
                        topic = e.kind == _TOPIC or (e.kind == _CATNAME and not demoted)  # "o diretor": its person
                        (strong if topic else weak).setdefault(d, []).append(h.positions)
                continue
            if e.person:
                for d in e.owners:
                    person_words.setdefault(d, []).append(h)
                continue
            if demoted and not (e.kind == _KEYWORD or e.generic):
                # Said in another form that is a topic word: a hint, not the destination
                # named ("compra" for Compras); the destination's own word when the
                # topic is of its own kind ("entregaram" for the alias "entregas").
                heard = words[h.positions[0]]
                cats = set().union(*(self._topic_cats.get(k, set()) for k in (heard.word, *heard.keys)))
                for d in e.owners:
                    if self._categories[d] in cats:
                        note(d, h, " (generic)")
                        strong.setdefault(d, []).append(h.positions)
                        own_generic.add(d)
                    else:
                        note(d, h, " (as a topic word)")
                        weak.setdefault(d, []).append(h.positions)
                continue
            if e.kind == _KEYWORD or e.generic:
                whole = h.matched == len(e.words)
                for d in e.owners:
                    note(d, h, " (generic)" if e.kind != _KEYWORD else "" if whole else " (in part)")
                    strong.setdefault(d, []).append(h.positions)
                    if whole:
                        own_generic.add(d)
                    if e.kind == _KEYWORD and h.matched == len(e.words):
                        keyword_at.setdefault(d, set()).update(h.positions)
                    elif e.kind == _KEYWORD:  # said in part: a hint
                        part_at.setdefault(d, set()).update(h.positions)
                continue
            if h.matched < len(e.words) and h.via_stem:
                # part of a name heard only in another form ("medication" for Medical
                # Records): a hint, not the destination named
                for d in e.owners:
                    note(d, h, " (in part, another form)")
                    weak.setdefault(d, []).append(h.positions)
                continue
            if h.matched == len(e.words):
                score = h.sim
            elif e.kind == _NAME:
                score = h.sim * (0.80 + 0.15 * _coverage(e, h))
                if all(words[p].raw in self._shared_name_words or words[p].word in self._shared_name_words
                       for p in h.positions):
                    score -= SHARED_PART  # "room" of "Genealogy Room" and "Meeting Room Reservations"
            else:
                score = h.sim * (0.50 + 0.30 * _coverage(e, h))
            for d in e.owners:
                self._raise(note(d, h, ""), TIER_EXPLICIT, score)
        if self._roots:
            for at, d, ei in self._compound(words):
                if d not in own.get(at, ()) and not any(at in span for span in strong.get(d, [])):
                    note(d, _Hit(ei, (at,), SIM_STEM, 1, True), " (the start of its name)")
                    strong.setdefault(d, []).append((at,))
        for d in set(strong) | set(weak):
            groups = _groups(strong.get(d, []))
            # a keyword of several words said whole is the more specific
            s = sum(KEYWORD_WEIGHT + 0.5 * (len(g) - 1) if g & keyword_at.get(d, set())
                    else 0.5 if g <= part_at.get(d, set()) and not any(words[p].topical for p in g)
                    else self._weight(g, words) for g in groups)
            covered = set().union(*strong.get(d, [()]))
            w = len(_groups([p for p in weak.get(d, []) if not covered & set(p)]))
            bonus = 6.0 if d in own_generic else 0.0
            if s:
                score = 80.0 + 8.0 * (min(s, 3.0) - 1.0) + 3.0 * min(w, 2) + bonus
            else:
                score = 56.0 + 6.0 * min(w, 2)
            c = cands[d]
            c.topic_evidence = round(s, 2)
            # off-topic words ("pizza", "dog") stop weak topic evidence, not the
            # directory's own keywords nor a whole sentence about its kind
            if c.tier <= TIER_GENERIC and (not offtopic or d in keyword_at or s >= 2.0):
                c.tier = TIER_GENERIC
                c.score = min(score, 97.0)
                c.evidence = round(s, 2)
                c.own = d in own_generic
        marks = _markers([w.raw for w in words])
        after = marks[-1][1] if marks else 0  # after a correction, what is said after it

        def still_said(c: _Candidate) -> bool:
            return not after or any(p >= after for _, positions, _ in c.notes for p in positions)

        named_categories = {self._categories[c.dest] for c in cands.values() if c.tier and still_said(c)}
        said: dict[str, set[int]] = {}
        for at, heard in enumerate(words):
            if not heard.stop:
                said.setdefault(heard.word, set()).add(at)
        # the kinds of the departments named as such (not people, not topic words)
        dept_named = {self._categories[c.dest] for c in cands.values()
                      if c.tier == TIER_EXPLICIT and not self._persons[c.dest] and still_said(c)}
        gender = {i: "m" if w.raw in _MALE_WORDS else "f" for i, w in enumerate(words)
                  if w.raw in _MALE_WORDS or w.raw in _FEMALE_WORDS}
        for i in [i for i in gender if gender.get(i + 2, gender[i]) != gender[i] and words[i + 1].raw in ("or", "ou")]:
            del gender[i], gender[i + 2]  # "mr or ms russo", "o senhor ou a senhora": either
        near = _Near(gender, frozenset(
            i for i, w in enumerate(words) if person_words and w.surname and self._other_surname(w)))
        elsewhere = {d for d, hits in person_words.items()
                     if self._score_person(d, hits, words, named_categories, cands, said, dept_named, near)}
        if elsewhere and any(c.tier == TIER_PERSON and c.dest not in elsewhere for c in cands.values()):
            # "megan in customer success": not Megan Tran of HR (her kind is not the
            # department said) when another Megan is left
            for d in elsewhere:
                cands[d].score -= OTHER_DEPARTMENT
        found_cands = {d: c for d, c in cands.items() if c.tier and d not in gone}
        self._outweigh(found_cands, words)
        if orphan and not offtopic and not any(c.tier >= TIER_EXPLICIT for c in found_cands.values()):
            best_cat, best = max(((cat, sum(self._weight(g, words) for g in _groups(spans)))
                                  for cat, spans in orphan.items()), key=lambda cw: cw[1])
            present = max((c.evidence for c in found_cands.values()), default=0.0)
            if best - present >= EVIDENCE_GAP and (best >= ORPHAN_SURE or self._fits(
                    self._read(" ".join(w.raw for w in words))) is None):
                # the need is of a kind this directory has nobody for: no topic routing
                # (on one word, only when the model does not read the sentence as a
                # kind somebody here is: "o rapaz do gás falou que a tubulação ...")
                return {}, offtopic, best_cat, noise
        return found_cands, offtopic, None, noise

    def _arrived_is_other(self, words: Sequence[_Word], start: int, category: str) -> bool:
        """What did not arrive, said just before ("o meu boleto não chegou", "my
        paycheck never arrived"), is a topic word of another kind than ``category``."""
        j = start - 1
        while j >= 0 and start - j <= 4 and (words[j].stop or words[j].raw in _ARRIVAL_SKIP):
            j -= 1
        if j < 0 or start - j > 4:
            return False
        cats = self._word_cats(words[j])
        return bool(cats) and category not in cats

    def _compound(self, words: Sequence[_Word]) -> list[tuple[int, int, int]]:
        """(position, department, entry) of each caller's word whose root starts the
        one-word name of a department of no declared kind ("flores": Floricultura)."""
        out: list[tuple[int, int, int]] = []
        for at, w in enumerate(words):
            if w.stop or w.common or w.first_name or w.titled or len(w.raw) < 4 or not w.raw.isalpha():
                continue
            mine = snowball(w.raw, "pt")
            for root, d, ei in self._roots.get(mine[:4], ()) if len(mine) >= 4 else ():
                if root.startswith(mine) and (len(root) - len(mine) >= RELATED_COMPOUND or root[len(mine):] == "ag"):
                    # (or the noun Portuguese makes of the verb with "-agem": "reciclar", Reciclagem)
                    out.append((at, d, ei))
        return out

    def _other_surname(self, nxt: _Word) -> bool:
        """``nxt``, said right after a first name, is a surname of someone else: a
        common surname (``surnames.yaml``), or a word neither the lexicon nor the
        topic model knows (names are in no department's sentences); not a word of
        this directory's names, nor like one."""
        if not (nxt.surname and nxt.raw.isalpha() and len(nxt.raw) > 3) or nxt.raw in self._by_word \
                or nxt.word in self._by_word:
            return False
        if self._lex.is_surname(nxt.raw):
            # "john smith", "a maria oliveira": a common surname, though also a word;
            # not one a name here sounds like ("latoya green": LaToya Greene)
            return process.extractOne(nxt.raw, self._name_vocab, scorer=fuzz.ratio,
                                      score_cutoff=SURNAME_SOUNDS_LIKE) is None
        if nxt.common or nxt.topical or self._model is None or self._model.known(nxt.raw):
            return False
        return process.extractOne(nxt.raw, self._name_vocab, scorer=fuzz.ratio,
                                  score_cutoff=OTHER_SURNAME_MAX) is None

    def _undominated(self, found: list[_Hit]) -> tuple[list[_Hit], set[int]]:
        """The hits left when many people are heard: a person heard only by single
        words of their name or aliases ("ferreira") goes where another person's name
        is heard there by more of its words, as closely ("márcia ferreira
        santana"); such a partial match scores below the fuller one whatever else is
        said. A surname hundreds of people share would otherwise be scored once per
        person (``resolve_bench``'s slowest sentences). Returns the hits left and the
        people gone (no candidates, though an alias they share with others is kept)."""
        entries, persons = self._entries, self._persons
        cover: dict[int, tuple[int, float]] = {}
        people = 0
        for h in found:
            if entries[h.entry].person:
                people += 1
                if h.matched >= 2:
                    for p in h.positions:
                        if (h.matched, h.sim) > cover.get(p, (0, 0.0)):
                            cover[p] = (h.matched, h.sim)
        if not cover or people <= PRUNE_PEOPLE:
            return found, set()
        kept: set[int] = set()  # people heard otherwise somewhere
        heard: set[int] = set()
        for h in found:
            covered = h.matched == 1 and (c := cover.get(h.positions[0])) is not None and c[1] >= h.sim
            for d in entries[h.entry].owners:
                if persons[d]:
                    (heard if covered else kept).add(d)
        gone = heard - kept
        if not gone:
            return found, gone
        left = [h for h in found if not (entries[h.entry].owners and all(d in gone for d in entries[h.entry].owners))]
        return left, gone

    def _score_person(self, d: int, hits: list[_Hit], words: Sequence[_Word], named_categories: set[Optional[str]],
                      cands: dict[int, _Candidate], said: dict[str, set[int]],
                      dept_named: set[Optional[str]], near: _Near) -> bool:
        """Scores person ``d``; True when a department is named with the name and the
        person is known to be of another kind."""
        # the latest of equals: after a correction
        hit = hits[0] if len(hits) == 1 else max(hits, key=lambda h: (h.matched, h.sim, max(h.positions)))
        e = self._entries[hit.entry]
        positions = hit.positions
        partial = hit.matched < len(e.words)
        if len(positions) == 1:  # (the usual case, and once per person of a shared surname)
            first = last = positions[0]
            w = words[first]
            titled = w.titled
            ordinary = (w.common and not w.first_name) or w.topical
        else:
            ws = [words[p] for p in positions]
            titled = any(w.titled for w in ws)
            ordinary = all((w.common and not w.first_name) or w.topical for w in ws)
            first, last = min(positions), max(positions)
        # a first name like theirs said just before the surname ("daniel price": Danielle Price)
        named_before = partial and positions == (first,) and first > 0 and words[first - 1].first_name \
            and not words[first - 1].common and words[first - 1].raw not in e.forms \
            and any(self._compatible(words[first - 1].raw, n) for n in e.forms)
        if not titled and ordinary and partial and not named_before:
            return False  # "price list" is not Ms Price; "right" is not Wright
        if partial and first > 0 and words[first - 1].first_name and not words[first - 1].common \
                and not any(self._compatible(words[first - 1].raw, n) for n in e.forms):
            return False  # "fernanda costa" is not Ana Paula Costa
        if last + 1 in near.other_surnames and partial and positions == (first,) \
                and words[first].first_name:
            return False  # "o jorge pereira" is not Jorge Oliveira: someone this directory does not have
        if partial and not titled and (
                (last + 1 < len(words) and words[last + 1].raw in _PLACE_AFTER)
                or (first > 0 and words[first - 1].raw in _PLACE_BEFORE)):
            return False  # "washington park", "avenida rio branco": a place named after someone
        if not partial:
            score = hit.sim
        else:
            score = (86.0 if hit.matched == 1 and not named_before else 93.0) * hit.sim / 100.0
        evidence = hit.matched + named_before
        elsewhere = False
        if titled:
            score += 4.0
        said_gender = _said_gender(near.gender, first, last) if near.gender else None
        if said_gender is not None and _name_gender(self._entries[hit.entry].forms, self._lex) not in (
                None, said_gender):
            score -= TITLE_MISMATCH  # "mister ruiz" is Daniel Ruiz, not Teresa Ruiz
        cat = self._categories[d]
        c = cands.get(d) or cands.setdefault(d, _Candidate(d))
        c.notes.append((hit.entry, hit.positions, ""))
        if cat and cat in named_categories:
            score += 4.0  # "a maria do financeiro"
            evidence += 1
        elif (aliased := said.keys() & self._alias_words[d]) and any(not said[a] <= set(positions) for a in aliased):
            score += 4.0  # "emily in grooming": Emily Hartman, alias "grooming lead"
            evidence += 1
        else:
            elsewhere = bool(cat and dept_named and hit.matched < len(e.words))
        c.tier = TIER_PERSON
        c.score = min(score, 100.0)
        c.evidence = evidence
        return elsewhere

    def _outweigh(self, cands: dict[int, _Candidate], words: Sequence[_Word]) -> None:
        """The topic evidence of a whole sentence outweighs a department named in
        passing: a destination named once, not asked for ("vaga de técnico
        instalador", "the receptionist job", "my computer at the front desk")
        becomes topic evidence when another kind has at least ``OUTWEIGH`` of it
        ("vaga", "currículo"; "applying", "job"; "computer", "won't turn on")."""
        generic = [c for c in cands.values() if c.tier == TIER_GENERIC]
        if not generic:
            return
        for c in cands.values():
            if c.tier != TIER_EXPLICIT:
                continue
            runs = self._mentions(c, named=True)
            if len(runs) != 1 or _asked_for(words, runs[0][0]):
                continue
            if _pre_negated([w.raw for w in words], runs[0][0], set(), _NEG_SKIP):
                continue  # "not billing, i need ...": named to be taken back (see _focus), not a topic
            cat = self._categories[c.dest]
            if any(g.evidence >= OUTWEIGH and self._categories[g.dest] != cat for g in generic):
                ev = max(c.topic_evidence, 1.0)
                c.tier, c.score, c.evidence = TIER_GENERIC, min(80.0 + 8.0 * (min(ev, 3.0) - 1.0), 97.0), ev

    def _compatible(self, said: str, name: str) -> bool:
        """``said`` may be ``name`` (the same, a variant or nickname, or sounding alike); cached."""
        key = (said, name)
        known = self._compat.get(key)
        if known is None:
            known = said == name or self._lex.same_name(said, name) or similar_names(said, name) >= SOUND_MIN
            if len(self._compat) < 65536:
                self._compat[key] = known
        return known

    def _weight(self, group: set[int], words: Sequence[_Word]) -> float:
        """How much one piece of topic evidence counts: a phrase of several words
        1.5 (it says more than a word), a word 1, a word that is a topic word of
        several categories ("desconto", "pagamento") that much shared among them."""
        if len(group) >= 2:
            return 1.5
        cats = self._word_cats(words[next(iter(group))])
        return 1.0 / len(cats) if len(cats) > 1 else 1.0

    def _word_cats(self, w: _Word) -> set[str]:
        """The lexicon categories a word is a topic word of: as said; of its other
        forms only when it has none."""
        return self._topic_cats.get(w.word) or set().union(*(self._topic_cats.get(k, set()) for k in w.keys))

    @staticmethod
    def _raise(c: _Candidate, tier: int, score: float) -> None:
        if (tier, score) > (c.tier, c.score):
            c.tier, c.score, c.evidence = tier, score, 1

    def _family(self, ei: int) -> frozenset[Any]:
        """What a phrase of entry ``ei`` claims its words for (built once per entry)."""
        return self._families[ei]

    @staticmethod
    def _family_of(ei: int, e: _Entry) -> frozenset[Any]:
        if e.owners and e.person:
            return frozenset({("p",), *(("d", o) for o in e.owners)})  # a full name leaves other people as alternatives
        if e.owners:
            return frozenset({("c", e.category), *(("d", o) for o in e.owners)} if e.category else {
                ("d", o) for o in e.owners})
        return frozenset({("c", e.category)} if e.category else {("x", ei)})

    @staticmethod
    def _after_external(h: _Hit, words: Sequence[_Word], ext_starts: set[int]) -> bool:
        """A destination word followed by "of/at <another organisation>" (``ext_starts``:
        where the other organisations' words start)."""
        last = max(h.positions)
        nxt = last + 1
        while nxt < len(words) and words[nxt].raw in _OF:
            nxt += 1
        return nxt != last + 1 and nxt in ext_starts

    # ------------------------------------------------------------------ public

    def _mentions(self, c: _Candidate, *, named: bool, strong: bool = False) -> list[list[int]]:
        """Where a candidate was heard, as runs of adjacent positions in the order
        said; ``named``: only where it was named (name, alias, department name),
        not its topic words; ``strong``: not where only a weak word hinted at it."""
        spans: list[tuple[int, ...]] = []
        for ei, positions, remark in c.notes:
            e = self._entries[ei]
            if strong and e.kind == _WEAK:
                continue
            if named and not ((e.own_name and not e.generic and remark == "")
                              or (e.kind == _CATNAME and remark == "")):
                continue
            spans.append(positions)
        runs: list[list[int]] = []
        for p in sorted({p for span in spans for p in span}):
            if runs and p - runs[-1][-1] <= 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        return runs

    def _own_positions(self, cands: dict[int, _Candidate]) -> dict[int, set[int]]:
        """Position -> the candidates whose own name, alias or keyword was said there."""
        out: dict[int, set[int]] = {}
        for d, c in cands.items():
            for ei, positions, remark in c.notes:
                e = self._entries[ei]
                if remark == "" and e.own_name and not e.generic and d in e.owners:
                    for p in positions:
                        out.setdefault(p, set()).add(d)
        return out

    def _focus(self, cands: dict[int, _Candidate], words: Sequence[_Word]) -> dict[int, _Candidate]:
        """What the caller still asks for once they corrected or negated part of it:
        after a correction ("X não, desculpa, Y", "X no wait I meant Y") what was
        named before it goes; a destination named under a negation ("não é o X",
        "not X", "X não, Y", "I don't need X") goes; a topic under a negated request
        ("I'm not calling to buy anything", "não é sobre o boleto") goes when
        something else is left."""
        raw = [w.raw for w in words]
        marks = _markers(raw)
        if not cands or not (_NEGATORS & set(raw) or marks):
            return cands
        spans = {d: self._mentions(c, named=False) for d, c in cands.items()}
        named = {d: self._mentions(c, named=True) for d, c in cands.items() if c.tier >= TIER_EXPLICIT}
        named = {d: runs for d, runs in named.items() if runs}
        drop: set[int] = set()
        # 1. a correction: the later request wins. A word that is one destination's
        # own name is only that one's mention here, not a kind word of another one
        # ("o departamento pessoal, não, desculpa, o recrutamento": Recrutamento e
        # Seleção, not the personnel department, though both are of human resources)
        mine = self._own_positions(cands) if marks else {}
        spans_c = {d: runs for d, runs in ((d, _runs_without(runs, mine, d)) for d, runs in spans.items()) if runs}
        named_c = {d: runs for d, runs in ((d, _runs_without(runs, mine, d)) for d, runs in named.items()) if runs}
        for start, end in reversed(marks):
            # a person whose every name word said before is said again after ("marcelo
            # fontes não, desculpa, o marcelo da oficina": Marcelo Bittencourt) is asked for after
            again = {d for d, runs in spans_c.items() if runs[-1][-1] < start and self._persons[d]
                     and {raw[p] for run in runs for p in run} <= set(raw[end:])}
            before = {d for d, runs in spans_c.items() if runs[-1][-1] < start and d not in again}
            after = {d for d, runs in spans_c.items() if runs[-1][-1] >= end} | again
            if before and after - before:
                drop |= before
                break
            # named before it and only described after it, while another is named
            # after it ("the business office i mean patron accounts, it's about my
            # late fees": the fees are Patron Accounts', not the business office's)
            named_before = {d for d, runs in named_c.items() if runs[-1][-1] < start and d not in again}
            named_after = {d for d, runs in named_c.items() if runs[-1][-1] >= end} | again
            if named_before and named_after - named_before:
                drop |= named_before
                break
        # "não o carlos nogueira, o outro carlos": the first name after "outro" is not
        # a mention of the Carlos named in full
        other_at = {p for p in range(1, len(raw)) if raw[p - 1] in _OTHER}
        if other_at:
            nobody: dict[int, set[int]] = {p: set() for p in other_at}
            for d in [d for d, runs in named.items() if self._persons[d] and any(len(r) >= 2 for r in runs)]:
                named[d] = _runs_without(named[d], nobody, d)
        # 2. negation of a destination named, by its last mention; the emphatic
        # second "não" closing a negated request, or a "não não" correcting what came
        # before, negates nothing after it
        scopes = _negated_clauses(raw, marks)
        used: set[int] = {b - 1 for _, b in scopes if raw[b - 1] == "nao"}
        used.update(p for a, b in marks for p in range(a, b) if raw[p] in _NEGATORS_PRE)
        # ... nor one right after a correction of something named before it: "pro
        # comercial, desculpa, não, pro suporte" takes the commercial back, not the
        # support ("sorry, not sales, support": an apology first, the negation stands)
        first = min((run[0] for runs in spans.values() for run in runs), default=len(raw))
        for a, b in marks:
            if first >= a:
                continue
            while b < len(raw) and raw[b] in _FILLERS:
                b += 1
            while b < len(raw) and raw[b] in _NEGATORS:
                used.add(b)
                b += 1
        starts = {run[0] for runs in named.values() for run in runs}
        last = {tuple(runs[-1]) for runs in named.values()}
        post = {run for run in sorted(last) if _post_negated(raw, run, starts, marks, used)}
        pre = {run for run in last if run not in post and _pre_negated(raw, run[0], used, _NEG_SKIP)}
        drop |= {d for d, runs in named.items() if tuple(runs[-1]) in post | pre}
        # 3. a topic under a negated request
        strong = {d: self._mentions(c, named=False, strong=True) for d, c in cands.items()
                  if c.tier == TIER_GENERIC and d not in drop}
        soft = {d for d, runs in strong.items()
                if runs and all(_pre_negated(raw, run[0], used, _NEG_SKIP, need=_NEG_REQUEST) for run in runs)}
        if soft:
            drop |= soft
        # 4. whatever is said inside a negated request's clause ("não quero comprar
        # nada na loja, eu quero vender", "it's not about my fines, it's about a
        # book") goes when the caller goes on to ask for something else
        if scopes:
            inside = {d for d, runs in spans.items() if d not in drop and runs
                      and all(any(a <= run[0] and run[-1] < b for a, b in scopes) for run in runs)}
            if inside and set(cands) - drop - inside:
                drop |= inside
        if other_at or raw[-1] in _OTHER:
            drop = self._the_other(cands, drop, raw, named, other_at)
        if not drop:
            return cands
        return {d: c for d, c in cands.items() if d not in drop}

    def _the_other(self, cands: dict[int, _Candidate], drop: set[int], raw: Sequence[str],
                   named: Mapping[int, list[list[int]]], other_at: set[int]) -> set[int]:
        """``drop`` once "the other one" is read: a person named in full, then "o
        outro <their first name>" / "the other <first name>", or a negator and "o
        outro" ("o carlos nogueira não, o outro"), is not wanted; the namesakes
        taken back only with them are ("not marcus delgado, the other marcus")."""
        ends = {len(raw)} if raw[-1] in _OTHER else set()
        drop = set(drop)
        full = []

        def first_name(d: int) -> str:
            return normalize_text(self._names[d]).split()[0]

        for d, runs in named.items():
            if not (self._persons[d] and any(len(r) >= 2 for r in runs)):
                continue
            first, end = first_name(d), runs[-1][-1]
            for p in sorted(other_at | ends):
                if p > end and ((p < len(raw) and raw[p] == first)
                                or _NEGATORS & set(raw[end + 1:p - 1])):
                    drop.add(d)
                    full.append(d)
                    break
        full += [d for d in drop if d not in full and self._persons[d]
                 and any(len(run) >= 2 for run in named.get(d, []))]
        firsts = {first_name(d) for d in full}
        return {d for d in drop if d in full or not (self._persons[d] and d in cands and first_name(d) in firsts)}

    def _ranked(
        self, utterance: str
    ) -> tuple[list[_Candidate], list[_Word], Optional[str], bool, Optional[frozenset[int]]]:
        """Candidates best first, the words heard, the category of a need nobody
        here has (see ``Resolution.unrouted``), whether the caller took back part
        of what they said (a correction or a negation dropped a candidate), and the
        idiom positions the topic model skips (``_model_text``)."""
        words = self._analyse(utterance)
        if not words:
            return [], words, None, False, frozenset()
        cands, _, unrouted, noise = self._candidates(words)
        heard = len(cands)
        kept = self._focus(cands, words)
        if len(kept) < heard and noise is not None:
            # the words of what the caller took back are not read by the topic model
            # either ("this isn't an emergency, it's just a leaky faucet")
            noise = noise | frozenset(p for d, c in cands.items() if d not in kept
                                      for run in self._mentions(c, named=False) for p in run)
        cands = kept
        said = " ".join(w.raw for w in words)
        if _press_asks(said):
            # a reporter asking for an interview or a statement: the press office, not
            # the kind of thing the story is about ("sou repórter e queria uma entrevista
            # sobre venda de carro elétrico" is not for the showroom)
            press = {d for d in self._by_category.get("marketing", []) if not self._persons[d]}
            # ... or the head they name ("uma entrevista com o presidente de vocês")
            head = {d for d, c in cands.items() if c.tier == TIER_EXPLICIT and self._categories[d] == "management"}
            cands = {d: c for d, c in cands.items() if d in press or d in head or c.tier == TIER_PERSON}
            if not press and not head:
                unrouted = unrouted or "marketing"  # nobody here for the press: the reception
        if self._payable and _SUPPLIER.search(said):
            self._to_payable(cands, words, unpaid=bool(_UNPAID.search(said)))
        elif self._payable:
            self._either_side(cands, words)
        weak = [c for c in cands.values() if c.tier == TIER_PERSON and c.score < PERSON_SURE]
        exact = {p for c in cands.values() if c.tier == TIER_EXPLICIT and c.score >= SIM_STEM
                 and not self._persons[c.dest] for run in self._mentions(c, named=True) for p in run} if weak else set()
        for c in weak:
            if exact and all(set(positions) <= exact for _, positions, _ in c.notes):
                # a name heard only in part or by sound in the words that name a
                # department as they are yields to it ("p r" is the PR alias, not Priya Raman)
                c.tier = TIER_EXPLICIT
        ranked = sorted(cands.values(), key=lambda c: (-c.tier, -c.evidence, -c.score, c.dest))
        return ranked, words, unrouted, len(cands) < heard, noise

    def _to_payable(self, cands: dict[int, _Candidate], words: Sequence[_Word], unpaid: bool = False) -> None:
        """A supplier calling about being paid: the billing evidence of the sentence
        ("invoice", "paid", "past due") is the other side of the ledger, so it goes
        to who pays suppliers (``_payable``), not to who bills customers; a supplier
        saying it was not paid for what it delivered is not calling about a delivery."""
        kinds = ("billing", "purchasing", "logistics") if unpaid else ("billing", "purchasing")
        billing = [c for c in cands.values() if c.tier == TIER_GENERIC and c.dest not in self._payable
                   and self._categories[c.dest] in kinds]
        money = unpaid or any(self._categories[c.dest] == "billing" for c in cands.values())
        if not money and any(w.raw in _OFFERING for w in words):
            return  # "sou fornecedor e quero apresentar meus produtos": Purchasing's
        # "we're one of your vendors": the words by which the caller says what they are
        said_so = [c for c in cands.values()
                   if c.tier > TIER_GENERIC and money and self._heard_only_in(c, words, _SUPPLIER_WORDS)]
        if any(c.tier > TIER_GENERIC and c not in said_so for c in cands.values()):
            return
        for c in said_so:  # "we're one of your vendors": no request for Purchasing when it is about money
            del cands[c.dest]
        ev = max((c.evidence for c in billing), default=0.0) + 1.0
        for d in self._payable:
            c = cands.get(d) or cands.setdefault(d, _Candidate(d))
            if c.tier <= TIER_GENERIC:
                c.tier, c.evidence = TIER_GENERIC, max(c.evidence, ev)
                c.score = min(80.0 + 8.0 * (min(c.evidence, 3.0) - 1.0), 97.0)
        for c in billing:
            del cands[c.dest]

    def _surname_by_sound(self, tied: Sequence[_Candidate], words: Sequence[_Word]) -> Optional[_Candidate]:
        """Of people who share the first name heard, the one whose other name the next
        word sounds like, even an ordinary word ("catherine crooks" for Catherine
        Brooks): one letter off in a word of at least ``SURNAME_SOUND_LEN`` letters,
        and no other namesake's so."""
        picked: list[_Candidate] = []
        for c in tied:
            if not self._persons[c.dest]:
                return None
            heard = {p for _, positions, _ in c.notes for p in positions}
            nxt = max(heard) + 1 if heard else len(words)
            if nxt >= len(words) or len(words[nxt].raw) < SURNAME_SOUND_LEN:
                return None
            said = words[nxt].raw
            named = {words[p].raw for p in heard}
            rest = [w for w in normalize_text(self._names[c.dest]).split() if w not in named]
            if any(len(w) == len(said) and sum(a != b for a, b in zip(w, said)) == 1 for w in rest):
                picked.append(c)
        return picked[0] if len(picked) == 1 else None

    @staticmethod
    def _heard_only_in(c: _Candidate, words: Sequence[_Word], vocabulary: frozenset[str]) -> bool:
        """``c`` is heard, and only by words of ``vocabulary``."""
        said = {words[p].raw for _, positions, _ in c.notes for p in positions}
        return bool(said) and said <= vocabulary

    def _named_by_own(self, c: _Candidate) -> bool:
        """``c`` is heard by words of its own (its name, an alias, a keyword)."""
        return any(c.dest in self._entries[ei].owners for ei, _, _ in c.notes)

    def _either_side(self, cands: dict[int, _Candidate], words: Sequence[_Word]) -> None:
        """"Financeiro, por favor", "a question about a payment": a word of money
        that does not say which side of the ledger, with one department billing
        customers and another paying suppliers, fits both alike (the caller is asked
        which), unless the caller named one of them."""
        if len(cands) != 1:
            return
        (c,) = cands.values()
        if c.dest in self._payable or self._persons[c.dest] or self._categories[c.dest] != "billing":
            return
        if self._named_by_own(c) or not self._heard_only_in(c, words, _EITHER_SIDE):
            return
        for d in self._payable:
            if not self._persons[d] and d not in cands:
                cands[d] = _Candidate(d, c.tier, c.score, c.evidence, topic_evidence=c.topic_evidence)

    def taken_back(self, utterance: str) -> list[str]:
        """Destinations the caller named and then took back: under a negation ("não
        é o X", "not X") or before a correction ("X, no wait, I meant Y"), named by
        their own name, alias or keyword (not a kind word: "quem manda na rede, não
        o gerente de unidade" takes back a unit manager, not the board)."""
        words = self._analyse(utterance)
        if not words:
            return []
        cands, _, _, _ = self._candidates(words)
        kept = self._focus(cands, words)
        return [self._names[d] for d, c in cands.items() if d not in kept and c.tier >= TIER_EXPLICIT
                and self._named_by_own(c)]

    def scores(self, utterance: str, limit: Optional[int] = None) -> list[tuple[str, int, str]]:
        """Destinations with a non-zero score: (name, score 0-100, how it matched),
        best first (higher tier, then more evidence, then score)."""
        ranked, _, _, _, _ = self._ranked(utterance)
        top = ranked if limit is None else ranked[:limit]
        return [(self._names[c.dest], round(c.score), self._via(c)[0]) for c in top if c.score > 0]

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
        ranked, words, unrouted, hedged, noise = self._ranked(utterance)
        matched = [self._explain(c, words) for c in ranked[:MAX_ALTERNATIVES + 1]]
        good = [c for c in ranked if c.score >= MATCH_MIN]
        unsure = [c for c in ranked if c.tier >= TIER_EXPLICIT and c.score >= UNSURE_MIN]
        if not good and unsure:
            best = sorted(unsure, key=lambda c: (-c.score, c.dest))[:2]
            alts = [(self._names[c.dest], round(c.score)) for c in best]
            reason = "unsure: " + " or ".join(f"{n!r} ({s})" for n, s in alts) + f" below {MATCH_MIN}: ask"
            return Resolution(None, alts[0][1], alts, True, None, reason, matched)
        if not good:
            alts = [(self._names[c.dest], round(c.score)) for c in ranked if c.score >= ALTERNATIVE_MIN]
            alts = sorted(alts, key=lambda a: -a[1])[:MAX_ALTERNATIVES]
            if unrouted is not None:
                reason = f"a need of kind {unrouted}: no destination here has it"
            elif not ranked and not tokenize(utterance):
                reason = "no destination named"
            elif alts:
                reason = f"no destination matched well enough (best {alts[0][0]!r} {alts[0][1]} < {MATCH_MIN})"
            else:
                reason = "no destination matched"
            return Resolution(None, round(ranked[0].score) if ranked else 0, alts, False, None, reason, matched,
                              unrouted)
        tier = good[0].tier
        pool = sorted((c for c in good if c.tier == tier), key=lambda c: (-c.evidence, -c.score, c.dest))
        top = pool[0]
        close = [c for c in pool[1:]
                 if top.evidence - c.evidence < EVIDENCE_GAP and top.score - c.score < AMBIGUITY_GAP
                 and not (top.own and not c.own and self._categories[top.dest] == self._categories[c.dest])]
        skip = {top.dest, *(c.dest for c in close)}
        others = [c for c in ranked if c.dest not in skip and c.score >= ALTERNATIVE_MIN]
        # the topic model reads the sentence once, where it is first needed
        readings: list[Optional[_Reading]] = []

        def reading() -> Optional[_Reading]:
            if not readings:
                readings.append(self._read(_model_text(words, noise)))
            return readings[0]

        if close and tier == TIER_GENERIC and not hedged:
            fits = self._fits(reading())
            pick = self._model_pick(fits, [top, *close])
            if pick is not None:
                return self._picked(pick, ranked, "ambiguous topic", matched, at, hours_for)
        if close and top.tier == TIER_PERSON:
            heard = self._surname_by_sound([top, *close], words)
            if heard is not None:
                top, close = heard, []
        if close:
            tied = [top, *close]
            alts = [(self._names[c.dest], round(c.score)) for c in [*tied, *others][:MAX_ALTERNATIVES]]
            more = " (and others)" if len(tied) > MAX_ALTERNATIVES - 1 else ""
            reason = "ambiguous: " + " or ".join(
                f"{self._names[c.dest]!r} ({round(c.score)})" for c in tied[:MAX_ALTERNATIVES]) + more
            return Resolution(None, round(top.score), alts, True, None, reason, matched)
        doubt = self._doubt(top, ranked, words)
        if doubt is not None and not hedged and not self._persons[top.dest] and all(
                not self._persons[c.dest] for c in doubt):
            fits = self._fits(reading())
            pick = self._model_pick(fits, [top, *doubt])
            if pick is not None:
                return self._picked(pick, ranked, "not sure enough", matched, at, hours_for)
        if doubt is None and not hedged and (top.tier == TIER_GENERIC or (
                top.tier == TIER_EXPLICIT and not self._persons[top.dest] and self._in_passing(top, words))):
            fits = self._fits(reading())
            rival = self._model_rival(fits, top)
            taken = self._model_takes(fits, top, rival)
            if taken is not None:
                return self._picked(taken, ranked, "weak topic match", matched, at, hours_for)
            if rival is not None:
                doubt = [rival]
            elif top.tier == TIER_GENERIC and top.evidence <= TOPIC_SURE and self._model_elsewhere(reading(), top):
                doubt = []
        if doubt is not None:
            asked = [top, *doubt]
            alts = [(self._names[c.dest], round(c.score)) for c in asked[:MAX_ALTERNATIVES]]
            reason = "not sure enough: " + " or ".join(f"{n!r} ({s})" for n, s in alts) + ": ask"
            # the score of the least candidate named, so every one of them is offered
            return Resolution(None, min(s for _, s in alts), alts, True, None, reason, matched,
                              guess=self._names[top.dest])
        top_name = self._names[top.dest]
        alts = [(self._names[c.dest], round(c.score)) for c in others[:MAX_ALTERNATIVES]]
        return self._matched(top_name, round(top.score), alts, "matched " + self._via(top)[0], matched, at, hours_for)

    def _matched(self, top_name: str, score: int, alts: list[tuple[str, int]], reason: str,
                 matched: list[dict[str, Any]], at: Optional[datetime], hours_for: Optional[HoursFor]) -> Resolution:
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
        return Resolution(top_name, score, alts, False, is_open, reason, matched)

    def _model_pick(
        self, fits: Optional[_Fits], asked: Sequence[_Candidate]
    ) -> Optional[tuple[_Candidate, float, float]]:
        """Of candidates the rules would ask between, the one the topic model says
        the sentence is about (its best fit of all, at least ``FIT_PICK`` and
        ``FIT_PICK_MARGIN`` ahead of every other one asked); None otherwise."""
        if fits is None or fits.words < MODEL_MIN_WORDS:
            return None
        best = max(asked, key=lambda c: fits.of(c.dest))
        f = fits.of(best.dest)
        rest = max((fits.of(c.dest) for c in asked if c is not best), default=0.0)
        if f < fits.best:
            return None
        # a destination not asked about that fits about as well: the model does not
        # tell them apart ("quero fazer o seguro do carro": the business insurer 0.88,
        # the car insurer 0.87), so it picks none
        g = fits.group_of[best.dest]
        rest = max(rest, max((share for share, gi in fits.ranked if gi != g), default=0.0))
        if f >= FIT_PICK and f - rest >= FIT_PICK_MARGIN:
            return best, f, rest
        return None

    def _picked(self, pick: tuple[_Candidate, float, float], ranked: Sequence[_Candidate], why: str,
                matched: list[dict[str, Any]], at: Optional[datetime], hours_for: Optional[HoursFor]) -> Resolution:
        c, f, rest = pick
        alts = [(self._names[o.dest], round(o.score)) for o in ranked if o is not c and o.score >= ALTERNATIVE_MIN]
        reason = f"{why}, topic model: {self._names[c.dest]!r} fits {f:.2f} (next {rest:.2f})"
        return self._matched(self._names[c.dest], round(c.score), alts[:MAX_ALTERNATIVES], reason, matched, at,
                             hours_for)

    def _in_passing(self, c: _Candidate, words: Sequence[_Word]) -> bool:
        """A department named once, in passing, not asked for ("comprei na loja de
        vocês e a semente não nasceu")."""
        runs = self._mentions(c, named=True)
        return len(runs) == 1 and not _asked_for(words, runs[0][0])

    def _model_rival(self, fits: Optional[_Fits], top: _Candidate) -> Optional[_Candidate]:
        """A destination the topic model says the sentence is about (fit at least
        ``FIT_SURE``) where the rules' topic match fits little (under ``FIT_VETO``),
        or one it clearly prefers (``FIT_CONFIRM``, ``FIT_LEAD`` times the next)
        where the rules' match hardly fits at all (under ``FIT_ODD``): the caller is
        asked between the two rather than sent on one word."""
        if fits is None:
            return None
        two = fits.top(2)
        di, f = two[0]
        mine = fits.of(top.dest)
        if di == top.dest or mine >= FIT_VETO:
            return None
        second = two[1][1] if len(two) > 1 else 0.0
        if f < FIT_SURE and not (mine < FIT_ODD and f >= FIT_CONFIRM and f >= FIT_LEAD * second):
            return None
        return _Candidate(di, TIER_GENERIC, top.score)

    def _model_takes(
        self, fits: Optional[_Fits], top: _Candidate, rival: Optional[_Candidate]
    ) -> Optional[tuple[_Candidate, float, float]]:
        """The model's rival (``_model_rival``) taken outright, not asked about, when
        it is a department of no kind at all (no category declared or inferred from
        its name): the rules' topic evidence can never point to such a department,
        so their one-word match is no counter-evidence to it. It must be the pick
        ``_model_pick`` would make between the rules' match, the rival and the
        model's next best destination (at least ``FIT_PICK``, ``FIT_PICK_MARGIN``
        ahead of both: two departments of one profile tie and are asked about)."""
        if fits is None or rival is None or self._categories[rival.dest] is not None or self._persons[rival.dest]:
            return None
        runners = [_Candidate(di, TIER_GENERIC, top.score) for di, _ in fits.top(2)
                   if di not in (rival.dest, top.dest)]
        return self._model_pick(fits, [rival, top, *runners[:1]])

    def _model_elsewhere(self, reading: Optional[_Reading], top: _Candidate) -> bool:
        """The topic model, reading at least ``ELSEWHERE_WORDS`` words it knows, finds
        the sentence about another kind of thing by far: the kinds of ``top`` (matched
        on one topic word) get under ``ELSEWHERE`` of the likeliest kind's
        probability, whether or not this directory has that kind ("a copy of your
        w nine for our vendor file" is a tax form, not a purchase)."""
        prof = self._profiles[top.dest]
        if reading is None or not prof or reading.words < ELSEWHERE_WORDS:
            return False
        share = sum(reading.dist.get(k, 0.0) * q for k, q in prof.items())
        return share < ELSEWHERE * max(reading.dist.values())

    def _doubt(self, top: _Candidate, ranked: Sequence[_Candidate],
               words: Sequence[_Word]) -> Optional[list[_Candidate]]:
        """Whether the evidence for ``top`` is too thin to transfer on: a receptionist
        asks ("X or Y?", "did you mean X?") rather than guesses. None when sure
        enough; otherwise the rivals to name with ``top`` (possibly none).

        * topic evidence only: less than ``TOPIC_SURE`` (a keyword said in part, a
          word several kinds share), or not ``TOPIC_MARGIN`` ahead of the next
          department's (the margin is larger when ``top``'s evidence is only the
          packaged lexicon's and its kind was inferred from its name);
        * a department named once in passing, not asked for, while the sentence
          has at least ``PASSING_RIVAL`` of another kind's topic evidence ("i'm an
          engineering student looking for an internship");
        * a person heard only in part or by sound (score under ``PERSON_SURE``),
          with no title and no first name said.
        """
        rivals = [c for c in ranked if c is not top and c.tier >= TIER_GENERIC and c.score >= ALTERNATIVE_MIN]
        if top.tier == TIER_GENERIC:
            if top.evidence < TOPIC_SURE and not top.own:
                return rivals[:1]
            margin = TOPIC_MARGIN
            if not top.own and not self._declared[top.dest]:
                margin = TOPIC_MARGIN_INFERRED
            close = [c for c in rivals if c.tier == TIER_GENERIC and top.evidence - c.evidence < margin
                     and not (top.own and not c.own and self._categories[top.dest] == self._categories[c.dest])]
            return close or None
        if top.tier == TIER_EXPLICIT and not self._persons[top.dest]:
            runs = self._mentions(top, named=True)
            if len(runs) != 1 or len(runs[0]) > 1:
                return None
            asked = _asked_for(words, runs[0][0]) or _corrected_to(words, runs[0][0])
            cat = self._categories[top.dest]
            # a sentence that opens with it ("o fiscal do trabalho está aqui...") is
            # not a request for it when a whole sentence about another kind follows
            need = PASSING_RIVAL if not asked else OPENING_RIVAL if _opened_with(words, runs[0][0]) else None
            if need is None:
                return None
            other = [c for c in rivals if c.tier == TIER_GENERIC and c.topic_evidence >= need
                     and self._categories[c.dest] != cat and top.topic_evidence < c.topic_evidence]
            if other:
                return other[:2]
            if not asked and top.score < SIM_STEM:
                return []  # named only in part, in passing ("someone technical"): confirm
            return None
        if top.tier >= TIER_EXPLICIT and self._persons[top.dest] and top.score < PERSON_SURE:
            return [c for c in rivals if c.tier == top.tier and self._persons[c.dest]][:1]
        return None

    def topics(self, utterance: str) -> list[str]:
        """The lexicon topic terms heard in ``utterance``, as the lexicon writes them,
        in the order said ("a segunda via do boleto" -> ["segunda via", "boleto"]);
        a phrase wins over the words inside it."""
        words = self._analyse(utterance)
        found = [h for ei, by_pos in self._word_hits(words).items()
                 if self._entries[ei].kind == _TOPIC and (h := self._entry_hit(ei, by_pos))]
        found.sort(key=lambda h: (-len(h.positions), min(h.positions)))
        taken: set[int] = set()
        out: list[tuple[int, str]] = []
        for h in found:
            if taken & set(h.positions):
                continue
            taken.update(h.positions)
            text = self._entries[h.entry].text
            if text not in (t for _, t in out):
                out.append((min(h.positions), text))
        return [t for _, t in sorted(out)]

    def pick_by_category(self, names: Sequence[str], utterance: str) -> Optional[str]:
        """Of ``names`` (people offered to the caller), the one whose category the
        caller named ("a do financeiro" -> the Maria in billing); None unless exactly one."""
        words = self._analyse(utterance)
        heard: set[str] = set()
        for ei, by_pos in self._word_hits(words).items():
            e = self._entries[ei]
            if e.kind in (_CATNAME, _TOPIC) or (e.own_name and not e.person):
                if self._entry_hit(ei, by_pos) is not None and e.category:
                    heard.add(e.category)
        fits = [n for n in names if self.category_of(n) in heard]
        return fits[0] if len(fits) == 1 else None

    def _via(self, c: _Candidate) -> list[str]:
        """How a candidate matched, its deciding evidence first ("name: Financeiro",
        "topic billing: fatura", "alias: contratos (generic)")."""
        out: list[str] = []
        for ei, _, remark in sorted(c.notes, key=lambda n: n[2] != ""):
            e = self._entries[ei]
            kind = e.kind if e.owners else (f"category {e.category}" if e.kind == _CATNAME
                                                 else f"{e.kind} {e.category}")
            text = f"{kind}: {e.text}{remark}"
            if text not in out:
                out.append(text)
        return out or ["name"]

    def _explain(self, c: _Candidate, words: Sequence[_Word]) -> dict[str, Any]:
        said: list[str] = []
        for _, positions, _ in c.notes:
            for p in positions:
                if words[p].raw not in said:
                    said.append(words[p].raw)
        tier = {TIER_PERSON: "person", TIER_EXPLICIT: "named", TIER_GENERIC: "topic"}.get(c.tier, "")
        return {"name": self._names[c.dest], "score": round(c.score), "evidence": tier,
                "words": said, "via": self._via(c)}


_topic_index: Optional[Resolver] = None


def topics_of(text: str) -> list[str]:
    """The topic terms of every lexicon category heard in ``text`` (see ``Resolver.topics``)."""
    global _topic_index
    if _topic_index is None:

        _topic_index = Resolver([], categories=CATEGORIES)
    return _topic_index.topics(text)


# --------------------------------------------------------------------------- corrections, negation

#: Words by which callers correct themselves: what they named before goes.
_CORRECTIONS: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "desculpa", "desculpe", "perdao", "digo", "quer dizer", "ou melhor", "alias", "na verdade", "pera", "perai",
    "espera", "me enganei", "errei", "corrigindo", "nao nao", "opa", "me confundi", "confundi",
    "sorry", "i mean", "i meant", "actually", "wait", "scratch that", "or rather", "correction", "my bad",
    "my mistake", "no no", "oops", "whoops", "ops", "make that", "let me rephrase", "rather", "i misspoke", "mixed up",
    "hold on", "hang on",
))
_CORRECTION_FIRST = frozenset(p[0] for p in _CORRECTIONS)
#: After "ops", the words that make it "operations" ("the ops team"), not "oops".
_OPS_NOUNS = frozenset("team manager department dept center centre desk crew guy guys people staff please side "
                       "group floor".split())
#: ... unless it is an apology for something ("desculpa incomodar", "sorry to bother").
_APOLOGY_FOR = frozenset("incomodar incomodo a pelo pela por hora to for about if i".split())
_NEGATORS_PRE = frozenset("nao nem not dont don didn doesn isn aren wasn never isnt arent wasnt doesnt didnt".split())
_POST_NEGATORS = frozenset("nao no nope".split())
_NEGATORS = _NEGATORS_PRE | _POST_NEGATORS
_FILLERS = frozenset("eh ah hum uhm um uh er erm oh hmm ahn shoot".split())
#: Words a negation reaches a destination's name through ("não é com o X", "not the X",
#: "I don't need to talk to X", "não precisa ser o X").
_NEG_SKIP = frozenset(
    """e eh era seria ser o a os as um uma com pro pra para pelo pela do da de no na quero queria preciso precisa
    precisava precisar gostaria falar conversar isso que eu t s is it its the an i want wanna need to talk speak
    speaking with for looking calling call about this m really trying tentando tentar querendo procurando
    estou esta tou here aqui vim going gonna sou somos""".split()
)
#: A topic word is negated only through a request ("not calling to buy", "não é sobre o boleto").
#: ... or through "is" ("não é reclamação", "this isn't an emergency").
_NEG_REQUEST = frozenset("quero queria preciso sobre ligando liguei want need calling looking about interested "
                         "e eh era trying tentando querendo procurando here vim sou somos".split())
_COPULA_NEGATORS = frozenset("isn aren wasn isnt arent wasnt".split())
_COPULAS = frozenset("s is was are re its thats m am".split())
#: After a negator, the words that make it negate a request rather than describe
#: the problem ("não quero", "não é sobre", "not calling about", "don't need").
_CLAUSE_REQUEST = frozenset("""quero queria preciso precisava precisa procuro sobre ligando liguei to e eh era com
    pra pro sou somos want wanna need needed looking calling about interested after trying tentando querendo
    procurando here vim""".split())
#: After an emphatic closing "não", the words that make it open another negated clause
#: ("não quero vender nada, não sou fornecedor"; not "... não, é sobre uma encomenda").
_CLAUSE_REOPEN = frozenset("sou somos quero queria preciso precisava procuro".split())
#: Where a caller starts over after a negated request.
_CLAUSE_BREAK = frozenset("mas but porem instead".split())
_CLAUSE_BREAK_PAIRS = frozenset({("so", "que"), ("e", "que")})
_RESTARTS: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "eu quero", "eu queria", "eu preciso", "eu precisava", "eu to ligando", "a gente quer", "a gente precisa",
    "e sobre", "e com", "e pra", "e pro", "e o", "e a", "e do", "e da", "e no", "e na", "e uma", "e um",
    "quero", "preciso", "it s", "its", "i m", "i need", "i want", "i wanna", "i d", "i would", "i am",
    "we need", "we want", "we d", "this is about", "that s",
))


#: Kinds of destination a caller also has of their own: "my lawyer", "meu chefe".
_THEIRS_WHEN_MINE = frozenset(("legal", "management"))
_MINE = frozenset("my meu minha our nosso nossa".split())


#: Greetings and acknowledgements a request may open with ("yeah, the pharmacy").
_OPENERS = frozenset("yeah yes yep hi hello hey ok okay alo oi ola sim bom dia boa tarde noite".split())
#: Wishes that ask for what follows when an article follows ("queria a contabilidade").
_WISHING = frozenset("queria gostaria".split())
#: Words before a destination's name that ask for it ("falar com o", "passa pro", "talk to").
_ASKING = frozenset(
    """com pro pra para falar fala passa passe passar transfere transfira transferir liga ligar chama setor
    departamento area quero preciso procuro to with talk speak connect transfer reach need want get
    pessoal equipe turma galera folks people team staff""".split()
)


#: Object pronouns that, after "não", make a phrase of the lexicon say something else.
_CLITICS = frozenset("me te nos lhe lhes".split())
#: Where a caller says whom they are calling from ("sou da secretaria de ...", "aqui é
#: do ...", "i'm with the county ...", "calling from ..."), and the words that end it.
_AFFILIATION_OPENERS: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "sou da", "sou do", "somos da", "somos do", "aqui e da", "aqui e do", "falo da", "falo do", "to ligando da",
    "to ligando do", "estou ligando da", "estou ligando do", "ligo da", "ligo do",
    "i m with the", "i m with", "i am with the", "i am with", "we re with the", "we re with", "i m from the",
    "i am from the", "we re from the", "calling from the", "calling from"))
_AFFILIATION_ENDS = frozenset("""e a gente queria quero preciso gostaria precisamos queremos mas porque que pra para
    and i we but because so would need want like wanted needed about regarding to""".split())
AFFILIATION_MAX = 7
#: Where the caller says where they work or worked ("eu trabalho aí na limpeza", "i used
#: to work in dietary"): context of who they are, even one word of it.
_WORKPLACE_OPENERS: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    *(f"{verb} {where}" for verb in ("trabalho", "trabalhei", "trabalhava", "trabalhou")
      for where in ("na", "no", "em", "ai na", "ai no", "la na", "la no")),
    *(f"{verb} {where}" for verb in ("work", "worked") for where in ("in", "at", "at the", "in the"))))


def _affiliation(raw: Sequence[str]) -> set[int]:
    """Positions of the organisation the caller says they are calling from: after an
    opener, up to a clause's end (``_AFFILIATION_ENDS``) or ``AFFILIATION_MAX``
    words; what is named there is theirs, not ours. Not one word alone: "sou da
    imprensa", "i'm with the press" say what they are, and so what they need. Where
    the caller works (``_WORKPLACE_OPENERS``) counts even as one word."""
    out: set[int] = set()
    for i, w in enumerate(raw):
        for p, least in _OPENERS_BY_FIRST.get(w, ()):
            if tuple(raw[i:i + len(p)]) == p:
                j = k = i + len(p)
                while k < len(raw) and k - j < AFFILIATION_MAX and raw[k] not in _AFFILIATION_ENDS:
                    k += 1
                if k - j >= least:
                    out.update(range(j, k))
                break
    return out


#: The openers above by their first word (longest first), each with the least words
#: of what follows it that counts.
_OPENERS_BY_FIRST: dict[str, list[tuple[tuple[str, ...], int]]] = {}
for _p, _least in sorted([*((p, 1) for p in _WORKPLACE_OPENERS), *((p, 2) for p in _AFFILIATION_OPENERS)],
                         key=lambda pl: -len(pl[0])):
    _OPENERS_BY_FIRST.setdefault(_p[0], []).append((_p, _least))


def _asked_for(words: Sequence[_Word], at: int) -> bool:
    """The word at ``at`` is what the caller asks for: it follows a request ("quero
    falar com o financeiro", "transfer me to billing") or opens the sentence
    (after a greeting: "yeah the pharmacy", "oi, o financeiro")."""
    j = at - 1
    while j >= 0 and (words[j].raw in _ARTICLES or words[j].raw in _FILLERS or words[j].raw in _OPENERS
                      or words[j].raw in _YOUR):
        j -= 1
    if j < 0:
        return True  # the caller opened with it ("your commercial department please")
    if words[j].raw in ("from", "in", "at") and j > 0 and words[j - 1].raw in _SOMEONE:
        return True  # "can someone from pavilion rentals call me back"
    # "queria a contabilidade" asks for it; "queria reservar" says what to do
    return words[j].raw in _ASKING or (words[j].raw in _SOMEONE and j + 1 < at) or (
        words[j].raw in _WISHING and words[j + 1].raw in _ARTICLES)


#: English determiners: the word after them is a thing, not a person's name
_DETERMINERS = frozenset("the my your our their a an this that these those".split())
#: the organisation's, said of its department ("your billing department", "o seu financeiro")
_YOUR = frozenset("your ur seu sua".split())
#: someone of a department ("alguém do financeiro", "somebody from billing")
_SOMEONE = frozenset("alguem someone somebody anyone anybody".split())


#: "the other one": after a person taken back, another of the same first name
_OTHER = frozenset(("other", "outro", "outra"))


def _runs_without(runs: list[list[int]], mine: Mapping[int, set[int]], d: int) -> list[list[int]]:
    """``runs`` of destination ``d`` without the positions that name another one as
    its own (``mine``: position -> whose own name is there)."""
    out = [[p for p in run if p not in mine or d in mine[p]] for run in runs]
    return [run for run in out if run]


def _corrected_to(words: Sequence[_Word], at: int) -> bool:
    """The word at ``at`` is what a correction asks for: it follows a correction
    phrase ("human resources actually no, the volunteer office", "digo, o jurídico")."""
    raw = [w.raw for w in words]
    ends = {end for _, end in _markers(raw)}
    j = at - 1
    while j >= 0:
        if j + 1 in ends:
            return True
        if not (raw[j] in _ARTICLES or raw[j] in _FILLERS or raw[j] in _POST_NEGATORS):
            return False
        j -= 1
    return False


#: Words after "it" that make it the department ("it support", "the it guy").
_IT_NOUNS = frozenset("department dept support guy guys team helpdesk help desk person people staff services "
                      "service tech ticket please".split())
#: Words before "it" that make it the department ("someone in it", "transfer me to it").
_IT_BEFORE = frozenset("the in from to with for of".split())


def _merged(profiles: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Several profiles as one: every kind of any, at the greatest weight it has."""
    merged: dict[str, float] = {}
    for prof in profiles:
        for k, q in prof.items():
            merged[k] = max(merged.get(k, 0.0), q)
    return merged


def _profile_category(model: TopicModel, words: Sequence[str], lx: Lexicon) -> Optional[str]:
    """The lexicon category a department's own words are, to the topic model, when
    the lexicon's names do not say ("Home Delivery": logistics):
    the kind its profile gives at least ``PROFILE_CATEGORY``, if it is a lexicon category."""
    prof = model.profile(words, least=PROFILE_LEAST)
    if not prof:
        return None
    kind, q = max(prof.items(), key=lambda kq: kq[1])
    return kind if q >= PROFILE_CATEGORY and kind in lx.categories else None


def _pronoun_it(words: Sequence[_Word], at: int) -> bool:
    """The word "it" at ``at`` is the pronoun, not the IT department: neither a
    department word follows it ("it support") nor a preposition or article precedes
    it at the end of a request ("someone in it"), and it is not said alone."""
    nxt = words[at + 1].raw if at + 1 < len(words) else ""
    prev = words[at - 1].raw if at > 0 else ""
    if nxt in _IT_NOUNS or len(words) == 1:
        return False
    if prev in _IT_BEFORE and (not nxt or nxt in _FILLERS):
        return False
    return True


#: Spelled letters that mean something else (times of day, titles, documents, devices).
_OTHER_ABBREVIATIONS = frozenset(
    "am pm ok tv id mr ms dr us uk ceo cfo cto vip pc cd dvd gps usb atm faq pdf sms cpf cnpj rg cep".split())


#: A supplier saying it was not paid ("you guys owe us", "vocês não pagaram minha nota").
_UNPAID_RX = (
    r"you (?:guys )?owe us|(?:we|i) (?:still )?(?:haven t|have not|never) (?:been paid|received (?:our |the )?payment)"
    r"|(?:our|my) (?:last |latest )?invoices? (?:still )?(?:hasn t|has not|haven t|have not|wasn t|was not|weren t|"
    r"were not|never) (?:been )?paid"
    r"|voces (?:me|nos) devem|(?:me|nos) devendo|nao (?:fomos|fui) pagos?"
    # "a gente tem uns títulos em aberto com vocês", "invoices still open with you"
    r"|(?:titulos?|duplicatas?|notas?|faturas?|boletos?)(?: \w+){0,3} em aberto com voces"
    r"|(?:invoices?|bills?)(?: \w+){0,2} (?:still )?(?:open|outstanding|unpaid) with you"
    r"|voces (?:ainda )?nao (?:me |nos )?pagaram|(?:ainda )?nao recebemos (?:o |nosso )?(?:pagamento|payment)"
    r"|(?:nota|notas|medicao|medicoes|fatura|faturas|invoice|invoices)(?: \w+){0,3} (?:ainda )?nao (?:foi|foram) pagas?"
    r"|you (?:guys )?(?:still )?(?:haven t|have not|never|didn t|did not) (?:paid|pay) (?:us|me|our|my)"
    # paid for what they delivered ("my check for the beans i delivered in august")
    r"|(?:check|payment|pagamento|dinheiro)(?: \w+){0,2} (?:for|of|da|do|das|dos) (?:the |a |o )?\w+(?: \w+)? "
    r"(?:i|we|que eu|que a gente) (?:delivered|sold|supplied|shipped|entreguei|entregamos|vendi|vendemos)"
)
_UNPAID = re.compile(r"\b(?:" + _UNPAID_RX + r")\b")
#: A caller from the press, saying so ("sou repórter do jornal", "sou da imprensa",
#: "i'm a reporter with the daily herald"), and what the press asks for.
_PRESS = re.compile(
    r"\b(?:(?<!nao )(?:sou|somos|aqui e|falo) (?:o |a |um |uma )?(?:reporter|jornalista|produtor|produtora)"
    r"|(?<!nao )(?:sou|somos|falo) (?:da|do) (?:imprensa|jornal|revista|tv|radio|portal|emissora)"
    r"|(?:i m|im|i am|this is|we re|we are) (?:a |an )?(?:reporter|journalist|producer|writer|editor)"
    r" (?:with|from|for|at)"
    r"|(?:i m|im|i am|this is) (?:\w+ ){0,2}(?:from|with) the (?:\w+ ){0,2}"
    r"(?:news|herald|times|gazette|tribune|post|journal|dispatch|chronicle|magazine))\b")
_PRESS_ASKS = re.compile(
    r"\b(?:entrevista|materia|reportagem|pauta|statement|posicionamento|nota oficial|declaracao|comentario"
    r"|interview|story|comment|quote|press release|on the record)\b")


def _press_asks(said: str) -> bool:
    """A caller from the press asking for what the press asks ("sou jornalista e
    queria uma entrevista", "i'm a reporter with the dispatch doing a story")."""
    return bool(_PRESS.search(said) and _PRESS_ASKS.search(said))


#: A caller who is the organisation's supplier, or says it owes them ("we're a vendor",
#: "you guys owe us", "sou fornecedor", "vocês estão me devendo").
_SUPPLIER = re.compile(
    r"\b(?:(?:i m|im|i am|we re|we are|were|this is) (?:a |an |the |one of your |your )?(?:vendor|supplier)s?"
    r"|(?:your|a) (?:vendor|supplier)s? (?:here|calling)|(?:calling )?from (?:one of )?your (?:vendor|supplier)s?"
    r"|when (?:is |are |will |do |does )?(?:our|my) invoices? "
    r"(?:is |are |be |gonna be |going to be |getting |get |gets ){1,2}paid"
    # not "eu não sou fornecedor não, eu quero trabalhar aí"
    r"|(?<!nao )(?:sou|somos|a gente e|nos somos|e) (?:o |a |os |um |uma |uns )?fornecedor(?:a|es)? d[aeo]s?"
    r"|(?<!nao )sou (?:o |a |um |uma )?fornecedora?|(?<!nao )somos (?:os |um |uns )?fornecedore?s?|empresa fornecedora"
    r"|(?<!ser )(?<!virar )fornecedore?s? de voces"
    # "a gente entrega produto de limpeza pra rede de vocês", "we supply the boxes for your plant"
    r"|(?:a gente|nos) (?:entrega|entregamos|fornece|fornecemos|vende|vendemos)(?: \w+){0,5} (?:pra|para|a) "
    r"(?:voces|rede de voces|loja de voces|lojas de voces|empresa de voces)"
    r"|(?:we|i) (?:supply|supplies|sell|provide)(?: \w+){0,4} (?:to|for) (?:you|your)"
    r"|" + _UNPAID_RX + r")\b")


#: How suppliers say what they are.
_SUPPLIER_WORDS = frozenset("vendor vendors supplier suppliers fornecedor fornecedora fornecedores".split())
#: A supplier offering what it sells ("quero apresentar meus produtos", "show you our
#: new line"): Purchasing's, not who pays suppliers.
_OFFERING = frozenset("""apresentar apresentacao oferecer ofertar catalogo portfolio produtos novidades
    show present presentation offer catalog catalogue samples sample products""".split())
#: Words of money that say neither "I owe you" nor "you owe me".
_EITHER_SIDE = frozenset("""financeiro financeira financas finance finances financial departamento setor area
    pagamento pagamentos payment payments question about a""".split())


def _model_text(words: Sequence[_Word], noise: Optional[frozenset[int]]) -> str:
    """The words the topic model reads: not those of an idiom ("tá legal", "that
    sounds legal"); none when the sentence is about another organisation ("o
    diretor da escola do meu filho", ``noise`` None). Words off-topic for a company
    ("pizza", "dog") stay: the model knows them for the kinds of department that
    handle them (a vet's)."""
    if noise is None:
        return ""
    return " ".join(w.raw for i, w in enumerate(words) if i not in noise)


#: Words for a group of people: part of a department's name, they name no department.
_GROUP_WORDS = frozenset("people pessoal pessoas team equipe staff folks guys turma galera".split())
#: Words that make a name before or after them a place ("washington park", "rua barbosa",
#: a saint's town: "perto de são carlos", "down in san jose").
_PLACE_AFTER = frozenset("park street st avenue ave road rd boulevard blvd square plaza drive lane highway "
                         "county city town mall center centre station bridge".split())
_PLACE_BEFORE = frozenset("rua avenida av praca parque bairro rodovia estrada travessa alameda largo "
                          "cidade vila jardim sao santo santa san saint".split())
#: Forms of address and nouns that say a person's gender ("o senhor oliveira", "the ruiz lady").
_MALE_WORDS = frozenset(
    "senhor sr seu doutor professor mr mister sir guy man gentleman fellow moco rapaz homem".split())
_FEMALE_WORDS = frozenset(
    "senhora sra dona doutora dra professora mrs ms miss missus madam lady woman girl moca mulher".split())


@dataclass(frozen=True)
class _Near:
    """Per sentence, what the words next to a name may say of it: the gender words
    by position, and the positions of words that are someone else's surname."""

    gender: dict[int, str]
    other_surnames: frozenset[int]


def _said_gender(gender: dict[int, str], first: int, last: int) -> Optional[str]:
    """The gender the caller gives the person named at ``first``..``last``: a title
    before the name or a noun right after it; None when none is said or both are."""
    said = {g for g in (gender.get(first - 1), gender.get(last + 1)) if g}
    return said.pop() if len(said) == 1 else None


def _name_gender(forms: Sequence[str], lx: Lexicon) -> Optional[str]:
    """A first name's gender: as the lexicon gives it (``name_gender.yaml``), else
    where its ending tells it in Portuguese, Spanish, Italian and most English names
    ("-a" Teresa, Sandra; "-o" Pedro, Mario); None otherwise (unisex names)."""
    first = next((w for w in forms if w not in lx.titles), "")
    if len(first) < 3 or not lx.is_first_name(first):
        return None
    known = lx.genders.get(first)
    if known is not None:
        return known  # "Katherine", "Tom": the lexicon's name_gender.yaml
    return "f" if first.endswith("a") else "m" if first.endswith("o") else None


def _initials(name: str, every_word: bool = False) -> str:
    """A department's initials as callers spell them ("Accounts Receivable" -> "ar",
    "Serviço de Atendimento ao Cliente" -> "sac"); "" for a one-word name or
    initials that spell something else ("Practice Management" is not "p m").
    ``every_word``: the generic words count too ("Public Information Office" ->
    "pio"), not the joining ones."""
    skip = _JOINING if every_word else STOPWORDS
    words = [w for w in normalize_text(name).split() if w not in skip and w not in _ARTICLES and w.isalpha()]
    spelled = "".join(w[0] for w in words) if len(words) >= 2 else ""
    return "" if spelled in _OTHER_ABBREVIATIONS else spelled


#: words that join a name's parts, never spelled in its initials
_JOINING = frozenset("e and ao aos para pra for in at on no na nos nas em".split())


def _joined_initials(name: str) -> str:
    """The initials of a two-word name joined by "e" with the "e" spoken between them
    ("Alimentos e Bebidas" -> "aeb", said "a e bê" for A&B); "" for any other name."""
    words = normalize_text(name).split()
    if len(words) != 3 or words[1] != "e" or not all(w.isalpha() and len(w) > 2 for w in (words[0], words[2])):
        return ""
    return words[0][0] + "e" + words[2][0]


def _opened_with(words: Sequence[_Word], at: int) -> bool:
    """The sentence opens with the word at ``at`` (articles and fillers aside)."""
    return all(w.raw in _ARTICLES or w.raw in _FILLERS for w in words[:at])


def _possessed(words: Sequence[_Word], at: int, bare: bool = False) -> bool:
    """A possessive of the caller's before ``at``, with at most two describing
    words between ("my immigration lawyer"), or the caller's own title ("i'm the
    activities director"); with ``bare``, also without an article ("sou dono de um
    mercadinho": not for a lawyer, "sou advogado e represento..." is for ours)."""
    for j in range(at - 1, max(-1, at - 4), -1):
        if words[j].raw in _MINE:
            return True
        if bare and j == at - 1 and (
                words[j].raw in _I_AM or (j > 0 and (words[j - 1].raw, words[j].raw) in _I_AM_TWO)):
            return True  # "sou dono de um mercadinho": the caller's own title, with no article
        if words[j].raw in _SELF_ARTICLES and j > 0 and (
                words[j - 1].raw in _I_AM or (j > 1 and (words[j - 2].raw, words[j - 1].raw) in _I_AM_TWO)):
            return True  # "i'm the activities director", "sou a gerente": the caller's own title
        if words[j].stop:
            return False
    return False


_SELF_ARTICLES = frozenset("the a an o um uma".split())
_I_AM = frozenset("im sou".split())
_I_AM_TWO = frozenset({("i", "m"), ("i", "am"), ("eu", "sou")})


def _markers(raw: Sequence[str], phrases: Sequence[tuple[str, ...]] = ()) -> list[tuple[int, int]]:
    """(start, end) of each correction phrase said, in order; an apology for
    something ("desculpa incomodar") is not a correction."""
    out: list[tuple[int, int]] = []
    phrases = phrases or _CORRECTIONS
    for i in range(len(raw)):
        if raw[i] not in _CORRECTION_FIRST:
            continue
        for p in phrases:
            if tuple(raw[i:i + len(p)]) == p:
                nxt = raw[i + len(p)] if i + len(p) < len(raw) else ""
                if p[0] in ("desculpa", "desculpe", "sorry", "perdao") and nxt in _APOLOGY_FOR:
                    continue
                if p == ("ops",) and (not nxt or nxt in _OPS_NOUNS):
                    continue  # "airfield ops", "the ops team": operations, not "oops"
                out.append((i, i + len(p)))
                break
    return out


#: Words that say something did not arrive; what did is said before them.
_ARRIVAL = frozenset("chegou chegar veio arrived arrive came".split())
#: Between what did not arrive and the words that say so ("o boleto ainda não chegou").
_ARRIVAL_SKIP = frozenset("ainda nunca nao ate agora still never yet has hasn t didn not".split())
#: After "X não" / "X no", a request for something else ("compras não, eu quero ...").
_ASKS_NEXT = frozenset("quero queria preciso precisava gostaria want need wanted needed meant mean".split())
_SUBJECTS = frozenset("eu i a gente we".split())


def _post_negated(raw: Sequence[str], run: Sequence[int], starts: set[int], marks: Sequence[tuple[int, int]],
                  used: set[int]) -> bool:
    """"X não, Y" / "X no sorry Y": a negator right after a mention (fillers
    between), followed by another destination named, a correction or nothing;
    not when X was asserted ("é pra ouvidoria não pro rh": "não" is Y's)."""
    j = run[-1] + 1
    while j < len(raw) and raw[j] in _FILLERS:
        j += 1
    if j >= len(raw) or raw[j] not in _POST_NEGATORS:
        return False
    k = j
    while k < len(raw) and (raw[k] in _POST_NEGATORS or raw[k] in _FILLERS):
        k += 1
    asserted = run[0] >= 1 and (raw[run[0] - 1] in ("e", "eh") or tuple(raw[max(0, run[0] - 2):run[0]]) in (
        ("e", "pra"), ("e", "pro"), ("e", "o"), ("e", "a"), ("e", "com"), ("it", "s")))
    if asserted and raw[j] == "nao":
        return False
    follows = k >= len(raw) or any(s in starts for s in range(k, k + 4)) or any(k <= m[0] <= k + 1 for m in marks) \
        or raw[k] in _ASKS_NEXT or (raw[k] in _SUBJECTS and k + 1 < len(raw) and raw[k + 1] in _ASKS_NEXT)
    if not follows:
        return False
    used.update(range(j, k))
    return True


def _pre_negated(raw: Sequence[str], start: int, used: set[int], skip: frozenset[str],
                 need: Optional[frozenset[str]] = None) -> bool:
    """A negator before ``start`` reaching it through ``skip`` words only (and
    through one of ``need`` when given); not "no", a quantifier before a noun
    ("no refills left", "no dial tone")."""
    j = start - 1
    steps = 0
    via = False
    while j >= 0 and steps < 6:
        w = raw[j]
        if j not in used and w in _NEGATORS_PRE:
            if j == 0 and w == "nao" and all(x in _ARTICLES for x in raw[1:start]):
                return False  # "não, o suporte", "no, billing": an answer, then the request
            if w == "nao" and raw[j + 1] == "eu":
                return False  # "recado não, eu quero falar com o edson": "eu não quero" would negate
            if w == "nao" and j > 0 and raw[j - 1] in ("enquanto", "ate"):
                return False  # "não desligo enquanto não falar com a diretoria": until, not a refusal
            return via or need is None or w in _COPULA_NEGATORS or (
                w == "not" and j > 0 and raw[j - 1] in _COPULAS)  # "it's not a complaint"
        if w not in skip and not (need is not None and w in need):
            return False
        via = via or (need is not None and w in need)
        j -= 1
        steps += 1
    return False


def _negated_clauses(raw: Sequence[str], marks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, end) of each clause that negates a request ("não quero ...", "não é
    sobre ...", "I don't need ...", "it's not about ..."), from the negator to where
    the caller starts over: a new request ("eu quero", "é com", "I need", "it's"),
    "mas"/"but", a correction, or the emphatic second "não" ("não quero passagem
    não, ..."). A clause running to the end of the sentence is not one: nothing
    else was asked for. A negator not followed by a request word ("não consigo
    entrar", "I didn't get my paycheck") describes the problem and opens none."""
    out: list[tuple[int, int]] = []
    corrections = {a for a, _ in marks}
    i = 0
    while i < len(raw):
        if raw[i] not in _NEGATORS_PRE:
            i += 1
            continue
        j = i + 1
        while j < len(raw) and (raw[j] in _FILLERS or raw[j] == "t"):
            j += 1
        if j >= len(raw) or raw[j] not in _CLAUSE_REQUEST:
            i += 1
            continue
        k = j + 1
        end = None
        while k < len(raw):
            if k in corrections or raw[k] in _CLAUSE_BREAK or tuple(raw[k:k + 2]) in _CLAUSE_BREAK_PAIRS:
                end = k
                break
            if raw[k] == "nao" and k > j + 1:
                # the emphatic closing "não", unless it opens the next negated
                # clause ("não quero vender nada, não sou fornecedor")
                end = k if k + 1 < len(raw) and raw[k + 1] in _CLAUSE_REOPEN else k + 1
                break
            if any(tuple(raw[k:k + len(p)]) == p for p in _RESTARTS):
                end = k
                break
            k += 1
        if end is None:
            break
        out.append((i, end))
        i = end
    return out


def _groups(spans: list[tuple[int, ...]]) -> list[set[int]]:
    """Evidence spans merged where they overlap: one phrase and a word inside it are
    one piece of evidence, not two."""
    out: list[set[int]] = []
    for span in spans:
        cur = set(span)
        rest = []
        for g in out:
            if g & cur:
                cur |= g
            else:
                rest.append(g)
        out = [*rest, cur]
    return out


def _coverage(e: _Entry, h: _Hit) -> float:
    total = sum(len(w) for w in e.words)
    return min(1.0, (h.matched / len(e.words)) if not total else
               sum(len(e.words[i]) for i in range(min(h.matched, len(e.words)))) / total)


#: Destination types that ring a team, never one person.
_GROUP_TYPES = frozenset(("ring_group", "queue"))


def _is_person(name: str, lx: Lexicon, model: Optional[TopicModel] = None) -> bool:
    """A person's name: it starts with a known first name and is not a department's
    name; or it is two words (a hyphenated first name counts as one) of which none
    is an ordinary word, nor a word the topic model has seen in any department's
    name or sentence ("Gwendolyn Pierce", "Naomi Steinberg"; not "Human Resources")."""
    words = normalize_text(name).split()
    if len(words) < 1:
        return False
    if lx.is_first_name(words[0]):
        return not (len(words) == 1 and lx.is_common(words[0]))
    parts = normalize_text(name.replace("-", "")).split()
    return model is not None and len(parts) == 2 and all(
        w.isalpha() and len(w) >= 3 and not lx.is_common(w) and not model.known(w) for w in parts)


def _describe(d: Any) -> tuple[str, tuple[str, ...], tuple[str, ...], Optional[str]]:
    if isinstance(d, str):
        return d, (), (), None
    if isinstance(d, tuple):
        return str(d[0]), tuple(d[1]) if len(d) > 1 else (), (), None
    return (
        str(d.name),
        tuple(getattr(d, "aliases", ()) or ()),
        tuple(getattr(d, "keywords", ()) or ()),
        getattr(d, "category", None) or None,
    )


__all__ = [
    "ALTERNATIVE_MIN",
    "AMBIGUITY_GAP",
    "MATCH_MIN",
    "STOPWORDS",
    "UNSURE_MIN",
    "Resolution",
    "Resolver",
    "normalize_text",
    "stem",
    "strip_accents",
    "tokenize",
    "topics_of",
    "words_of",
]
