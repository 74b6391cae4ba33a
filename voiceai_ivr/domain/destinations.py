"""The destinations document: secretaries and transfer destinations of one domain.

``parse_directory(doc)`` validates a whole YAML/JSON document and either returns a
``Directory`` or raises one ``DirectoryError`` listing every problem with its path
(``destinations[2].target: ...``), so an import is all-or-nothing.
``directory_to_doc(directory)`` exports the same shape; ``parse_directory(
directory_to_doc(d)) == d``.

Document keys (anything else is refused)::

    domain, timezone, region, holidays, hours, secretaries, destinations
    secretaries[i]:  name, dids, language, timezone, greeting, announce, music_on_hold,
                     fallback, callback, ring_timeout, hours, holidays, recording
    destinations[i]: name, aliases, type, target, gateway, timeout, priority, enabled,
                     hours, holidays, fallback, menu_key, category, keywords

``category`` (one of ``lexicon.CATEGORIES``: billing, support, sales, hr, ...) gives
the resolver the packaged topic words of that kind of department; ``keywords`` adds
the destination's own topic words.

Effective business hours for a destination (``Directory.hours_for``): its own
``hours`` else the secretary's else the domain's (none anywhere: always open); the
secretary's timezone else the domain's; holidays from the destination if it sets
them (``holidays: {}`` = ignore holidays, e.g. a 24x7 on-call line), else the
secretary's, else the domain's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, TypeVar

from voiceai_ivr.domain.hours import (
    ALWAYS,
    BusinessHours,
    HolidaySpec,
    WeeklyHours,
    parse_holidays,
    parse_timezone,
    parse_weekly,
)
from voiceai_ivr.domain.lexicon import CATEGORIES
from voiceai_ivr.domain.phone import normalize_phone
from voiceai_ivr.domain.resolve import Resolver, normalize_text
from voiceai_ivr.errors import DirectoryError, ValidationError
from voiceai_ivr.switch import check_dial_token, check_domain, check_e164, check_extension, dial_target

DEST_TYPES = ("extension", "ring_group", "queue", "external", "voicemail")
LANGUAGES = ("pt-BR", "en-US")
FALLBACK_ACTIONS = ("callback", "voicemail", "operator", "hangup")  # or "destination:<name>"
DEFAULT_TIMEZONE = "America/Sao_Paulo"
DEFAULT_MOH = "local_stream://moh"
TIMEOUT_RANGE = (5, 300)

_DID_RE = re.compile(r"^\+?[0-9]{2,20}$")
_PHONE_CHARS = re.compile(r"^[0-9+\-\s().]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MOH_RES = (
    re.compile(r"^local_stream://[A-Za-z0-9_.\-]{1,64}(/[A-Za-z0-9_.\-]{1,64})?$"),
    re.compile(r"^silence_stream://-?[0-9]{1,7}$"),
    re.compile(r"^/(?:[A-Za-z0-9_\-]+[A-Za-z0-9_.\-]*/)*[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\.(wav|mp3|ogg|flac|opus|gsm|ulaw|alaw)$"),
)

_DIRECTORY_KEYS = ("domain", "timezone", "region", "holidays", "hours", "secretaries", "destinations")
_SECRETARY_KEYS = (
    "name", "dids", "language", "timezone", "greeting", "announce", "music_on_hold", "fallback",
    "callback", "ring_timeout", "hours", "holidays", "recording",
)
_DESTINATION_KEYS = (
    "name", "aliases", "type", "target", "gateway", "timeout", "priority", "enabled", "hours",
    "holidays", "fallback", "menu_key", "category", "keywords",
)


@dataclass(frozen=True)
class Destination:
    name: str
    type: str
    target: str
    aliases: tuple[str, ...] = ()
    gateway: Optional[str] = None
    timeout: Optional[int] = None  # ring timeout (s); None: the secretary's
    priority: int = 0
    enabled: bool = True
    hours: Optional[WeeklyHours] = None  # None: the secretary's/domain's
    holidays: Optional[HolidaySpec] = None  # None: inherited; empty spec: none
    fallback: Optional[str] = None  # callback | voicemail | operator | hangup | destination:<name>
    menu_key: Optional[int] = None  # 1-9
    category: Optional[str] = None  # a lexicon category (billing, support, ...)
    keywords: tuple[str, ...] = ()  # the destination's own topic words

    @property
    def fallback_destination(self) -> Optional[str]:
        if self.fallback and self.fallback.startswith("destination:"):
            return self.fallback.split(":", 1)[1]
        return None


@dataclass(frozen=True)
class Secretary:
    name: str
    dids: tuple[str, ...] = ()
    language: str = "pt-BR"
    timezone: Optional[str] = None  # None: the domain's
    greeting: Optional[str] = None  # None: the prompt file's
    announce: bool = True
    music_on_hold: str = DEFAULT_MOH
    fallback: Optional[str] = None  # destination name
    callback: bool = True
    ring_timeout: int = 25
    hours: Optional[WeeklyHours] = None
    holidays: Optional[HolidaySpec] = None
    recording: bool = False


@dataclass(frozen=True)
class Directory:
    domain: str
    timezone: str = DEFAULT_TIMEZONE
    region: str = "BR"
    holidays: Optional[HolidaySpec] = None
    hours: Optional[WeeklyHours] = None
    secretaries: tuple[Secretary, ...] = ()
    destinations: tuple[Destination, ...] = ()

    def destination(self, name: str) -> Optional[Destination]:
        for d in self.destinations:
            if d.name == name:
                return d
        return None

    def secretary(self, name: str) -> Optional[Secretary]:
        for s in self.secretaries:
            if s.name == name:
                return s
        return None

    def secretary_for_did(self, did: str) -> Optional[Secretary]:
        key = _clean_did(did)
        for s in self.secretaries:
            if key in s.dids:
                return s
        return None

    def business_hours(self, secretary: Optional[Secretary] = None) -> BusinessHours:
        """The secretary's (else the domain's) hours, timezone and holidays."""
        weekly = (secretary.hours if secretary and secretary.hours is not None else self.hours) or ALWAYS
        tz = (secretary.timezone if secretary and secretary.timezone else None) or self.timezone
        hol = secretary.holidays if secretary and secretary.holidays is not None else self.holidays
        return BusinessHours(weekly, tz, hol or HolidaySpec())

    def hours_for(self, destination: Destination, secretary: Optional[Secretary] = None) -> BusinessHours:
        """Effective hours of one destination (see the module docstring)."""
        base = self.business_hours(secretary)
        weekly = destination.hours if destination.hours is not None else base.weekly
        hol = destination.holidays if destination.holidays is not None else base.holidays
        return BusinessHours(weekly, base.timezone, hol)

    def hours_lookup(self, secretary: Optional[Secretary] = None) -> Callable[[str], Optional[BusinessHours]]:
        """``hours_for`` keyed by destination name, as ``Resolver.resolve`` wants it."""

        def lookup(name: str) -> Optional[BusinessHours]:
            d = self.destination(name)
            return self.hours_for(d, secretary) if d else None

        return lookup

    def menu(self) -> dict[str, str]:
        """Keyed menu: "1".."9" -> destination name (enabled destinations only)."""
        return {str(d.menu_key): d.name for d in self.destinations if d.menu_key and d.enabled}

    def resolver(self) -> Resolver:
        return Resolver(self.destinations)


# --------------------------------------------------------------------------- parsing

T = TypeVar("T")


class _Collector:
    """Gathers ``path: reason`` problems; ``check`` runs one validator and returns
    its value, or ``None`` after recording the problem."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, reason: str) -> None:
        self.problems.append(f"{path}: {reason}")

    def check(self, path: str, fn: Callable[[], T]) -> Optional[T]:
        try:
            return fn()
        except ValidationError as exc:
            # Validators are given the full path; keep their more precise one
            # ("destinations[1].hours.mon-fri[0]") when they report it.
            self.add(exc.field if exc.field.startswith(path) else path, exc.reason)
            return None


