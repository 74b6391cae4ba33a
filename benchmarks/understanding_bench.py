"""How well the IVR understands a caller's first sentence: labelled batches of
first sentences run through the path a call takes.

Batches (``tests/understanding/``):

* ``corpus``: the product's own corpus (``corpus/{dev,test}.yaml``) against
  ``directory.{pt-BR,en-US}.yaml``;
* ``blind/<round>`` (``r1``, ``r2``, ...): a batch written by a writer who never saw
  the rules (``/work/blind/WRITER-BRIEF.md``), imported with ``--import`` and split
  into ``dev.yaml`` / ``test.yaml`` by a stable hash of the sentence. A batch with
  its own ``directory.<lang>.yaml`` runs against it; otherwise against the corpus'.

Each item is one first sentence (ASR style) with what a receptionist would do:
``transfer`` (to X), ``ask`` (which of X, Y), ``callback`` (optionally for X),
``operator`` (the secretary's reception/fallback), ``reask``, ``goodbye`` or
``repeat``. The sentence goes through ``flows.conversation.understand_with_rules``
(DOMAIN's intent rules and the resolver, with the directory of its language),
preceded by the LLM when ``--config`` enables one (the conversation's own order:
the LLM decides when it can, the rules otherwise). The JSON printed, per batch and
split (``all`` = both halves together)::

    {"engine": "rules", "batches": {"r1": {"dev": {
       "items": 120, "accuracy": 0.97,
       "languages": {"pt-BR": {"items": .., "right": .., "accuracy": ..}, ...},
       "intents": {"transfer": {...}, "ask": {...}, ...},      # by expected label
       "kinds": {"topic": {...}, "callback": {...}, ...},      # by the writer's kind
       "wrong_actions": {"items": 3, "rate": 0.025,            # a decisive action that was wrong
                         "languages": {"pt-BR": {"items": .., "rate": ..}, ...},
                         "types": {"wrong_transfer": 1, "callback_instead_of_transfer": 1, ...}},
       "questions_instead": 2,       # asked/re-asked where a decisive action was right
       "questions_offering_right": 1,  # of those, questions that name the right destination
       "decided_by_llm": 0,          # turns the LLM decided (with --config / --llm-stub)
       "errors": [...] or a count}}}}

A *wrong action* is a decisive action (transfer, callback, operator hand-off,
goodbye) that is not what the receptionist would do: a transfer to another
destination, a callback instead of a transfer, a transfer where a callback, a
question or a re-ask was right, a goodbye wrongly, ... Its type is
``<got>_instead_of_<expected>`` (``wrong_transfer`` / ``wrong_callback`` when the
action was right but the destination was not).

Blind discipline: the errors of a blind batch's test half are never printed
(``--errors`` lists the dev half only) unless ``--reveal-test`` is given, which is
for after the round is closed.

Usage::

    python benchmarks/understanding_bench.py [--batch corpus|r1|...|all] [--split dev|test|all]
        [--config FILE | --llm-stub names|down|slow | --llm-stub replay --llm-answers FILE] [--no-veto]
        [--errors] [--reveal-test] [--out FILE] [--summary]
    python benchmarks/understanding_bench.py --batch r17 --split all --llm-requests FOLDER
    python benchmarks/understanding_bench.py --import /work/blind/r1 --as r1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from voiceai_ivr.domain.destinations import parse_directory, with_suggested_keywords
from voiceai_ivr.flows.conversation import (
    CallDirectory,
    Understanding,
    from_llm,
    llm_destinations,
    overrule,
    understand_with_rules,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "understanding"
BLIND = CORPUS / "blind"
SPLITS = ("dev", "test")
LANGUAGES = ("pt-BR", "en-US")
#: Weekday, office hours: resolution never depends on hours, but keep runs repeatable.
AT = datetime.fromisoformat("2026-11-24T10:30:00-03:00")
DECISIVE = ("transfer", "callback", "operator", "goodbye")
QUESTIONS = ("ask", "reask", "repeat")


@dataclass(frozen=True)
class Item:
    lang: str
    kind: str
    text: str
    expect: str
    to: Optional[str] = None
    options: tuple[str, ...] = ()


# --------------------------------------------------------------------------- batches


def batch_dir(batch: str) -> Path:
    return CORPUS / "corpus" if batch == "corpus" else BLIND / batch


def batches() -> list[str]:
    """``corpus`` and every imported blind round, in order."""
    rounds = sorted((p.name for p in BLIND.iterdir() if (p / "dev.yaml").exists()), key=_round_key) \
        if BLIND.is_dir() else []
    return ["corpus", *rounds]


def _round_key(name: str) -> tuple[int, str]:
    m = re.search(r"\d+", name)
    return (int(m.group()) if m else 0, name)


def load_items(splits: Iterable[str], batch: str = "corpus") -> list[Item]:
    items: list[Item] = []
    for split in splits:
        path = batch_dir(batch) / f"{split}.yaml"
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            items.append(Item(raw["lang"], str(raw.get("kind") or ""), str(raw.get("text") or ""), raw["expect"],
                              raw.get("to"), tuple(raw.get("options") or ())))
    return items


def directory_file(batch: str, lang: str) -> Path:
    """The batch's own directory for ``lang`` when it has one, else the corpus'."""
    own = batch_dir(batch) / f"directory.{lang}.yaml"
    return own if batch != "corpus" and own.exists() else CORPUS / f"directory.{lang}.yaml"


def load_directories(batch: str = "corpus", suggested: Optional[Path] = None) -> dict[str, CallDirectory]:
    """The batch's directories; with ``suggested`` (a folder of ``<batch>-<lang>.yaml``
    files: department name -> phrases, as a model suggested them), those phrases are
    added to the departments' keywords as ``destinations suggest-keywords`` adds them."""
    out: dict[str, CallDirectory] = {}
    for lang in LANGUAGES:
        doc = yaml.safe_load(directory_file(batch, lang).read_text(encoding="utf-8"))
        directory = parse_directory(doc)
        if suggested is not None:
            path = suggested / f"{batch}-{lang}.yaml"
            if path.exists():
                directory, _ = with_suggested_keywords(directory, yaml.safe_load(path.read_text(encoding="utf-8")))
        out[lang] = CallDirectory.from_directory(directory, directory.secretaries[0])
    return out


