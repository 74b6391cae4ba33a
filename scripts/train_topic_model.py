#!/usr/bin/env python3
"""Train the topic classifier shipped as ``voiceai_ivr/domain/lexicon/topic_model.json.gz``.

Input: ``training/topics/<kind>.yaml`` (department names and first sentences per
kind of department, pt-BR and en-US; see ``training/topics/README.md``) and the
packaged lexicon (each category's department names and topic words). Output: a
multinomial naive Bayes model (``voiceai_ivr.domain.topicmodel``). Training is
counting: it takes about a second and gives the same file for the same input.

    python scripts/train_topic_model.py            # write the model
    python scripts/train_topic_model.py --check    # exit 1 if the shipped model is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voiceai_ivr.domain.lexicon import lexicon  # noqa: E402
from voiceai_ivr.domain.resolve import STOPWORDS  # noqa: E402
from voiceai_ivr.domain.topicmodel import (  # noqa: E402
    MODEL_PATH,
    TopicModel,
    features,
    read_model_text,
    write_model_text,
)

TRAINING = ROOT / "training" / "topics"
#: The same layout, a second writer per kind: its needs in many trades' own words
#: (see training/topics/README.md).
TRADES = TRAINING / "trades"

#: Glossaries of department names across trades, each name with the kinds it is
#: (see training/names/README.md).
GLOSSARIES = ROOT / "training" / "names"
#: A glossary name counts for its first kind as this many sentences (not as much as
#: a kind's own names: chosen on the dev halves, 1.0 against 3.0); for a second or
#: third kind, ``OTHER_KIND`` of that.
GLOSSARY_WEIGHT = 1.0
OTHER_KIND = 0.5
#: A department name counts as this many sentences (it is what a destination's
#: profile is computed from, and a caller who names it means it).
NAME_WEIGHT = 3.0
#: Additive smoothing of the word counts.
ALPHA = 0.3
#: Softmax temperature (see TopicModel.temperature); chosen on the dev halves.
TEMPERATURE = 0.8
#: Stopwords of the model beyond the resolver's: words of any request, and of the phone call itself.
EXTRA_STOPWORDS = frozenset(
    """
    vou vai vao estava estao sao foi fui era ser estar fazer fiz feito faz dizer disse ter teve
    aqui mesmo ainda tambem sobre como onde quando porque pois mas entao tudo nada algo alguma algum
    semana mes ano dias vez vezes hoje amanha ontem queria quero gostaria voces vcs
    was were are been being have has had will what when where how why which who whom also still
    really very much many more any all get got going gonna know think said says tell told today
    tomorrow week month year time times well yeah yes sure maybe
    ligar ligo liguei ligou ligaram ligando ligue liguem retornar retornando retornei retornou
    call calls called calling returning returned
    """.split()
)


def training_files() -> list[Path]:
    """Every file of kinds' names and sentences, by kind (label = file name)."""
    return sorted([*TRAINING.glob("*.yaml"), *TRADES.glob("*.yaml")], key=lambda p: (p.stem, p.parent != TRAINING))


def documents() -> list[tuple[str, str, float]]:
    """(label, text, weight) of every training document."""
    docs: list[tuple[str, str, float]] = []
    for path in training_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        label = str(doc["label"])
        if label != path.stem:
            raise SystemExit(f"{path}: label {label!r} differs from the file name")
        for names in (doc.get("names") or {}).values():
            docs.extend((label, str(n), NAME_WEIGHT) for n in names or ())
        for sentences in (doc.get("sentences") or {}).values():
            docs.extend((label, str(s), 1.0) for s in sentences or ())
    kinds = {label for label, _, _ in docs}
    for path in sorted(GLOSSARIES.glob("*.yaml")):
        for i, entry in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or ()):
            unknown = [k for k in entry["kinds"] if k not in kinds]
            if unknown:
                raise SystemExit(f"{path}: entry {i + 1} ({entry['name']!r}): no such kind {unknown[0]!r}")
            for rank, kind in enumerate(entry["kinds"]):
                docs.append((str(kind), str(entry["name"]), GLOSSARY_WEIGHT * (1.0 if rank == 0 else OTHER_KIND)))
    for cat in lexicon().categories.values():
        docs.extend((cat.name, n, NAME_WEIGHT) for n in cat.names)
        docs.extend((cat.name, t, 1.0) for t in cat.topics)
    return docs


