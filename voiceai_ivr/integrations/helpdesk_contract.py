"""The helpdesk contract (``docs/helpdesk-api.md``) in one place.

Every message voiceai_ivr sends a helpdesk is an outbox row: a kind, a JSON
payload and an idempotency key. This module owns all three for every kind:

==================== ======================================= ===================================
kind                 HTTP request                            builder
==================== ======================================= ===================================
callback.created     POST  /v1/callbacks                     ``ticket(..., created=True)``
callback.updated     PATCH /v1/callbacks/{callback_id}       ``ticket(..., created=False)``,
                                                             ``change()`` (snoozed)
callback.attempt     POST  /v1/callbacks/{id}/attempts       ``attempt()``
callback.result      POST  /v1/callbacks/{id}/result         ``result()``
transfer.completed   POST  /v1/calls/{call_id}/transfer-...  ``transfer_completed()``
call.missed          POST  /v1/missed-calls                  ``missed_call()``
whatsapp.send        POST  /v1/whatsapp/messages             ``whatsapp_notice()``,
                                                             ``whatsapp_missed_call()``
==================== ======================================= ===================================

Builders return an ``OutboxEvent`` (kind, payload, idempotency key) ready for
``stores.outbox.enqueue``; ``*_payload`` functions return the bare body.
``route(kind, payload)`` gives the HTTP method and path the client uses.
``redact_body`` masks secrets a helpdesk echoes back before anything is stored.

The WhatsApp template parameters (dates in the domain's zone and language) are
formatted by ``integrations.whatsapp``; the message around them is built here.
"""

from __future__ import annotations

import functools
import json
import re
import secrets as _secrets
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import quote

from voiceai_ivr.domain.causes import ATTEMPT_OUTCOMES
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.integrations import whatsapp
from voiceai_ivr.logs import MASK, redact
from voiceai_ivr.stores.callbacks import request_key
from voiceai_ivr.stores.outbox import OutboxEvent

if TYPE_CHECKING:
    from voiceai_ivr.config import Config
    from voiceai_ivr.stores.callbacks import Callback, CallbackRequest

KIND_CREATED = "callback.created"
KIND_UPDATED = "callback.updated"
KIND_ATTEMPT = "callback.attempt"
KIND_RESULT = "callback.result"
KIND_TRANSFER = "transfer.completed"
KIND_MISSED = "call.missed"
KIND_WHATSAPP = "whatsapp.send"

# outbox kind -> (method, path template); path values come from the payload
ROUTES: dict[str, tuple[str, str]] = {
    KIND_CREATED: ("POST", "/v1/callbacks"),
    KIND_UPDATED: ("PATCH", "/v1/callbacks/{callback_id}"),
    KIND_ATTEMPT: ("POST", "/v1/callbacks/{callback_id}/attempts"),
    KIND_RESULT: ("POST", "/v1/callbacks/{callback_id}/result"),
    KIND_TRANSFER: ("POST", "/v1/calls/{call_id}/transfer-completed"),
    KIND_MISSED: ("POST", "/v1/missed-calls"),
    KIND_WHATSAPP: ("POST", "/v1/whatsapp/messages"),
}
KINDS = tuple(ROUTES)

# What one dispatch attempt ended with (``callback.attempt`` ``outcome``) is
# ``domain.causes.ATTEMPT_OUTCOMES``, the values of ``callback_attempts.outcome``.
# The final state of a request (``callback.result`` ``status``).
RESULT_STATUSES = ("completed", "failed", "expired", "cancelled")
# Where a callback's call went: the destination the caller named, the configured
# ``callbacks.default_destination``, or the secretary's fallback destination.
DESTINATION_SOURCES = ("destination", "default_destination", "fallback")
CHANGES = ("snoozed",)


# --------------------------------------------------------------------------- routes


