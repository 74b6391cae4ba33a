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
from typing import Any, Callable, Optional, Protocol

from voiceai_ivr.errors import CommandError, DialStringError, ESLError, ESLTimeout, ValidationError
from voiceai_ivr.fsvalues import (
    CALLER_ID_NAME_MAX,
    caller_id_name_char_ok,
    caller_id_name_problem,
    check_caller_id_number,
)

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
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$"
)
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


# --------------------------------------------------------------------------- caller-ID names


def check_caller_id_name(field_name: str, value: str) -> str:
    """Refuse a caller-ID name FreeSWITCH would not deliver intact; returns it."""
    why = caller_id_name_problem(value)
    if why:
        raise DialStringError(field_name, why)
    return value


def clean_caller_id_name(value: str) -> str:
    """A caller-supplied (hostile) name reduced to what ``check_caller_id_name``
    accepts: ``/ : @`` become blanks, other characters are dropped, blanks are
    collapsed, at most 64 characters. Never raises; may return ``""``."""
    kept = "".join(
        " " if c in "/:@" or c.isspace() else c if caller_id_name_char_ok(c) else "" for c in str(value or "")
    )
    return " ".join(kept.split())[:CALLER_ID_NAME_MAX].strip()


def _escape_level(value: str, delim: str) -> str:
    out = []
    for ch in value:
        if ch in "\\'\"" or ch == delim:
            out.append("\\" + ch)
        elif ch == " ":
            out.append("\\s")
        else:
            out.append(ch)
    return "".join(out)


def originate_value(value: str) -> str:
    """A variable value for the ``{...}`` block of an ``originate`` command line,
    escaped so FreeSWITCH hands the channel exactly ``value``.

    ``originate`` reads the value through three ``switch_separate_string`` passes,
    each of which drops quotes and unescapes ``\\\\ \\' \\" \\<delim> \\s``: the api line
    split on blanks (mod_commands), the block split on ``,`` and each item split on
    ``=`` (``switch_event_create_brackets``). So the value is escaped for ``=``,
    then ``,``, then the blank pass; spaces become ``\\s`` (no blank reaches the
    line). Braces and ``${`` are refused: ``switch_find_end_paren`` counts braces
    without looking at escapes, and FreeSWITCH refuses a variable holding ``${``."""
    if any(c in value for c in "{}") or "${" in value or _CONTROL_RE.search(value):
        raise DialStringError("variable", f"value not allowed in a dial string: {value!r}")
    return _escape_level(_escape_level(_escape_level(value, "="), ","), "")


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


# --------------------------------------------------------------------------- application arguments

_UUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,63}$")
_CAUSE_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_HOST_RE = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?)$")
_APP_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_TTS_CHARS = 1000


def sanitize_text(text: str, max_chars: int = MAX_TTS_CHARS) -> str:
    """Make caller- or admin-supplied text safe inside one FreeSWITCH application
    argument: no line breaks or control characters, no ASCII single quote (it would
    end a quoted argument: apostrophes become the typographic ``’`` so "I'll" is
    still read as one word), no backslash (an escape), no ``${`` (variable
    expansion), whitespace collapsed, at most ``max_chars`` characters."""
    text = _CONTROL_RE.sub(" ", str(text))
    text = text.replace("'", "\u2019").replace("\\", " ").replace("`", " ")
    while "${" in text:
        text = text.replace("${", "$ {")
    text = " ".join(text.split())
    return text[:max_chars].rstrip()


def check_source(source: str, field_name: str = "source") -> str:
    """A playable source (file, ``tone_stream://``, ``say:TEXT``...) made safe for an
    application argument. ``say:`` text is sanitised; anything else that could
    alter the argument is refused."""
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(field_name, "must not be empty")
    if source.startswith("say:"):
        text = sanitize_text(source[4:])
        if not text:
            raise ValidationError(field_name, "say: text is empty after sanitising")
        return "say:" + text
    if _CONTROL_RE.search(source) or "'" in source or "${" in source or "\\" in source:
        raise ValidationError(field_name, f"not a playable source: {source[:80]!r}")
    if len(source) > 2048:
        raise ValidationError(field_name, "longer than 2048 characters")
    return source


def quote_arg(value: str) -> str:
    """Single-quote one argument of a multi-argument application (FreeSWITCH's
    ``switch_separate_string`` groups quoted text). The value must hold no quote."""
    if "'" in value or _CONTROL_RE.search(value):
        raise ValidationError("argument", f"cannot be quoted: {value[:80]!r}")
    return f"'{value}'"


