"""WhatsApp notices to customers, sent through the helpdesk's API.

Pure builders: each returns the outbox payload of one ``whatsapp.send`` message
(``docs/helpdesk-api.md``, ``POST /v1/whatsapp/messages``). The template name
comes from ``config.helpdesk.whatsapp.templates`` by event; the helpdesk owns
the template text, we send its parameters.

Per-domain switch: ``domains.settings.whatsapp`` (true/false) when present,
otherwise the global ``helpdesk.whatsapp.enabled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from voiceai_ivr.errors import ValidationError

if TYPE_CHECKING:
    from voiceai_ivr.config import Config
    from voiceai_ivr.stores.callbacks import Callback

KIND = "whatsapp.send"
EVENTS = ("scheduled", "reminder", "failed", "expired", "missed_call")
_DEFAULT_TEMPLATES = {
    "scheduled": "callback_scheduled",
    "reminder": "callback_reminder",
    "failed": "callback_failed",
    "expired": "callback_expired",
    "missed_call": "missed_call",
}


def enabled_for(settings: Mapping[str, Any], config: Optional[Config]) -> bool:
    """Whether WhatsApp notices go out for a domain (its ``settings`` jsonb)."""
    value = settings.get("whatsapp") if settings else None
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("enabled"), bool):
        return bool(value["enabled"])
    return bool(config is not None and config.helpdesk.whatsapp.enabled)


def template_name(event: str, config: Optional[Config]) -> str:
    if event not in EVENTS:
        raise ValidationError("event", f"unknown WhatsApp event {event!r} (use {', '.join(EVENTS)})")
    templates = config.helpdesk.whatsapp.templates if config is not None else _DEFAULT_TEMPLATES
    name = templates.get(event) or _DEFAULT_TEMPLATES[event]
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"helpdesk.whatsapp.templates.{event}", "must be a template name")
    return name


def _local(value: datetime, timezone_name: str) -> datetime:
    if timezone_name:
        try:
            from zoneinfo import ZoneInfo

            return value.astimezone(ZoneInfo(timezone_name))
        except (KeyError, ValueError, ImportError):
            return value
    return value


def _fmt(value: datetime, language: str) -> str:
    if language == "en-US":
        return value.strftime("%m/%d/%Y %I:%M %p")
    return value.strftime("%d/%m/%Y %H:%M")


def build(
    event: str,
    callback: Callback,
    *,
    config: Optional[Config] = None,
    timezone_name: str = "",
    extra: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """Payload of a callback notice: ``scheduled``, ``reminder``, ``failed`` or ``expired``."""
    if event == "missed_call":
        raise ValidationError("event", "use build_missed_call for missed calls")
    start = _local(callback.window_start, timezone_name)
    end = _local(callback.window_end, timezone_name)
    params: dict[str, Any] = {
        "name": callback.caller_name or "",
        "window_start": _fmt(start, callback.language),
        "window_end": _fmt(end, callback.language),
        "destination": callback.destination_name or "",
        "reason": callback.reason[:200],
    }
    if extra:
        params.update(dict(extra))
    return {
        "event": event,
        "template": template_name(event, config),
        "language": callback.language,
        "to": callback.number_e164,
        "domain": callback.domain,
        "callback_id": callback.public_id,
        "parameters": params,
    }


def build_missed_call(
    *,
    domain: str,
    number_e164: str,
    language: str,
    destination_name: Optional[str] = None,
    caller_name: Optional[str] = None,
    call_uuid: Optional[str] = None,
    config: Optional[Config] = None,
) -> dict[str, Any]:
    """Payload inviting a caller we missed to ask for a callback."""
    return {
        "event": "missed_call",
        "template": template_name("missed_call", config),
        "language": language,
        "to": number_e164,
        "domain": domain,
        "call_id": call_uuid,
        "parameters": {"name": caller_name or "", "destination": destination_name or ""},
    }
