"""The exact bytes of the messages composed outside a callback's store write:
a missed call's ticket and WhatsApp invitation, an accepted transfer's notice.
Each is recorded as (kind, idempotency key, payload serialised as the outbox
stores it) for fixed inputs; a change to any byte fails here."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from voiceai_ivr.config import Config
from voiceai_ivr.integrations import helpdesk_messages as hm
from voiceai_ivr.stores.outbox import OutboxEvent


def _recorded(messages: list[OutboxEvent]) -> list[tuple[str, str, str]]:
    return [(m.kind, m.idempotency_key, json.dumps(m.payload, ensure_ascii=False)) for m in messages]


STARTED = datetime(2026, 3, 4, 15, 0, 1, tzinfo=timezone.utc)
ENDED = datetime(2026, 3, 4, 15, 2, 3, 500000, tzinfo=timezone.utc)
ANSWERED = datetime(2026, 3, 4, 15, 6, 7, 891000, tzinfo=timezone.utc)

MISSED = (
    "call.missed",
    "call.missed:call-3",
    '{"call_id": "call-3", "domain": "d.example", "contact": {"name": null, "number": "+5511987654321"},'
    ' "destination": {"name": "Vendas"}, "status": "no_answer", "language": "pt-BR",'
    ' "started_at": "2026-03-04T15:00:01+00:00", "ended_at": "2026-03-04T15:02:03.500000+00:00"}',
)
INVITATION = (
    "whatsapp.send",
    "whatsapp.missed_call:call-3",
    '{"event": "missed_call", "template": "missed_call", "language": "pt-BR", "to": "+5511987654321",'
    ' "domain": "d.example", "call_id": "call-3", "parameters": {"name": "", "destination": "Vendas"}}',
)


def _missed(settings: dict, number: str | None) -> list[OutboxEvent]:
    return hm.missed_call_messages(
        settings, Config(), call_uuid="call-3", domain="d.example", number_e164=number, caller_name="",
        destination_name="Vendas", status="no_answer", language="pt-BR", started_at=STARTED, ended_at=ENDED,
    )


def test_missed_call_ticket_and_invitation_bytes() -> None:
    assert _recorded(_missed({"whatsapp": True}, "+5511987654321")) == [MISSED, INVITATION]
    assert _recorded(_missed({"whatsapp": False}, "+5511987654321")) == [MISSED]
    # no usable number: the ticket says so, no invitation
    no_number = _recorded(_missed({"whatsapp": True}, None))
    assert no_number == [(MISSED[0], MISSED[1], MISSED[2].replace('"+5511987654321"', "null"))]


def _transfer(**over: object) -> OutboxEvent:
    values: dict = {
        "transfer_id": "t-9", "call_id": "call-7", "domain": "d.example", "caller_number": "+5511987654321",
        "caller_withheld": False, "caller_name": "Zé Ção", "destination_name": "Suporte Técnico",
        "destination_id": 42, "agent_extension": "1001", "answered_at": ANSWERED, "wait_seconds": 12.34567,
    }
    values.update(over)
    return hm.transfer_completed_message(**values)


def test_transfer_completed_notice_bytes() -> None:
    assert _recorded([_transfer()]) == [(
        "transfer.completed",
        "transfer.completed:t-9",
        '{"call_id": "call-7", "domain": "d.example", "caller": {"name": "Zé Ção", "number": "+5511987654321"},'
        ' "destination": {"id": 42, "name": "Suporte Técnico"}, "agent_extension": "1001",'
        ' "answered_at": "2026-03-04T15:06:07.891000+00:00", "wait_seconds": 12.346}',
    )]
    # a withheld caller's number is not sent; an empty name is null; a department has no extension
    assert _recorded([_transfer(caller_withheld=True, caller_name="", agent_extension=None)]) == [(
        "transfer.completed",
        "transfer.completed:t-9",
        '{"call_id": "call-7", "domain": "d.example", "caller": {"name": null, "number": null},'
        ' "destination": {"id": 42, "name": "Suporte Técnico"}, "agent_extension": null,'
        ' "answered_at": "2026-03-04T15:06:07.891000+00:00", "wait_seconds": 12.346}',
    )]
