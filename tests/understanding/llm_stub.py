"""A local OpenAI-compatible chat-completions stand-in for measuring the optional
LLM path of understanding (``benchmarks/understanding_bench.py --llm-stub``).

It is a real HTTP server on 127.0.0.1 (``tests/flows/llm_server.Server``) that
answers like a cautious model that knows only what it is given, so the figures
measure the product's path (the request it builds, the tool call it parses and
validates, the fall-back to the rules), not a model:

* ``names``: ``request_handoff`` when the caller's words contain one destination's
  whole name or alias from the system prompt's listing (the longest such), ``end_call``
  on a plain goodbye, otherwise an answer without a tool call (the conversation then
  uses the rules for that turn);
* ``down``: HTTP 500 for every request (every turn falls back to the rules);
* ``slow``: answers after ``delay`` seconds (past a short client timeout: falls back);
* ``replay``: the tool call recorded for this request in an answers file (JSON lines
  ``{"key", "tool", "arguments"}``, ``key`` = ``request_key``: the caller's words and
  the listing's names), answers a model gave to the same request; a request with no
  recorded answer gets an answer without a tool call (the rules decide).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.llm_server import Server, tool_reply

MODES = ("names", "down", "slow", "replay")
_GOODBYE = re.compile(r"^(?:tchau|ate logo|bye|goodbye|bye bye)(?: obrigad[oa]| thanks?(?: you)?)?$")


def _norm(text: str) -> str:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded.casefold()).split())


def _listing(system: str) -> list[tuple[str, list[str]]]:
    """(name, [name, aliases...]) from the system prompt's "- Name (a, b)" lines."""
    out = []
    for line in system.splitlines():
        m = re.match(r"^- (.+?)(?: \(([^()]*)\))?(?: \[[^\[\]]*\])?$", line)
        if m:
            name = m.group(1)
            aliases = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
            out.append((name, [name, *aliases]))
    return out


def _messages(body: dict[str, Any]) -> tuple[str, str]:
    """The request's system prompt and the caller's words."""
    messages = body.get("messages") or []
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    return system, user


def request_key(system: str, user: str) -> str:
    """What identifies a recorded answer: the caller's words and the names listed, in
    order (not the prompt's wording, so a reworded prompt keeps its answers)."""
    names = "|".join(name for name, _ in _listing(system))
    return hashlib.sha256(f"{user.strip()}\n{names}".encode()).hexdigest()[:20]


def load_answers(path: Path) -> dict[str, dict[str, Any]]:
    """Recorded answers by key; a malformed line is an error naming its number."""
    answers: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answers[str(row["key"])] = {"tool": str(row["tool"]), "arguments": dict(row.get("arguments") or {})}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not an answer line ({exc})") from exc
    return answers


def _no_tool() -> dict[str, Any]:
    return {"id": "chatcmpl-0", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "I am not sure."},
                         "finish_reason": "stop"}]}


def replay(body: dict[str, Any], answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``replay`` stand-in's answer: the recorded tool call, else none."""
    answer = answers.get(request_key(*_messages(body)))
    if answer is None:
        return _no_tool()
    return tool_reply(answer["tool"], answer["arguments"])


def decide(body: dict[str, Any]) -> dict[str, Any]:
    """The ``names`` stand-in's answer to one chat-completions request."""
    system, user = _messages(body)
    said = _norm(user)
    if _GOODBYE.match(said):
        return tool_reply("end_call", {})
    padded = f" {said} "
    best: tuple[int, str] = (0, "")
    for name, forms in _listing(system):
        for form in forms:
            f = _norm(form)
            if f and f" {f} " in padded and len(f) > best[0]:
                best = (len(f), name)
    if best[1]:
        return tool_reply("request_handoff", {"destination": best[1], "reason": said[:80]})
    return _no_tool()


def start(mode: str, *, delay: float = 1.0, answers: Path | None = None) -> Server:
    """A running stand-in (``close()`` it); ``url`` is its ``/v1`` base URL."""
    if mode not in MODES:
        raise ValueError(f"llm stub mode must be one of {', '.join(MODES)}, not {mode!r}")
    if (mode == "replay") != (answers is not None):
        raise ValueError("an answers file goes with the replay mode, and only with it")
    recorded = load_answers(answers) if answers is not None else {}

    def respond(body: dict[str, Any]) -> tuple[int, bytes, float]:
        if mode == "down":
            return 500, b'{"error": {"message": "down"}}', 0.0
        payload = json.dumps(replay(body, recorded) if mode == "replay" else decide(body)).encode()
        return 200, payload, delay if mode == "slow" else 0.0

    return Server(respond)
