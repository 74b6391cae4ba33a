"""Optional LLM intent: an OpenAI-compatible chat-completions endpoint with tools.

The model is given the caller's words, the domain's destinations and three tools:

* ``request_handoff(destination, reason)`` — transfer to a named destination;
* ``schedule_callback(reason, when)`` — the caller wants to be called back;
* ``end_call()`` — the caller is done.

``LLMClient.decide`` returns an ``LLMDecision`` or raises ``LLMUnavailable``. It is
strictly time-boxed: the HTTP request runs on a small worker pool and the caller
waits at most ``config.llm.timeout`` seconds (the request itself also carries that
timeout, so a worker is never stuck for long). Every failure — timeout, refused
connection, HTTP error, malformed JSON, no tool call, an unknown tool, bad
arguments — raises ``LLMUnavailable``; the conversation then uses the offline rules
for that turn. No test needs a real LLM: the tests run a local HTTP server.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Optional

import requests

from voiceai_ivr.config import LLMConfig
from voiceai_ivr.errors import VoiceAIError

log = logging.getLogger("voiceai_ivr.llm")

MAX_RESPONSE_BYTES = 256 * 1024
MAX_UTTERANCE = 1000
MAX_DESTINATIONS = 200

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "request_handoff",
            "description": "Transfer the caller to one of the listed destinations (a person or department).",
            "parameters": {
                "type": "object",
                "properties": {
                    "destination": {"type": "string", "description": "Exactly one destination name from the list."},
                    "reason": {"type": "string", "description": "Why the caller wants them, in a few words."},
                },
                "required": ["destination"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "schedule_callback",
            "description": "The caller asks to be called back later.",
            "parameters": {
                "type": "object",
                "properties": {
                    "reason": {"type": "string"},
                    "when": {"type": "string", "description": "When, in the caller's words, if said."},
                },
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "The caller wants to end the call (goodbye, nothing else).",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]

_SYSTEM = {
    "pt-BR": (
        "Você é a secretária virtual de uma empresa ao telefone. Escolha exatamente uma ferramenta "
        "para o que o cliente disse. Use somente nomes de destino da lista."
    ),
    "en-US": (
        "You are a company's virtual phone secretary. Pick exactly one tool for what the caller "
        "said. Use only destination names from the list."
    ),
}


class LLMUnavailable(VoiceAIError):
    """The LLM gave no usable decision this turn (timeout, error, invalid tool call)."""


@dataclass(frozen=True)
class LLMDecision:
    kind: str  # handoff | callback | end_call
    destination: Optional[str] = None
    reason: str = ""
    when: str = ""


def parse_tool_call(body: Mapping[str, Any], destinations: Sequence[str] = ()) -> LLMDecision:
    """The first tool call of a chat-completions response, validated."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMUnavailable("response has no choices[0].message") from exc
    calls = message.get("tool_calls") if isinstance(message, Mapping) else None
    if not calls or not isinstance(calls, list):
        raise LLMUnavailable("response has no tool call")
    call = calls[0]
    fn = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(fn, Mapping):
        raise LLMUnavailable("tool call has no function")
    name = fn.get("name")
    raw_args = fn.get("arguments") or "{}"
    try:
        args = json.loads(raw_args) if isinstance(raw_args, str) else dict(raw_args)
    except (ValueError, TypeError) as exc:
        raise LLMUnavailable(f"tool {name!r}: arguments are not JSON") from exc
    if not isinstance(args, dict):
        raise LLMUnavailable(f"tool {name!r}: arguments must be an object")

    def text(key: str, limit: int = 300) -> str:
        value = args.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            raise LLMUnavailable(f"tool {name!r}: {key} must be text")
        return value.strip()[:limit]

    if name == "request_handoff":
        dest = text("destination", 200)
        if not dest:
            raise LLMUnavailable("request_handoff without a destination")
        if destinations and dest not in destinations:
            folded = {d.casefold(): d for d in destinations}
            if dest.casefold() not in folded:
                raise LLMUnavailable(f"request_handoff to unknown destination {dest!r}")
            dest = folded[dest.casefold()]
        return LLMDecision("handoff", destination=dest, reason=text("reason"))
    if name == "schedule_callback":
        return LLMDecision("callback", reason=text("reason"), when=text("when"))
    if name == "end_call":
        return LLMDecision("end_call")
    raise LLMUnavailable(f"unknown tool {name!r}")


class LLMClient:
    """Thread-safe; one per process. ``decide`` never blocks past ``timeout``."""

    def __init__(self, config: LLMConfig, *, workers: int = 4, session: Optional[requests.Session] = None) -> None:
        if not config.url or not config.model:
            raise LLMUnavailable("llm: url and model are required")
        self.config = config
        self.url = config.url.rstrip("/") + "/chat/completions"
        self.timeout = float(config.timeout)
        self._session = session or requests.Session()
        self._session_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voiceai-llm")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._session.close()

    def _payload(self, utterance: str, language: str, destinations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        listing = []
        for d in list(destinations)[:MAX_DESTINATIONS]:
            aliases = ", ".join(str(a) for a in (d.get("aliases") or [])[:10])
            listing.append(f"- {d.get('name')}" + (f" ({aliases})" if aliases else ""))
        system = _SYSTEM.get(language, _SYSTEM["en-US"]) + "\n" + "\n".join(listing)
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": utterance[:MAX_UTTERANCE]},
            ],
            "tools": TOOLS,
            "tool_choice": "required",
            "temperature": 0,
            "max_tokens": 200,
        }

    def _post(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        try:
            response = self._session.post(
                self.url, json=payload, headers=headers, timeout=(self.timeout, self.timeout), stream=True
            )
            try:
                if response.status_code != 200:
                    raise LLMUnavailable(f"HTTP {response.status_code}")
                data = b""
                for chunk in response.iter_content(8192):
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        raise LLMUnavailable("response too large")
            finally:
                response.close()
        except requests.RequestException as exc:
            raise LLMUnavailable(f"request failed: {type(exc).__name__}") from exc
        try:
            body = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LLMUnavailable("response is not JSON") from exc
        if not isinstance(body, Mapping):
            raise LLMUnavailable("response is not a JSON object")
        return body

    def decide(
        self,
        utterance: str,
        *,
        language: str = "pt-BR",
        destinations: Sequence[Mapping[str, Any]] = (),
    ) -> LLMDecision:
        """One decision for one caller turn, within ``timeout`` seconds, or ``LLMUnavailable``."""
        if not utterance.strip():
            raise LLMUnavailable("nothing to classify")
        payload = self._payload(utterance, language, destinations)
        names = [str(d.get("name")) for d in destinations]
        try:
            future: Future = self._pool.submit(self._post, payload)
        except RuntimeError as exc:  # pool shut down
            raise LLMUnavailable("client closed") from exc
        try:
            body = future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise LLMUnavailable(f"no answer within {self.timeout:.1f}s") from exc
        decision = parse_tool_call(body, names)
        log.info("llm: %r -> %s %s", utterance[:80], decision.kind, decision.destination or "")
        return decision


def client_from_config(config: LLMConfig) -> Optional[LLMClient]:
    """An ``LLMClient`` when ``llm.enabled``, else ``None``."""
    if not config.enabled:
        return None
    return LLMClient(config)


__all__ = ["TOOLS", "LLMClient", "LLMDecision", "LLMUnavailable", "client_from_config", "parse_tool_call"]