def check_uuid(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _UUID_RE.match(value):
        raise ValidationError(field_name, f"not a channel uuid: {value!r}")
    return value


def check_cause(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _CAUSE_RE.match(value):
        raise ValidationError(field_name, f"not a hangup cause: {value!r}")
    return value


def check_var_name(field_name: str, value: str) -> str:
    if not isinstance(value, str) or not _VAR_NAME_RE.match(value):
        raise ValidationError(field_name, f"not a channel variable name: {value!r}")
    return value


def socket_app(host: str, port: int) -> str:
    """``&socket('HOST:PORT async full')``: the originate application that makes an
    agent leg dial back into our outbound server. Quoted because ``originate``
    splits its command line on blanks."""
    if not isinstance(host, str) or not _HOST_RE.match(host):
        raise DialStringError("host", f"not a host name or IPv4 address: {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DialStringError("port", f"must be 1-65535: {port!r}")
    return f"&socket('{host}:{port} async full')"


def parse_socket_address(value: str, field_name: str = "server.agent_socket_address") -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), validated as ``socket_app`` needs."""
    host, sep, port_s = (value or "").rpartition(":")
    if not sep or not port_s.isdigit():
        raise DialStringError(field_name, f"expected HOST:PORT, got {value!r}")
    port = int(port_s)
    socket_app(host, port)
    return host, port


def check_sched_transfer(seconds: int, extension: str, context: str) -> None:
    """The parts of a ``sched_transfer`` (whole seconds 1-3600, extension, context)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 3600:
        raise DialStringError("seconds", f"must be a whole number of seconds 1-3600: {seconds!r}")
    check_extension("extension", extension)
    check_extension("context", context)


def sched_transfer_command(uuid: str, seconds: int, extension: str, context: str) -> str:
    """``sched_transfer +SECONDS UUID EXTENSION XML CONTEXT``, checked: FreeSWITCH
    itself transfers the leg then, whatever happens to the process that asked. The
    task's group is the uuid: ``sched_del UUID`` removes it."""
    check_sched_transfer(seconds, extension, context)
    return f"sched_transfer +{seconds} {check_uuid('uuid', uuid)} {extension} XML {context}"


def sched_deleted(reply: str) -> Optional[int]:
    """How many tasks ``sched_del`` removed (``+OK Deleted: N``); None for any other answer."""
    m = re.match(r"^\+OK Deleted: (\d+)", reply.strip())
    return int(m.group(1)) if m else None


#: Channel variables the socket-mode dialplan of ``voiceai-ivr dialplan install``
#: reads each time the ``socket`` application returns (voiceai_ivr.provision.dialplan):
#: ``serve`` sets SERVED as soon as it takes a call and DONE once its handler ended
#: normally (the transfer flow sets DONE when the caller is bridged). Served but not
#: done: the caller goes to the fallback destination.
SERVED_VARIABLE = "voiceai_served"
DONE_VARIABLE = "voiceai_done"
#: Set by that dialplan before each ``socket`` (the serve address it tries: 1, 2, ...):
#: a call that carries it has the fallback branches.
TRY_VARIABLE = "voiceai_try"

#: The mod_python3 entry module (``<action application="python" data="voiceai_ivr.modpython"/>``).
PYTHON_ENTRY = "voiceai_ivr.modpython"
_CONFIG_PATH_RE = re.compile(r"^/[A-Za-z0-9_./@%+:\-]{0,4095}$")


def check_config_path(field_name: str, value: str) -> str:
    """An absolute configuration file path that travels as the one word
    ``config=PATH`` of a FreeSWITCH application argument: no blanks, quotes,
    parentheses, commas, ``$`` or ``{}`` (FreeSWITCH would split or expand them)."""
    if not isinstance(value, str) or not _CONFIG_PATH_RE.match(value) or "/../" in f"{value}/":
        raise ValidationError(
            field_name,
            f"must be an absolute path of letters, digits and _ . / @ % + : - only: {value!r}",
        )
    return value


def python_app(config_path: str = "") -> str:
    """``&python('voiceai_ivr.modpython config=PATH')`` (``&python(voiceai_ivr.modpython)``
    without a file): the originate application that runs an agent leg in mod_python3,
    inside the FreeSWITCH process that runs the caller's leg, so both legs share one
    ``voiceai_ivr.app`` handler (and its AgentRegistry) for that configuration file."""
    if not config_path:
        return f"&python({PYTHON_ENTRY})"
    return f"&python('{PYTHON_ENTRY} config={check_config_path('config', config_path)}')"


def _check_python_arg(arg: str) -> None:
    """``&python(...)`` may only start our own entry module, with at most ``config=PATH``."""
    module, _, rest = arg.partition(" ")
    if module != PYTHON_ENTRY:
        raise DialStringError("app", f"python may only run {PYTHON_ENTRY}: {module!r}")
    if rest:
        key, sep, path = rest.partition("=")
        if key != "config" or not sep:
            raise DialStringError("app", f"python argument must be config=PATH: {rest!r}")
        try:
            check_config_path("config", path)
        except ValidationError as exc:
            raise DialStringError("app", exc.reason) from None


# Applications an originated leg may be handed to (``&app(...)``); anything else
# (``system``, ``lua``...) is refused; ``python`` only as ``python_app`` builds it.
_ORIGINATE_APPS = frozenset(
    {"park", "socket", "playback", "echo", "hangup", "sleep", "conference", "bridge", "python"}
)


def _check_app(app: str) -> str:
    """``&park()``, ``&socket('h:p async full')``, ``&playback(file)`` or an extension."""
    if not isinstance(app, str) or not app:
        raise DialStringError("app", "must not be empty")
    if _CONTROL_RE.search(app) or "${" in app or "\\" in app:
        raise DialStringError("app", f"not allowed: {app!r}")
    if app.startswith("&"):
        m = re.match(r"^&([a-z][a-z0-9_]{0,63})\((.*)\)$", app)
        if not m:
            raise DialStringError("app", f"expected &app(args): {app!r}")
        if m.group(1) not in _ORIGINATE_APPS:
            raise DialStringError("app", f"application not allowed for originate: {m.group(1)!r}")
        inner = m.group(2)
        if inner.startswith("'") and inner.endswith("'") and len(inner) >= 2:
            inner = inner[1:-1]
        if "'" in inner or ")" in inner or "(" in inner:
            raise DialStringError("app", f"arguments not allowed: {app!r}")
        if " " in m.group(2) and not m.group(2).startswith("'"):
            raise DialStringError("app", f"arguments with spaces must be quoted: {app!r}")
        if m.group(1) == "python":
            _check_python_arg(inner)
        return app
    return check_extension("app", app)


def _check_dial_string(dial_string: str) -> str:
    if not isinstance(dial_string, str) or not dial_string:
        raise DialStringError("dial_string", "must not be empty")
    if re.search(r"[\s'\"`\\]", dial_string.replace("\\,", "")) or "${" in dial_string:
        raise DialStringError("dial_string", f"not allowed: {dial_string!r}")
    if len(dial_string) > 4096:
        raise DialStringError("dial_string", "longer than 4096 characters")
    return dial_string


# --------------------------------------------------------------------------- Switch


def _parse_rows_xml(text: str) -> list[dict[str, str]]:
    import xml.etree.ElementTree as ET

    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CommandError("show", "XML with a DOCTYPE refused")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DOCTYPE/entities, checked above
    except ET.ParseError as exc:
        raise CommandError("show", f"unreadable XML: {exc}") from exc
    rows = []
    for row in root.iter("row"):
        rows.append({child.tag: (child.text or "") for child in row})
    return rows


def _parse_rows_plain(text: str, delim: str = ",") -> list[dict[str, str]]:
    """``show ...`` plain output: a header line, rows, a blank line, ``N total.``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or re.match(r"^\d+ total\.$", lines[0].strip()):
        return []
    header = lines[0].split(delim)
    rows = []
    for line in lines[1:]:
        if re.match(r"^\d+ total\.$", line.strip()):
            break
        values = line.split(delim)
        if len(values) > len(header):  # the last column may hold the delimiter
            values = [*values[:len(header) - 1], delim.join(values[len(header) - 1:])]
        rows.append(dict(zip(header, values)))
    return rows


def parse_registrations(text: str) -> list[Registration]:
    """``show registrations [as xml]`` -> registrations (columns from
    ``switch_core_add_registration``: reg_user, realm, token, url, expires,
    network_ip, network_port, network_proto, hostname, metadata)."""
    text = (text or "").strip()
    if text.startswith("-ERR"):
        raise CommandError("show registrations", text)
    rows = _parse_rows_xml(text) if text.startswith("<") else _parse_rows_plain(text)
    result = []
    for row in rows:
        user = row.get("reg_user", "")
        if not user:
            continue
        extra = {k: v for k, v in row.items() if k not in ("reg_user", "realm", "url", "metadata")}
        result.append(Registration(user=user, realm=row.get("realm", ""), contact=row.get("url", ""),
                                   agent=row.get("metadata", ""), extra=extra))
    return result


def parse_channels(text: str) -> list[dict]:
    """``show channels as json`` -> rows (``{"row_count":0}`` when idle)."""
    import json

    text = (text or "").strip()
    if not text or text.startswith("-ERR"):
        raise CommandError("show channels", text or "empty reply")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandError("show channels", f"not JSON: {exc}") from exc
    rows = data.get("rows", []) if isinstance(data, dict) else []
    return [row for row in rows if isinstance(row, dict)]


class OriginateJob:
    """An originate in progress (``bgapi originate``). ``cancel()`` kills the leg."""

    def __init__(self, switch: Switch, job: BackgroundJob, uuid: str, dial_string: str) -> None:
        self._switch = switch
        self._job = job
        self.uuid = uuid
        self.dial_string = dial_string

    @property
    def done(self) -> threading.Event:
        return self._job.done

    @property
    def job_uuid(self) -> str:
        return self._job.job_uuid

    def _result(self, text: str) -> OriginateResult:
        result = parse_originate_reply(text, self.dial_string)
        if result.ok and not result.uuid:
            result = OriginateResult(True, self.uuid, None, result.raw, self.dial_string)
        return result

    def wait(self, timeout: float) -> OriginateResult:
        """The result; raises ``ESLTimeout`` if it has not come, ``ESLDisconnected``
        if the connection carrying the job dropped."""
        return self._result(self._job.wait(timeout))

    @property
    def result(self) -> Optional[OriginateResult]:
        if not self._job.done.is_set():
            return None
        try:
            return self.wait(0)
        except ESLError as exc:
            return OriginateResult(False, None, "ESL_DISCONNECTED", str(exc), self.dial_string)

    def add_done_callback(self, fn: Callable[[OriginateResult], None]) -> None:
        """``fn(result)`` when the originate ends; a dropped connection gives
        ``OriginateResult(ok=False, cause="ESL_DISCONNECTED")``."""
        self._job.add_done_callback(lambda text: fn(self._result(text)))

    def cancel(self, cause: str = "ORIGINATOR_CANCEL") -> bool:
        """Kill the leg being originated (ringing or answered)."""
        return self._switch.kill(self.uuid, cause)


def wake_link(switch: object) -> None:
    """A call (or a pass) needs the switch: if the inbound Event Socket is down
    (FreeSWITCH restarting) try it again now rather than at the end of the backoff;
    a call FreeSWITCH just handed us says it is back."""
    transport: Any = getattr(switch, "transport", None)
    if hasattr(transport, "reconnect_now") and not transport.connected:
        transport.reconnect_now()


class Switch:
    """FreeSWITCH api commands as typed calls, over an ``ApiTransport``."""

    def __init__(self, transport: ApiTransport, *, timeout: float = 5.0) -> None:
        self.transport = transport
        self.timeout = timeout

    def _api(self, command: str, timeout: Optional[float] = None) -> str:
        return self.transport.api(command, self.timeout if timeout is None else timeout).strip()

    def build_originate(
        self,
        dial_string: str,
        *,
        uuid: str,
        timeout_s: int,
        caller_id_number: str,
        caller_id_name: str = "",
        app: str = "&park()",
        variables: Optional[Mapping[str, str]] = None,
        park_timeout_s: Optional[int] = None,
    ) -> str:
        """The ``originate`` arguments (after the word ``originate``), validated.
        ``park_timeout_s`` (with ``&park()``): FreeSWITCH hangs the parked leg up
        after that many seconds unless something (``uuid_bridge``) takes it out of
        park first (``park_timeout``, read once when ``park`` starts)."""
        check_uuid("uuid", uuid)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or not 1 <= timeout_s <= 600:
            raise DialStringError("timeout_s", f"must be a whole number of seconds 1-600: {timeout_s!r}")
        check_caller_id_number("caller_id_number", caller_id_number)
        check_caller_id_name("caller_id_name", caller_id_name)
        _check_dial_string(dial_string)
        _check_app(app)
        ours: dict[str, str] = {
            "origination_uuid": uuid,
            "originate_timeout": str(timeout_s),
            "origination_caller_id_number": caller_id_number,
        }
        if park_timeout_s is not None:
            bad = isinstance(park_timeout_s, bool) or not isinstance(park_timeout_s, int)
            if bad or not 1 <= park_timeout_s <= 3600:
                raise DialStringError("park_timeout_s", f"must be a whole number of seconds 1-3600: {park_timeout_s!r}")
            if app != "&park()":
                raise DialStringError("park_timeout_s", f"only applies to &park(), not {app!r}")
            ours["park_timeout"] = f"{park_timeout_s}:NORMAL_CLEARING"
        extra = dict(variables or {})
        for key in ours:
            if key in extra:
                raise DialStringError("variables", f"{key} is set by originate itself")
        block = variable_block({**ours, **extra})[1:-1]
        if caller_id_name:
            block += f",origination_caller_id_name={originate_value(caller_id_name)}"
        if dial_string.startswith("{"):
            close = dial_string.find("}")
            if close == -1:
                raise DialStringError("dial_string", "unclosed {")
            inner = dial_string[1:close]
            dial = "{" + block + ("," + inner if inner else "") + "}" + dial_string[close + 1 :]
        else:
            dial = "{" + block + "}" + dial_string
        return f"{dial} {app}"

    def originate(
        self,
        dial_string: str,
        *,
        uuid: Optional[str] = None,
        timeout_s: int,
        caller_id_number: str,
        caller_id_name: str = "",
        app: str = "&park()",
        variables: Optional[Mapping[str, str]] = None,
        park_timeout_s: Optional[int] = None,
    ) -> OriginateJob:
        """Start ``bgapi originate``; the leg gets ``uuid`` (new when omitted)."""
        leg = uuid or new_uuid()
        args = self.build_originate(dial_string, uuid=leg, timeout_s=timeout_s, caller_id_number=caller_id_number,
                                    caller_id_name=caller_id_name, app=app, variables=variables,
                                    park_timeout_s=park_timeout_s)
        job = self.transport.bgapi(f"originate {args}", self.timeout)
        return OriginateJob(self, job, leg, dial_string)

    def originate_sync(self, dial_string: str, *, uuid: Optional[str] = None, timeout_s: int,
                       caller_id_number: str, caller_id_name: str = "", app: str = "&park()",
                       variables: Optional[Mapping[str, str]] = None) -> OriginateResult:
        """Originate and wait for the result (ring timeout plus a margin)."""
        job = self.originate(dial_string, uuid=uuid, timeout_s=timeout_s, caller_id_number=caller_id_number,
                             caller_id_name=caller_id_name, app=app, variables=variables)
        return job.wait(timeout_s + self.timeout + 5.0)

    def bridge(self, a: str, b: str) -> None:
        """``uuid_bridge A B``; raises ``CommandError`` on ``-ERR``."""
        reply = self._api(f"uuid_bridge {check_uuid('a', a)} {check_uuid('b', b)}")
        if not reply.startswith("+OK"):
            raise CommandError("uuid_bridge", reply)

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        """``uuid_kill``; False when the channel no longer exists."""
        reply = self._api(f"uuid_kill {check_uuid('uuid', uuid)} {check_cause('cause', cause)}")
        if reply.startswith("+OK"):
            return True
        if "no such channel" in reply.lower():
            return False
        raise CommandError("uuid_kill", reply)

    def broadcast(self, uuid: str, source: str, leg: str = "aleg") -> None:
        """``uuid_broadcast UUID SOURCE LEG`` (hold music, an announcement)."""
        if leg not in ("aleg", "bleg", "both"):
            raise ValidationError("leg", f"must be aleg, bleg or both: {leg!r}")
        src = check_source(source)
        if " " in src:
            src = quote_arg(src)
        reply = self._api(f"uuid_broadcast {check_uuid('uuid', uuid)} {src} {leg}")
        if not reply.startswith("+OK"):
            raise CommandError("uuid_broadcast", reply)

    def break_media(self, uuid: str) -> bool:
        """``uuid_break UUID all``; False when the channel no longer exists."""
        reply = self._api(f"uuid_break {check_uuid('uuid', uuid)} all")
        if reply.startswith("+OK"):
            return True
        if "no such channel" in reply.lower():
            return False
        raise CommandError("uuid_break", reply)

    def schedule_transfer(self, uuid: str, seconds: int, extension: str, context: str) -> None:
        """``sched_transfer +SECONDS UUID EXTENSION XML CONTEXT`` (``sched_transfer_command``):
        FreeSWITCH itself transfers the leg then, whatever happens to this process
        (``cancel_scheduled`` removes it)."""
        reply = self._api(sched_transfer_command(uuid, seconds, extension, context))
        if not reply.startswith("+OK"):
            raise CommandError("sched_transfer", reply)

    def cancel_scheduled(self, uuid: str) -> bool:
        """``sched_del UUID``: drop every task scheduled for the leg; False when
        there was none."""
        reply = self._api(f"sched_del {check_uuid('uuid', uuid)}")
        deleted = sched_deleted(reply)
        if deleted is None:
            raise CommandError("sched_del", reply)
        return deleted > 0

    def exists(self, uuid: str) -> bool:
        return self._api(f"uuid_exists {check_uuid('uuid', uuid)}") == "true"

    def getvar(self, uuid: str, name: str) -> Optional[str]:
        """A channel variable; ``None`` when unset (``_undef_``)."""
        reply = self._api(f"uuid_getvar {check_uuid('uuid', uuid)} {check_var_name('name', name)}")
        if reply.startswith("-ERR"):
            raise CommandError("uuid_getvar", reply)
        return None if reply in ("_undef_", "") else reply

    def setvar(self, uuid: str, name: str, value: str) -> None:
        clean = sanitize_text(value, 4000)
        reply = self._api(f"uuid_setvar {check_uuid('uuid', uuid)} {check_var_name('name', name)} {clean}")
        if not reply.startswith("+OK"):
            raise CommandError("uuid_setvar", reply)

    def registrations(self, domain: Optional[str] = None) -> list[Registration]:
        regs = parse_registrations(self._api("show registrations as xml"))
        if domain is not None:
            check_domain("domain", domain)
            regs = [r for r in regs if r.realm.lower() == domain.lower()]
        return regs

    def sofia_contact(self, user: str, domain: str) -> Optional[str]:
        """The registered contact of ``user@domain``, or ``None`` when not registered."""
        reply = self._api(f"sofia_contact {check_extension('user', user)}@{check_domain('domain', domain)}")
        if not reply or reply.startswith("error/"):
            return None
        if reply.startswith("-ERR"):
            raise CommandError("sofia_contact", reply)
        return reply

    def channels(self) -> list[dict]:
        return parse_channels(self._api("show channels as json"))

    def interfaces(self, kind: str) -> set[str]:
        """Names of the loaded interfaces of one type (``show interfaces``: ``asr``,
        ``speech`` for TTS, ``application``...), lower-cased."""
        text = self._api("show interfaces")
        if text.startswith("-ERR") or text.startswith("-USAGE"):
            raise CommandError("show interfaces", text)
        return {row.get("name", "").strip().lower() for row in _parse_rows_plain(text)
                if row.get("type", "").strip() == kind and row.get("name", "").strip()}

    def asr_interfaces(self) -> set[str]:
        """Speech-recognition engines the PBX has (``mod_unimrcp`` registers ``unimrcp``,
        ``mod_test`` ``test``...); empty on a stock FreeSWITCH or FusionPBX."""
        return self.interfaces("asr")

    def in_call(self, extension: str, domain: str) -> bool:
        """Whether ``extension@domain`` has a channel up (as caller or callee)."""
        check_extension("extension", extension)
        check_domain("domain", domain)
        aor = f"{extension}@{domain}".lower()
        for row in self.channels():
            presence = str(row.get("presence_id") or "").lower()
            name = str(row.get("name") or "").lower()
            if presence == aor or name.endswith("/" + aor) or f"/{aor}" in name:
                return True
        return False

    def reloadxml(self) -> None:
        reply = self._api("reloadxml")
        if not reply.startswith("+OK"):
            raise CommandError("reloadxml", reply)


__all__ = [
    "PYTHON_ENTRY",
    "ApiTransport",
    "BackgroundJob",
    "DialTarget",
    "ESLTimeout",
    "OriginateJob",
    "OriginateResult",
    "Registration",
    "Switch",
    "build_dial_string",
    "caller_id_name_problem",
    "check_caller_id_name",
    "check_caller_id_number",
    "check_cause",
    "check_config_path",
    "check_dial_token",
    "check_domain",
    "check_e164",
    "check_extension",
    "check_sched_transfer",
    "check_source",
    "check_uuid",
    "check_var_name",
    "clean_caller_id_name",
    "dial_target",
    "new_uuid",
    "originate_value",
    "parse_channels",
    "parse_originate_reply",
    "parse_registrations",
    "parse_socket_address",
    "python_app",
    "quote_arg",
    "sanitize_text",
    "sched_deleted",
    "sched_transfer_command",
    "socket_app",
    "variable_block",
    "wake_link",
]
