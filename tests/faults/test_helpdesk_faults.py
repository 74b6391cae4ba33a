"""The helpdesk misbehaves while callbacks are created by real calls: it refuses
connections, answers 500, answers after the client's timeout (the request WAS
processed, the answer is lost), or answers 200 twice for the same request. The
caller is never affected (tickets go through the outbox), and once the helpdesk
behaves every ticket is processed exactly once, counted by Idempotency-Key on the
helpdesk's side.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from doubles.helpdesk import HelpdeskServer

from voiceai_ivr.integrations.helpdesk import HelpdeskClient
from voiceai_ivr.integrations.outbox_worker import deliver_due, flush

from .conftest import FaultStack, Ledger, assert_clean_end, ivr_text, scenario

CALLBACK_CALL = [{"say": "me liga depois por favor"}, {"say": "sim"}, {"say": "amanhã de manhã"},
                 {"say": "segunda via do boleto"}, {"say": "sim"}]




def _outbox(fs: FaultStack) -> list[dict[str, Any]]:
    return fs.stack.query("SELECT id, kind, status, idempotency_key, attempts FROM helpdesk_outbox ORDER BY id")


@pytest.mark.parametrize(("fault", "duplicate_status"), [
    ("refused", 409), ("http_500", 409), ("answer_after_timeout", 409), ("answer_after_timeout", 200),
], ids=["refused", "http_500", "answer_after_timeout", "200_twice"])
def test_helpdesk_faults_deliver_each_ticket_once(fault: str, duplicate_status: int, fault_stack: FaultStack,
                                                  ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    with HelpdeskServer(duplicate_status=duplicate_status) as helpdesk:
        _run(fault, helpdesk, fault_stack, ledger, caplog)


def _run(fault: str, helpdesk: HelpdeskServer, fault_stack: FaultStack, ledger: Ledger,
         caplog: pytest.LogCaptureFixture) -> None:
    config = fault_stack.config
    config.helpdesk.url = helpdesk.url
    config.helpdesk.token = helpdesk.token
    config.helpdesk.timeout = 0.5
    client = HelpdeskClient.from_config(config)
    calls = [fault_stack.run(scenario(CALLBACK_CALL, caller=f"+55119987600{i:02d}")) for i in range(1)]
    for result in calls:
        assert "confirmad" in ivr_text(result).lower(), result["transcript"]  # the caller never waits on it
        assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"), allow_errors=True)
    rows = _outbox(fault_stack)
    keys = [r["idempotency_key"] for r in rows]
    assert len(rows) >= 1 and len(set(keys)) == len(keys), rows
    if fault == "refused":
        helpdesk.go_down()
    elif fault == "http_500":
        helpdesk.fail_next(min(len(rows), 3), status=500)  # every request of the first round
    else:
        helpdesk.delay = 0.9  # processed, then answered after the client gave up

    first = deliver_due(fault_stack.db, client, config, limit=50)
    ledger.fault(f"helpdesk:{fault}:dup{helpdesk.duplicate_status}")
    assert first.delivered == 0 and first.retried >= 1, first
    assert all(r["status"] != "delivered" for r in _outbox(fault_stack))

    if fault == "refused":
        helpdesk.come_up()
    helpdesk.delay = 0.0
    later = datetime.now(timezone.utc) + timedelta(hours=2)  # past every backoff
    report = flush(fault_stack.db, client, config, now=later)
    assert report.dead == 0, report
    rows = _outbox(fault_stack)
    assert {r["status"] for r in rows} == {"delivered"}, rows
    # processed once per key on the helpdesk's side, one ticket per callback
    processed = {key: int(key in helpdesk.processed) for key in keys}
    assert set(processed.values()) == {1}, processed
    assert len(helpdesk.tickets) == 1 and all(len(v) == 1 for v in helpdesk.tickets.values()), helpdesk.tickets
    created = [r for r in rows if r["kind"] == "callback.created"]
    ledger.callbacks(1, sum(1 for r in created if processed[r["idempotency_key"]] == 1), f"helpdesk {fault}")
    assert len(created) == 1
    if fault == "answer_after_timeout":
        counts = helpdesk.count_by_key()
        assert any(counts[k] >= 2 for k in keys), counts  # the retry really reached the helpdesk again
        if helpdesk.duplicate_status == 409:
            assert report.duplicates >= 1, report
