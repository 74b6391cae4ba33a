"""The store functions the console added: keyset pages, call activity, and a
destination edit whose audit row commits with it or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from voiceai_ivr.errors import DirectoryError
from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores import console as store
from voiceai_ivr.stores import directory, reports

from .conftest import Console


def test_keyset_pages_cover_every_row_once_even_with_equal_timestamps(console: Console) -> None:
    for i in range(23):
        console.add_callback(number=f"+55119800{i:05d}", recording=False)
    with console.db.cursor() as cur:  # ties on created_at: the id breaks them
        cur.execute("UPDATE callbacks SET created_at = date_trunc('hour', now())")
    flt = cbstore.CallbackFilter(domain="demo.local")
    seen: list[int] = []
    before = None
    with console.db.transaction() as cur:
        while True:
            page = cbstore.list_callbacks_page(cur, flt, before=before, limit=5)
            if not page:
                break
            seen += [cb.id for cb in page]
            before = (page[-1].created_at, page[-1].id)
    assert len(seen) == 23 and len(set(seen)) == 23 and seen == sorted(seen, reverse=True)
    with console.db.transaction() as cur:
        assert cbstore.list_callbacks_page(cur, cbstore.CallbackFilter(domain="other.example")) == []
        assert cbstore.list_callbacks_page(cur, flt, destination="Comercial") == []


def test_call_activity_counts_one_domains_period(console: Console) -> None:
    now = datetime.now(timezone.utc)
    with console.db.cursor() as cur:
        for i, (domain, outcome) in enumerate(
            [("demo.local", "transferred"), ("demo.local", "transferred"), ("demo.local", "callback_created"),
             ("other.example", "transferred")]
        ):
            cur.execute("INSERT INTO calls (call_uuid, domain, started_at, outcome) VALUES (%s, %s, %s, %s)",
                        (f"c{i}", domain, now - timedelta(minutes=i), outcome))
            cur.execute("INSERT INTO transfer_attempts (call_uuid, domain, destination_name, status, started_at)"
                        " VALUES (%s, %s, 'Comercial', %s, %s)", (f"c{i}", domain, "accepted" if i else "busy", now))
        cur.execute("INSERT INTO calls (call_uuid, domain, started_at, outcome) VALUES ('old', 'demo.local', %s,"
                    " 'ended')", (now - timedelta(days=30),))
    with console.db.transaction() as cur:
        act = reports.call_activity(cur, "demo.local", now - timedelta(days=1), now + timedelta(hours=1),
                                    "America/Sao_Paulo")
    assert act.calls_by_outcome == {"transferred": 2, "callback_created": 1} and act.calls == 3
    assert act.transfers_by_status == {"accepted": 2, "busy": 1}
    assert act.top_transfer_destinations == [("Comercial", 3, 2)]
    assert sum(n for _, n in act.calls_per_day) == 3
    assert act.callbacks_closed == {} and act.median_seconds_to_callback is None


def test_destination_edit_and_its_audit_commit_together(console: Console) -> None:
    def failing_audit(cur: Any, before: dict, after: dict) -> None:
        store.record_audit(cur, "demo.local", "test", "destination.update", after["name"], {"x": 1})
        raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError):
        directory.update_destination_audited(console.db, "demo.local", "Comercial", {"menu_key": 7}, failing_audit)
    assert directory.get_destination(console.db, "demo.local", "Comercial").menu_key == 3
    with console.db.transaction() as cur:
        assert store.list_audit(cur, "demo.local") == []
    with pytest.raises(DirectoryError) as refused:
        directory.update_destination_audited(console.db, "demo.local", "Comercial", {"type": "fax"}, failing_audit)
    assert refused.value.problems[0].startswith("type:")
    seen: list[tuple[dict, dict]] = []
    dest = directory.update_destination_audited(
        console.db, "demo.local", "Comercial", {"name": "Vendas"}, lambda cur, b, a: seen.append((b, a)))
    assert dest.name == "Vendas" and seen[0][0]["name"] == "Comercial" and seen[0][1]["name"] == "Vendas"
