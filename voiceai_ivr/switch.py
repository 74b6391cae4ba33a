"""The PBX API: FreeSWITCH api/bgapi commands as typed calls, and the one place
that builds dial strings.

``Switch`` talks through an ``ApiTransport`` (the inbound Event Socket client, or
mod_python3's ``freeswitch.API``); it knows nothing of conversations.
"""

from __future__ import annotations

import re
import threading
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from voiceai_ivr.errors import DialStringError, ESLTimeout

# --------------------------------------------------------------------------- transport


class BackgroundJob(Protocol):
    """A bgapi job. ``wait`` returns the job's result text (``+OK uuid`` / ``-ERR CAUSE``)
    or raises ``ESLTimeout``; ``done`` is set when the result has arrived."""

    job_uuid: str
    done: threading.Event

    def wait(self, timeout: float) -> str: ...

    def add_done_callback(self, fn: Callable[[str], None]) -> None: ...


class ApiTransport(Protocol):
    def api(self, command: str, timeout: float = 5.0) -> str:
        """Run ``api COMMAND``; returns the response body (may start with ``-ERR``).
        Raises ``ESLTimeout``/``ESLDisconnected``."""

    def bgapi(self, command: str, timeout: float = 5.0) -> BackgroundJob:
        """Run ``bgapi COMMAND``; ``timeout`` bounds the ``+OK Job-UUID`` reply only."""


# --------------------------------------------------------------------------- dial strings

# Characters that change the meaning of a dial string or of its variable block:
# separators (, | :_:), variable blocks ({} [] <>), ^^ escapes, & (app), quotes,
# ; and whitespace, and ${...} expansion.
_FORBIDDEN = re.compile(r"[,|{}\[\]<>^&'\";\s`$\\]|:_:")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.@+\-/:#*=]{1,128}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$")
_EXT_RE = re.compile(r"^[0-9A-Za-z_.\-*#+]{1,32}$")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def check_dial_token(field_name: str, value: str) -> str:
    """Refuse any value that could alter a dial string; returns it unchanged."""
    if not isinstance(value, str) or not value:
        raise DialStringError(field_name, "must not be empty")
    if _FORBIDDEN.search(value) or "${" in value:
        raise DialStringError(field_name, f"contains characters not allowed in a dial string: {value!r}")
    if not _SAFE_VALUE.match(value):
        raise DialStringError(field_name, f"not a valid dial-string value: {value!r}")
    return value


def check_domain(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _DOMAIN_RE.match(value):
        raise DialStringError(field_name, f"not a valid domain name: {value!r}")
    return value


def check_extension(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _EXT_RE.match(value):
        raise DialStringError(field_name, f"not a valid extension: {value!r}")
    return value


def check_e164(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _E164_RE.match(value):
        raise DialStringError(field_name, f"not an E.164 number: {value!r}")
    return value


def _escape_var_value(value: str) -> str:
    """Variable values inside {...}: commas are escaped as ``\\,``; anything that
    could close the block or start an expansion is refused."""
    if any(c in value for c in "{}[]<>\n\r'\"`") or "${" in value or "^^" in value:
        raise DialStringError("variable", f"value not allowed in a dial string: {value!r}")
    return value.replace(",", "\\,")


def variable_block(variables: Mapping[str, str]) -> str:
    """``{a=1,b=2}`` with names and values validated."""
    parts = []
    for name, value in variables.items():
        if not _VAR_NAME_RE.match(name):
            raise DialStringError("variable", f"bad variable name: {name!r}")
        parts.append(f"{name}={_escape_var_value(str(value))}")
    return "{" + ",".join(parts) + "}" if parts else ""


@dataclass(frozen=True)
class DialTarget:
    """What to dial, by destination type. Built only through ``dial_target``."""

    kind: str  # extension | ring_group | queue | external | voicemail
    target: str
    domain: str
    gateway: str = ""

    def endpoint(self) -> str:
        if self.kind == "extension":
            return f"user/{self.target}@{self.domain}"
        if self.kind == "ring_group":
            # FusionPBX ring groups are dialplan extensions in the domain's context.
            return f"loopback/{self.target}/{self.domain}"
        if self.kind == "queue":
            # mod_callcenter queue, entered through the dialplan (callcenter app).
            return f"loopback/{self.target}/{self.domain}"
        if self.kind == "voicemail":
            # FusionPBX convention: *99<ext> reaches the mailbox through the dialplan.
            return f"loopback/*99{self.target}/{self.domain}"
        if self.kind == "external":
            return f"sofia/gateway/{self.gateway}/{self.target}"
        raise DialStringError("type", f"unknown destination type: {self.kind!r}")


def dial_target(kind: str, target: str, domain: str, gateway: str = "") -> DialTarget:
    """Validate every part and return a ``DialTarget``. The only way dial strings are built."""
    check_domain("domain", domain)
    if kind in ("extension", "ring_group", "queue", "voicemail"):
        check_extension("target", target)
    elif kind == "external":
        check_e164("target", target)
        check_dial_token("gateway", gateway)
        if "/" in gateway or ":" in gateway or "@" in gateway:
            raise DialStringError("gateway", f"not a gateway name: {gateway!r}")
    else:
        raise DialStringError("type", f"unknown destination type: {kind!r}")
    return DialTarget(kind=kind, target=target, domain=domain, gateway=gateway)


def build_dial_string(target: DialTarget, variables: Optional[Mapping[str, str]] = None) -> str:
    return variable_block(variables or {}) + target.endpoint()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OriginateResult:
    ok: bool
    uuid: Optional[str]
    cause: Optional[str]  # FreeSWITCH hangup cause on failure (USER_BUSY...)
    raw: str = ""
    dial_string: str = ""


def parse_originate_reply(text: str, dial_string: str = "") -> OriginateResult:
    """``+OK <uuid>`` / ``-ERR USER_BUSY`` / ``-ERR`` with no cause."""
    text = (text or "").strip()
    if text.startswith("+OK"):
        rest = text[3:].strip()
        return OriginateResult(True, rest or None, None, text, dial_string)
    if text.startswith("-ERR"):
        cause = text[4:].strip().split()[0] if text[4:].strip() else "UNKNOWN"
        cause = re.sub(r"[^A-Z0-9_]", "", cause.upper()) or "UNKNOWN"
        return OriginateResult(False, None, cause, text, dial_string)
    return OriginateResult(False, None, "UNKNOWN", text, dial_string)


@dataclass(frozen=True)
class Registration:
    user: str
    realm: str
    contact: str = ""
    agent: str = ""
    extra: dict = field(default_factory=dict)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


__all__ = [
    "ApiTransport",
    "BackgroundJob",
    "DialTarget",
    "ESLTimeout",
    "OriginateResult",
    "Registration",
    "build_dial_string",
    "check_dial_token",
    "check_domain",
    "check_e164",
    "check_extension",
    "dial_target",
    "new_uuid",
    "parse_originate_reply",
    "variable_block",
]
