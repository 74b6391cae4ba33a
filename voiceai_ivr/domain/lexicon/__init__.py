"""Language knowledge for understanding callers: word forms, sounds of names, and a
curated topic lexicon per destination category (pt-BR and en-US).

Package data, one YAML file per category (``billing.yaml``, ``support.yaml``, ...)
plus ``words.yaml`` (common words, titles, idioms, off-topic and external words)
and ``names.yaml`` (first names with their spelling variants and nicknames),
``name_gender.yaml`` (the gender of first names used for one gender) and
``surnames.yaml`` (common surnames, some of them ordinary words too).

Word forms: every word is compared on its accent-free lower-case form, a light
plural stem (``stem``) and the Snowball stems of Portuguese and English
(``snowballstemmer``), so "entregaram" meets "entrega" and "buying" meets "buy".
Names are also compared by sound (``jellyfish`` metaphone, plus a Portuguese
spelling key): "katherine" = "Catherine", "thompsen" = "Thompson", "tiago" = "Thiago".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import jellyfish
import snowballstemmer

from voiceai_ivr import yamlfile
from voiceai_ivr.domain.text import strip_accents

HERE = Path(__file__).resolve().parent
LANGUAGES = ("pt-BR", "en-US")
#: A Snowball stem shorter than this is not used to match: Portuguese "ped" would
#: join "pedido" and "pedir"; English "buy" is a word of its own.
MIN_STEM = {"pt": 4, "en": 3}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
#: An Irish surname's "O'" is part of the name ("o'brien" -> "obrien", not "o brien").
_O_APOSTROPHE = re.compile(r"\bo['\u2019](?=[a-z]{3})(?!clock)")


# --------------------------------------------------------------------------- word forms


def normalize_text(text: str) -> str:
    """casefold, strip accents, punctuation to spaces, collapse: "Suporte Técnico!" -> "suporte tecnico"."""
    return _NON_ALNUM.sub(" ", _O_APOSTROPHE.sub("o", strip_accents(text or "").casefold())).strip()


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


# Snowball stemmer objects keep state between calls: one lock per language.
_STEMMERS = {"pt": snowballstemmer.stemmer("portuguese"), "en": snowballstemmer.stemmer("english")}
_STEM_LOCKS = {k: threading.Lock() for k in _STEMMERS}


@lru_cache(maxsize=65536)
def snowball(word: str, lang: str) -> str:
    """The Snowball stem of one normalised word (``lang`` "pt" or "en")."""
    with _STEM_LOCKS[lang]:
        return str(_STEMMERS[lang].stemWord(word))


@lru_cache(maxsize=65536)
def stem_keys(word: str) -> frozenset[str]:
    """Keys under which two words count as forms of one word: "pt:<stem>" and
    "en:<stem>" (stems of at least ``MIN_STEM`` letters; digits have none)."""
    if word.isdigit() or len(word) < 3:
        return frozenset()
    out = set()
    for lang in ("pt", "en"):
        s = snowball(word, lang)
        if len(s) >= MIN_STEM[lang]:
            out.add(f"{lang}:{s}")
    return frozenset(out)


_PT_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"ph", "f"), (r"th", "t"), (r"y", "i"), (r"w", "v"), (r"k", "c"), (r"qu", "c"), (r"gu(?=[ei])", "g"),
        (r"c(?=[ei])", "s"), (r"ss", "s"), (r"sc(?=[ei])", "s"), (r"x", "s"), (r"z$", "s"), (r"z", "s"),
        (r"lh", "li"), (r"nh", "ni"), (r"(?<![cls])h", ""), (r"ch", "x"), (r"sh", "x"),
        (r"ng(?=[bcdfgjklmpqrstvxz])", "n"), (r"(.)\1", r"\1"), (r"[aeiou]+$", ""),
        (r"(?<=.)[aeiou]", ""),
    )
)


@lru_cache(maxsize=16384)
def pt_sound(word: str) -> str:
    """A Portuguese spelling key: letters that sound alike in Brazilian names made
    equal ("luis"/"luiz", "tiago"/"thiago", "felipe"/"filipe" -> same key)."""
    key = word
    for rx, rep in _PT_RULES:
        key = rx.sub(rep, key)
    return key


@lru_cache(maxsize=16384)
def spelling_key(name: str) -> str:
    """A first name as spelt without the letters that do not change how it is said:
    "Welington" and "Wellington", "Thaís" and "Tais", "Karla" and "Carla", "Bryan"
    and "Brian" share one ("ph" is "f", a silent "h" and a doubled letter go, "y" is
    "i", "k" is "c"); "Rafaela" and "Rafael", "Maria" and "Mario" do not."""
    w = name.replace("ph", "f")
    w = w[:1] + w[1:].replace("h", "")
    w = w.replace("y", "i").replace("k", "c")
    return re.sub(r"(.)\1+", r"\1", w)


@lru_cache(maxsize=16384)
def sound_keys(word: str) -> frozenset[str]:
    """How a name sounds: its English metaphone and its Portuguese spelling key."""
    if not word or word.isdigit():
        return frozenset()
    keys = {"m:" + jellyfish.metaphone(word), "p:" + pt_sound(word)}
    # a "w" that opens a name is said "u" in Brazil ("Wellington": "uélinton",
    # "William": "uílian"), and the recogniser writes what it heard
    if word[0] == "w" and len(word) > 2:
        keys.add("p:" + pt_sound("u" + word[1:]))
    return frozenset(keys)


def similar_names(a: str, b: str) -> float:
    """Jaro-Winkler similarity (0-1) of two normalised name words."""
    return float(jellyfish.jaro_winkler_similarity(a, b))


# --------------------------------------------------------------------------- lexicon data


@dataclass(frozen=True)
class Category:
    name: str
    label: Mapping[str, str]
    names: tuple[str, ...]  # both languages
    topics: tuple[str, ...]
    weak: tuple[str, ...]
    #: term -> "pt" / "en" for a term listed under one language only: matched in its
    #: own language's word forms only ("parcel" is not the Portuguese "parcelar")
    language_of: Mapping[str, str] = field(default_factory=dict)

    def label_for(self, language: str) -> str:
        return str(self.label.get(language) or self.label.get("pt-BR") or self.name)


@dataclass(frozen=True)
class Lexicon:
    categories: Mapping[str, Category]
    common: frozenset[str]  # normalised words and their stem keys
    titles: frozenset[str]
    idioms: tuple[str, ...]
    offtopic: tuple[str, ...]
    external: tuple[str, ...]
    name_groups: Mapping[str, frozenset[int]]  # normalised first name -> group ids
    genders: Mapping[str, str] = field(default_factory=dict)  # normalised first name -> "f" / "m"
    surnames: frozenset[str] = frozenset()  # normalised common surnames

    def is_common(self, word: str) -> bool:
        return word in self.common or stem(word) in self.common or bool(stem_keys(word) & self.common)

    def same_name(self, a: str, b: str) -> bool:
        """``a`` and ``b`` are variants of one first name ("luis"/"luiz", "bob"/"robert")."""
        ga = self.name_groups.get(a)
        gb = self.name_groups.get(b)
        return bool(ga and gb and ga & gb)

    def is_first_name(self, word: str) -> bool:
        return word in self.name_groups

    def is_surname(self, word: str) -> bool:
        """A common surname ("smith", "oliveira"), whatever else the word is."""
        return word in self.surnames


def _languages_of(doc: Mapping[str, Any], where: str) -> dict[str, str]:
    """Each term of a category file listed under one language only, with it ("pt"/"en")."""
    by: dict[str, set[str]] = {}
    for section in ("names", "topics", "weak"):
        value = doc.get(section)
        if isinstance(value, Mapping):
            for lang, items in value.items():
                for term in _phrases(items, f"{where}: {section}.{lang}"):
                    by.setdefault(term, set()).add(str(lang)[:2])
    return {term: next(iter(langs)) for term, langs in by.items() if len(langs) == 1}


def _phrases(value: Any, where: str) -> tuple[str, ...]:
    """A list of words/phrases, or a per-language mapping of such lists, flattened."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        out: list[str] = []
        for lang, items in value.items():
            if lang not in LANGUAGES:
                raise ValueError(f"{where}: unknown language {lang!r}")
            out.extend(_phrases(items, f"{where}.{lang}"))
        return tuple(out)
    if isinstance(value, str):
        return tuple(value.split()) if "\n" in value or len(value) > 60 else (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ValueError(f"{where}: must be a list of words or phrases")


#: The lexicon's files that are not a category's (each read on its own by ``load_lexicon``).
NOT_CATEGORIES = frozenset(("words", "names", "name_gender", "surnames"))


def load_lexicon(directory: Optional[Path] = None) -> Lexicon:
    """Read the lexicon files of ``directory`` (default: the packaged ones)."""
    base = directory or HERE
    categories: dict[str, Category] = {}
    words: Mapping[str, Any] = {}
    names: Mapping[str, Any] = {}
    genders: dict[str, str] = {}
    surnames: set[str] = set()
    for path in sorted(base.glob("*.yaml")):
        doc = yamlfile.load(path) or {}
        if path.name == "words.yaml":
            words = doc
        elif path.name == "names.yaml":
            names = doc
        elif path.name == "surnames.yaml":
            surnames = {normalize_text(w) for w in _phrases(doc, path.name)}
        elif path.name == "name_gender.yaml":
            genders = {normalize_text(w): g[0] for g in ("female", "male")
                       for w in _phrases(doc.get(g), f"{path.name}: {g}")}
        elif path.stem not in NOT_CATEGORIES:
            name = str(doc.get("category") or path.stem)
            categories[name] = Category(
                name=name,
                label=dict(doc.get("label") or {}),
                names=_phrases(doc.get("names"), f"{path.name}: names"),
                topics=_phrases(doc.get("topics"), f"{path.name}: topics"),
                weak=_phrases(doc.get("weak"), f"{path.name}: weak"),
                language_of=_languages_of(doc, path.name),
            )
    common: set[str] = set()
    for word in _phrases(words.get("common"), "words.yaml: common"):
        for w in normalize_text(word).split():
            common.add(w)
            common.update(stem_keys(w))
    groups: dict[str, set[int]] = {}
    gid = 0
    for lang in LANGUAGES:
        for line in (names.get(lang) or []):
            gid += 1
            for w in normalize_text(str(line)).split():
                groups.setdefault(w, set()).add(gid)
    return Lexicon(
        categories=categories,
        common=frozenset(common),
        titles=frozenset(normalize_text(t) for t in _phrases(words.get("titles"), "words.yaml: titles")),
        idioms=_phrases(words.get("idioms"), "words.yaml: idioms"),
        offtopic=_phrases(words.get("offtopic"), "words.yaml: offtopic"),
        external=_phrases(words.get("external"), "words.yaml: external"),
        name_groups={w: frozenset(g) for w, g in groups.items()},
        genders=genders,
        surnames=frozenset(surnames),
    )


_lexicon: Optional[Lexicon] = None
_lexicon_lock = threading.Lock()


def lexicon() -> Lexicon:
    """The packaged lexicon, loaded once per process."""
    global _lexicon
    if _lexicon is None:
        with _lexicon_lock:
            if _lexicon is None:
                _lexicon = load_lexicon()
    return _lexicon


CATEGORIES: tuple[str, ...] = tuple(sorted(p.stem for p in HERE.glob("*.yaml") if p.stem not in NOT_CATEGORIES))


_category_terms: dict[int, list[tuple[str, list[tuple[int, frozenset[str]]]]]] = {}


def _terms_of(lx: Lexicon) -> list[tuple[str, list[tuple[int, frozenset[str]]]]]:
    """Per category: (weight, the term's normalised forms), computed once per lexicon."""
    cached = _category_terms.get(id(lx))
    if cached is None:
        cached = []
        for cat in lx.categories.values():
            terms = []
            for weight, group in ((3, cat.names), (1, cat.topics)):
                for term in group:
                    n = normalize_text(term.lstrip("="))
                    terms.append((weight, frozenset({n, " ".join(stem(w) for w in n.split())})))
            cached.append((cat.name, terms))
        _category_terms[id(lx)] = cached
    return cached


def infer_category(texts: Iterable[str], lex: Optional[Lexicon] = None) -> Optional[str]:
    """The category a destination's name and aliases point to ("Financeiro",
    ["boleto"] -> billing), or None when none or several fit equally."""
    lx = lex or lexicon()
    wanted = {normalize_text(t) for t in texts if normalize_text(t)}
    wanted |= {" ".join(stem(w) for w in t.split()) for t in wanted}
    if not wanted:
        return None
    best: dict[str, int] = {}
    for name, terms in _terms_of(lx):
        score = sum(weight for weight, forms in terms if forms & wanted)
        if score:
            best[name] = score
    if not best:
        return None
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "Category",
    "Lexicon",
    "infer_category",
    "lexicon",
    "load_lexicon",
    "normalize_text",
    "pt_sound",
    "similar_names",
    "snowball",
    "sound_keys",
    "stem",
    "stem_keys",
]
