"""One typed configuration object, loaded once: a YAML file plus ``VOICEAI_*``
environment overrides (secrets and DSNs belong in the environment).

``load_config`` validates everything and raises ``ConfigError`` listing every
problem as ``path: reason``; ``check_config`` returns the same list without
raising. Secrets never appear in problems, ``repr`` or ``redacted()``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union, get_args, get_origin, get_type_hints

from voiceai_ivr import yamlfile
from voiceai_ivr.errors import ConfigError, ValidationError
from voiceai_ivr.fsvalues import caller_id_name_problem, check_caller_id_number, validate_failover
from voiceai_ivr.logs import MASK, redact, redact_patterns

SECRET_FIELDS = {"password", "token", "api_key", "dsn", "tokens", "fusionpbx_dsn", "tts_api_key", "asr_api_key"}
LANGUAGES = ("pt-BR", "en-US")


def _secret(default: str = "") -> Any:
    return field(default=default, repr=False)


@dataclass
class DatabaseConfig:
    dsn: str = _secret()  # empty: embedded PostgreSQL (pgserver)
    data_dir: str = ""  # embedded cluster location; default: user data dir
    connect_timeout: float = 5.0
    statement_timeout_ms: int = 5000
    pool_size: int = 8


@dataclass
class ESLConfig:
    host: str = "127.0.0.1"
    port: int = 8021
    password: str = _secret("ClueCon")
    timeout: float = 5.0  # per api reply
    reconnect_max_delay: float = 10.0


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8084
    max_calls: int = 2500
    shutdown_grace: float = 30.0  # seconds calls in progress may take after SIGTERM
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9184  # 0 disables /metrics on serve
    busy_message: str = ""  # played past max_calls to calls of a dialplan without voiceai_try; default prompt otherwise
    # Address FreeSWITCH uses to reach this server for agent legs (``&socket(...)``);
    # empty: host:port above.
    agent_socket_address: str = ""
    # Honour the ``voiceai_clock`` channel variable (simulated wall clock). Only for
    # the simulator and tests: a real PBX must never set this.
    allow_clock_override: bool = False
    # Where FreeSWITCH writes call recordings (record_session) for secretaries with
    # recording on: <dir>/<domain>/<YYYY-MM-DD>/<call uuid>.wav on the FreeSWITCH host.
    call_recordings_dir: str = "/var/lib/freeswitch/recordings/voiceai"


@dataclass
class SpeechConfig:
    # Prompt audio (voiceai_ivr/speech): auto | espeak-ng | http | freeswitch
    synthesizer: str = "auto"
    # Callers' speech: auto | freeswitch (the PBX's ASR module) | http (recorded, transcribed)
    recognizer: str = "auto"
    # FreeSWITCH TTS module and voices: the freeswitch synthesizer, and every
    # synthesizer's fallback (say:). No default Portuguese voice: flite is English.
    tts_engine: str = "flite"
    tts_voice: dict = field(default_factory=dict)  # language -> voice; unset: kal
    asr_engine: str = "unimrcp"
    asr_grammar: str = "builtin:grammar/boolean"  # grammar passed to play_and_detect_speech
    listen_timeout: float = 6.0
    digit_timeout: float = 3.0
    reprompts: int = 2  # no-input / no-match reprompts before the fallback
    prompts_dir: str = ""  # directory of <lang>.yaml overriding the packaged prompts
    recordings_dir: str = ""  # recorded prompt files (<lang>/<key>.wav) used when present
    audio_dir: str = ""  # synthesized prompts + recorded answers; empty: <data dir>/speech
    synth_timeout: float = 2.5  # bound on synthesizing one prompt during a call (then say:)
    espeak_command: str = "espeak-ng"
    espeak_voice: dict = field(default_factory=lambda: {"pt-BR": "pt-br", "en-US": "en-us"})
    espeak_speed: int = 160  # words per minute
    tts_url: str = ""  # OpenAI-compatible base URL (…/v1): POST /audio/speech
    tts_model: str = ""
    tts_http_voice: dict = field(default_factory=dict)  # voice per language
    tts_api_key: str = _secret()
    tts_timeout: float = 5.0
    asr_url: str = ""  # OpenAI-compatible base URL (…/v1): POST /audio/transcriptions
    asr_model: str = ""
    asr_api_key: str = _secret()
    asr_timeout: float = 5.0
    record_max_seconds: int = 10  # FreeSWITCH record: whole seconds
    record_silence_seconds: int = 2
    record_silence_threshold: int = 200
    keep_recordings_hours: float = 24.0  # 0: delete each answer once transcribed
    keep_synthesized_days: float = 30.0  # unused this long: deleted (0: kept)


@dataclass
class LLMConfig:
    enabled: bool = False
    url: str = ""  # OpenAI-compatible base URL (…/v1)
    api_key: str = _secret()
    model: str = ""
    timeout: float = 2.5


@dataclass
class WhatsAppConfig:
    enabled: bool = False
    templates: dict = field(
        default_factory=lambda: {
            "scheduled": "callback_scheduled",
            "reminder": "callback_reminder",
            "failed": "callback_failed",
            "expired": "callback_expired",
            "missed_call": "missed_call",
        }
    )
    reminder_minutes: int = 5


@dataclass
class HelpdeskConfig:
    url: str = ""  # empty: outbox rows are kept until a helpdesk is configured
    token: str = _secret()
    timeout: float = 5.0
    dead_letter_after_hours: float = 72.0
    max_backoff_seconds: float = 900.0
    # serve and api deliver the outbox in the background every this many seconds
    delivery_interval: float = 5.0
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    min_interval_minutes: float = 15.0
    backoff: float = 2.0
    busy_retry_minutes: float = 5.0
    no_answer_retry_minutes: float = 15.0


@dataclass
class CallbacksConfig:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    domain_retry: dict = field(default_factory=dict)  # domain -> RetryPolicy fields
    max_age_hours: float = 72.0
    lease_seconds: float = 300.0
    spool_path: str = ""  # default: <data dir>/callback-spool.jsonl
    caller_id_number: str = ""  # company number shown to customers
    caller_id_name: str = ""
    agent_answer_timeout: int = 25
    customer_answer_timeout: int = 30
    missed_call_tickets: bool = True
    # Gateway for customer legs (``sofia/gateway/GW/E164``); empty: the domain's
    # outbound routes through the dialplan (``loopback/E164/DOMAIN``).
    gateway: str = ""
    # Destination (by name, in the callback's domain) that calls back customers
    # who named no one; empty: the secretary's fallback destination.
    default_destination: str = ""


@dataclass
class DispatcherConfig:
    batch_size: int = 50
    loop_interval: float = 30.0
    textfile_path: str = ""  # node-exporter textfile; empty disables
    availability_cache_seconds: float = 10.0
    dnd_query: str = ""  # optional SQL over the FusionPBX DSN returning one bool for (extension, domain)
    concurrency: int = 8  # attempts one dispatcher process runs at once
    # The dispatcher's own outbound-socket listener for agent legs (whisper);
    # port 0 picks a free port. agent_socket_address is what FreeSWITCH dials
    # (``&socket(ADDR async full)``); empty: the bound host:port.
    listen_host: str = "127.0.0.1"
    listen_port: int = 8086
    agent_socket_address: str = ""
    whisper_timeout: float = 45.0  # bound on the agent's answer to the whisper once the leg is up
    # After its dialling work each pass delivers the helpdesk outbox for at most
    # this many seconds (0: leave it to serve/api/outbox flush).
    outbox_delivery_seconds: float = 20.0


@dataclass
class APIToken:
    token: str = _secret()
    domain: str = ""


@dataclass
class APIConfig:
    host: str = "127.0.0.1"
    port: int = 8085
    tokens: list = field(default_factory=list, repr=False)  # list[APIToken]
    threads: int = 8
    max_body_bytes: int = 65536
    call_workers: int = 4  # click-to-call attempts run at once; more get 503
    agent_listen_host: str = "127.0.0.1"  # outbound-socket listener for click-to-call agent legs
    agent_listen_port: int = 8087  # 0: any free port
    agent_socket_address: str = ""  # what FreeSWITCH dials; empty: the bound host:port
    # Against hostile clients (api.server): connections at once in total and per
    # client address, and absolute deadlines to receive a request head and body.
    max_connections: int = 100
    max_connections_per_client: int = 20
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    console: bool = True  # the admin console under /console (voiceai_ivr.console)


@dataclass
class DialplanConfig:
    # Empty: ask FreeSWITCH over ESL (``$${conf_dir}/dialplan/public``: /etc/freeswitch
    # for Debian packages, /usr/local/freeswitch/conf for source installs).
    directory: str = ""
    mode: str = "socket"  # socket | python
    socket_host: str = "127.0.0.1"
    socket_port: int = 8084
    # Further ``voiceai-ivr serve`` addresses ("HOST:PORT"), tried in order when the
    # one before refuses the connection (down, restarting, stopping).
    socket_failover: list = field(default_factory=list)
    fusionpbx_dsn: str = _secret()
    # FusionPBX's dialplan cache, cleared after --fusionpbx installs: file | memcache | none
    fusionpbx_cache: str = "file"
    fusionpbx_cache_dir: str = "/var/cache/fusionpbx"
    fusionpbx_context: str = "public"


@dataclass
class LoggingConfig:
    level: str = "INFO"
    json: bool = False


@dataclass
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    esl: ESLConfig = field(default_factory=ESLConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    helpdesk: HelpdeskConfig = field(default_factory=HelpdeskConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    api: APIConfig = field(default_factory=APIConfig)
    dialplan: DialplanConfig = field(default_factory=DialplanConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = ""  # file the config came from ("" = defaults only)

    def retry_policy(self, domain: str) -> RetryPolicy:
        override = self.callbacks.domain_retry.get(domain)
        if not override:
            return self.callbacks.retry
        return dataclasses.replace(self.callbacks.retry, **override)

    def redacted(self) -> dict:
        """The configuration as a dict with every secret replaced by ``***``."""
        return _redact(dataclasses.asdict(self))


DSN_FIELDS = {"dsn", "fusionpbx_dsn"}


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if key in DSN_FIELDS and value:
        return redact_dsn(value)
    if key in SECRET_FIELDS and value:
        return MASK
    if isinstance(value, str):
        return redact(value)  # passwords inside URLs, ``token=…`` pairs
    return value


def redact_dsn(dsn: str) -> str:
    """A PostgreSQL DSN (URI or ``key=value``) with its passwords masked, so the
    host and database stay readable; ``***`` whole when it cannot be parsed or a
    password would still show."""
    params, problem = _parse_dsn(dsn)
    if params is None or problem:
        return MASK
    shown = redact_patterns(dsn)
    if any(v and v in shown for k, v in params.items() if k in ("password", "sslpassword")):
        return MASK
    return shown


def dsn_problem(dsn: str) -> Optional[str]:
    """Why ``dsn`` is not a PostgreSQL connection string (None when it parses),
    worded without any part of the DSN itself: libpq quotes the text it stopped
    at, which may be the password."""
    return _parse_dsn(dsn)[1] if dsn else None


_QUOTED = re.compile(r'([^"]*?)"([^"]*)"')


def _parse_dsn(dsn: str) -> tuple[Optional[dict], Optional[str]]:
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(dsn), None
    except psycopg2.Error as exc:
        text = (str(exc).strip().splitlines() or ["invalid"])[0]
        text = re.sub(r"^invalid dsn:\s*", "", text)

        def keep(m: re.Match[str]) -> str:
            before, fragment = m.group(1), m.group(2)
            if (len(fragment) == 1 and not fragment.isalnum()) or (
                re.search(r"(option|parameter:?)\s*$", before) and re.fullmatch(r"[a-z_]{1,40}", fragment)
            ):
                return m.group(0)
            return f'{before}"***"'

        return None, _QUOTED.sub(keep, text)


# --------------------------------------------------------------------------- loading

ENV_OVERRIDES = {
    "VOICEAI_DATABASE_DSN": ("database", "dsn"),
    "VOICEAI_DATA_DIR": ("database", "data_dir"),
    "VOICEAI_ESL_HOST": ("esl", "host"),
    "VOICEAI_ESL_PORT": ("esl", "port"),
    "VOICEAI_ESL_PASSWORD": ("esl", "password"),
    "VOICEAI_SERVER_HOST": ("server", "host"),
    "VOICEAI_SERVER_PORT": ("server", "port"),
    "VOICEAI_HELPDESK_URL": ("helpdesk", "url"),
    "VOICEAI_HELPDESK_TOKEN": ("helpdesk", "token"),
    "VOICEAI_LLM_API_KEY": ("llm", "api_key"),
    "VOICEAI_TTS_API_KEY": ("speech", "tts_api_key"),
    "VOICEAI_ASR_API_KEY": ("speech", "asr_api_key"),
    "VOICEAI_FUSIONPBX_DSN": ("dialplan", "fusionpbx_dsn"),
    "VOICEAI_LOG_LEVEL": ("logging", "level"),
    "VOICEAI_LOG_JSON": ("logging", "json"),
}


def default_data_dir() -> Path:
    base = os.environ.get("VOICEAI_DATA_DIR") or os.environ.get("XDG_DATA_HOME")
    if os.environ.get("VOICEAI_DATA_DIR"):
        return Path(os.environ["VOICEAI_DATA_DIR"]).expanduser()
    root = Path(base).expanduser() if base else Path.home() / ".local" / "share"
    return root / "voiceai-ivr"


def _coerce(value: Any, typ: Any, path: str, problems: list[str]) -> Any:
    origin = get_origin(typ)
    if origin is Union:  # Optional[X]
        args = [a for a in get_args(typ) if a is not type(None)]
        if value is None:
            return None
        typ = args[0]
    if dataclasses.is_dataclass(typ):
        if not isinstance(value, Mapping):
            problems.append(f"{path}: must be a mapping")
            return _build(typ, {}, path, problems)
        return _build(typ, value, path, problems)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        problems.append(f"{path}: must be true or false")
        return False
    if typ is int:
        if isinstance(value, bool):
            problems.append(f"{path}: must be a whole number")
            return 0
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            problems.append(f"{path}: must be a whole number")
            return 0
    if typ is float:
        if isinstance(value, bool):
            problems.append(f"{path}: must be a number")
            return 0.0
        try:
            return float(value)
        except (TypeError, ValueError):
            problems.append(f"{path}: must be a number")
            return 0.0
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            problems.append(f"{path}: must be text")
            return ""
        return str(value)
    if typ is dict or origin is dict:
        if not isinstance(value, Mapping):
            problems.append(f"{path}: must be a mapping")
            return {}
        return dict(value)
    if typ is list or origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list")
            return []
        return list(value)
    return value


def _build(cls: Any, data: Mapping, path: str, problems: list[str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name != "source"}
    kwargs = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in known:
            problems.append(f"{sub}: unknown setting")
            continue
        kwargs[key] = _coerce(value, hints[key], sub, problems)
    return cls(**kwargs)


def _validate(cfg: Config, problems: list[str]) -> None:
    def port(path: str, value: int, allow_zero: bool = False) -> None:
        if not ((allow_zero and value == 0) or 1 <= value <= 65535):
            problems.append(f"{path}: must be 1-65535" + (" (or 0 to disable)" if allow_zero else ""))

    def positive(path: str, value: float) -> None:
        if not value > 0:
            problems.append(f"{path}: must be greater than 0")

    port("esl.port", cfg.esl.port)
    port("server.port", cfg.server.port)
    port("server.metrics_port", cfg.server.metrics_port, allow_zero=True)
    port("api.port", cfg.api.port)
    port("dialplan.socket_port", cfg.dialplan.socket_port)
    port("dispatcher.listen_port", cfg.dispatcher.listen_port, allow_zero=True)
    port("api.agent_listen_port", cfg.api.agent_listen_port, allow_zero=True)
    if not 1 <= cfg.dispatcher.concurrency <= 1000:
        problems.append("dispatcher.concurrency: must be 1-1000")
    if not 1 <= cfg.dispatcher.batch_size <= 10000:
        problems.append("dispatcher.batch_size: must be 1-10000")
    if not 1 <= cfg.api.call_workers <= 200:
        problems.append("api.call_workers: must be 1-200")
    if not 1024 <= cfg.api.max_body_bytes <= 16 * 1024 * 1024:
        problems.append("api.max_body_bytes: must be 1024-16777216")
    if not 1 <= cfg.api.max_connections <= 10000:
        problems.append("api.max_connections: must be 1-10000")
    if not 1 <= cfg.api.max_connections_per_client <= cfg.api.max_connections:
        problems.append("api.max_connections_per_client: must be 1 to api.max_connections")
    for path, value in (("api.header_timeout", cfg.api.header_timeout), ("api.body_timeout", cfg.api.body_timeout)):
        if not 0.1 <= value <= 3600:
            problems.append(f"{path}: must be 0.1-3600 seconds")
    for path, value in (
        ("esl.timeout", cfg.esl.timeout),
        ("database.connect_timeout", cfg.database.connect_timeout),
        ("server.shutdown_grace", cfg.server.shutdown_grace),
        ("speech.listen_timeout", cfg.speech.listen_timeout),
        ("helpdesk.timeout", cfg.helpdesk.timeout),
        ("llm.timeout", cfg.llm.timeout),
        ("callbacks.lease_seconds", cfg.callbacks.lease_seconds),
        ("callbacks.max_age_hours", cfg.callbacks.max_age_hours),
        ("dispatcher.loop_interval", cfg.dispatcher.loop_interval),
        ("dispatcher.whisper_timeout", cfg.dispatcher.whisper_timeout),
        ("helpdesk.delivery_interval", cfg.helpdesk.delivery_interval),
    ):
        positive(path, value)
    if not 0 <= cfg.dispatcher.outbox_delivery_seconds <= 3600:
        problems.append("dispatcher.outbox_delivery_seconds: must be 0-3600")
    _validate_caller_id(cfg.callbacks, problems)
    if len(cfg.callbacks.default_destination) > 200 or "\n" in cfg.callbacks.default_destination:
        problems.append("callbacks.default_destination: must be a destination name (one line, at most 200 characters)")
    if not 1 <= cfg.server.max_calls <= 100000:
        problems.append("server.max_calls: must be 1-100000")
    if not 0 <= cfg.speech.reprompts <= 10:
        problems.append("speech.reprompts: must be 0-10")
    if not 1 <= cfg.database.pool_size <= 200:
        problems.append("database.pool_size: must be 1-200")
    if cfg.database.statement_timeout_ms < 0:
        problems.append("database.statement_timeout_ms: must be 0 or more")
    if not cfg.server.call_recordings_dir.startswith("/") or any(
        c in cfg.server.call_recordings_dir for c in " '\"${}\\\n"
    ):
        problems.append("server.call_recordings_dir: must be an absolute path without spaces, quotes or ${")
    for path, dsn in (("database.dsn", cfg.database.dsn), ("dialplan.fusionpbx_dsn", cfg.dialplan.fusionpbx_dsn)):
        why = dsn_problem(dsn)
        if why:
            problems.append(
                f"{path}: not a PostgreSQL connection string ({why}); "
                "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE or key=value pairs"
            )
    if cfg.dialplan.mode not in ("socket", "python"):
        problems.append("dialplan.mode: must be socket or python")
    if cfg.dialplan.socket_failover:
        try:
            validate_failover(cfg.dialplan.socket_failover, cfg.dialplan.socket_host, cfg.dialplan.socket_port,
                              "dialplan.socket_failover")
        except ValidationError as exc:
            problems.append(str(exc))
    if cfg.dialplan.fusionpbx_cache not in ("file", "memcache", "none"):
        problems.append("dialplan.fusionpbx_cache: must be file, memcache or none")
    if cfg.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        problems.append("logging.level: must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    for name in ("helpdesk.url", "llm.url"):
        section, key = name.split(".")
        url = getattr(getattr(cfg, section), key)
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"{name}: must start with http:// or https://")
    if cfg.llm.enabled and not (cfg.llm.url and cfg.llm.model):
        problems.append("llm: enabled needs url and model")
    for key in ("tts_voice", "espeak_voice", "tts_http_voice"):
        for lang in getattr(cfg.speech, key):
            if lang not in LANGUAGES:
                problems.append(f"speech.{key}.{lang}: unknown language (use {', '.join(LANGUAGES)})")
    _validate_speech(cfg.speech, problems)
    _validate_retry("callbacks.retry", cfg.callbacks.retry, problems)
    known_retry = {f.name for f in fields(RetryPolicy)}
    for domain, override in cfg.callbacks.domain_retry.items():
        if not isinstance(override, Mapping):
            problems.append(f"callbacks.domain_retry.{domain}: must be a mapping")
            continue
        bad = [k for k in override if k not in known_retry]
        for k in bad:
            problems.append(f"callbacks.domain_retry.{domain}.{k}: unknown setting")
        if not bad:
            _validate_retry(
                f"callbacks.domain_retry.{domain}", dataclasses.replace(cfg.callbacks.retry, **override), problems
            )
    tokens = []
    for i, item in enumerate(cfg.api.tokens):
        sub: list[str] = []
        tok = _coerce(item, APIToken, f"api.tokens[{i}]", sub)
        problems.extend(sub)
        if not sub:
            if len(tok.token) < 16:
                problems.append(f"api.tokens[{i}].token: must be at least 16 characters")
            if not tok.domain:
                problems.append(f"api.tokens[{i}].domain: required")
        tokens.append(tok)
    problems.extend(shared_token_problems(tokens))
    cfg.api.tokens = tokens


def shared_token_problems(tokens: list[APIToken]) -> list[str]:
    """A token names one domain: listed twice it would silently act as one of them.
    The message names the entries, never the token."""
    first_use: dict[str, int] = {}
    problems = []
    for i, tok in enumerate(tokens):
        if not isinstance(tok, APIToken) or not tok.token:
            continue
        if tok.token in first_use:
            problems.append(
                f"api.tokens[{i}].token: the same token as api.tokens[{first_use[tok.token]}] "
                "(one token, one domain: give each domain its own token)"
            )
        else:
            first_use[tok.token] = i
    return problems


def _validate_caller_id(cb: CallbacksConfig, problems: list[str]) -> None:
    """What customers see when called back: refused here, with the reason, rather
    than failing every callback after the agent accepted."""
    if cb.caller_id_number:
        try:
            check_caller_id_number("callbacks.caller_id_number", cb.caller_id_number)
        except ValidationError as exc:
            problems.append(str(exc))
    why = caller_id_name_problem(cb.caller_id_name) if cb.caller_id_name else None
    if why:
        problems.append(f"callbacks.caller_id_name: {why}")


def _validate_speech(sp: SpeechConfig, problems: list[str]) -> None:
    """voiceai_ivr/speech settings (what is installed is checked by ``config check``)."""
    if sp.synthesizer not in ("auto", "espeak-ng", "http", "freeswitch"):
        problems.append("speech.synthesizer: must be auto, espeak-ng, http or freeswitch")
    if sp.recognizer not in ("auto", "freeswitch", "http"):
        problems.append("speech.recognizer: must be auto, freeswitch or http")
    if sp.audio_dir and re.search(r"[\s'\"${}\\;|&<>`]", sp.audio_dir):
        problems.append("speech.audio_dir: must be a path without spaces, quotes, ${ or shell characters "
                        "(FreeSWITCH records into it)")
    for name in ("tts_url", "asr_url"):
        url = getattr(sp, name)
        if url and not url.startswith(("http://", "https://")):
            problems.append(f"speech.{name}: must start with http:// or https://")
    if sp.synthesizer == "http" and not (sp.tts_url and sp.tts_model):
        problems.append("speech.synthesizer: http needs speech.tts_url and speech.tts_model")
    if sp.recognizer == "http" and not (sp.asr_url and sp.asr_model):
        problems.append("speech.recognizer: http needs speech.asr_url and speech.asr_model")
    for name, low, high in (("synth_timeout", 0.1, 60), ("tts_timeout", 0.1, 120), ("asr_timeout", 0.1, 120)):
        if not low <= getattr(sp, name) <= high:
            problems.append(f"speech.{name}: must be {low}-{high} seconds")
    if not 80 <= sp.espeak_speed <= 450:
        problems.append("speech.espeak_speed: must be 80-450 words per minute")
    if not 1 <= sp.record_max_seconds <= 120:
        problems.append("speech.record_max_seconds: must be 1-120")
    if not 1 <= sp.record_silence_seconds <= 10:
        problems.append("speech.record_silence_seconds: must be 1-10")
    if not 1 <= sp.record_silence_threshold <= 10000:
        problems.append("speech.record_silence_threshold: must be 1-10000")
    for name in ("keep_recordings_hours", "keep_synthesized_days"):
        if getattr(sp, name) < 0:
            problems.append(f"speech.{name}: must be 0 or more")
    if not re.fullmatch(r"[A-Za-z0-9_./+-]{1,200}", sp.espeak_command or ""):
        problems.append("speech.espeak_command: must be a command name or path")


def _validate_retry(path: str, policy: RetryPolicy, problems: list[str]) -> None:
    try:
        if not 1 <= int(policy.max_attempts) <= 20:
            problems.append(f"{path}.max_attempts: must be 1-20")
        for key in ("min_interval_minutes", "busy_retry_minutes", "no_answer_retry_minutes"):
            if float(getattr(policy, key)) < 0:
                problems.append(f"{path}.{key}: must be 0 or more")
        if float(policy.backoff) < 1:
            problems.append(f"{path}.backoff: must be 1 or more")
    except (TypeError, ValueError):
        problems.append(f"{path}: values must be numbers")


def _apply_env(data: dict, env: Mapping[str, str]) -> None:
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in env and env[var] != "":
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                continue
            data[section][key] = env[var]
    if env.get("VOICEAI_API_TOKENS"):
        # "domain:token,domain2:token2"
        items = []
        for pair in env["VOICEAI_API_TOKENS"].split(","):
            domain, _, token = pair.strip().partition(":")
            items.append({"domain": domain, "token": token})
        data.setdefault("api", {})["tokens"] = items


def config_path(explicit: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Optional[Path]:
    env = os.environ if env is None else env
    chosen = explicit or env.get("VOICEAI_CONFIG")
    return Path(chosen).expanduser() if chosen else None


def check_config(
    path: Optional[Union[str, Path]] = None, env: Optional[Mapping[str, str]] = None
) -> tuple[Config, list[str]]:
    """Load and validate; return the config and every problem found (never raises)."""
    env = os.environ if env is None else env
    problems: list[str] = []
    data: Any = {}
    source = ""
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            data = yamlfile.load(p, limit=yamlfile.max_bytes(env)) or {}
        except yamlfile.YamlFileError as exc:
            return Config(), [str(exc)]
        if not isinstance(data, dict):
            return Config(), [f"{p}: top level must be a mapping"]
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    _apply_env(data, env)
    cfg = _build(Config, data, "", problems)
    cfg.source = source
    _validate(cfg, problems)
    return cfg, _name_sources(_first_per_setting(problems), env)


def _first_per_setting(problems: list[str]) -> list[str]:
    """One problem per setting: a value that is not a number is not also out of range."""
    seen: set[str] = set()
    out = []
    for problem in problems:
        path = problem.split(": ", 1)[0]
        if path not in seen:
            seen.add(path)
            out.append(problem)
    return out


def _name_sources(problems: list[str], env: Mapping[str, str]) -> list[str]:
    """``esl.port: …`` -> ``VOICEAI_ESL_PORT (esl.port): …`` when the value came
    from that environment variable: name what the user typed."""
    sources = {f"{section}.{key}": var for var, (section, key) in ENV_OVERRIDES.items() if env.get(var)}
    if env.get("VOICEAI_API_TOKENS"):
        sources["api.tokens"] = "VOICEAI_API_TOKENS"
    out = []
    for problem in problems:
        path = problem.split(": ", 1)[0]
        for setting, var in sources.items():
            if path == setting or path.startswith((setting + ".", setting + "[")):
                problem = f"{var} ({problem.split(': ', 1)[0]}): {problem.split(': ', 1)[1]}"
                break
        out.append(problem)
    return out


def load_config(path: Optional[Union[str, Path]] = None, env: Optional[Mapping[str, str]] = None) -> Config:
    """The one way to get a ``Config``: file (``--config``/``VOICEAI_CONFIG``) + env."""
    chosen = config_path(str(path) if path else None, env)
    cfg, problems = check_config(chosen, env)
    if problems:
        raise ConfigError(problems)
    return cfg
