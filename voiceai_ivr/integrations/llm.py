"""Optional LLM intent: an OpenAI-compatible chat-completions endpoint with tools.

The model is given the caller's words, the domain's destinations (name, aliases,
what kind of department each is or works in, its keywords) and seven tools:

* ``request_handoff(destination, reason)`` — transfer to a named destination;
* ``ask_which(options, reason)`` — the request fits two or more destinations
  equally (two people of one first name, a need two departments could each
  handle): the caller is asked which one;
* ``transfer_to_operator(reason)`` — the caller wants a human, asks for a person
  who is not listed, or needs what only a receptionist can do;
* ``schedule_callback(reason, when)`` — the caller wants to be called back;
* ``repeat_options()`` — the caller asks to hear the options again;
* ``not_understood()`` — nothing usable was said, or a request the organisation
  does not handle: the caller is asked again;
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
import re
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
MAX_OPTIONS = 5

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
            "name": "ask_which",
            "description": "The request fits two or more listed destinations equally (for example two people "
                           "with the first name said, or a need two listed departments could each handle): the "
                           "caller will be asked which one.",
            "parameters": {
                "type": "object",
                "properties": {
                    "options": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                                "maxItems": MAX_OPTIONS, "description": "Destination names from the list."},
                    "reason": {"type": "string"},
                },
                "required": ["options"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "transfer_to_operator",
            "description": "The caller asks for a human, the reception or the operator, asks by full name for "
                           "a person who is not listed, or needs something only a receptionist can handle. Not "
                           "for a request this organisation does not handle at all (use not_understood).",
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
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
            "name": "repeat_options",
            "description": "The caller asks to hear the options again.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "not_understood",
            "description": "Nothing usable was said (noise, a greeting alone, words with no request), or a "
                           "request this organisation does not handle at all: the caller will be asked again.",
            "parameters": {"type": "object", "properties": {}},
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
        "para o que o cliente disse (transcrito por reconhecimento de voz: pode haver palavras mal "
        "reconhecidas). Use somente nomes de destino da lista. Se o cliente se corrige, vale o último "
        "pedido; um destino que ele diz não querer nunca é escolhido. Se o pedido cabe igualmente em "
        "mais de um destino, pergunte qual (ask_which): quando dois departamentos poderiam cuidar do "
        "assunto (por exemplo, uma cobrança por um serviço mal feito: o financeiro ou quem fez o serviço), "
        "pergunte em vez de escolher um. Destinos:"
    ),
    "en-US": (
        "You are a company's virtual phone secretary. Pick exactly one tool for what the caller "
        "said (transcribed by speech recognition: words may be misheard). Use only destination names "
        "from the list. When the caller corrects themselves, the later request wins; a destination "
        "they say they do not want is never chosen. When the request fits more than one destination "
        "equally, ask which (ask_which): when two departments could each handle the need (for example, "
        "a charge for work done badly: billing or whoever did the work), ask rather than pick one. "
        "Destinations:"
    ),
}


class LLMUnavailable(VoiceAIError):
    """The LLM gave no usable decision this turn (timeout, error, invalid tool call)."""


@dataclass(frozen=True)
class LLMDecision:
    kind: str  # handoff | ask | operator | callback | repeat | unclear | end_call
    destination: Optional[str] = None
    reason: str = ""
    when: str = ""
    options: tuple[str, ...] = ()


def _known(name: str, destinations: Sequence[str], tool: str) -> str:
    """``name`` as the directory spells it, given as listed or in another case (a
    name with brackets is listed without them); LLMUnavailable when it is not one of
    ``destinations`` (an empty listing accepts any name)."""
    if not destinations or name in destinations:
        return name
    folded = {_one_line(d, 200).casefold(): d for d in destinations}
    folded.update({d.casefold(): d for d in destinations})
    found = folded.get(name.casefold()) or folded.get(_one_line(name, 200).casefold())
    if found is None:
        raise LLMUnavailable(f"{tool} to unknown destination {name!r}")
    return found


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
        return LLMDecision("handoff", destination=_known(dest, destinations, str(name)), reason=text("reason"))
    if name == "ask_which":
        raw = args.get("options")
        if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
            raise LLMUnavailable("ask_which: options must be a list of names")
        options: list[str] = []
        for option in raw:
            known = _known(option.strip()[:200], destinations, "ask_which")
            if known not in options:
                options.append(known)
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise LLMUnavailable(f"ask_which: {len(options)} distinct options (2-{MAX_OPTIONS} needed)")
        return LLMDecision("ask", reason=text("reason"), options=tuple(options))
    if name == "transfer_to_operator":
        return LLMDecision("operator", reason=text("reason"))
    if name == "schedule_callback":
        return LLMDecision("callback", reason=text("reason"), when=text("when"))
    if name == "repeat_options":
        return LLMDecision("repeat")
    if name == "not_understood":
        return LLMDecision("unclear")
    if name == "end_call":
        return LLMDecision("end_call")
    raise LLMUnavailable(f"unknown tool {name!r}")


def _one_line(value: Any, limit: int = 80) -> str:
    """A listing field on one line: no line breaks or brackets that would change the
    listing's shape, at most ``limit`` characters."""
    return " ".join(re.sub(r"[()\[\]]", " ", str(value)).split())[:limit]


