"""Scenario files: the contract of ``voiceai-ivr simulate`` (dataclasses + loader).

```yaml
domain: demo.local
did: "8000"
caller: "+5511998765432"          # or "anonymous"
at: "2026-11-24T10:30:00-03:00"
language: pt-BR                   # optional
caller_inputs:
  - say: "quero falar com o financeiro"
  - dtmf: "1"
  - silence: true
  - hangup: true
  - hangup: {after: 2.5}
agents:
  "1001": {behavior: busy}
  "1002": {behavior: answer, answer_after: 2, accept: true}
customers:                        # optional, for the callback dispatcher
  "+5511999990000": {behavior: answer}
directory: destinations.yaml      # optional: path, or the document inline
expect: {outcome: transferred}    # optional, checked by the runner
asr_engines: [unimrcp]            # optional: speech engines the PBX has (default: none)
asr_format: nlsml                 # optional: json (default, mod_test) | nlsml (mod_unimrcp)
```

Every problem raises ``ValidationError`` naming the field (``caller_inputs[2].dtmf``).
Unknown keys are refused, so a typo never silently changes a test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional, Union

from voiceai_ivr import yamlfile
from voiceai_ivr.errors import ValidationError

BEHAVIORS = ("answer", "busy", "no_answer", "offline", "reject", "invalid", "gateway_down", "dnd")
INPUT_KINDS = ("say", "dtmf", "silence", "hangup")
LANGUAGES = ("pt-BR", "en-US")
ASR_FORMATS = ("json", "nlsml")
_ENGINE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DTMF_RE = re.compile(r"^[0-9*#A-Da-d]{1,64}$")
_DID_RE = re.compile(r"^\+?[0-9*#]{1,32}$")
_CALLER_RE = re.compile(r"^\+?[0-9]{1,20}$")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.@+\-*#]{1,64}$")
_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class CallerInput:
    """One thing the caller does. ``kind`` is say | dtmf | silence | hangup."""

    kind: str
    text: str = ""  # say: words; dtmf: keys
    after: Optional[float] = None  # hangup: seconds after the previous input (None: at the next listen)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "hangup":
            return {"hangup": {"after": self.after} if self.after is not None else True}
        if self.kind == "silence":
            return {"silence": True}
        return {self.kind: self.text}


@dataclass(frozen=True)
class EndpointBehavior:
    """How one dialled endpoint (agent or customer) behaves."""

    behavior: str = "answer"
    answer_after: float = 1.0
    accept: Optional[bool] = True  # the key pressed on the announcement: 1 / 2 / none
    hangup_after: Optional[float] = None  # seconds after answering
    talk_for: float = 3.0  # seconds after the bridge before hanging up
    registered: Optional[bool] = None  # None: from behavior (offline -> False)
    in_call: bool = False
    dnd: bool = False
    name: str = ""

    @property
    def is_registered(self) -> bool:
        if self.registered is not None:
            return self.registered
        return self.behavior not in ("offline",)


@dataclass
class Scenario:
    domain: str = "demo.local"
    did: str = "8000"
    caller: str = "+5511998765432"
    at: Optional[datetime] = None
    language: Optional[str] = None
    caller_inputs: list[CallerInput] = field(default_factory=list)
    agents: dict[str, EndpointBehavior] = field(default_factory=dict)
    customers: dict[str, EndpointBehavior] = field(default_factory=dict)
    directory: Union[str, dict, list, None] = None
    expect: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)  # extra channel variables
    caller_name: str = ""
    name: str = ""  # file name, for messages
    source_dir: Optional[Path] = None
    # Speech engines the PBX can open for this call (None: the simulator's own,
    # which are none unless it was started with some) and their result format.
    asr_engines: Optional[tuple[str, ...]] = None
    asr_format: Optional[str] = None  # json | nlsml (None: the simulator's, json by default)

    @property
    def anonymous(self) -> bool:
        return self.caller.lower() == "anonymous"

    def directory_document(self) -> Union[dict, list, None]:
        """The destinations document to import: inline, or read from the path
        (relative to the scenario file)."""
        if self.directory is None:
            return None
        if isinstance(self.directory, (dict, list)):
            return self.directory
        path = Path(self.directory)
        if not path.is_absolute() and self.source_dir is not None:
            path = self.source_dir / path
        try:
            data = yamlfile.load(path)
        except yamlfile.YamlFileError as exc:
            raise ValidationError("directory", str(exc)) from None
        if not isinstance(data, (dict, list)):
            raise ValidationError("directory", f"{path} must hold a mapping or a list")
        return data

    def directory_path(self) -> Optional[Path]:
        if isinstance(self.directory, str):
            path = Path(self.directory)
            if not path.is_absolute() and self.source_dir is not None:
                path = self.source_dir / path
            return path
        return None


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = {
    "domain",
    "did",
    "caller",
    "at",
    "language",
    "caller_inputs",
    "agents",
    "customers",
    "directory",
    "expect",
    "variables",
    "caller_name",
    "name",
    "asr_engines",
    "asr_format",
}
_ENDPOINT_KEYS = {
    "behavior",
    "answer_after",
    "accept",
    "hangup_after",
    "talk_for",
    "registered",
    "in_call",
    "dnd",
    "name",
}


def _seconds(value: Any, where: str, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(where, "must be a number of seconds")
    number = float(value)
    if number < 0 or (not allow_zero and number == 0) or number > _MAX_SECONDS:
        raise ValidationError(where, f"must be between 0 and {int(_MAX_SECONDS)} seconds")
    return number


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(where, "must be true or false")
    return value


def _text(value: Any, where: str, *, max_len: int = 10_000) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ValidationError(where, "must be text")
    text = str(value)
    if len(text) > max_len:
        raise ValidationError(where, f"is longer than {max_len} characters")
    return text


def parse_input(item: Any, where: str) -> CallerInput:
    if not isinstance(item, Mapping) or len(item) != 1:
        raise ValidationError(where, f"must be one of {', '.join(k + ': ...' for k in INPUT_KINDS)}")
    (kind, value), = item.items()
    sub = f"{where}.{kind}"
    if kind == "say":
        text = _text(value, sub)
        if not text.strip():
            raise ValidationError(sub, "must not be empty (use silence: true)")
        return CallerInput("say", text)
    if kind == "dtmf":
        keys = _text(value, sub, max_len=64)
        if not _DTMF_RE.match(keys):
            raise ValidationError(sub, f"must be keys 0-9 * # A-D, got {keys!r}")
        return CallerInput("dtmf", keys.upper())
    if kind == "silence":
        if value is not True:
            raise ValidationError(sub, "must be true")
        return CallerInput("silence")
    if kind == "hangup":
        if value is True:
            return CallerInput("hangup")
        if isinstance(value, Mapping):
            extra = set(value) - {"after"}
            if extra:
                raise ValidationError(f"{sub}.{sorted(extra)[0]}", "unknown key (only 'after')")
            if "after" not in value:
                raise ValidationError(f"{sub}.after", "required")
            return CallerInput("hangup", after=_seconds(value["after"], f"{sub}.after"))
        raise ValidationError(sub, "must be true or {after: SECONDS}")
    raise ValidationError(where, f"unknown input {kind!r} (use {', '.join(INPUT_KINDS)})")


def parse_endpoint(data: Any, where: str) -> EndpointBehavior:
    if isinstance(data, str):
        data = {"behavior": data}
    if not isinstance(data, Mapping):
        raise ValidationError(where, "must be a mapping such as {behavior: answer}")
    for key in data:
        if key not in _ENDPOINT_KEYS:
            raise ValidationError(f"{where}.{key}", "unknown key")
    behavior = str(data.get("behavior", "answer"))
    if behavior not in BEHAVIORS:
        raise ValidationError(f"{where}.behavior", f"must be one of {', '.join(BEHAVIORS)}")
    kwargs: dict[str, Any] = {"behavior": behavior}
    if "answer_after" in data:
        kwargs["answer_after"] = _seconds(data["answer_after"], f"{where}.answer_after")
    if "accept" in data:
        accept = data["accept"]
        if accept is not None and not isinstance(accept, bool):
            raise ValidationError(f"{where}.accept", "must be true, false or null")
        kwargs["accept"] = accept
    if "hangup_after" in data and data["hangup_after"] is not None:
        kwargs["hangup_after"] = _seconds(data["hangup_after"], f"{where}.hangup_after")
    if "talk_for" in data:
        kwargs["talk_for"] = _seconds(data["talk_for"], f"{where}.talk_for", allow_zero=False)
    if "registered" in data and data["registered"] is not None:
        kwargs["registered"] = _bool(data["registered"], f"{where}.registered")
    for key in ("in_call", "dnd"):
        if key in data:
            kwargs[key] = _bool(data[key], f"{where}.{key}")
    if "name" in data:
        kwargs["name"] = _text(data["name"], f"{where}.name", max_len=128)
    return EndpointBehavior(**kwargs)


def parse_endpoints(data: Any, where: str) -> dict[str, EndpointBehavior]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValidationError(where, "must be a mapping of dialled target to behaviour")
    result: dict[str, EndpointBehavior] = {}
    for key, value in data.items():
        name = str(key)
        if not _KEY_RE.match(name):
            raise ValidationError(f"{where}.{name}", "not a valid extension, group or number")
        result[name] = parse_endpoint(value, f"{where}.{name}")
    return result


def _parse_at(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value, "at", max_len=64)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("at", f"not an ISO-8601 date-time: {text!r}") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError("at", "must carry a UTC offset (e.g. 2026-11-24T10:30:00-03:00)")
    return moment


def parse_asr_engines(value: Any, where: str = "asr_engines") -> tuple[str, ...]:
    """A list of ASR engine names (``[unimrcp]``, ``[test]``, ``[]`` for none)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ValidationError(where, "must be a list of engine names, e.g. [unimrcp] (or [] for none)")
    engines = []
    for i, item in enumerate(value):
        engine = _text(item, f"{where}[{i}]", max_len=64)
        if not _ENGINE_RE.match(engine):
            raise ValidationError(f"{where}[{i}]", f"not an engine name: {engine!r}")
        engines.append(engine)
    return tuple(engines)


