"""Callback rows and their outbox rows against a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import psycopg2
import pytest

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.flows.callback import queue_missed_call
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.callbacks import (
    CallbackFilter,
    CallbackRequest,
    count_callbacks,
    counts_by_status,
    get_callback,
    get_callback_by_public_id,
    iter_callbacks,
    list_callbacks,
    save_confirmed_callback,
)

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


def req(number="+5511987654321", domain="a.example", hours=1, **kw) -> CallbackRequest:
    fields = {
        "domain": domain,
        "number_e164": number,
        "window_start": T0 + timedelta(hours=hours),
        "window_end": T0 + timedelta(hours=hours + 2),
        "reason": "boleto",
        "transcript": "quero a segunda via do boleto",
    }
    fields.update(kw)
    return CallbackRequest(**fields)


def add_domain(db_dsn, domain, settings="{}"):
    conn = psycopg2.connect(db_dsn)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO domains (domain, settings) VALUES (%s, %s::jsonb)", (domain, settings))
    conn.close()


def rows(db, **kw):
    with db.cursor() as cur:
        return outbox.list_rows(cur, **kw)


def test_save_writes_callback_and_ticket_row_in_one_transaction(db, config):
    res = save_confirmed_callback(db, req(), confirmed_messages(config))
    assert res.created and not res.already_saved
    cb = res.callback
    assert cb.status == "pending" and cb.next_attempt_at == cb.window_start and cb.source == "ivr"
    (row,) = rows(db)
    assert row.kind == "callback.created" and row.callback_id == cb.id
    assert row.payload["callback_id"] == cb.public_id
    assert row.payload["contact"]["number"] == "+5511987654321"
    assert row.payload["transcript"] == "quero a segunda via do boleto"


def test_second_request_from_same_number_updates_the_open_one(db, config):
    first = save_confirmed_callback(db, req(), confirmed_messages(config))
    again = req(hours=5, reason="nota fiscal", transcript="e a nota")
    second = save_confirmed_callback(db, again, confirmed_messages(config))
    assert not second.created and second.callback.id == first.callback.id
    cb = second.callback
    assert cb.window_start == T0 + timedelta(hours=5) and cb.next_attempt_at == cb.window_start
    assert cb.reason == "boleto\n---\nnota fiscal"
    assert cb.transcript.endswith("e a nota")
    assert [r.kind for r in rows(db)] == ["callback.created", "callback.updated"]
    with db.cursor() as cur:
        assert count_callbacks(cur) == 1
    # another domain, or a finished request, gets its own row
    assert save_confirmed_callback(db, req(domain="b.example"), confirmed_messages(config)).created
    with db.transaction() as cur:
        cur.execute("UPDATE callbacks SET status = 'completed' WHERE id = %s", (cb.id,))
    assert save_confirmed_callback(db, req(), confirmed_messages(config)).created


def test_in_progress_request_keeps_its_schedule_when_updated(db, config):
    first = save_confirmed_callback(db, req(), confirmed_messages(config)).callback
    with db.transaction() as cur:
        cur.execute("UPDATE callbacks SET status = 'in_progress' WHERE id = %s", (first.id,))
    second = save_confirmed_callback(db, req(hours=9, reason="outro"), confirmed_messages(config)).callback
    assert second.id == first.id and second.next_attempt_at == first.next_attempt_at
    assert second.window_start == T0 + timedelta(hours=9)


def test_concurrent_requests_from_one_number_make_one_row(db, config):
    barrier = threading.Barrier(6)
    results = []

    def worker(i):
        barrier.wait(timeout=10)
        results.append(save_confirmed_callback(db, req(reason=f"r{i}"), confirmed_messages(config)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 6
    assert sum(r.created for r in results) == 1
    with db.cursor() as cur:
        (cb,) = list_callbacks(cur)
    assert sorted(cb.reason.split("\n---\n")) == [f"r{i}" for i in range(6)]


def test_saving_the_same_request_twice_changes_nothing(db, config):
    r = req()
    save_confirmed_callback(db, r, confirmed_messages(config))
    again = save_confirmed_callback(db, r, confirmed_messages(config))
    assert again.already_saved and not again.created
    assert len(rows(db)) == 1
    with db.cursor() as cur:
        assert get_callback(cur, again.callback.id).reason == "boleto"


def test_whatsapp_scheduled_notice_follows_the_domain_switch(db, db_dsn, config):
    add_domain(db_dsn, "on.example", '{"whatsapp": true}')
    add_domain(db_dsn, "off.example", '{"whatsapp": false}')
    config.helpdesk.whatsapp.enabled = True  # global default; the domain switch wins
    config.helpdesk.whatsapp.templates["scheduled"] = "agendado_v2"
    on = save_confirmed_callback(db, req(domain="on.example"), confirmed_messages(config))
    save_confirmed_callback(db, req(domain="off.example"), confirmed_messages(config))
    save_confirmed_callback(db, req(domain="unset.example"), confirmed_messages(config))  # no row: global default
    sent = rows(db, kind="whatsapp.send")
    assert len(sent) == 2
    msg = next(r for r in sent if r.callback_id == on.callback.id).payload
    assert msg["template"] == "agendado_v2" and msg["to"] == "+5511987654321" and msg["event"] == "scheduled"
    config.helpdesk.whatsapp.enabled = False
    save_confirmed_callback(db, req(number="+5511912345678", domain="unset.example"), confirmed_messages(config))
    assert len(rows(db, kind="whatsapp.send")) == 2


def test_reads_filters_pagination_counts_and_streaming_export(db, config):
    for i in range(30):
        request = req(number=f"+55119876543{i:02d}", domain="a.example" if i % 3 else "b.example")
        save_confirmed_callback(db, request, confirmed_messages())
    with db.transaction() as cur:
        cur.execute(
            "UPDATE callbacks SET status = 'completed' WHERE id IN (SELECT id FROM callbacks ORDER BY id LIMIT 5)"
        )
    with db.cursor() as cur:
        a = CallbackFilter(domain="a.example")
        assert count_callbacks(cur, a) == 20
        page1 = list_callbacks(cur, a, limit=8)
        page3 = list_callbacks(cur, a, limit=8, offset=16)
        assert len(page1) == 8 and len(page3) == 4
        assert not {c.id for c in page1} & {c.id for c in page3}
        counts = counts_by_status(cur)
        assert counts["completed"] == 5 and counts["pending"] == 25 and counts["failed"] == 0
        pending_b = list_callbacks(cur, CallbackFilter(domain="b.example", status=["pending"]), limit=100)
        assert all(c.domain == "b.example" and c.status == "pending" for c in pending_b)
        one = page1[0]
        assert get_callback_by_public_id(cur, one.public_id).id == one.id
        assert get_callback_by_public_id(cur, one.public_id, domain="b.example") is None
        assert get_callback(cur, one.id, domain="b.example") is None
    exported = list(iter_callbacks(db, CallbackFilter(domain="a.example"), batch_size=7))
    assert len(exported) == 20 and [c.id for c in exported] == sorted(c.id for c in exported)
    future = datetime.now(timezone.utc) + timedelta(days=1)
    assert list(iter_callbacks(db, CallbackFilter(since=future))) == []


def test_bad_input_names_the_field():
    with pytest.raises(ValidationError, match="number_e164"):
        req(number="11987654321")
    with pytest.raises(ValidationError, match="window_end"):
        req(window_end=T0)
    with pytest.raises(ValidationError, match="window_start"):
        req(window_start=datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="language"):
        req(language="fr-FR")
    with pytest.raises(ValidationError, match="domain"):
        req(domain="a b;drop")
    with pytest.raises(ValidationError, match="status"):
        CallbackFilter(status=["weird"])
    with pytest.raises(ValidationError, match="until"):
        CallbackFilter(since=T0, until=T0)
    with pytest.raises(ValidationError, match="public_id"):
        get_callback_by_public_id(None, "not-a-uuid")
    with pytest.raises(ValidationError, match="unknown field"):
        CallbackRequest.from_json({**req().to_json(), "extra": 1})
    assert CallbackRequest.from_json(req().to_json()).window_start == T0 + timedelta(hours=1)


def test_missed_call_ticket_follows_switches_and_is_idempotent(db, db_dsn, config):
    add_domain(db_dsn, "m.example", '{"missed_call_tickets": true, "whatsapp": true}')
    add_domain(db_dsn, "n.example", '{"missed_call_tickets": false}')
    kw = {"caller_name": "Maria", "destination_name": "Financeiro", "status": "no_answer"}
    assert queue_missed_call(db, config, domain="m.example", call_uuid="c1", caller_number="011987654321", **kw)
    assert queue_missed_call(db, config, domain="m.example", call_uuid="c1", caller_number="011987654321", **kw)
    assert not queue_missed_call(db, config, domain="n.example", call_uuid="c2", caller_number="11987654321")
    assert queue_missed_call(db, config, domain="m.example", call_uuid="c3", caller_number="anonymous")
    missed = rows(db, kind="call.missed")
    assert [r.call_uuid for r in missed] == ["c1", "c3"]
    assert missed[0].payload["contact"]["number"] == "+5511987654321"
    assert missed[1].payload["contact"]["number"] is None
    (wa,) = rows(db, kind="whatsapp.send")  # withheld number: no WhatsApp
    assert wa.payload["event"] == "missed_call" and wa.payload["to"] == "+5511987654321"
    config.callbacks.missed_call_tickets = False
    assert not queue_missed_call(db, config, domain="x.example", call_uuid="c4", caller_number="11987654321")
