from __future__ import annotations

import pytest

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.stores import calls


def test_call_log_and_transfer_attempts_round_trip(db) -> None:
    with db.transaction() as cur:
        first = calls.start_call(
            cur, call_uuid="c-1", domain="demo.local", did="8000", caller_number="+5511998765432",
            language="pt-BR", mode="sim", details={"clock": "2026-11-24T10:30:00-03:00"},
        )
        again = calls.start_call(cur, call_uuid="c-1", domain="demo.local", mode="sim")
        assert first == again
        calls.record_transfer_attempt(
            cur,
            calls.TransferAttemptRecord(
                call_uuid="c-1", domain="demo.local", destination_name="Financeiro", status="busy",
                dial_string="{origination_uuid=x}user/1001@demo.local", hangup_cause="USER_BUSY",
                sip_status="486", wait_seconds=1.23456, details={"transfer_id": "t1"},
            ),
        )
        calls.record_transfer_attempt(
            cur,
            calls.TransferAttemptRecord(
                call_uuid="c-1", domain="demo.local", destination_name="Suporte", status="accepted",
            ),
        )
        assert calls.finish_call(
            cur, "c-1", outcome="transferred", intents=[{"intent": "transfer", "source": "rules"}],
            details={"states": ["greeting"]},
        )
        assert not calls.finish_call(cur, "nope", outcome="ended")
    with db.cursor() as cur:
        row = calls.get_call(cur, "c-1")
        attempts = calls.list_transfer_attempts(cur, "c-1")
    assert row is not None
    assert row["outcome"] == "transferred" and row["ended_at"] is not None and row["mode"] == "sim"
    assert row["details"] == {"clock": "2026-11-24T10:30:00-03:00", "states": ["greeting"]}
    assert row["intents"] == [{"intent": "transfer", "source": "rules"}]
    assert [a["status"] for a in attempts] == ["busy", "accepted"]
    assert attempts[0]["hangup_cause"] == "USER_BUSY" and attempts[0]["sip_status"] == "486"
    assert float(attempts[0]["wait_seconds"]) == 1.235
    assert attempts[0]["details"] == {"transfer_id": "t1"}


def test_bad_values_are_refused_with_the_field(db) -> None:
    with db.transaction() as cur:
        with pytest.raises(ValidationError, match="outcome"):
            calls.finish_call(cur, "c-2", outcome="maybe")
        with pytest.raises(ValidationError, match="mode"):
            calls.start_call(cur, call_uuid="c-2", domain="d", mode="carrier-pigeon")
        with pytest.raises(ValidationError, match="status"):
            calls.record_transfer_attempt(
                cur, calls.TransferAttemptRecord(call_uuid="c-2", domain="d", destination_name="X", status="")
            )
