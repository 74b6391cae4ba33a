"""The helpdesk HTTP client (contract: ``docs/helpdesk-api.md``).

Every request carries ``Authorization: Bearer``, an ``Idempotency-Key`` and a
timeout. Results map onto our error tree:

* ``2xx`` -> ``HelpdeskResponse`` (status + parsed JSON);
* ``409`` -> delivered already (same key): ``HelpdeskResponse(duplicate=True)``;
* ``408``/``429``/``5xx``, timeouts, refused/reset connections -> retryable
  ``HelpdeskError``;
* any other ``4xx`` -> ``HelpdeskError(permanent=True)``.

``requests`` exceptions are re-raised ``from`` the original so the cause stays
visible. Nothing here knows about the outbox: ``outbox_worker`` maps outbox
rows to calls of ``HelpdeskClient.send``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import quote

import requests

from voiceai_ivr import __version__
from voiceai_ivr.errors import HelpdeskError, ValidationError

log = logging.getLogger(__name__)

RETRYABLE_4XX = (408, 429)


@dataclass(frozen=True)
class HelpdeskResponse:
    status: int
    body: dict = field(default_factory=dict)
    duplicate: bool = False  # 409: the helpdesk had already processed this key


def _segment(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text or len(text) > 200:
        raise ValidationError(name, "required, at most 200 characters")
    return quote(text, safe="")


# outbox kind -> (method, path template); path values come from the payload
ROUTES: dict[str, tuple[str, str]] = {
    "callback.created": ("POST", "/v1/callbacks"),
    "callback.updated": ("PATCH", "/v1/callbacks/{callback_id}"),
    "callback.attempt": ("POST", "/v1/callbacks/{callback_id}/attempts"),
    "callback.result": ("POST", "/v1/callbacks/{callback_id}/result"),
    "transfer.completed": ("POST", "/v1/calls/{call_id}/transfer-completed"),
    "call.missed": ("POST", "/v1/missed-calls"),
    "whatsapp.send": ("POST", "/v1/whatsapp/messages"),
}


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


class HelpdeskClient:
    """Thread-safe enough for one worker thread; use one client per thread."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 5.0,
        session: Optional[requests.Session] = None,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValidationError("helpdesk.url", "must start with http:// or https://")
        if timeout <= 0:
            raise ValidationError("helpdesk.timeout", "must be greater than 0")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = float(timeout)
        self.session = session or requests.Session()
        self._owns_session = session is None

    def __repr__(self) -> str:  # never shows the token
        return f"<HelpdeskClient {self.base_url}>"

    @classmethod
    def from_config(cls, config: Any, session: Optional[requests.Session] = None) -> HelpdeskClient:
        h = config.helpdesk
        return cls(h.url, h.token, h.timeout, session=session)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> HelpdeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def request(
        self, method: str, path: str, body: Optional[Mapping[str, Any]], *, idempotency_key: str
    ) -> HelpdeskResponse:
        if not idempotency_key:
            raise ValidationError("idempotency_key", "required on every helpdesk request")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Idempotency-Key": idempotency_key,
            "Accept": "application/json",
            "User-Agent": f"voiceai-ivr/{__version__}",
        }
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(dict(body), ensure_ascii=False).encode("utf-8")
        url = self.base_url + path
        try:
            resp = self.session.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise HelpdeskError(f"{method} {path}: timed out after {self.timeout:g}s") from exc
        except requests.ConnectionError as exc:
            raise HelpdeskError(f"{method} {path}: cannot connect ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise HelpdeskError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        status = resp.status_code
        if status == 409:
            return HelpdeskResponse(status, _json(resp), duplicate=True)
        if 200 <= status < 300:
            return HelpdeskResponse(status, _json(resp))
        detail = _error_text(resp)
        message = f"{method} {path}: HTTP {status}" + (f" ({detail})" if detail else "")
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        raise HelpdeskError(message, status=status, permanent=permanent)

    def send(self, kind: str, payload: Mapping[str, Any], idempotency_key: str) -> HelpdeskResponse:
        """Deliver one outbox message (``kind`` as in ``ROUTES``)."""
        try:
            method, path = route(kind, payload)
        except ValidationError as exc:
            raise HelpdeskError(f"cannot send {kind}: {exc}", permanent=True) from exc
        return self.request(method, path, payload, idempotency_key=idempotency_key)

    # ------------------------------------------------------------------ named calls

    def create_callback_ticket(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("callback.created", payload, idempotency_key)

    def update_callback_ticket(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("callback.updated", payload, idempotency_key)

    def report_attempt(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("callback.attempt", payload, idempotency_key)

    def report_result(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("callback.result", payload, idempotency_key)

    def transfer_completed(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("transfer.completed", payload, idempotency_key)

    def missed_call(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("call.missed", payload, idempotency_key)

    def send_whatsapp(self, payload: Mapping[str, Any], *, idempotency_key: str) -> HelpdeskResponse:
        return self.send("whatsapp.send", payload, idempotency_key)


def _json(resp: requests.Response) -> dict:
    if not resp.content:
        return {}
    try:
        data = resp.json()
    except ValueError:
        return {"text": resp.text[:500]}
    return data if isinstance(data, dict) else {"data": data}


def _error_text(resp: requests.Response) -> str:
    body = _json(resp)
    for key in ("error", "message", "detail", "text"):
        if isinstance(body.get(key), str):
            field_name = body.get("field")
            return f"{field_name}: {body[key]}" if isinstance(field_name, str) else body[key][:300]
    return ""


# --------------------------------------------------------------------------- payloads
# Payload builders for messages other parts queue (transfer flow, dispatcher).


def attempt_payload(
    *,
    callback_id: str,
    domain: str,
    attempt_no: int,
    outcome: str,
    hangup_cause: Optional[str] = None,
    agent_extension: Optional[str] = None,
    started_at: Optional[str] = None,
    ended_at: Optional[str] = None,
    next_attempt_at: Optional[str] = None,
) -> dict[str, Any]:
    """Body of ``POST /v1/callbacks/{id}/attempts`` (times as ISO 8601 text)."""
    return {
        "callback_id": callback_id,
        "domain": domain,
        "attempt_no": int(attempt_no),
        "outcome": outcome,
        "hangup_cause": hangup_cause,
        "agent_extension": agent_extension,
        "started_at": started_at,
        "ended_at": ended_at,
        "next_attempt_at": next_attempt_at,
    }


def result_payload(
    *,
    callback_id: str,
    domain: str,
    status: str,
    attempts: int,
    last_outcome: Optional[str] = None,
    completed_at: Optional[str] = None,
    detail: Optional[str] = None,
) -> dict[str, Any]:
    """Body of ``POST /v1/callbacks/{id}/result``."""
    if status not in ("completed", "failed", "expired", "cancelled"):
        raise ValidationError("status", "must be completed, failed, expired or cancelled")
    return {
        "callback_id": callback_id,
        "domain": domain,
        "status": status,
        "attempts": int(attempts),
        "last_outcome": last_outcome,
        "completed_at": completed_at,
        "detail": detail,
    }


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
