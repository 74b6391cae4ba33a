"""What FreeSWITCH accepts in the values this package hands it from configuration:
caller-ID names and numbers, and serve addresses for the dialplan's ``socket``
action. Pure rules (no I/O) shared by ``config check`` and the modules that own
the contracts (``switch``: dial strings; ``provision.dialplan``: the dialplan),
so a value the check accepts is one they accept.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import unicodedata
from typing import Any, Optional

from voiceai_ivr.errors import DialStringError, ValidationError

#: What the called phone shows. FreeSWITCH takes any UTF-8; SIP puts it in the
#: From header's quoted display name.
CALLER_ID_NAME_MAX = 64
_CID_NAME_PUNCT = frozenset(" &',.-+()#*!?_;=~")
# Characters refused (admin) or dropped (caller) with the reason an admin is told.
_CID_NAME_WHY = (
    ('"\\', "FreeSWITCH's SIP module cuts a caller-ID name at a double quote and SIP reads \\ as an escape"),
    ("%", "FreeSWITCH's SIP module URL-decodes caller-ID names (%xx)"),
    ("$", "${...} is FreeSWITCH variable expansion"),
    ("{}[]<>", "brackets delimit FreeSWITCH dial-string variable blocks"),
    # mod_sofia passes every outgoing caller-ID name through switch_sanitize_number
    # (measured on 1.11.1: "RH/Financeiro" reaches the phone as "Financeiro").
    ("/:@", "FreeSWITCH's SIP module keeps only what follows the last / or : of a caller-ID name and cuts it at @"),
)


def caller_id_name_char_ok(ch: str) -> bool:
    if ch in _CID_NAME_PUNCT:
        return True
    return unicodedata.category(ch)[0] in "LMN"  # letters (any script), accents, digits


def caller_id_name_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be a caller-ID name FreeSWITCH delivers intact, or None.

    Letters of any script, accents, digits, spaces and ``& ' , . - + ( ) # * ! ? _ ;
    = ~`` are fine (``originate_value`` escapes them for the originate line)."""
    if not isinstance(value, str):
        return "must be text"
    if len(value) > CALLER_ID_NAME_MAX:
        return f"longer than {CALLER_ID_NAME_MAX} characters"
    if value != value.strip():
        return "leading or trailing blanks"
    for chars, why in _CID_NAME_WHY:
        bad = sorted({c for c in value if c in chars})
        if bad:
            return f"{' '.join(bad)} not allowed: {why}"
    bad = sorted({c for c in value if not caller_id_name_char_ok(c)})
    if bad:
        shown = " ".join(repr(c) if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}" for c in bad)
        return (f"{shown} not allowed (use letters, digits, spaces and "
                f"{' '.join(sorted(_CID_NAME_PUNCT - {' '}))})")
    return None


_CID_NUMBER_RE = re.compile(r"^(?:anonymous|\+?[0-9A-Za-z*#]{1,32})$")


def check_caller_id_number(field_name: str, value: str) -> str:
    """``anonymous`` or up to 32 of ``+ 0-9 A-Z a-z * #`` (``+`` first only)."""
    if not isinstance(value, str) or not _CID_NUMBER_RE.match(value):
        raise DialStringError(field_name, f"not a caller id number (digits, an optional leading +, * #): {value!r}")
    return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def validate_host(value: Any, field: str = "host") -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "required (hostname or IPv4 address of the voiceai-ivr server)")
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(value).version == 6:
            # "socket" takes HOST:PORT; an IPv6 literal would be split at its colons.
            raise ValidationError(field, "IPv6 literals are not supported by the socket application; use a hostname")
    if not HOSTNAME_RE.fullmatch(value):
        raise ValidationError(field, f"must be a hostname or IPv4 address: {value!r}")
    return value


def validate_port(value: Any, field: str = "port") -> int:
    if isinstance(value, bool):
        raise ValidationError(field, "must be a whole number 1-65535")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field, f"must be a whole number 1-65535: {value!r}") from None
    if str(value).strip() != str(port) or not 1 <= port <= 65535:
        raise ValidationError(field, f"must be a whole number 1-65535: {value!r}")
    return port


def validate_failover(value: Any, host: str, port: int, field: str = "failover") -> tuple[str, ...]:
    """Further serve addresses as ``HOST:PORT`` strings: no duplicates, not the main one."""
    if value is None or value == "" or value == ():
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValidationError(field, "must be a list of HOST:PORT addresses")
    if len(value) > 8:
        raise ValidationError(field, f"at most 8 further addresses, got {len(value)}")
    seen = {f"{host}:{port}"}
    out: list[str] = []
    for i, item in enumerate(value):
        name = f"{field}[{i}]"
        if not isinstance(item, str):
            raise ValidationError(name, f"must be HOST:PORT: {item!r}")
        a_host, sep, a_port = item.rpartition(":")
        if not sep:
            raise ValidationError(name, f"must be HOST:PORT: {item!r}")
        address = f"{validate_host(a_host, name)}:{validate_port(a_port, name)}"
        if address in seen:
            raise ValidationError(name, f"{address} is listed twice")
        seen.add(address)
        out.append(address)
    return tuple(out)
