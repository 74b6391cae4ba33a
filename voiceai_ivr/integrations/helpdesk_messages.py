"""The helpdesk messages of a callback's life, composed in one place next to the
contract (``helpdesk_contract``) they follow: the ticket of a confirmed request
(and the customer's WhatsApp "scheduled" notice), a missed call's ticket (and
WhatsApp invitation), an accepted transfer's ``transfer.completed`` notice, an
attempt's ``callback.attempt``, the final ``callback.result``, a change (snooze),
and the customer's WhatsApp notices. The stores write what they are given; the flows,
the dispatcher and the HTTP API compose it here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Optional

from voiceai_ivr.config import Config
from voiceai_ivr.integrations import helpdesk_contract as contract
from voiceai_ivr.integrations import whatsapp
from voiceai_ivr.stores import callbacks
from voiceai_ivr.stores.callbacks import Callback, CallbackRequest, ConfirmedMessages
from voiceai_ivr.stores.dispatch import Claimed, Resolution, Stale
from voiceai_ivr.stores.outbox import OutboxEvent


def confirmed_messages(config: Optional[Config] = None) -> ConfirmedMessages:
    """What ``stores.callbacks.save_confirmed_callback`` writes with a confirmed
    request: its ticket (created, or updated when the number's open request took
    it), then the WhatsApp "scheduled" notice when the domain has WhatsApp on.
    Times are in the request's timezone, else the domain's."""

    def compose(
        request: CallbackRequest, row: Callback, created: bool, settings: Mapping[str, Any]
    ) -> Sequence[OutboxEvent]:
        zone = request.timezone or settings.get("timezone", "") or ""
        events = [contract.ticket(row, request, created=created, timezone_name=zone)]
        if whatsapp.enabled_for(settings, config):
            events.append(
                contract.whatsapp_notice("scheduled", row, config=config, timezone_name=zone, key=request.request_id)
            )
        return events

    return compose


def missed_call_messages(
    settings: Mapping[str, Any],
    config: Config,
    *,
    call_uuid: str,
    domain: str,
    number_e164: Optional[str],
    caller_name: Optional[str],
    destination_name: Optional[str],
    status: str,
    language: str,
    started_at: Optional[datetime],
    ended_at: Optional[datetime],
) -> list[OutboxEvent]:
    """``call.missed`` for a caller who hung up after a failed transfer without
    leaving a callback, then the WhatsApp invitation when the domain has WhatsApp
    on and the number is usable (``number_e164``)."""
    messages = [
        contract.missed_call(
            call_id=call_uuid,
            domain=domain,
            number_e164=number_e164,
            caller_name=caller_name or None,
            destination_name=destination_name,
            status=status,
            language=language,
            started_at=started_at.isoformat() if started_at else None,
            ended_at=ended_at.isoformat() if ended_at else None,
        )
    ]
    if number_e164 and whatsapp.enabled_for(settings, config):
        messages.append(
            contract.whatsapp_missed_call(
                domain=domain,
                number_e164=number_e164,
                language=language,
                destination_name=destination_name,
                caller_name=caller_name,
                call_uuid=call_uuid,
                config=config,
            )
        )
    return messages


def transfer_completed_message(
    *,
    transfer_id: str,
    call_id: str,
    domain: str,
    caller_number: Optional[str],
    caller_withheld: bool,
    caller_name: Optional[str],
    destination_name: str,
    destination_id: Optional[int],
    agent_extension: Optional[str],
    answered_at: datetime,
    wait_seconds: float,
) -> OutboxEvent:
    """``transfer.completed`` for an accepted attended transfer, once per
    ``transfer_id``: a withheld caller's number is not sent, the wait in
    milliseconds' precision."""
    return contract.transfer_completed(
        transfer_id,
        call_id=call_id,
        domain=domain,
        caller_number=None if caller_withheld else caller_number,
        caller_name=caller_name or None,
        destination_name=destination_name,
        destination_id=destination_id,
        agent_extension=agent_extension,
        answered_at=answered_at.isoformat(),
        wait_seconds=round(wait_seconds, 3),
    )


def attempt_event(
    claimed: Claimed,
    outcome: str,
    cause: Optional[str],
    resolution: Resolution,
    now: datetime,
    details: Optional[dict] = None,
    started_at: Optional[datetime] = None,
) -> OutboxEvent:
    """``callback.attempt`` (``helpdesk_contract.attempt``) for one claimed attempt."""
    cb = claimed.callback
    info = details or {}
    return contract.attempt(
        callback_id=cb.public_id,
        domain=cb.domain,
        attempt_no=claimed.attempt_no,
        attempt_id=claimed.attempt_id,
        trigger=claimed.trigger,
        outcome=outcome,
        hangup_cause=cause,
        agent_extension=claimed.agent_extension,
        destination=cb.route_name,
        destination_source=cb.route_source,
        started_at=started_at or now,
        ended_at=now,
        next_attempt_at=resolution.next_attempt_at,
        status=resolution.status,
        ticket_id=cb.ticket_id,
        detail=str(info.get("reason") or info.get("agent_choice") or info.get("error") or ""),
    )


def stale_attempt_event(
    item: Stale, *, bridged: bool, status: str, ticket_id: Optional[str], detail: str, now: datetime
) -> OutboxEvent:
    """``callback.attempt`` for an attempt whose lease ran out (its dispatcher died or
    lost the database), settled by the dispatcher that took it over."""
    return contract.attempt(
        callback_id=item.public_id,
        domain=item.domain,
        attempt_no=item.attempt_no or 0,
        attempt_id=item.attempt_id,
        outcome="completed" if bridged else "failed",
        agent_extension=item.agent_extension,
        started_at=item.started_at,
        ended_at=now,
        next_attempt_at=now,
        status=status,
        ticket_id=ticket_id,
        detail=detail,
    )


def change_event(what: str, pid: str, domain: str, extra: dict) -> OutboxEvent:
    """``callback.updated`` for a change made through the API (``what``: snoozed)."""
    return contract.change(pid, domain, what, **extra)


def result_event(
    public_id: str,
    domain: str,
    ticket_id: Optional[str],
    status: str,
    outcome: str,
    attempts: int,
    now: datetime,
    detail: str = "",
) -> OutboxEvent:
    """``callback.result``: the final status (completed / failed / expired / cancelled)."""
    return contract.result(
        callback_id=public_id,
        domain=domain,
        status=status,
        attempts=attempts,
        last_outcome=outcome,
        completed_at=now,
        detail=detail,
        ticket_id=ticket_id,
    )


def whatsapp_event(cur: Any, callback_id: int, event: str, config: Config) -> Optional[OutboxEvent]:
    """The customer's WhatsApp notice for ``event`` (failed / expired), when the
    domain has WhatsApp on."""
    row = callbacks.get_callback(cur, callback_id)
    if row is None:
        return None
    settings = callbacks.domain_settings(cur, row.domain)
    if not whatsapp.enabled_for(settings, config):
        return None
    return contract.whatsapp_notice(event, row, config=config, timezone_name=str(settings.get("timezone") or ""))


__all__ = [
    "attempt_event",
    "change_event",
    "confirmed_messages",
    "missed_call_messages",
    "result_event",
    "stale_attempt_event",
    "transfer_completed_message",
    "whatsapp_event",
]