def listing_line(destination: Mapping[str, Any]) -> str:
    """One destination as the model reads it: ``- Name (alias, alias) [key 2; department:
    billing; about: boleto, invoice]`` (``key``: its keypad digit, said or pressed); a
    person's kind reads ``person, works in: billing``."""
    line = f"- {_one_line(destination.get('name'), 200)}"
    aliases = ", ".join(_one_line(a) for a in (destination.get("aliases") or [])[:10])
    if aliases:
        line += f" ({aliases})"
    details = []
    if destination.get("menu_key") not in (None, ""):
        details.append(f"key {_one_line(destination['menu_key'], 2)}")
    kind = _one_line(destination.get("category") or "").replace("_", " ")
    if destination.get("person"):
        details.append(f"person, works in: {kind}" if kind else "person")
    elif kind:
        details.append(f"department: {kind}")
    keywords = ", ".join(_one_line(k) for k in (destination.get("keywords") or [])[:10])
    if keywords:
        details.append(f"about: {keywords}")
    return line + (f" [{'; '.join(details)}]" if details else "")


def _listing(destinations: Sequence[Mapping[str, Any]]) -> str:
    """The first ``MAX_DESTINATIONS`` destinations, one ``listing_line`` each."""
    return "\n".join(listing_line(d) for d in list(destinations)[:MAX_DESTINATIONS])


