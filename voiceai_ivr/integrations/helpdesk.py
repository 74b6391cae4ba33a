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
rows to calls of ``HelpdeskClient.send``; routes and payloads are
``helpdesk_contract``'s. Response and error bodies are redacted
(``helpdesk_contract.redact_body``) before anyone stores or prints them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import requests

from voiceai_ivr import __version__
from voiceai_ivr.errors import HelpdeskError, ValidationError
from voiceai_ivr.integrations import helpdesk_contract as contract

log = logging.getLogger(__name__)

RETRYABLE_4XX = (408, 429)


@dataclass(frozen=True)
class HelpdeskResponse:
    status: int
    body: dict = field(default_factory=dict)
    duplicate: bool = False  # 409: the helpdesk had already processed this key


def route(kind: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """``(method, path)`` of an outbox message (``helpdesk_contract.route``)."""
    return contract.route(kind, payload)


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
            text = contract.redact_text(str(exc), (self._token,))
            raise HelpdeskError(f"{method} {path}: {type(exc).__name__}: {text}") from exc
        status = resp.status_code
        # What the helpdesk sends back is stored with the outbox row and printed by
        # `outbox flush`: a helpdesk echoing our Authorization header (or any
        # token or URL password) must not put it there.
        answer: dict = contract.redact_response(resp.content, (self._token,))
        if status == 409:
            return HelpdeskResponse(status, answer, duplicate=True)
        if 200 <= status < 300:
            return HelpdeskResponse(status, answer)
        detail = _error_text(answer)
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


def _error_text(body: dict) -> str:
    for key in ("error", "message", "detail", "text"):
        if isinstance(body.get(key), str):
            field_name = body.get("field")
            return f"{field_name}: {body[key]}" if isinstance(field_name, str) else body[key][:300]
    return ""

