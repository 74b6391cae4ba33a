"""A small statistical topic classifier: which kind of department a caller's
sentence is about ("minha vaca está com mastite" -> veterinary care, "the milk
truck didn't come" -> dairy), from words the packaged lexicon does not list.

It is a multinomial naive Bayes model over word stems (Portuguese and English
Snowball stems) and pairs of neighbouring stems, trained offline by
``scripts/train_topic_model.py`` on ``training/topics/*.yaml`` (first sentences and
department names per kind of department, pt-BR and en-US, written for it) and the
packaged lexicon, and shipped as ``lexicon/topic_model.json.gz``. No network, no
download, no third-party runtime: a sentence is scored in well under a millisecond.

The resolver uses it in two ways (``domain/resolve.py``):

* each destination gets a *profile*, the kinds its name, aliases and keywords
  point to (a declared ``category`` is taken as it is);
* a sentence gets a distribution over kinds; a destination's fit is the
  probability of its profile's kinds. The resolver asks or transfers on that only
  where its rules found nothing sure enough (see ``Resolver.model_fit``).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.domain.lexicon import normalize_text, snowball

MODEL_PATH = Path(__file__).parent / "lexicon" / "topic_model.json.gz"
#: Words shorter than this have no stem feature (but digits and words are ignored alike).
_MIN_WORD = 3


def features(text: str, stopwords: frozenset[str]) -> list[str]:
    """The model's features of ``text``: per content word its Portuguese and English
    Snowball stems (``p:`` / ``e:``), and per pair of neighbouring content words the
    pair of their Portuguese stems (``b:``). Stopwords and short words are skipped."""
    stems: list[str] = []
    out: list[str] = []
    for word in normalize_text(text).split():
        if len(word) < _MIN_WORD or word.isdigit() or word in stopwords:
            continue
        pt = snowball(word, "pt")
        en = snowball(word, "en")
        out.append("p:" + pt)
        if en != pt:
            out.append("e:" + en)
        stems.append(pt)
    out.extend(f"b:{a}_{b}" for a, b in zip(stems, stems[1:]))
    return out


@dataclass(frozen=True)
class TopicModel:
    """A trained model: ``labels`` (kinds of department), per feature the log-likelihood
    gain of each label where it was seen (``gains``) over the label's floor for a
    feature never seen with it (``floor``)."""

    labels: tuple[str, ...]
    floor: tuple[float, ...]
    gains: Mapping[str, Mapping[int, float]]
    stopwords: frozenset[str]
    #: Softmax temperature applied to the summed log-likelihoods (naive Bayes is
    #: overconfident: words of one sentence are not independent).
    temperature: float = 1.0

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TopicModel:
        labels = tuple(str(x) for x in doc["labels"])
        gains = {str(f): {int(k): float(v) for k, v in row.items()} for f, row in doc["gains"].items()}
        return cls(labels, tuple(float(x) for x in doc["floor"]), gains,
                   frozenset(str(w) for w in doc["stopwords"]), float(doc.get("temperature", 1.0)))

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "floor": [round(x, 4) for x in self.floor],
            "temperature": self.temperature,
            "stopwords": sorted(self.stopwords),
            "gains": {f: {str(k): round(v, 4) for k, v in sorted(row.items())}
                      for f, row in sorted(self.gains.items())},
        }

    def known(self, text: str) -> list[str]:
        """The features of ``text`` the model has seen in training."""
        return [f for f in features(text, self.stopwords) if f in self.gains]

    def distribution(self, text: str) -> dict[str, float]:
        """P(kind | text) over ``labels`` with equal priors; empty when no word of
        ``text`` is known to the model."""
        known = self.known(text)
        if not known:
            return {}
        return self._posterior(known)

    def _posterior(self, known: Sequence[str]) -> dict[str, float]:
        n = len(known)
        scores = [n * f for f in self.floor]
        for feat in known:
            for k, g in self.gains[feat].items():
                scores[k] += g
        t = self.temperature * max(1.0, math.sqrt(n))
        top = max(scores)
        exps = [math.exp((s - top) / t) for s in scores]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps)}

    def profile(self, texts: Sequence[str], *, least: float = 0.15) -> dict[str, float]:
        """The kinds a destination's own words (name, aliases, keywords) point to:
        labels of at least ``least`` probability, renormalised; empty when none."""
        known = [f for t in texts for f in self.known(t)]
        if not known:
            return {}
        dist = self._posterior(known)
        kept = {k: p for k, p in dist.items() if p >= least}
        total = sum(kept.values())
        return {k: p / total for k, p in kept.items()} if total else {}


def read_model_text(path: Path) -> str:
    """A model file's JSON text (gzip-compressed when its name ends in ``.gz``)."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


def write_model_text(path: Path, text: str) -> None:
    """Write a model's JSON text (gzip-compressed, the same bytes for the same text,
    when the name ends in ``.gz``)."""
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0) if path.suffix == ".gz" else data)


@lru_cache(maxsize=1)
def topic_model(path: Optional[str] = None) -> Optional[TopicModel]:
    """The packaged model (None when its file is missing: the resolver then works
    on its rules alone)."""
    p = Path(path) if path else MODEL_PATH
    if not p.exists():
        return None
    return TopicModel.from_json(json.loads(read_model_text(p)))


__all__ = ["MODEL_PATH", "TopicModel", "features", "read_model_text", "topic_model", "write_model_text"]