def chat_request(
    model: str, utterance: str, language: str, destinations: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The chat-completions request for one caller turn: the system prompt in the
    caller's language with the destinations listed, the caller's words, the tools."""
    system = _SYSTEM.get(language, _SYSTEM["en-US"]) + "\n" + _listing(destinations)
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": utterance[:MAX_UTTERANCE]},
        ],
        "tools": TOOLS,
        "tool_choice": "required",
        "temperature": 0,
        "max_tokens": 200,
    }


# ---------------------------------------------------------------- keyword suggestions

KEYWORDS_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "suggest_keywords",
        "description": "The phrases callers say when they need each department.",
        "parameters": {
            "type": "object",
            "properties": {
                "departments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"},
                                       "phrases": {"type": "array", "items": {"type": "string"}}},
                        "required": ["name", "phrases"],
                    },
                },
            },
            "required": ["departments"],
        },
    },
}

_LANGUAGE_NAMES = {"pt-BR": "Brazilian Portuguese", "en-US": "American English"}

_KEYWORDS_SYSTEM = (
    "A virtual phone secretary routes callers by what they say, matching their words against each "
    "department's name, aliases and keywords. For EACH department named under 'Departments to write "
    "phrases for', write 8 to 15 short phrases (1 to 3 words each) in {language} that callers typically "
    "SAY when they need that department in this organisation: the everyday words of their situation, "
    "object, document or problem, not the department's name or its aliases again. Prefer phrases that "
    "point to this department and not to another department of the listing; leave out a phrase that "
    "fits two listed departments equally. Write them as speech recognition returns them: lower case, "
    "no punctuation (accents allowed). Answer with the suggest_keywords tool.\n"
    "Directory listing:\n{listing}\n\nDepartments to write phrases for:\n{targets}"
)


def keywords_request(
    model: str, language: str, destinations: Sequence[Mapping[str, Any]], targets: Sequence[str]
) -> dict[str, Any]:
    """The chat-completions request asking for keyword suggestions for ``targets``
    (department names of ``destinations``, listed as ``chat_request`` lists them)."""
    system = _KEYWORDS_SYSTEM.format(language=_LANGUAGE_NAMES.get(language, language),
                                     listing=_listing(destinations),
                                     targets="\n".join(_one_line(t, 200) for t in targets))
    return {
        "model": model,
        "messages": [{"role": "system", "content": system},
                     {"role": "user", "content": "Suggest the phrases now."}],
        "tools": [KEYWORDS_TOOL],
        "tool_choice": "required",
        "temperature": 0,
        "max_tokens": 4000,
    }


def parse_keywords(body: Mapping[str, Any], targets: Sequence[str]) -> dict[str, list[str]]:
    """The ``suggest_keywords`` call of a response: phrases (text only) per target
    name, as the listing spells it; other names are left out. LLMUnavailable when
    there is no such call or it names no target."""
    try:
        call = body["choices"][0]["message"]["tool_calls"][0]["function"]
        raw_args = call.get("arguments") or "{}"
        args = json.loads(raw_args) if isinstance(raw_args, str) else dict(raw_args)
        rows = args["departments"]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise LLMUnavailable("no suggest_keywords call with departments in the answer") from exc
    if call.get("name") != "suggest_keywords" or not isinstance(rows, list):
        raise LLMUnavailable("no suggest_keywords call with departments in the answer")
    out: dict[str, list[str]] = {}
    for row in rows:
        if not isinstance(row, Mapping) or not isinstance(row.get("name"), str):
            continue
        try:
            name = _known(row["name"].strip(), targets, "suggest_keywords")
        except LLMUnavailable:
            continue
        phrases = row.get("phrases")
        if isinstance(phrases, list):
            out.setdefault(name, []).extend(p for p in phrases if isinstance(p, str))
    if not out:
        raise LLMUnavailable("the suggestions name none of the departments asked about")
    return out


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
        return chat_request(str(self.config.model), utterance, language, destinations)

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

    def suggest_keywords(
        self, language: str, destinations: Sequence[Mapping[str, Any]], targets: Sequence[str]
    ) -> dict[str, list[str]]:
        """Keyword suggestions for ``targets`` (``parse_keywords``), within ``timeout``
        seconds, or ``LLMUnavailable``."""
        body = self._answer(keywords_request(str(self.config.model), language, destinations, targets))
        return parse_keywords(body, targets)

    def _answer(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """The endpoint's answer to ``payload`` within ``timeout`` seconds (the request
        runs on the pool, so the caller never waits longer), or ``LLMUnavailable``."""
        try:
            future: Future = self._pool.submit(self._post, payload)
        except RuntimeError as exc:  # pool shut down
            raise LLMUnavailable("client closed") from exc
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise LLMUnavailable(f"no answer within {self.timeout:.1f}s") from exc

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
        decision = parse_tool_call(self._answer(payload), names)
        log.info("llm: %r -> %s %s", utterance[:80], decision.kind, decision.destination or "")
        return decision


def client_from_config(config: LLMConfig) -> Optional[LLMClient]:
    """An ``LLMClient`` when ``llm.enabled``, else ``None``."""
    if not config.enabled:
        return None
    return LLMClient(config)


__all__ = [
    "KEYWORDS_TOOL", "TOOLS", "LLMClient", "LLMDecision", "LLMUnavailable", "chat_request", "client_from_config",
    "keywords_request", "listing_line", "parse_keywords", "parse_tool_call",
]
