"""FreeSWITCH dialplan XML for one secretary's DID: validate, render, install.

Every value is validated *before* rendering (``validate_spec``) and the jinja2
templates (``voiceai_ivr/templates/*.j2``) autoescape XML on top of that, so a
domain, DID, host or name can never add an element, an attribute, a regex
alternative or a ``${...}`` expansion to the dialplan.

The file layout follows FreeSWITCH's ``conf/dialplan/public/*.xml`` includes::

    <include>
      <extension name="voiceai_demo.local_8000" continue="false">
        <condition field="destination_number" expression="^\\+?8000$">
          <action application="set" data="voiceai_domain=demo.local"/>
          ...
          <action application="socket" data="127.0.0.1:8084 async full"/>
        </condition>
      </extension>
    </include>

In socket mode the extension is a small state machine that FreeSWITCH evaluates
again each time the call re-enters it (``transfer ${destination_number} XML
${context}`` after every ``socket`` action; conditions on ``${...}`` are evaluated
when the dialplan is hunted, so each re-entry sees the variables as they are then).
The state is ``${voiceai_try}|${voiceai_served}|${voiceai_done}``:

* ``voiceai_try``: set by the dialplan to N before it connects to the Nth
  ``voiceai-ivr serve`` address (``host:port`` first, then each ``failover``);
* ``voiceai_served``: set by ``serve`` as the first thing it does with a call;
* ``voiceai_done``: set by ``serve`` when its handler ends normally (the call was
  finished, bridged or handed on) and by the transfer flow once a bridge is up.

FreeSWITCH's ``socket`` application returns and the dialplan goes on in two cases
(mod_event_socket.c, ``socket_function``): the connection was refused (it logs
"Socket Error!" and returns at once, setting nothing but ``socket_host``), and
the outbound connection closed (the listener thread ends, clears
``CF_CONTROLLED``; the park loop ends and queued private events are executed
before the application returns). So after each ``socket``:

* not served -> the next address, then the fallback (serve down or refusing);
* served, not done -> the fallback (serve died or was cut during the call);
* done -> hang up (a normal end: never the fallback).

The fallback is the secretary's fallback destination (``bridge`` to it, with
ringback), else a busy tone, then hangup: never silence.

In python mode the last action is ``<action application="python"
data="voiceai_ivr.modpython config=/etc/voiceai-ivr/voiceai.yaml"/>`` (``config=``
only when a configuration file is given): mod_python3 passes what follows the
module name to ``voiceai_ivr.modpython.handler`` as its ``args``.

``install_dialplan_file`` writes it atomically (temp file, fsync, rename) and
refuses to replace a file that does not carry our ``MANAGED_MARKER`` comment.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Union

import jinja2

from voiceai_ivr.config import LANGUAGES
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.fsvalues import HOSTNAME_RE, validate_failover, validate_host, validate_port
from voiceai_ivr.switch import (
    DONE_VARIABLE,
    PYTHON_ENTRY,
    SERVED_VARIABLE,
    TRY_VARIABLE,
    check_config_path,
    dial_target,
)

MANAGED_MARKER = "voiceai-ivr:managed"
MODES = ("socket", "python")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

_DID_RE = re.compile(r"^\+?[0-9]{2,20}$")
# Letters (any script), digits, space and a little punctuation: no XML (<>&"'),
# no regex or FreeSWITCH expansion characters ($ { } \ | ^ * ? [ ]), no "--"
# (it would end the header comment).
_NAME_RE = re.compile(r"^[^\W_][\w .,()/-]{0,79}$", re.UNICODE)


@dataclass(frozen=True)
class DialplanSpec:
    """What one rendered extension needs. ``did`` keeps its leading ``+`` if given;
    the condition matches it with or without ``+``."""

    domain: str
    did: str
    secretary_id: Optional[int] = None
    secretary_name: str = ""
    language: str = "pt-BR"
    recording: bool = False
    mode: str = "socket"  # socket | python
    host: str = "127.0.0.1"
    port: int = 8084
    config_file: str = ""  # python mode: the configuration file mod_python3 loads (config=FILE)
    # socket mode: further ``voiceai-ivr serve`` addresses (HOST:PORT), tried in order
    # when the previous one refuses the connection.
    failover: tuple[str, ...] = ()
    # socket mode: where the caller goes when no serve takes the call or serve dies
    # during it (the secretary's fallback destination); empty type: a busy tone.
    fallback_type: str = ""  # extension | ring_group | queue | external | voicemail
    fallback_target: str = ""
    fallback_gateway: str = ""
    fallback_timeout: int = 30  # seconds the fallback rings

    @property
    def did_digits(self) -> str:
        return self.did.lstrip("+")

    @property
    def extension_name(self) -> str:
        return f"voiceai_{self.domain}_{self.did_digits}"

    @property
    def expression(self) -> str:
        # Anchored on both ends; ``+`` escaped. DIDs are digits only (validated).
        return rf"^\+?{self.did_digits}$"

    @property
    def file_name(self) -> str:
        return f"voiceai_{self.domain}_{self.did_digits}.xml"


# --------------------------------------------------------------------------- validation


def validate_domain(value: Any, field: str = "domain") -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "required (a hostname such as pbx.example.com)")
    if not HOSTNAME_RE.fullmatch(value):
        raise ValidationError(
            field, f"must be a hostname (letters, digits, '-' and '.'; no other characters): {value!r}"
        )
    return value.lower()


def validate_did(value: Any, field: str = "did") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "required (digits with an optional leading +)")
    if not _DID_RE.fullmatch(value):
        raise ValidationError(field, f"must be 2-20 digits with an optional leading + : {value!r}")
    return value


def validate_secretary_id(value: Any, field: str = "secretary_id") -> Optional[int]:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(field, "must be a positive whole number")
    if isinstance(value, str):
        if not value.isdigit() or not value.isascii():
            raise ValidationError(field, f"must be a positive whole number: {value!r}")
        value = int(value)
    if not isinstance(value, int) or value < 1 or value > 2**63 - 1:
        raise ValidationError(field, f"must be a positive whole number: {value!r}")
    return value


def validate_secretary_name(value: Any, field: str = "secretary_name") -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    if "--" in value or not _NAME_RE.fullmatch(value):
        raise ValidationError(
            field,
            "may contain letters, digits, spaces and . , ( ) / - only (at most 80 characters, "
            f"no '--'): {value!r}",
        )
    return value


def validate_language(value: Any, field: str = "language") -> str:
    if value not in LANGUAGES:
        raise ValidationError(field, f"must be one of {', '.join(LANGUAGES)}: {value!r}")
    return str(value)


def validate_mode(value: Any, field: str = "mode") -> str:
    if value not in MODES:
        raise ValidationError(field, f"must be socket or python: {value!r}")
    return str(value)


def validate_config_file(value: Any, mode: str, field: str = "config_file") -> str:
    """"" or an absolute path that can be one word of the ``python`` action's data."""
    if value is None or value == "":
        return ""
    if mode != "python":
        raise ValidationError(field, "only for python mode (socket mode: give voiceai-ivr serve its --config)")
    return check_config_path(field, value)