def split_of(lang: str, text: str) -> str:
    """``dev`` or ``test``, by a stable hash of the sentence (language and text)."""
    digest = hashlib.sha256(f"{lang}\n{text.strip()}".encode()).digest()
    return "test" if digest[0] & 1 else "dev"


def import_batch(source: Path, name: str) -> dict[str, int]:
    """Copy a blind batch (``<lang>.yaml`` files, and ``directory.<lang>.yaml`` when it
    has its own directory) into ``tests/understanding/blind/<name>/``, split into
    ``dev.yaml`` and ``test.yaml`` line by line: each item keeps the writer's
    spelling, and the writer's header comments head both halves."""
    dest = BLIND / name
    if dest.exists():
        raise SystemExit(f"--as {name}: {dest} exists already (a batch is imported once)")
    halves: dict[str, list[str]] = {s: [] for s in SPLITS}
    headers: list[str] = []
    counts = dict.fromkeys(SPLITS, 0)
    for lang in LANGUAGES:
        path = source / f"{lang}.yaml"
        if not path.exists():
            raise SystemExit(f"--import: {path} is missing")
        lines = path.read_text(encoding="utf-8").splitlines()
        parsed = yaml.safe_load("\n".join(lines)) or []
        headers.append(f"# --- {path.name}, header as the writer wrote it:")
        seen = 0
        for line in lines:
            if not line.strip() or line.lstrip().startswith("#"):
                if seen == 0:
                    headers.append(line)
                continue
            item = yaml.safe_load(line)
            if not isinstance(item, list) or len(item) != 1 or not isinstance(item[0], dict):
                raise SystemExit(f"--import: {path}: not one item per line: {line[:80]!r}")
            split = split_of(str(item[0]["lang"]), str(item[0].get("text") or ""))
            halves[split].append(line)
            counts[split] += 1
            seen += 1
        if seen != len(parsed):
            raise SystemExit(f"--import: {path}: {len(parsed)} items parsed, {seen} lines read")
    dest.mkdir(parents=True)
    for lang in LANGUAGES:
        own = source / f"directory.{lang}.yaml"
        if own.exists():
            shutil.copyfile(own, dest / own.name)
    for split, lines in halves.items():
        head = [f"# Blind batch {name}, {split} half (split by benchmarks/understanding_bench.py split_of):",
                f"# imported from {source} unchanged; see tests/understanding/README.md.", *headers]
        (dest / f"{split}.yaml").write_text("\n".join([*head, *lines]) + "\n", encoding="utf-8")
    return counts


