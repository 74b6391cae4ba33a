"""Logging: one line per event, text or JSON, every line of a call tagged with
its call uuid and domain, and secrets never written.

    setup_logging("INFO", json=True, secrets=[cfg.esl.password, cfg.helpdesk.token])
    with call_context(channel.uuid, domain):
        log.info("transfer %s -> %s", ...)   # carries call_uuid and domain

``call_context`` uses ``contextvars``: it tags everything logged by the thread
(or task) inside the block, whichever module logs it. ``RedactFilter`` removes
passwords, tokens, ``Authorization`` headers, DSN passwords and ESL ``auth``
commands from messages and exception text; ``setup_logging`` installs it on its
handler, and ``redact(text)`` is there for anything else that prints.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json as _json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import IO, Any, Optional, Union

_call_uuid: contextvars.ContextVar[str] = contextvars.ContextVar("voiceai_call_uuid", default="")
_domain: contextvars.ContextVar[str] = contextvars.ContextVar("voiceai_domain", default="")

MASK = "***"
_HANDLER_MARK = "_voiceai_ivr_handler"

# key=value, key: value, "key": "value" for secret-looking keys.
_SENSITIVE_KEYS = (
    r"password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api[_-]?key|apikey"
    r"|auth[_-]?token|private[_-]?key|dsn_password"
)
_KV_RE = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b(?:[a-z0-9_-]*[_-])?(?:{_SENSITIVE_KEYS})\b["']?)   # key, maybe quoted or prefixed (esl_password)
    (?P<sep>\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s,;&}}\]"']+)
    """
)
_AUTH_HEADER_RE = re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\r\n,;}]+)")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")
# ``user:password@host`` without a well-formed scheme (``postgresql//u:pw@h/db``, a
# DSN libpq echoes back); ``sip:1001@host``-style URIs are not credentials.
_USERINFO_RE = re.compile(
    r"(?i)(?<![\w.%+-])(?!(?:sips?|tel|mailto|urn):)([a-z0-9._%+-]{1,64}:)([^@\s/\"':]+)(@(?=[\w\[]))"
)
_ESL_AUTH_RE = re.compile(r"(?i)(\bauth\s+)(?!request\b)\S+")  # ESL "auth PASSWORD"


class _Secrets:
    """Exact secret values known at runtime (configured passwords and tokens)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, values: Iterable[Optional[str]]) -> None:
        with self._lock:
            merged = set(self._values)
            merged.update(v for v in values if isinstance(v, str) and len(v) >= 4)
            self._values = tuple(sorted(merged, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values = ()

    def values(self) -> tuple[str, ...]:
        return self._values


_SECRETS = _Secrets()


def register_secrets(*values: Optional[str]) -> None:
    """Redact these exact values wherever they appear (values under 4 characters are ignored)."""
    _SECRETS.add(values)


def redact(text: str) -> str:
    """``text`` with every secret we can recognise replaced by ``***``."""
    if not text:
        return text
    for value in _SECRETS.values():
        if value in text:
            text = text.replace(value, MASK)
    return redact_patterns(text)


def redact_patterns(text: str) -> str:
    """``redact`` by the patterns only (not the registered values): URL and DSN
    passwords, ``Authorization`` and bearer credentials, ``token=…`` pairs."""
    if not text:
        return text
    text = _URL_PASSWORD_RE.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _USERINFO_RE.sub(rf"\g<1>{MASK}\g<3>", text)
    text = _AUTH_HEADER_RE.sub(rf"\g<1>{MASK}", text)
    text = _BEARER_RE.sub(rf"\g<1> {MASK}", text)
    text = _ESL_AUTH_RE.sub(rf"\g<1>{MASK}", text)
    text = _KV_RE.sub(_mask_kv, text)
    return text


def _mask_kv(m: re.Match[str]) -> str:
    value = m.group("value")
    if value == MASK or value.strip("\"'") == MASK:
        return m.group(0)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{m.group('key')}{m.group('sep')}{quote}{MASK}{quote}"


# --------------------------------------------------------------------------- call context


@contextlib.contextmanager
def call_context(uuid: str, domain: str = "") -> Iterator[None]:
    """Tag every log line inside the block with ``call_uuid`` and ``domain``."""
    t1 = _call_uuid.set(uuid or "")
    t2 = _domain.set(domain or "")
    try:
        yield
    finally:
        _domain.reset(t2)
        _call_uuid.reset(t1)


def current_call() -> tuple[str, str]:
    """``(call_uuid, domain)`` of the current context ("" when outside a call)."""
    return _call_uuid.get(), _domain.get()


class CallContextFilter(logging.Filter):
    """Adds ``call_uuid`` and ``domain`` to every record (from ``call_context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "call_uuid", ""):
            record.call_uuid = _call_uuid.get()
        if not getattr(record, "domain", ""):
            record.domain = _domain.get()
        return True


class RedactFilter(logging.Filter):
    """Redacts the formatted message (and drops ``args`` so nothing re-expands it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad format args: keep the raw template
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        return True


# --------------------------------------------------------------------------- formatters


_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "call_uuid", "domain"}
)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _timestamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, tz=dt.timezone.utc).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``2026-11-24T13:30:00.123+00:00 INFO voiceai_ivr.x [call=… domain=…] message``,
    exceptions folded onto the same line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        tag = ""
        call_uuid, domain = getattr(record, "call_uuid", ""), getattr(record, "domain", "")
        if call_uuid or domain:
            tag = f" [call={call_uuid or '-'} domain={domain or '-'}]"
        line = f"{_timestamp(record)} {record.levelname} {record.name}{tag} {message}"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        elif record.exc_text:
            line += " | " + record.exc_text
        if record.stack_info:
            line += " | " + record.stack_info
        return _one_line(redact(line))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, call_uuid, domain, and
    any ``extra=`` fields; ``exc`` holds a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        call_uuid, domain = getattr(record, "call_uuid", ""), getattr(record, "domain", "")
        if call_uuid:
            data["call_uuid"] = call_uuid
        if domain:
            data["domain"] = domain
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in data:
                data[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
                if isinstance(data[key], str):
                    data[key] = redact(data[key])
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            data["exc"] = redact(record.exc_text)
        return _json.dumps(data, ensure_ascii=False, default=str)


# --------------------------------------------------------------------------- setup


def setup_logging(
    level: Union[str, int] = "INFO",
    json: bool = False,
    *,
    stream: Optional[IO[str]] = None,
    secrets: Iterable[Optional[str]] = (),
    logger: Optional[logging.Logger] = None,
) -> logging.Handler:
    """Send logs to ``stream`` (stderr) one line per event, as JSON when ``json``.

    Replaces the handler a previous call installed (never anyone else's), so it
    may be called again, e.g. after the configuration is loaded. ``secrets`` are
    exact values to redact besides the patterns. Returns the handler."""
    target = logger if logger is not None else logging.getLogger()
    if isinstance(level, str):
        name = level.upper()
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"logging level must be DEBUG, INFO, WARNING, ERROR or CRITICAL: {level!r}")
        numeric = logging.getLevelName(name)
    else:
        numeric = int(level)
    register_secrets(*secrets)
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(CallContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JSONFormatter() if json else TextFormatter())
    target.addHandler(handler)
    target.setLevel(numeric)
    return handler