def _str(v: Any, path: str, *, max_len: int = 100, allow_int: bool = False) -> str:
    if allow_int and isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise ValidationError(path, f"must be text, got {type(v).__name__}")
    text: str = v.strip()
    if not text:
        raise ValidationError(path, "must not be empty")
    if len(text) > max_len:
        raise ValidationError(path, f"too long (max {max_len} characters)")
    if _CONTROL.search(text):
        raise ValidationError(path, "contains control characters")
    return text


def _bool(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise ValidationError(path, f"must be true or false, got {v!r}")
    return v


def _int(v: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v.strip())
        else:
            raise ValidationError(path, f"must be a whole number, got {v!r}")
    if not lo <= v <= hi:
        raise ValidationError(path, f"must be {lo}-{hi}, got {v}")
    return int(v)


def _clean_did(v: Any) -> str:
    s = str(v).strip() if isinstance(v, (str, int)) and not isinstance(v, bool) else ""
    return re.sub(r"[\s\-().]", "", s)


def check_music_on_hold(value: Any, path: str = "music_on_hold") -> str:
    """A FreeSWITCH audio source safe to hand to playback/uuid_broadcast:
    ``local_stream://NAME``, ``silence_stream://N`` or an absolute audio file path."""
    v = _str(value, path, max_len=256)
    if "${" in v or ".." in v or not any(r.match(v) for r in _MOH_RES):
        raise ValidationError(
            path, f"not a safe music-on-hold source: {v!r} (use local_stream://NAME, "
            "silence_stream://N or an absolute .wav/.mp3 path)"
        )
    return v


def _keys(c: _Collector, m: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
    for k in m:
        if k not in allowed:
            c.add(f"{path}.{k}" if path else str(k), f"unknown key (allowed: {', '.join(allowed)})")


def _opt(c: _Collector, m: Mapping[str, Any], key: str, path: str, fn: Callable[[Any, str], T]) -> Optional[T]:
    if key not in m or m[key] is None:
        return None
    p = f"{path}.{key}" if path else key
    return c.check(p, lambda: fn(m[key], p))


def _target(kind: str, raw: Any, gateway: Optional[str], domain: Optional[str], region: str, path: str) -> str:
    """Validate a target by type; external numbers are normalised to E.164 first
    (phone punctuation only), then checked like every other dial-string value."""
    if kind == "external":
        text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
        if not text:
            raise ValidationError(path, "must be a phone number")
        if "${" in text or not _PHONE_CHARS.match(text):
            raise ValidationError(path, f"contains characters not allowed in a dial string: {text!r}")
        e164 = normalize_phone(text, region, field=path)
        check_e164(path, e164)
        check_dial_token(path, e164)
        return e164
    value = _str(raw, path, max_len=32, allow_int=True)
    check_dial_token(path, value)
    check_extension(path, value)
    return value


def parse_directory(doc: Any, *, default_region: str = "BR") -> Directory:
    """Validate a whole document; raises ``DirectoryError`` listing every problem."""
    c = _Collector()
    if not isinstance(doc, Mapping):
        raise DirectoryError(["document: must be a mapping with domain, secretaries, destinations"])
    _keys(c, doc, _DIRECTORY_KEYS, "")

    domain = c.check("domain", lambda: check_domain("domain", _str(doc.get("domain"), "domain", max_len=253)))
    tz = DEFAULT_TIMEZONE
    if doc.get("timezone") is not None:
        tz = c.check("timezone", lambda: parse_timezone(doc["timezone"], "timezone")) or DEFAULT_TIMEZONE
    region = default_region
    if doc.get("region") is not None:
        region = c.check("region", lambda: _region(doc["region"], "region")) or default_region
    holidays = _opt(c, doc, "holidays", "", parse_holidays)
    hours = _opt(c, doc, "hours", "", parse_weekly)

    raw_dests = _rows(c, doc, "destinations")
    raw_secs = _rows(c, doc, "secretaries")

    # Cross-row rules first, on the raw rows, so they are reported even when a row
    # has other problems: unique names, unique menu keys and DIDs, fallbacks that
    # name a destination, aliases that are not another destination's name.
    names: dict[str, str] = {}  # normalised name -> path of its row
    exact_names: set[str] = set()
    keys_seen: dict[Any, str] = {}
    for i, row in enumerate(raw_dests):
        path = f"destinations[{i}]"
        name = row.get("name") if isinstance(row, Mapping) else None
        if isinstance(name, str) and name.strip():
            key = normalize_text(name)
            if key in names:
                c.add(f"{path}.name", f"duplicate name {name.strip()!r} (also {names[key]})")
            else:
                names[key] = path
                exact_names.add(name.strip())
        mk = row.get("menu_key") if isinstance(row, Mapping) else None
        if mk is not None and not isinstance(mk, bool):
            if mk in keys_seen:
                c.add(f"{path}.menu_key", f"key {mk} already used by {keys_seen[mk]}")
            else:
                keys_seen[mk] = path
    for i, row in enumerate(raw_dests):
        if not isinstance(row, Mapping):
            continue
        path = f"destinations[{i}]"
        fb = row.get("fallback")
        if isinstance(fb, str) and fb.strip().startswith("destination:"):
            target = fb.strip().split(":", 1)[1].strip()
            if target and target == str(row.get("name", "")).strip():
                c.add(f"{path}.fallback", "a destination cannot fall back to itself")
            elif target and target not in exact_names:
                c.add(f"{path}.fallback", f"no destination named {target!r}")
        aliases = row.get("aliases")
        own = normalize_text(str(row.get("name", "")))
        for j, alias in enumerate(aliases if isinstance(aliases, list) else []):
            owner = names.get(normalize_text(alias)) if isinstance(alias, str) else None
            if owner is not None and normalize_text(alias) != own:
                c.add(f"{path}.aliases[{j}]", f"{alias!r} is the name of {owner}")
    sec_names: dict[str, str] = {}
    dids_seen: dict[str, str] = {}
    for i, row in enumerate(raw_secs):
        if not isinstance(row, Mapping):
            continue
        path = f"secretaries[{i}]"
        name = row.get("name")
        if isinstance(name, str) and name.strip():
            key = normalize_text(name)
            if key in sec_names:
                c.add(f"{path}.name", f"duplicate name {name.strip()!r} (also {sec_names[key]})")
            else:
                sec_names[key] = path
        raw_dids = row.get("dids")
        for j, did in enumerate(raw_dids if isinstance(raw_dids, list) else [raw_dids] if raw_dids else []):
            clean = _clean_did(did)
            if clean and clean in dids_seen:
                c.add(f"{path}.dids[{j}]", f"DID {clean} already belongs to {dids_seen[clean]}")
            elif clean:
                dids_seen[clean] = path
        fb = row.get("fallback")
        if isinstance(fb, str) and fb.strip() and fb.strip() not in exact_names:
            c.add(f"{path}.fallback", f"no destination named {fb.strip()!r}")

    dests: list[Destination] = []
    for i, row in enumerate(raw_dests):
        d = _parse_destination(c, row, f"destinations[{i}]", domain, region)
        if d is not None:
            dests.append(d)
    secs: list[Secretary] = []
    for i, row in enumerate(raw_secs):
        sec = _parse_secretary(c, row, f"secretaries[{i}]")
        if sec is not None:
            secs.append(sec)

    if c.problems:
        raise DirectoryError(c.problems)
    assert domain is not None  # a missing domain is a recorded problem
    return Directory(domain, tz, region, holidays, hours, tuple(secs), tuple(dests))


def _rows(c: _Collector, doc: Mapping[str, Any], key: str) -> list[Any]:
    rows = doc.get(key)
    if rows is None:
        return []
    if not isinstance(rows, list):
        c.add(key, "must be a list")
        return []
    return rows


def _region(v: Any, path: str) -> str:
    import phonenumbers

    s = _str(v, path, max_len=3).upper()
    if s not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(path, f"unknown phone region {v!r} (e.g. BR, US)")
    return s


def _fallback_action(v: Any, path: str) -> str:
    s = _str(v, path, max_len=120)
    if s in FALLBACK_ACTIONS:
        return s
    if s.startswith("destination:") and s.split(":", 1)[1].strip():
        return "destination:" + s.split(":", 1)[1].strip()
    raise ValidationError(path, f"must be one of {', '.join(FALLBACK_ACTIONS)} or destination:<name>, got {s!r}")


def _menu_key(v: Any, path: str) -> int:
    return _int(v, path, 1, 9)


def _parse_destination(
    c: _Collector, row: Any, path: str, domain: Optional[str], region: str
) -> Optional[Destination]:
    if not isinstance(row, Mapping):
        c.add(path, "must be a mapping with name, type and target")
        return None
    before = len(c.problems)
    _keys(c, row, _DESTINATION_KEYS, path)
    name = c.check(f"{path}.name", lambda: _str(row.get("name"), f"{path}.name"))
    kind = row.get("type")
    if kind not in DEST_TYPES:
        c.add(f"{path}.type", f"unknown type {kind!r} (one of {', '.join(DEST_TYPES)})")
        kind = None
    aliases = _phrase_list(c, row, "aliases", path)
    keywords = _phrase_list(c, row, "keywords", path)
    category = _opt(c, row, "category", path, _category)
    gateway: Optional[str] = None
    if row.get("gateway") is not None:
        gp = f"{path}.gateway"
        if kind is not None and kind != "external":
            c.add(gp, "only external destinations have a gateway")
        else:
            gateway = c.check(gp, lambda: _gateway(row["gateway"], gp))
    elif kind == "external":
        c.add(f"{path}.gateway", "an external destination needs a gateway")
    target: Optional[str] = None
    if row.get("target") is None:
        c.add(f"{path}.target", "is required")
    elif kind is not None:
        tp = f"{path}.target"
        target = c.check(tp, lambda: _target(kind, row["target"], gateway, domain, region, tp))
    if kind and target and domain and (gateway or kind != "external"):
        # the switch's own builder must accept it too
        c.check(f"{path}.target", lambda: dial_target(kind, target, domain, gateway or ""))
    timeout = _opt(c, row, "timeout", path, lambda v, p: _int(v, p, *TIMEOUT_RANGE))
    priority = _opt(c, row, "priority", path, lambda v, p: _int(v, p, -1000, 1000))
    enabled = _opt(c, row, "enabled", path, _bool)
    hours = _opt(c, row, "hours", path, parse_weekly)
    holidays = _opt(c, row, "holidays", path, parse_holidays)
    fallback = _opt(c, row, "fallback", path, _fallback_action)
    menu_key = _opt(c, row, "menu_key", path, _menu_key)
    if len(c.problems) != before or name is None or kind is None or target is None:
        return None
    return Destination(
        name=name,
        type=kind,
        target=target,
        aliases=tuple(aliases),
        gateway=gateway,
        timeout=timeout,
        priority=priority or 0,
        enabled=True if enabled is None else enabled,
        hours=hours,
        holidays=holidays,
        fallback=fallback,
        menu_key=menu_key,
        category=category,
        keywords=tuple(keywords),
    )


def _phrase_list(c: _Collector, row: Mapping[str, Any], key: str, path: str) -> list[str]:
    """``aliases`` / ``keywords``: a word, or a list of words or phrases (duplicates dropped)."""
    out: list[str] = []
    raw = row.get(key) or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        c.add(f"{path}.{key}", "must be a list of words or phrases")
        return out
    for j, a in enumerate(raw):
        ap = f"{path}.{key}[{j}]"
        try:
            val: Optional[str] = _str(a, ap)
        except ValidationError as exc:
            c.add(ap, exc.reason)
            val = None
        if val is not None:
            if not normalize_text(val):
                c.add(ap, f"{val!r} has no letters or digits")
            elif val not in out:
                out.append(val)
    return out


def _category(v: Any, path: str) -> str:
    s = _str(v, path, max_len=40).lower()
    if s not in CATEGORIES:
        raise ValidationError(path, f"unknown category {s!r} (one of {', '.join(CATEGORIES)})")
    return s


def _gateway(v: Any, path: str) -> str:
    s = _str(v, path, max_len=64)
    check_dial_token(path, s)
    if "/" in s or ":" in s or "@" in s:
        raise ValidationError(path, f"not a gateway name: {s!r}")
    return s


def _language(v: Any, path: str) -> str:
    s = _str(v, path, max_len=8)
    for lang in LANGUAGES:
        if s.lower() == lang.lower():
            return lang
    raise ValidationError(path, f"unsupported language {s!r} (one of {', '.join(LANGUAGES)})")


def _dids(v: Any, path: str) -> tuple[str, ...]:
    if isinstance(v, (str, int)) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list):
        raise ValidationError(path, "must be a list of dialled numbers")
    out: list[str] = []
    for j, raw in enumerate(v):
        did = _clean_did(raw)
        if not _DID_RE.match(did):
            raise ValidationError(f"{path}[{j}]", f"not a dialled number: {raw!r}")
        if did not in out:
            out.append(did)
    return tuple(out)


def _parse_secretary(c: _Collector, row: Any, path: str) -> Optional[Secretary]:
    if not isinstance(row, Mapping):
        c.add(path, "must be a mapping with name and dids")
        return None
    before = len(c.problems)
    _keys(c, row, _SECRETARY_KEYS, path)
    name = c.check(f"{path}.name", lambda: _str(row.get("name"), f"{path}.name"))
    dids: tuple[str, ...] = ()
    if row.get("dids") is not None:
        dp = f"{path}.dids"
        try:
            dids = _dids(row["dids"], dp)
        except ValidationError as exc:
            c.add(exc.field, exc.reason)
    language = _opt(c, row, "language", path, _language)
    tz = _opt(c, row, "timezone", path, parse_timezone)
    greeting = _opt(c, row, "greeting", path, lambda v, p: _str(v, p, max_len=1000))
    announce = _opt(c, row, "announce", path, _bool)
    moh = _opt(c, row, "music_on_hold", path, check_music_on_hold)
    fallback = _opt(c, row, "fallback", path, lambda v, p: _str(v, p))
    callback = _opt(c, row, "callback", path, _bool)
    ring_timeout = _opt(c, row, "ring_timeout", path, lambda v, p: _int(v, p, *TIMEOUT_RANGE))
    hours = _opt(c, row, "hours", path, parse_weekly)
    holidays = _opt(c, row, "holidays", path, parse_holidays)
    recording = _opt(c, row, "recording", path, _bool)
    if len(c.problems) != before or name is None:
        return None
    return Secretary(
        name=name,
        dids=dids,
        language=language or "pt-BR",
        timezone=tz,
        greeting=greeting,
        announce=True if announce is None else announce,
        music_on_hold=moh or DEFAULT_MOH,
        fallback=fallback,
        callback=True if callback is None else callback,
        ring_timeout=25 if ring_timeout is None else ring_timeout,
        hours=hours,
        holidays=holidays,
        recording=bool(recording),
    )


# --------------------------------------------------------------------------- export


def destination_to_doc(d: Destination) -> dict[str, Any]:
    out: dict[str, Any] = {"name": d.name}
    if d.aliases:
        out["aliases"] = list(d.aliases)
    out["type"] = d.type
    out["target"] = d.target
    if d.gateway is not None:
        out["gateway"] = d.gateway
    if d.timeout is not None:
        out["timeout"] = d.timeout
    if d.priority:
        out["priority"] = d.priority
    if not d.enabled:
        out["enabled"] = False
    if d.hours is not None:
        out["hours"] = d.hours.to_spec()
    if d.holidays is not None:
        out["holidays"] = d.holidays.to_spec()
    if d.fallback is not None:
        out["fallback"] = d.fallback
    if d.menu_key is not None:
        out["menu_key"] = d.menu_key
    if d.category is not None:
        out["category"] = d.category
    if d.keywords:
        out["keywords"] = list(d.keywords)
    return out


def secretary_to_doc(s: Secretary) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "dids": list(s.dids), "language": s.language}
    if s.timezone is not None:
        out["timezone"] = s.timezone
    if s.greeting is not None:
        out["greeting"] = s.greeting
    out["announce"] = s.announce
    out["music_on_hold"] = s.music_on_hold
    if s.fallback is not None:
        out["fallback"] = s.fallback
    out["callback"] = s.callback
    out["ring_timeout"] = s.ring_timeout
    if s.hours is not None:
        out["hours"] = s.hours.to_spec()
    if s.holidays is not None:
        out["holidays"] = s.holidays.to_spec()
    out["recording"] = s.recording
    return out