# --------------------------------------------------------------------------- judging


def same_action(item: Item, directory: CallDirectory) -> Item:
    """The item as the action it asks for: a transfer to the secretary's fallback
    destination (the reception, "tecla nove" when 9 is its key) is the operator
    hand-off, the same call either way (``action`` maps both alike)."""
    if item.expect == "transfer" and item.to is not None and item.to == directory.fallback:
        return replace(item, expect="operator", to=None)
    return item


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


def offers_right(item: Item, got: Mapping[str, Any]) -> bool:
    """A question instead of the right transfer that names the right destination among
    its options: the caller gets there with one more answer (still not right)."""
    return item.expect == "transfer" and got["do"] == "ask" and item.to in (got.get("options") or ())


def wrong_action(item: Item, got: Mapping[str, Any]) -> Optional[str]:
    """The type of a wrong decisive action, or None (right, or only a question)."""
    if got["do"] not in DECISIVE or is_right(item, got):
        return None
    if got["do"] == item.expect:
        return f"wrong_{item.expect}"  # wrong_transfer, wrong_callback
    return f"{got['do']}_instead_of_{item.expect}"


Understand = Callable[[Item, CallDirectory], Understanding]


def rules_only(item: Item, directory: CallDirectory) -> Understanding:
    return understand_with_rules(item.text, directory, at=AT)


def with_llm(llm: Any, *, veto: bool = True) -> Understand:
    """The conversation's order: the LLM's decision when it gives a usable one, the
    rules otherwise; the rules may overrule the LLM's decision on strong contrary
    evidence (``flows.conversation.overrule``; ``veto=False``: the LLM's decision as is)."""
    from voiceai_ivr.errors import VoiceAIError

    def understand(item: Item, directory: CallDirectory) -> Understanding:
        try:
            decision = llm.decide(item.text, language=item.lang,
                                  destinations=llm_destinations(directory)) if item.text else None
        except VoiceAIError:
            decision = None
        decided = from_llm(decision, item.text, directory)[0] if decision is not None else None
        if decided is not None:
            return overrule(decided, item.text, directory, at=AT) if veto else decided
        return rules_only(item, directory)

    return understand


def _rate(right: int, n: int) -> dict[str, Any]:
    return {"items": n, "right": right, "accuracy": round(right / n, 4) if n else None}


def evaluate(items: list[Item], understand: Understand = rules_only,
             directories: Optional[dict[str, CallDirectory]] = None) -> dict[str, Any]:
    dirs = directories or load_directories()
    by: dict[str, dict[str, list[int]]] = {"languages": {}, "intents": {}, "kinds": {}}
    errors: list[dict[str, Any]] = []
    types: dict[str, int] = {}
    wrong_by_lang: dict[str, int] = {}
    confident_wrong = wrong_where_question = questions_instead = offering_right = by_llm = 0
    right_total = 0
    for item in items:
        directory = dirs[item.lang]
        item = same_action(item, directory)
        what = understand(item, directory)
        by_llm += what.source == "llm"
        got = action(what, directory)
        ok = is_right(item, got)
        right_total += ok
        for group, key in (("languages", item.lang), ("intents", item.expect), ("kinds", item.kind)):
            cell = by[group].setdefault(key, [0, 0])
            cell[0] += ok
            cell[1] += 1
        if not ok:
            kind = wrong_action(item, got)
            if kind is not None:
                types[kind] = types.get(kind, 0) + 1
                wrong_by_lang[item.lang] = wrong_by_lang.get(item.lang, 0) + 1
                confident_wrong += 1
                wrong_where_question += item.expect in ("reask", "ask")
            elif item.expect in DECISIVE and got["do"] in QUESTIONS:
                questions_instead += 1
                offering_right += offers_right(item, got)
            expected: dict[str, Any] = {"do": item.expect}
            if item.to:
                expected["to"] = item.to
            if item.options:
                expected["options"] = list(item.options)
            errors.append({"lang": item.lang, "kind": item.kind, "text": item.text, "expected": expected,
                           "got": got, "wrong_action": kind})
    n = len(items)
    out: dict[str, Any] = {"items": n, "accuracy": round(right_total / n, 4) if n else None}
    for group, cells in by.items():
        out[group] = {k: _rate(r, c) for k, (r, c) in sorted(cells.items())}
    out["wrong_actions"] = {
        "items": confident_wrong,
        "rate": round(confident_wrong / n, 4) if n else None,
        "languages": {lang: {"items": wrong_by_lang.get(lang, 0),
                             "rate": round(wrong_by_lang.get(lang, 0) / cell["items"], 4)}
                      for lang, cell in out["languages"].items()},
        "types": dict(sorted(types.items())),
    }
    out["questions_instead"] = questions_instead
    out["questions_offering_right"] = offering_right
    out["decided_by_llm"] = by_llm
    # kept under their earlier names for the floor test and older notes
    out["confident_wrong"] = confident_wrong
    out["wrong_where_question"] = wrong_where_question
    out["errors"] = errors
    return out