def _segment(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text or len(text) > 200:
        raise ValidationError(name, "required, at most 200 characters")
    return quote(text, safe="")


def route(kind: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(method, path)`` of an outbox message; ``ValidationError`` for an unknown
    kind or a payload missing the id its path needs."""
    if kind not in ROUTES:
        raise ValidationError("kind", f"unknown helpdesk message kind {kind!r}")
    method, template = ROUTES[kind]
    if "{callback_id}" in template:
        return method, template.replace("{callback_id}", _segment(payload.get("callback_id"), "callback_id"))
    if "{call_id}" in template:
        return method, template.replace("{call_id}", _segment(payload.get("call_id"), "call_id"))
    return method, template


# --------------------------------------------------------------------------- keys
# ``request_key(request_id)``: the ticket message of one confirmed request
# (``stores.callbacks``, which looks it up to make saving idempotent).


def _iso(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


# --------------------------------------------------------------------------- callbacks


def ticket_payload(row: Callback, request: CallbackRequest, *, timezone_name: str = "") -> dict[str, Any]:
    """Body of ``POST /v1/callbacks`` (and of the ``PATCH`` of a repeated request:
    the merged row, with ``request`` describing the new request only)."""
    return {
        "callback_id": row.public_id,
        "domain": row.domain,
        "status": row.status,
        "contact": {"name": row.caller_name, "number": row.number_e164},
        "window": {
            "start": row.window_start.isoformat(),
            "end": row.window_end.isoformat(),
            "timezone": timezone_name or "",
        },
        "reason": row.reason,
        "transcript": row.transcript,
        "category": row.category,
        "language": row.language,
        "destination": {"id": row.destination_id, "name": row.destination_name},
        "agent_extension": row.agent_extension,
        "call_id": request.call_uuid or row.call_uuid,
        "recording_path": request.recording_path or row.recording_path,
        "source": request.source,
        "request": {
            "request_id": request.request_id,
            "reason": request.reason,
            "transcript": request.transcript,
            "captured_at": request.captured_at.isoformat(),
        },
    }


def ticket(row: Callback, request: CallbackRequest, *, created: bool, timezone_name: str = "") -> OutboxEvent:
    """The ticket message of a confirmed request: ``callback.created`` for a new
    request, ``callback.updated`` when it was folded into the open one."""
    return OutboxEvent(
        KIND_CREATED if created else KIND_UPDATED,
        ticket_payload(row, request, timezone_name=timezone_name),
        request_key(request.request_id),
    )


def change(callback_id: str, domain: str, what: str, **values: Any) -> OutboxEvent:
    """``PATCH /v1/callbacks/{id}`` telling the helpdesk that an operator changed a
    pending request (``what``: ``snoozed``, with ``next_attempt_at``). Each change
    is its own message (random key suffix)."""
    if what not in CHANGES:
        raise ValidationError("change", f"must be one of {', '.join(CHANGES)}")
    payload: dict[str, Any] = {"callback_id": callback_id, "domain": domain, "change": what}
    payload.update({k: _iso(v) if isinstance(v, datetime) else v for k, v in values.items()})
    return OutboxEvent(KIND_UPDATED, payload, f"callback.{what}:{callback_id}:{_secrets.token_hex(6)}")


def attempt_payload(
    *,
    callback_id: str,
    domain: str,
    attempt_no: int,
    outcome: str,
    attempt_id: Optional[int] = None,
    trigger: str = "cron",
    hangup_cause: Optional[str] = None,
    agent_extension: Optional[str] = None,
    destination: Optional[str] = None,
    destination_source: Optional[str] = None,
    started_at: Any = None,
    ended_at: Any = None,
    next_attempt_at: Any = None,
    status: str = "pending",
    ticket_id: Optional[str] = None,
    detail: str = "",
) -> dict[str, Any]:
    """Body of ``POST /v1/callbacks/{id}/attempts``: one dispatch attempt and the
    request's status after it (``next_attempt_at`` only while it stays pending)."""
    if outcome not in ATTEMPT_OUTCOMES:
        raise ValidationError("outcome", f"must be one of {', '.join(ATTEMPT_OUTCOMES)}")
    if destination_source is not None and destination_source not in DESTINATION_SOURCES:
        raise ValidationError("destination_source", f"must be one of {', '.join(DESTINATION_SOURCES)}")
    return {
        "callback_id": callback_id,
        "domain": domain,
        "attempt_no": int(attempt_no),
        "attempt_id": attempt_id,
        "trigger": trigger,
        "outcome": outcome,
        "hangup_cause": hangup_cause,
        "agent_extension": agent_extension,
        "destination": {"name": destination, "source": destination_source} if destination else None,
        "started_at": _iso(started_at),
        "ended_at": _iso(ended_at),
        "next_attempt_at": _iso(next_attempt_at) if status == "pending" else None,
        "status": status,
        "ticket_id": ticket_id,
        "detail": detail or "",
    }


def attempt(**fields: Any) -> OutboxEvent:
    """The ``callback.attempt`` message (fields as ``attempt_payload``)."""
    payload = attempt_payload(**fields)
    return OutboxEvent(
        KIND_ATTEMPT, payload, f"callback.attempt:{payload['callback_id']}:{payload['attempt_no']}"
    )


def result_payload(
    *,
    callback_id: str,
    domain: str,
    status: str,
    attempts: int,
    last_outcome: Optional[str] = None,
    completed_at: Any = None,
    detail: str = "",
    ticket_id: Optional[str] = None,
) -> dict[str, Any]:
    """Body of ``POST /v1/callbacks/{id}/result``: the request's final state."""
    if status not in RESULT_STATUSES:
        raise ValidationError("status", f"must be one of {', '.join(RESULT_STATUSES)}")
    return {
        "callback_id": callback_id,
        "domain": domain,
        "status": status,
        "attempts": int(attempts),
        "last_outcome": last_outcome,
        "completed_at": _iso(completed_at),
        "detail": detail or "",
        "ticket_id": ticket_id,
    }


def result(**fields: Any) -> OutboxEvent:
    """The ``callback.result`` message (fields as ``result_payload``); one per final status."""
    payload = result_payload(**fields)
    return OutboxEvent(KIND_RESULT, payload, f"callback.result:{payload['callback_id']}:{payload['status']}")


# --------------------------------------------------------------------------- calls


def transfer_completed_payload(
    *,
    call_id: str,
    domain: str,
    caller_number: Optional[str],
    caller_name: Optional[str],
    destination_name: str,
    destination_id: Optional[int] = None,
    agent_extension: Optional[str] = None,
    answered_at: Optional[str] = None,
    wait_seconds: Optional[float] = None,
) -> dict[str, Any]:
    """Body of ``POST /v1/calls/{call_id}/transfer-completed``."""
    return {
        "call_id": call_id,
        "domain": domain,
        "caller": {"name": caller_name, "number": caller_number},
        "destination": {"id": destination_id, "name": destination_name},
        "agent_extension": agent_extension,
        "answered_at": answered_at,
        "wait_seconds": wait_seconds,
    }


def transfer_completed(transfer_id: str, **fields: Any) -> OutboxEvent:
    return OutboxEvent(KIND_TRANSFER, transfer_completed_payload(**fields), f"transfer.completed:{transfer_id}")


def missed_call_payload(
    *,
    call_id: str,
    domain: str,
    number_e164: Optional[str],
    caller_name: Optional[str],
    destination_name: Optional[str],
    status: str,
    language: str,
    started_at: Optional[str] = None,
    ended_at: Optional[str] = None,
) -> dict[str, Any]:
    """Body of ``POST /v1/missed-calls``."""
    return {
        "call_id": call_id,
        "domain": domain,
        "contact": {"name": caller_name, "number": number_e164},
        "destination": {"name": destination_name},
        "status": status,
        "language": language,
        "started_at": started_at,
        "ended_at": ended_at,
    }


def missed_call(**fields: Any) -> OutboxEvent:
    payload = missed_call_payload(**fields)
    return OutboxEvent(KIND_MISSED, payload, f"call.missed:{payload['call_id']}")


# --------------------------------------------------------------------------- WhatsApp


def whatsapp_notice(
    event: str,
    callback: Callback,
    *,
    config: Optional[Config] = None,
    timezone_name: str = "",
    key: str = "",
) -> OutboxEvent:
    """A WhatsApp notice about a callback (``scheduled``, ``reminder``, ``failed``,
    ``expired``). ``key`` distinguishes notices of one event (the request id of a
    ``scheduled`` notice); default: one notice per event and callback."""
    payload = whatsapp.build(event, callback, config=config, timezone_name=timezone_name)
    return OutboxEvent(KIND_WHATSAPP, payload, f"whatsapp.{event}:{key or callback.public_id}")


def whatsapp_missed_call(call_uuid: str, **fields: Any) -> OutboxEvent:
    """The WhatsApp invitation sent to a caller we missed: one per call; ``fields``
    are ``whatsapp.build_missed_call``'s."""
    payload = whatsapp.build_missed_call(call_uuid=call_uuid, **fields)
    return OutboxEvent(KIND_WHATSAPP, payload, f"whatsapp.missed_call:{call_uuid}")


# --------------------------------------------------------------------------- responses

_SECRET_KEYS = frozenset(
    {"authorization", "proxy-authorization", "token", "access_token", "refresh_token", "api_key", "apikey",
     "password", "passwd", "secret", "client_secret", "cookie", "set-cookie", "x-api-key"}
)


#: A response body that is not JSON is kept as ``{"text": ...}``, masked first and
#: then cut to this many characters (cutting first could leave part of a secret).
RESPONSE_TEXT_LIMIT = 500


@functools.lru_cache(maxsize=16)
def _secret_re(value: str) -> re.Pattern[str]:
    """``value`` as written, URL-encoded (``%2B``/``%2b`` for ``+``, ``%2F``, ``%3D``:
    a helpdesk echoing a query string or form) or with JSON's ``\\/`` for ``/``,
    character by character, so mixed forms match too."""
    parts = []
    for ch in value:
        forms = [re.escape(ch), "".join(f"%(?i:{b:02x})" for b in ch.encode("utf-8"))]
        if ch == "/":
            forms.append(re.escape("\\/"))
        if ch == " ":
            forms.append(re.escape("+"))
        parts.append("(?:" + "|".join(forms) + ")")
    return re.compile("".join(parts))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` (an error or a body a helpdesk sent back) with secrets masked: the
    given values (our bearer token) as written or URL-encoded, ``Authorization``
    echoes, bearer/basic credentials, passwords inside URLs, ``token=…``/``password: …``
    pairs."""
    for value in secrets:
        if value and len(value) >= 4:
            text = _secret_re(value).sub(MASK, text)
    return redact(text)


def redact_response(content: bytes, secrets: tuple[str, ...] = ()) -> dict:
    """What a helpdesk answered, as stored with the outbox row: the JSON object
    (a list as ``{"data": …}``), else ``{"text": …}`` masked in full and then cut to
    ``RESPONSE_TEXT_LIMIT`` characters; every secret masked (``redact_body``)."""
    if not content:
        return {}
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return {"text": redact_text(text, secrets)[:RESPONSE_TEXT_LIMIT]}
    masked = redact_body(data if isinstance(data, dict) else {"data": data}, secrets)
    return dict(masked)


def redact_body(value: Any, secrets: tuple[str, ...] = (), _key: str = "") -> Any:
    """A JSON value with every secret masked (``redact_text`` on strings and on
    keys, whole values under secret-looking keys such as ``Authorization`` or
    ``token``)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out[redact_text(str(k), secrets)] = redact_body(v, secrets, str(k))
        return out
    if isinstance(value, list):
        return [redact_body(v, secrets, _key) for v in value]
    if _key.lower() in _SECRET_KEYS and value not in (None, "", MASK):
        return MASK
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


__all__ = [
    "ATTEMPT_OUTCOMES",
    "CHANGES",
    "DESTINATION_SOURCES",
    "KINDS",
    "KIND_ATTEMPT",
    "KIND_CREATED",
    "KIND_MISSED",
    "KIND_RESULT",
    "KIND_TRANSFER",
    "KIND_UPDATED",
    "KIND_WHATSAPP",
    "RESPONSE_TEXT_LIMIT",
    "RESULT_STATUSES",
    "ROUTES",
    "attempt",
    "attempt_payload",
    "change",
    "missed_call",
    "missed_call_payload",
    "redact_body",
    "redact_response",
    "redact_text",
    "request_key",
    "result",
    "result_payload",
    "route",
    "ticket",
    "ticket_payload",
    "transfer_completed",
    "transfer_completed_payload",
    "whatsapp_missed_call",
    "whatsapp_notice",
]