def directory_to_doc(directory: Directory) -> dict[str, Any]:
    """The import document for ``directory`` (plain dicts/lists/str/int/bool, ready
    for ``yaml.safe_dump``/``json.dumps``)."""
    out: dict[str, Any] = {"domain": directory.domain, "timezone": directory.timezone}
    if directory.region != "BR":
        out["region"] = directory.region
    if directory.holidays is not None:
        out["holidays"] = directory.holidays.to_spec()
    if directory.hours is not None:
        out["hours"] = directory.hours.to_spec()
    out["secretaries"] = [secretary_to_doc(s) for s in directory.secretaries]
    out["destinations"] = [destination_to_doc(d) for d in directory.destinations]
    return out


#: A suggested keyword (``with_suggested_keywords``): at most this many words and characters.
SUGGESTION_WORDS = 4
SUGGESTION_CHARS = 60


def suggestion_targets(directory: Directory, resolver: Optional[Resolver] = None) -> list[str]:
    """The destinations worth suggesting keywords for: enabled departments, not
    people (as ``resolver``, default the directory's, reads the names) and not the
    reception."""
    resolver = resolver or directory.resolver()
    return [d.name for d in directory.destinations
            if d.enabled and d.category != "reception" and not resolver.is_person(d.name)]


def with_suggested_keywords(
    directory: Directory, suggestions: Mapping[str, Any], *, most: int = 15,
    targets: Optional[Sequence[str]] = None,
) -> tuple[Directory, dict[str, list[str]]]:
    """``directory`` with up to ``most`` suggested phrases added to each named
    department's keywords, and what was added per department. A phrase is kept
    when it is text of 1-4 words and at most 60 characters, is not already one of
    that department's keywords, and is no destination's name or alias (which would
    change who those words reach); it is stored lower case, spaces collapsed.
    Names that are not ``targets`` (default ``suggestion_targets``) are ignored."""
    wanted = set(suggestion_targets(directory) if targets is None else targets)
    taken = {normalize_text(n) for d in directory.destinations for n in (d.name, *d.aliases)}
    added: dict[str, list[str]] = {}
    out: list[Destination] = []
    for dest in directory.destinations:
        raw = suggestions.get(dest.name) if dest.name in wanted else None
        have = {normalize_text(k) for k in dest.keywords}
        new: list[str] = []
        for phrase in raw if isinstance(raw, (list, tuple)) else ():
            if not isinstance(phrase, str):
                continue
            text = " ".join(phrase.lower().split())
            key = normalize_text(text)
            if (not key or len(text) > SUGGESTION_CHARS or len(text.split()) > SUGGESTION_WORDS
                    or key in have or key in taken):
                continue
            have.add(key)
            new.append(text)
            if len(new) >= most:
                break
        if new:
            added[dest.name] = new
            dest = replace(dest, keywords=(*dest.keywords, *new))
        out.append(dest)
    return replace(directory, destinations=tuple(out)), added


__all__ = [
    "DEST_TYPES",
    "FALLBACK_ACTIONS",
    "LANGUAGES",
    "Destination",
    "Directory",
    "DirectoryError",
    "Secretary",
    "check_music_on_hold",
    "destination_to_doc",
    "directory_to_doc",
    "parse_directory",
    "secretary_to_doc",
    "suggestion_targets",
    "with_suggested_keywords",
]