def _stub_module() -> Any:
    sys.path.insert(0, str(CORPUS))
    import llm_stub  # type: ignore[import-not-found]

    return llm_stub


def llm_stub_client(mode: str, *, timeout: float = 2.5, delay: float = 1.0,
                    answers: Optional[Path] = None) -> tuple[Any, Any]:
    """An ``LLMClient`` talking to a local OpenAI-compatible stand-in
    (``tests/understanding/llm_stub.py``; ``replay`` with an ``answers`` file) and the
    running stand-in; close both."""
    from voiceai_ivr.config import LLMConfig
    from voiceai_ivr.integrations.llm import LLMClient

    server = _stub_module().start(mode, delay=delay, answers=answers)
    client = LLMClient(LLMConfig(enabled=True, url=server.url, model="stub", timeout=timeout))
    return client, server


def _understand_from(config_path: Optional[str], *, veto: bool = True) -> tuple[Understand, str, Any]:
    if not config_path:
        return rules_only, "rules", None
    from voiceai_ivr.config import load_config
    from voiceai_ivr.integrations.llm import client_from_config

    config = load_config(config_path)
    llm = client_from_config(config.llm) if config.llm.enabled else None
    if llm is None:
        return rules_only, "rules", None
    return with_llm(llm, veto=veto), "llm+rules", llm


def run(batch_names: Iterable[str], split: str, understand: Understand = rules_only, *, errors: bool = False,
        reveal_test: bool = False, suggested: Optional[Path] = None) -> dict[str, Any]:
    """The report for some batches and one split (``dev``, ``test`` or ``all``); for
    ``all`` both halves are scored, then together (``suggested``: see
    ``load_directories``)."""
    report: dict[str, Any] = {}
    for batch in batch_names:
        dirs = load_directories(batch, suggested)
        parts = list(SPLITS) if split == "all" else [split]
        out: dict[str, Any] = {}
        for part in [*parts, "all"] if split == "all" else parts:
            items = load_items(SPLITS if part == "all" else [part], batch)
            result = evaluate(items, understand, dirs)
            hidden = batch != "corpus" and part != "dev" and not reveal_test
            if not errors or hidden:
                result["errors"] = len(result["errors"])
            out[part] = result
        report[batch] = out
    return report