def parse_asr_format(value: Any, where: str = "asr_format") -> str:
    fmt = _text(value, where, max_len=16).lower()
    if fmt not in ASR_FORMATS:
        raise ValidationError(where, f"must be one of {', '.join(ASR_FORMATS)}, got {fmt!r}")
    return fmt


def parse_scenario(data: Any, *, name: str = "", source_dir: Optional[Path] = None) -> Scenario:
    """Validate a scenario document (already loaded from YAML/JSON)."""
    if not isinstance(data, Mapping):
        raise ValidationError("scenario", "top level must be a mapping")
    for key in data:
        if key not in _TOP_KEYS:
            raise ValidationError(str(key), "unknown key")
    sc = Scenario(name=name, source_dir=source_dir)
    if "domain" in data:
        sc.domain = _text(data["domain"], "domain", max_len=253)
        if not _DOMAIN_RE.match(sc.domain):
            raise ValidationError("domain", f"not a domain name: {sc.domain!r}")
    if "did" in data:
        sc.did = _text(data["did"], "did", max_len=32)
        if not _DID_RE.match(sc.did):
            raise ValidationError("did", f"must be digits (optionally +): {sc.did!r}")
    if "caller" in data:
        caller = _text(data["caller"], "caller", max_len=64).strip()
        if caller.lower() != "anonymous" and not _CALLER_RE.match(caller):
            raise ValidationError("caller", f"must be a number (digits, optional +) or 'anonymous': {caller!r}")
        sc.caller = caller
    if "caller_name" in data:
        sc.caller_name = _text(data["caller_name"], "caller_name", max_len=128)
    if data.get("at") is not None:
        sc.at = _parse_at(data["at"])
    if data.get("language") is not None:
        lang = _text(data["language"], "language", max_len=8)
        if lang not in LANGUAGES:
            raise ValidationError("language", f"must be one of {', '.join(LANGUAGES)}")
        sc.language = lang
    inputs = data.get("caller_inputs") or []
    if not isinstance(inputs, list):
        raise ValidationError("caller_inputs", "must be a list")
    sc.caller_inputs = [parse_input(item, f"caller_inputs[{i}]") for i, item in enumerate(inputs)]
    sc.agents = parse_endpoints(data.get("agents"), "agents")
    sc.customers = parse_endpoints(data.get("customers"), "customers")
    if data.get("directory") is not None:
        directory = data["directory"]
        if not isinstance(directory, (str, dict, list)):
            raise ValidationError("directory", "must be a path or the destinations document inline")
        sc.directory = directory
    if data.get("expect") is not None:
        if not isinstance(data["expect"], Mapping):
            raise ValidationError("expect", "must be a mapping (e.g. {outcome: transferred})")
        sc.expect = dict(data["expect"])
    if data.get("variables") is not None:
        if not isinstance(data["variables"], Mapping):
            raise ValidationError("variables", "must be a mapping of channel variable to value")
        for key, value in data["variables"].items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", str(key)):
                raise ValidationError(f"variables.{key}", "not a channel variable name")
            sc.variables[str(key)] = _text(value, f"variables.{key}", max_len=1024)
    if "name" in data and data["name"] is not None:
        sc.name = _text(data["name"], "name", max_len=256)
    if data.get("asr_engines") is not None:
        sc.asr_engines = parse_asr_engines(data["asr_engines"])
    if data.get("asr_format") is not None:
        sc.asr_format = parse_asr_format(data["asr_format"])
    return sc


def load_scenario(path: Union[str, Path]) -> Scenario:
    """Read and validate a scenario file (YAML or JSON)."""
    p = Path(path)
    data = yamlfile.load(p)  # YamlFileError (a ValidationError) names the file
    return parse_scenario(data, name=p.name, source_dir=p.parent)


def check_expect(scenario: Scenario, result: Mapping[str, Any]) -> list[str]:
    """Compare ``expect`` with a result object; returns the mismatches (empty: all met)."""
    problems = []
    for key, wanted in scenario.expect.items():
        got = result.get(key)
        if key == "transcript_contains":
            texts = " ".join(str(e.get("text", "")) for e in result.get("transcript", []))
            items = wanted if isinstance(wanted, list) else [wanted]
            for item in items:
                if str(item) not in texts:
                    problems.append(f"expect.transcript_contains: {item!r} not in the transcript")
            continue
        if got != wanted:
            problems.append(f"expect.{key}: wanted {wanted!r}, got {got!r}")
    return problems