def train(docs: Optional[list[tuple[str, str, float]]] = None) -> TopicModel:
    stopwords = frozenset(STOPWORDS | EXTRA_STOPWORDS)
    docs = documents() if docs is None else docs
    labels = tuple(sorted({label for label, _, _ in docs}))
    index = {label: i for i, label in enumerate(labels)}
    counts: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for label, text, weight in docs:
        for feat in set(features(text, stopwords)):
            counts[feat][index[label]] += weight
    # a pair of words seen once is noise; a single word seen once may be telling
    counts = {f: row for f, row in counts.items() if not f.startswith("b:") or sum(row.values()) >= 2}
    totals = [0.0] * len(labels)
    for row in counts.values():
        for k, c in row.items():
            totals[k] += c
    vocab = len(counts)
    floor = tuple(math.log(ALPHA / (totals[k] + ALPHA * vocab)) for k in range(len(labels)))
    gains = {f: {k: math.log((c + ALPHA) / (totals[k] + ALPHA * vocab)) - floor[k] for k, c in row.items()}
             for f, row in counts.items()}
    return TopicModel(labels, floor, gains, stopwords, TEMPERATURE)


def held_out(text: str) -> bool:
    """One training sentence in five, by a stable hash: held out by ``--evaluate``."""
    return hashlib.sha256(text.encode()).digest()[0] % 5 == 0


def evaluate() -> dict[str, object]:
    """Train without the held-out fifth of the sentences (names stay) and score the
    model on it: top-1 accuracy, and how often the right kind is in the top 3."""
    docs = documents()
    train_docs = [d for d in docs if d[2] != 1.0 or not held_out(d[1])]
    sentences = set(_sentence_docs())
    test_docs = [d for d in docs if d[2] == 1.0 and held_out(d[1]) and d in sentences]
    model = train(train_docs)
    top1 = top3 = 0
    confusion: dict[str, int] = defaultdict(int)
    for label, text, _ in test_docs:
        dist = model.distribution(text)
        ranked = sorted(dist, key=lambda k: -dist[k])
        top1 += bool(ranked) and ranked[0] == label
        top3 += label in ranked[:3]
        if ranked and ranked[0] != label:
            confusion[f"{label}->{ranked[0]}"] += 1
    n = len(test_docs)
    worst = sorted(confusion.items(), key=lambda kv: -kv[1])[:15]
    return {"held_out": n, "top1": round(top1 / n, 4), "top3": round(top3 / n, 4), "confusions": dict(worst)}


def _sentence_docs() -> list[tuple[str, str, float]]:
    out: list[tuple[str, str, float]] = []
    for path in training_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for sentences in (doc.get("sentences") or {}).values():
            out.extend((str(doc["label"]), str(s), 1.0) for s in sentences or ())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the shipped model is not what training gives")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--evaluate", action="store_true",
                        help="score a model trained without one training sentence in five on that fifth")
    args = parser.parse_args()
    if args.evaluate:
        print(json.dumps(evaluate(), indent=1))
        return 0
    model = train()
    text = json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"
    if args.check:
        if not args.out.exists() or read_model_text(args.out) != text:
            print(f"{args.out} is stale: run python scripts/train_topic_model.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date ({len(model.labels)} kinds, {len(model.gains)} features)")
        return 0
    write_model_text(args.out, text)
    print(json.dumps({"kinds": len(model.labels), "features": len(model.gains), "bytes": len(text.encode()),
                      "documents": len(documents())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