def write_requests(batch_names: Iterable[str], split: str, folder: Path) -> dict[str, int]:
    """The LLM requests of some batches' items, for a model to answer offline (the
    answers replayed by ``--llm-stub replay``): per batch and language one file with
    the system prompt and tools once, then one ``key<TAB>caller's words`` line per
    item; returns the items written per file."""
    from voiceai_ivr.integrations.llm import chat_request

    stub = _stub_module()
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for batch in batch_names:
        dirs = load_directories(batch)
        items = load_items(list(SPLITS) if split == "all" else [split], batch)
        for lang in LANGUAGES:
            lines: list[str] = []
            system = ""
            tools: Any = None
            listing = llm_destinations(dirs[lang])
            for item in items:
                if item.lang != lang or not item.text.strip():
                    continue
                body = chat_request("offline", item.text, lang, listing)
                system, user = body["messages"][0]["content"], body["messages"][1]["content"]
                tools = body["tools"]
                lines.append(f"{stub.request_key(system, user)}\t{' '.join(user.split())}")
            if not lines:
                continue
            head = ["# system prompt", system, "", "# tools", json.dumps(tools, ensure_ascii=False, indent=1), "",
                    "# requests: key<TAB>caller's words"]
            name = f"{batch}-{split}-{lang}.txt"
            (folder / name).write_text("\n".join([*head, *lines]) + "\n", encoding="utf-8")
            counts[name] = len(lines)
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--batch", default="corpus", help="corpus, a blind round (r1, r2, ...) or all (default corpus)")
    ap.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    ap.add_argument("--config", help="a voiceai-ivr configuration; its LLM is used first when enabled")
    ap.add_argument("--errors", action="store_true",
                    help="list every wrong item (a blind batch's test half: counts only)")
    ap.add_argument("--reveal-test", action="store_true",
                    help="with --errors, list a blind test half's errors too (after its round is closed)")
    ap.add_argument("--out", help="also write the JSON report to this file")
    ap.add_argument("--summary", action="store_true", help="print a one-line summary per batch and split only")
    ap.add_argument("--llm-stub", choices=("names", "down", "slow", "replay"),
                    help="the LLM path against a local OpenAI-compatible stand-in (tests/understanding/llm_stub.py)")
    ap.add_argument("--llm-answers", type=Path,
                    help="with --llm-stub replay: a model's recorded answers (JSON lines key, tool, arguments)")
    ap.add_argument("--llm-requests", type=Path,
                    help="write the LLM requests of the chosen batches and split to this folder, for a model to "
                         "answer offline (then --llm-stub replay --llm-answers)")
    ap.add_argument("--suggested-keywords", type=Path,
                    help="a folder of a model's keyword suggestions (<batch>-<lang>.yaml: department -> phrases), "
                         "added to the directories as `destinations suggest-keywords` adds them")
    ap.add_argument("--no-veto", action="store_true",
                    help="with the LLM: take its decision as is (no overruling by the rules), to measure the veto")
    ap.add_argument("--import", dest="source", help="import a blind batch from this folder (with --as)")
    ap.add_argument("--as", dest="name", help="the name of the imported batch (r1, r2, ...)")
    args = ap.parse_args(argv)
    if args.source:
        if not args.name or not re.fullmatch(r"r\d+", args.name):
            ap.error("--import needs --as rN")
        counts = import_batch(Path(args.source), args.name)
        print(json.dumps({"imported": args.name, **counts}))
        return 0
    names = batches() if args.batch == "all" else [args.batch]
    for name in names:
        if not (batch_dir(name) / "dev.yaml").exists():
            ap.error(f"--batch {name}: no such batch (have: {', '.join(batches())})")
    if args.suggested_keywords is not None and not args.suggested_keywords.is_dir():
        ap.error(f"--suggested-keywords {args.suggested_keywords}: no such folder")
    if args.llm_requests:
        print(json.dumps(write_requests(names, args.split, args.llm_requests)))
        return 0
    if (args.llm_stub == "replay") != (args.llm_answers is not None):
        ap.error("--llm-answers goes with --llm-stub replay, and only with it")
    if args.llm_answers is not None and not args.llm_answers.is_file():
        ap.error(f"--llm-answers {args.llm_answers}: no such file")
    stub = None
    if args.llm_stub:
        try:
            llm, stub = llm_stub_client(args.llm_stub, timeout=0.5 if args.llm_stub == "slow" else 2.5,
                                        answers=args.llm_answers)
        except ValueError as exc:
            ap.error(str(exc))
        understand, engine = with_llm(llm, veto=not args.no_veto), f"llm+rules (local stand-in: {args.llm_stub})"
    else:
        understand, engine, llm = _understand_from(args.config, veto=not args.no_veto)
    if args.no_veto and llm is not None:
        engine += ", no veto"
    try:
        report: dict[str, Any] = {"engine": engine, "batches": run(names, args.split, understand, errors=args.errors,
                                                                   reveal_test=args.reveal_test,
                                                                   suggested=args.suggested_keywords)}
        if stub is not None:
            report["llm_requests"] = len(stub.requests)
    finally:
        if llm is not None:
            llm.close()
        if stub is not None:
            stub.close()
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    sys.stdout.write((summary(report) if args.summary else text) + "\n")
    return 0


def summary(report: Mapping[str, Any]) -> str:
    """One line per batch and split: items, accuracy per language, wrong actions."""
    lines = []
    for batch, parts in report["batches"].items():
        for part, r in parts.items():
            langs = "  ".join(f"{lang} {c['right']}/{c['items']} = {c['accuracy']:.1%}"
                              for lang, c in r["languages"].items())
            wa = r["wrong_actions"]
            lines.append(f"{batch:7} {part:4} {r['items']:4} items  {langs}  wrong actions {wa['items']}"
                         f" = {wa['rate']:.1%} {wa['types'] or ''}  questions instead {r['questions_instead']}"
                         f" ({r['questions_offering_right']} naming the right one)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
