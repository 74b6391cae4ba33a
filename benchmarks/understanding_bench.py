"""How well the IVR understands a caller's first sentence: the labelled corpus in
tests/understanding/ run through the path a call takes.

Each item is one first sentence (ASR style) with what a receptionist would do:
``transfer`` (to X), ``ask`` (which of X, Y), ``callback`` (optionally for X),
``operator`` (the secretary's reception/fallback), ``reask``, ``goodbye`` or
``repeat``. The sentence goes through ``flows.conversation.understand_with_rules``
(DOMAIN's intent rules and the resolver, with the directory of its language),
preceded by the LLM when ``--config`` enables one (the conversation's own order:
the LLM decides when it can, the rules otherwise). The JSON printed:

    {"split": "dev", "items": 211, "accuracy": 0.97,
     "languages": {"pt-BR": {"items": .., "right": .., "accuracy": ..}, ...},
     "intents": {"transfer": {...}, "ask": {...}, ...},      # by expected action
     "kinds": {"topic": {...}, "callback": {...}, ...},      # by corpus kind
     "confident_wrong": 0,     # a transfer/callback/operator/goodbye where that was wrong
     "wrong_where_question": 0,  # ... where a re-ask or a question was right
     "errors": [{"lang": .., "text": .., "expected": .., "got": ..}, ...]}

Usage: python benchmarks/understanding_bench.py [--split dev|test|all] [--config FILE] [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.flows.conversation import CallDirectory, Understanding, understand_with_rules

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "understanding"
SPLITS = ("dev", "test")
LANGUAGES = ("pt-BR", "en-US")
#: Weekday, office hours: resolution never depends on hours, but keep runs repeatable.
AT = datetime.fromisoformat("2026-11-24T10:30:00-03:00")
DECISIVE = ("transfer", "callback", "operator", "goodbye")


@dataclass(frozen=True)
class Item:
    lang: str
    kind: str
    text: str
    expect: str
    to: Optional[str] = None
    options: tuple[str, ...] = ()


def load_items(splits: Iterable[str]) -> list[Item]:
    items: list[Item] = []
    for split in splits:
        for raw in yaml.safe_load((CORPUS / "corpus" / f"{split}.yaml").read_text(encoding="utf-8")):
            items.append(Item(raw["lang"], raw["kind"], str(raw.get("text") or ""), raw["expect"],
                              raw.get("to"), tuple(raw.get("options") or ())))
    return items


def load_directories() -> dict[str, CallDirectory]:
    out: dict[str, CallDirectory] = {}
    for lang in LANGUAGES:
        directory = parse_directory(yaml.safe_load((CORPUS / f"directory.{lang}.yaml").read_text(encoding="utf-8")))
        out[lang] = CallDirectory.from_directory(directory, directory.secretaries[0])
    return out


def action(what: Understanding, directory: CallDirectory) -> dict[str, Any]:
    """What the secretary does with one understanding, in the corpus' terms."""
    if what.kind == "transfer" and what.destination == directory.fallback:
        return {"do": "operator", "via": what.destination}
    if what.kind == "transfer":
        return {"do": "transfer", "to": what.destination}
    if what.kind == "ambiguous":
        return {"do": "ask", "options": list(what.options)}
    if what.kind == "callback":
        return {"do": "callback", "to": what.destination}
    if what.kind in ("no_match", "yes", "no"):
        return {"do": "reask"}
    return {"do": what.kind}


def is_right(item: Item, got: Mapping[str, Any]) -> bool:
    if got["do"] != item.expect:
        return False
    if item.expect == "transfer":
        return bool(got.get("to") == item.to)
    if item.expect == "callback":
        return item.to is None or got.get("to") == item.to
    if item.expect == "ask":
        offered = list(got.get("options") or [])
        return set(item.options) <= set(offered) and len(offered) <= len(item.options) + 1
    return True


Understand = Callable[[Item, CallDirectory], Understanding]


def rules_only(item: Item, directory: CallDirectory) -> Understanding:
    return understand_with_rules(item.text, directory, at=AT)


def with_llm(llm: Any) -> Understand:
    """The conversation's order: the LLM's decision when it gives a usable one, the rules otherwise."""
    from voiceai_ivr.errors import VoiceAIError

    def understand(item: Item, directory: CallDirectory) -> Understanding:
        dests = [{"name": n, "aliases": list(getattr(d, "aliases", ()) or ())}
                 for n, d in directory.destinations.items()]
        try:
            decision = llm.decide(item.text, language=item.lang, destinations=dests) if item.text else None
        except VoiceAIError:
            decision = None
        if decision is not None:
            if decision.kind == "handoff" and decision.destination in directory.destinations:
                return Understanding("transfer", destination=decision.destination, source="llm")
            if decision.kind == "callback":
                return Understanding("callback", source="llm")
            if decision.kind == "end_call":
                return Understanding("goodbye", source="llm")
        return rules_only(item, directory)

    return understand


def _rate(right: int, n: int) -> dict[str, Any]:
    return {"items": n, "right": right, "accuracy": round(right / n, 4) if n else None}


def evaluate(items: list[Item], understand: Understand = rules_only,
             directories: Optional[dict[str, CallDirectory]] = None) -> dict[str, Any]:
    dirs = directories or load_directories()
    by: dict[str, dict[str, list[int]]] = {"languages": {}, "intents": {}, "kinds": {}}
    errors: list[dict[str, Any]] = []
    confident_wrong = wrong_where_question = 0
    right_total = 0
    for item in items:
        directory = dirs[item.lang]
        got = action(understand(item, directory), directory)
        ok = is_right(item, got)
        right_total += ok
        for group, key in (("languages", item.lang), ("intents", item.expect), ("kinds", item.kind)):
            cell = by[group].setdefault(key, [0, 0])
            cell[0] += ok
            cell[1] += 1
        if not ok:
            decisive = got["do"] in DECISIVE
            confident_wrong += decisive
            wrong_where_question += decisive and item.expect in ("reask", "ask")
            expected: dict[str, Any] = {"do": item.expect}
            if item.to:
                expected["to"] = item.to
            if item.options:
                expected["options"] = list(item.options)
            errors.append({"lang": item.lang, "kind": item.kind, "text": item.text, "expected": expected, "got": got})
    out: dict[str, Any] = {"items": len(items), "accuracy": round(right_total / len(items), 4) if items else None}
    for group, cells in by.items():
        out[group] = {k: _rate(r, n) for k, (r, n) in sorted(cells.items())}
    out["confident_wrong"] = confident_wrong
    out["wrong_where_question"] = wrong_where_question
    out["errors"] = errors
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    ap.add_argument("--config", help="a voiceai-ivr configuration; its LLM is used first when enabled")
    ap.add_argument("--errors", action="store_true", help="list every wrong item (default: count only)")
    args = ap.parse_args(argv)
    understand: Understand = rules_only
    engine = "rules"
    if args.config:
        from voiceai_ivr.config import load_config
        from voiceai_ivr.integrations.llm import client_from_config

        config = load_config(args.config)
        llm = client_from_config(config.llm) if config.llm.enabled else None
        if llm is not None:
            understand, engine = with_llm(llm), "llm+rules"
    splits = SPLITS if args.split == "all" else (args.split,)
    report: dict[str, Any] = {"engine": engine}
    for split in splits:
        result = evaluate(load_items([split]), understand)
        if not args.errors:
            result["errors"] = len(result["errors"])
        report[split] = result
    json.dump(report, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