def validate_fallback(data: Mapping[str, Any], domain: str) -> tuple[str, str, str, int]:
    """``(type, target, gateway, timeout)`` of the fallback destination, checked the
    way the transfer flow checks a destination before dialling it."""
    kind = data.get("fallback_type") or ""
    target = data.get("fallback_target") or ""
    gateway = data.get("fallback_gateway") or ""
    timeout = data.get("fallback_timeout", 30)
    if not kind:
        if target or gateway:
            raise ValidationError("fallback_type", "required with fallback_target")
        return ("", "", "", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 5 <= timeout <= 300:
        raise ValidationError("fallback_timeout", f"must be a whole number of seconds 5-300: {timeout!r}")
    try:
        dial_target(str(kind), str(target), domain, str(gateway))
    except ValidationError as exc:
        raise ValidationError(f"fallback_{exc.field}", exc.reason) from None
    return (str(kind), str(target), str(gateway), timeout)


def _validate_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise ValidationError(field, f"must be true or false: {value!r}")


def validate_spec(spec: Union[DialplanSpec, Mapping[str, Any]]) -> DialplanSpec:
    """Check every field and return a normalised spec. Raises ``ValidationError``
    naming the first field refused."""
    if isinstance(spec, DialplanSpec):
        data: dict[str, Any] = {f.name: getattr(spec, f.name) for f in fields(DialplanSpec)}
    elif isinstance(spec, Mapping):
        known = {f.name for f in fields(DialplanSpec)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValidationError(str(unknown[0]), "unknown dialplan setting")
        data = dict(spec)
    else:
        raise ValidationError("spec", "must be a DialplanSpec or a mapping")
    defaults = DialplanSpec(domain="x", did="00")
    get = lambda name: data.get(name, getattr(defaults, name))  # noqa: E731
    if "domain" not in data:
        raise ValidationError("domain", "required")
    if "did" not in data:
        raise ValidationError("did", "required")
    domain = validate_domain(data["domain"])
    mode = validate_mode(get("mode"))
    host = validate_host(get("host"))
    port = validate_port(get("port"))
    failover = validate_failover(get("failover"), host, port)
    fallback = validate_fallback(data, domain)
    if mode != "socket" and failover:
        raise ValidationError("failover", "only for socket mode")
    return DialplanSpec(
        domain=domain,
        did=validate_did(data["did"]),
        secretary_id=validate_secretary_id(get("secretary_id")),
        secretary_name=validate_secretary_name(get("secretary_name")),
        language=validate_language(get("language")),
        recording=_validate_bool(get("recording"), "recording"),
        mode=mode,
        host=host,
        port=port,
        config_file=validate_config_file(get("config_file"), str(get("mode"))),
        failover=failover,
        fallback_type=fallback[0],
        fallback_target=fallback[1],
        fallback_gateway=fallback[2],
        fallback_timeout=fallback[3],
    )


# --------------------------------------------------------------------------- rendering


def dialplan_variables(spec: DialplanSpec) -> list[tuple[str, str]]:
    """The channel variables the call handler reads, in the order they are set."""
    variables = [("voiceai_domain", spec.domain), ("voiceai_did", spec.did)]
    if spec.secretary_id is not None:
        variables.append(("voiceai_secretary_id", str(spec.secretary_id)))
    variables.append(("voiceai_language", spec.language))
    variables.append(("voiceai_recording", "true" if spec.recording else "false"))
    return variables


def handoff_action(spec: DialplanSpec) -> tuple[str, str]:
    """The action that hands the call to voiceai-ivr."""
    if spec.mode == "python":
        # mod_python3 hands what follows the module name to handler(session, args).
        return ("python", f"{PYTHON_ENTRY} config={spec.config_file}" if spec.config_file else PYTHON_ENTRY)
    # async full: the handler drives the call with sendmsg and may use api/bgapi/linger.
    return ("socket", f"{spec.host}:{spec.port} async full")


def dialplan_actions(spec: DialplanSpec, *, set_domain_name: bool = True) -> list[tuple[str, str]]:
    """``(application, data)`` pairs in order: variables, then the hand-off (the
    first arrival's actions; in socket mode see ``dialplan_conditions``)."""
    actions = [("set", f"{name}={value}") for name, value in dialplan_variables(spec)]
    if set_domain_name:
        actions.insert(1, ("set", f"domain_name={spec.domain}"))
    actions.append(handoff_action(spec))
    return actions


#: The call's state as each re-entry into the extension sees it (module docstring).
STATE_FIELD = f"${{{TRY_VARIABLE}}}|${{{SERVED_VARIABLE}}}|${{{DONE_VARIABLE}}}"
#: Re-enter this extension once the ``socket`` application returns.
REENTER = ("transfer", "${destination_number} XML ${context}")
#: What the caller hears while the fallback rings (US ringback), and when nothing
#: answers or there is no fallback (a busy tone: "try again later").
FALLBACK_RINGBACK = "%(2000,4000,440,480)"
FALLBACK_BUSY_TONE = "tone_stream://%(500,500,480,620);loops=6"
#: Set on the fallback's leg: offer the profile's codecs too, not only the caller's.
MIX_CODECS_VARIABLE = "media_mix_inbound_outbound_codecs"


@dataclass(frozen=True)
class Condition:
    """One ``<condition>``: ``brk`` is its ``break=`` attribute (None: FreeSWITCH's
    default, on-false)."""

    field: str
    expression: str
    actions: tuple[tuple[str, str], ...] = ()
    brk: Optional[str] = None


def serve_addresses(spec: DialplanSpec) -> list[str]:
    """Every ``voiceai-ivr serve`` address, in the order they are tried."""
    return [f"{spec.host}:{spec.port}", *spec.failover]


def fallback_actions(spec: DialplanSpec) -> list[tuple[str, str]]:
    """What a caller no serve took (or whose serve died) gets: the fallback
    destination with ringback, then a busy tone and hangup if it does not answer."""
    # Answered first: the caller hears our ringback and tone whatever the leg's
    # media state was when the call came back to the dialplan.
    actions: list[tuple[str, str]] = [("set", "voiceai_fallback=true"), ("answer", "")]
    if spec.fallback_type:
        endpoint = dial_target(spec.fallback_type, spec.fallback_target, spec.domain, spec.fallback_gateway).endpoint()
        actions += [
            ("set", f"ringback={FALLBACK_RINGBACK}"),
            ("set", f"transfer_ringback={FALLBACK_RINGBACK}"),
            ("set", f"call_timeout={spec.fallback_timeout}"),
            ("set", "hangup_after_bridge=true"),
            ("set", "continue_on_fail=true"),  # not answered: the busy tone below, not a bare hangup
            # FreeSWITCH >= 1.10 offers a new leg only the caller's codec while that
            # leg is unanswered (switch_core_media_prepare_codecs: "originator_codec"
            # alone unless media_mix_inbound_outbound_codecs): a caller whose codec
            # the destination lacks (a trunk's G.729 or Opus, a loopback leg's L16)
            # gets 488 INCOMPATIBLE_DESTINATION. Mixed in, the offer is the caller's
            # codec then the profile's outbound codecs, and FreeSWITCH transcodes.
            ("export", f"nolocal:{MIX_CODECS_VARIABLE}=true"),
            ("bridge", endpoint),
        ]
    actions += [("playback", FALLBACK_BUSY_TONE), ("hangup", "NORMAL_TEMPORARY_FAILURE")]
    return actions


def dialplan_conditions(spec: DialplanSpec, *, set_domain_name: bool = True) -> list[Condition]:
    """The extension's conditions in order. Python mode: one. Socket mode: the DID,
    then one branch per call state (first match wins: ``break="on-true"``)."""
    first = dialplan_actions(spec, set_domain_name=set_domain_name)
    if spec.mode != "socket":
        return [Condition("destination_number", spec.expression, tuple(first))]
    addresses = serve_addresses(spec)
    conditions = [Condition("destination_number", spec.expression)]
    # First arrival (nothing tried yet): the variables, then serve #1.
    conditions.append(Condition(STATE_FIELD, r"^\|", (
        *first[:-1], ("set", f"{TRY_VARIABLE}=1"), ("socket", f"{addresses[0]} async full"), REENTER), "on-true"))
    # Serve #n-1 refused (not served): serve #n.
    for n, address in enumerate(addresses[1:], start=2):
        conditions.append(Condition(STATE_FIELD, rf"^{n - 1}\|\|$", (
            ("set", f"{TRY_VARIABLE}={n}"), ("socket", f"{address} async full"), REENTER), "on-true"))
    # Every serve refused, or the one that took the call did not end it: the fallback.
    conditions.append(Condition(STATE_FIELD, r"\|$", tuple(fallback_actions(spec)), "on-true"))
    # The handler ended the call's business normally: nothing more to do.
    conditions.append(Condition(STATE_FIELD, r"\|.", (("hangup", "NORMAL_CLEARING"),), "on-true"))
    return conditions


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _comment_safe(text: str) -> str:
    # "--" may not appear inside an XML comment (punycode domains contain it).
    while "--" in text:
        text = text.replace("--", "- -")
    return text


def render_dialplan(spec: Union[DialplanSpec, Mapping[str, Any]]) -> str:
    """The ``<include>`` file for ``conf/dialplan/public/`` (validated first)."""
    s = validate_spec(spec)
    comment_spec = replace(
        s, domain=_comment_safe(s.domain), secretary_name=_comment_safe(s.secretary_name)
    )
    return _environment().get_template("dialplan.xml.j2").render(
        marker=MANAGED_MARKER,
        spec=comment_spec,
        extension_name=s.extension_name,
        conditions=dialplan_conditions(s),
    )


@dataclass(frozen=True)
class FusionCondition:
    """A ``Condition`` as FusionPBX keeps it: actions carry their ``inline`` flag."""

    field: str
    expression: str
    actions: tuple[tuple[str, str, bool], ...]
    brk: Optional[str] = None


def fusionpbx_conditions(
    spec: DialplanSpec, *, domain_uuid: str, public_context: bool = True
) -> list[FusionCondition]:
    """``dialplan_conditions`` as FusionPBX's dialplan class renders an inbound
    route: in the public context it puts ``export call_direction``, ``set
    domain_uuid`` and ``set domain_name`` (inline) before the first action."""
    injected: list[tuple[str, str, bool]] = []
    if public_context:
        injected = [
            ("export", "call_direction=inbound", True),
            ("set", f"domain_uuid={domain_uuid}", True),
            ("set", f"domain_name={spec.domain}", True),
        ]
    out: list[FusionCondition] = []
    for cond in dialplan_conditions(spec, set_domain_name=not public_context):
        actions = [(app, data, False) for app, data in cond.actions]
        if actions and injected:
            actions, injected = injected + actions, []
        out.append(FusionCondition(cond.field, cond.expression, tuple(actions), cond.brk))
    return out


def render_fusionpbx_extension(
    spec: Union[DialplanSpec, Mapping[str, Any]],
    *,
    dialplan_uuid: str,
    domain_uuid: str,
    public_context: bool = True,
) -> str:
    """The ``<extension>`` fragment FusionPBX keeps in ``v_dialplans.dialplan_xml``."""
    s = validate_spec(spec)
    _check_uuid("dialplan_uuid", dialplan_uuid)
    _check_uuid("domain_uuid", domain_uuid)
    return _environment().get_template("fusionpbx_extension.xml.j2").render(
        extension_name=s.extension_name,
        dialplan_uuid=dialplan_uuid,
        conditions=fusionpbx_conditions(s, domain_uuid=domain_uuid, public_context=public_context),
    )


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _check_uuid(field: str, value: str) -> None:
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value.lower()):
        raise ValidationError(field, f"not a UUID: {value!r}")


# --------------------------------------------------------------------------- install


@dataclass(frozen=True)
class InstallResult:
    path: Path
    created: bool  # False: an earlier file of ours was replaced
    changed: bool  # False: the file already had exactly this content


def is_managed(path: Path) -> bool:
    """True when ``path`` is a dialplan file written by voiceai-ivr (its first
    comment carries ``MANAGED_MARKER``)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return head.lstrip().startswith(f"<!-- {MANAGED_MARKER} ")


def dialplan_path(directory: Union[str, Path], spec: Union[DialplanSpec, Mapping[str, Any]]) -> Path:
    return Path(directory) / validate_spec(spec).file_name


def install_dialplan_file(
    directory: Union[str, Path], spec: Union[DialplanSpec, Mapping[str, Any]]
) -> InstallResult:
    """Render and write ``<directory>/voiceai_<domain>_<did>.xml`` atomically.

    Refuses (``ValidationError`` on ``path``) to replace a file that voiceai-ivr
    did not write. The directory must exist (it is FreeSWITCH's, not ours)."""
    s = validate_spec(spec)
    text = render_dialplan(s)
    folder = Path(directory)
    if not folder.is_dir():
        raise ValidationError("dialplan.directory", f"{folder} is not a directory")
    target = folder / s.file_name
    exists = target.exists() or target.is_symlink()
    if exists:
        if target.is_symlink() or not target.is_file() or not is_managed(target):
            raise ValidationError(
                "path", f"{target} exists and was not written by voiceai-ivr; refusing to overwrite it"
            )
        with contextlib.suppress(OSError):
            if target.read_text(encoding="utf-8") == text:
                return InstallResult(path=target, created=False, changed=False)
    _atomic_write(target, text)
    return InstallResult(path=target, created=not exists, changed=True)


def _atomic_write(target: Path, text: str) -> None:
    # The temp name must not match FreeSWITCH's "public/*.xml" include glob.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(str(target.parent), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
