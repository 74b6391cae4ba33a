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
* ``slow``: answers after ``delay`` seconds (past a short client timeout: falls back).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.llm_server import Server, tool_reply

MODES = ("names", "down", "slow")
_GOODBYE = re.compile(r"^(?:tchau|ate logo|bye|goodbye|bye bye)(?: obrigad[oa]| thanks?(?: you)?)?$")


def _norm(text: str) -> str:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded.casefold()).split())


def _listing(system: str) -> list[tuple[str, list[str]]]:
    """(name, [name, aliases...]) from the system prompt's "- Name (a, b)" lines."""
    out = []
    for line in system.splitlines():
        m = re.match(r"^- (.+?)(?: \((.*)\))?$", line)
        if m:
            name = m.group(1)
            aliases = [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
            out.append((name, [name, *aliases]))
    return out


def decide(body: dict[str, Any]) -> dict[str, Any]:
    """The ``names`` stand-in's answer to one chat-completions request."""
    messages = body.get("messages") or []
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    said = _norm(next((m.get("content") or "" for m in messages if m.get("role") == "user"), ""))
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
    return {"id": "chatcmpl-0", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "I am not sure."},
                         "finish_reason": "stop"}]}


def start(mode: str, *, delay: float = 1.0) -> Server:
    """A running stand-in (``close()`` it); ``url`` is its ``/v1`` base URL."""
    if mode not in MODES:
        raise ValueError(f"llm stub mode must be one of {', '.join(MODES)}, not {mode!r}")

    def respond(body: dict[str, Any]) -> tuple[int, bytes, float]:
        if mode == "down":
            return 500, b'{"error": {"message": "down"}}', 0.0
        payload = json.dumps(decide(body)).encode()
        return 200, payload, delay if mode == "slow" else 0.0

    return Server(respond)
