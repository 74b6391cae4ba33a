"""Everything ``voiceai-ivr simulate`` starts for one scripted call, for real:
the database (embedded unless configured), its migrations, the scenario's
destinations, the simulator (inbound ESL on port 0), the inbound ESL client and
Switch API, and the outbound call server on port 0 running the application's
call handler. Then one call, and everything is stopped again.

The result's ``outcome``, ``transfers`` and ``callback`` are replaced by what
the application wrote to the database (call log, transfer attempts, callbacks)
when it wrote them (``source: "database"``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from voiceai_ivr.config import Config
from voiceai_ivr.sim.result import CallResult
from voiceai_ivr.sim.scenario import Scenario, check_expect
from voiceai_ivr.sim.simulator import Simulator, speech_settings

log = logging.getLogger(__name__)

DB_SETTLE_SECONDS = 2.0  # the handler may finish its call-log row just after closing the socket


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def db_enricher(db: Any, domain: str) -> Callable[[CallResult], None]:
    """Replace wire-derived outcome/transfers/callback with the application's records."""
    from voiceai_ivr.stores import calls
    from voiceai_ivr.stores.callbacks import get_callback

    def enrich(result: CallResult) -> None:
        deadline = time.monotonic() + DB_SETTLE_SECONDS
        while True:
            with db.cursor() as cur:
                row = calls.get_call(cur, result.call_uuid)
            if (row is not None and row.get("ended_at") is not None) or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        with db.cursor() as cur:
            attempts = calls.list_transfer_attempts(cur, result.call_uuid)
            # The request this call stored: a new one, or the open request of the
            # same number it was folded into (its ticket message names this call).
            cur.execute(
                "SELECT callback_id, kind FROM helpdesk_outbox WHERE call_uuid = %s AND callback_id IS NOT NULL"
                " AND kind IN ('callback.created', 'callback.updated') ORDER BY id DESC LIMIT 1",
                (result.call_uuid,),
            )
            ticket = cur.fetchone()
            callback = get_callback(cur, ticket[0], domain=domain) if ticket else None
        found = False
        if row is not None and row.get("outcome"):
            result.outcome = str(row["outcome"])
            found = True
        if attempts:
            result.transfers = [
                {
                    "destination": a["destination_name"],
                    "dial_string": a["dial_string"],
                    "status": a["status"],
                    "hangup_cause": a["hangup_cause"],
                    "wait_seconds": float(a["wait_seconds"]) if a.get("wait_seconds") is not None else None,
                }
                for a in attempts
            ]
            found = True
        if callback is not None:
            result.callback = {
                "id": callback.public_id,
                "number": callback.number_e164,
                "window_start": _iso(callback.window_start),
                "window_end": _iso(callback.window_end),
                "reason": callback.reason,
                "status": callback.status,
                # "updated": this call was folded into the number's open request
                "request": "created" if ticket[1] == "callback.created" else "updated",
            }
            found = True
        if found:
            result.source = "database"

    return enrich


@contextmanager
def running_stack(config: Config, scenario: Scenario, *, scale: float = 0.05) -> Iterator[tuple[Simulator, Any, Any]]:
    """Start database, simulator, inbound client and call server (``app.SimStack``,
    the composition the demo uses too); yields ``(simulator, call_server,
    database)`` and stops everything afterwards."""
    from voiceai_ivr.app import SimStack

    stack = SimStack(
        config, domain=scenario.domain, scale=scale, document=scenario.directory_document(), migrate=True,
        sim_options={"asr_engines": (), **speech_settings(scenario)},  # the scenario's PBX (default: no ASR)
    ).start()
    try:
        yield stack.sim, stack.server, stack.db
    finally:
        stack.stop()


def simulate(config: Config, scenario: Scenario, *, scale: float = 0.05, timeout: float = 120.0) -> CallResult:
    """Run one scenario through the whole stack; the result is enriched from the database."""
    with running_stack(config, scenario, scale=scale) as (sim, server, db):
        result = sim.place_call(scenario, server.address, timeout=timeout)
        db_enricher(db, scenario.domain)(result)
    if scenario.expect:
        result.extra["expect_failures"] = check_expect(scenario, result.to_json())
    return result
