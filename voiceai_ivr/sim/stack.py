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

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Optional

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
    from voiceai_ivr.stores.callbacks import CallbackFilter, list_callbacks

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
            since = row["started_at"] - timedelta(seconds=1) if row and row.get("started_at") else None
            recent = list_callbacks(cur, CallbackFilter(domain=domain, since=since), limit=200)
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
        callback = next((c for c in recent if c.call_uuid == result.call_uuid), None)
        if callback is not None:
            result.callback = {
                "number": callback.number_e164,
                "window_start": _iso(callback.window_start),
                "window_end": _iso(callback.window_end),
                "reason": callback.reason,
                "status": callback.status,
            }
            found = True
        if found:
            result.source = "database"

    return enrich


@contextmanager
def running_stack(config: Config, scenario: Scenario, *, scale: float = 0.05) -> Iterator[tuple[Simulator, Any, Any]]:
    """Start database, simulator, inbound client and call server; yields
    ``(simulator, call_server, database)`` and stops everything afterwards."""
    from voiceai_ivr.app import build_services, call_handler
    from voiceai_ivr.esl.inbound import InboundClient
    from voiceai_ivr.server import CallServer
    from voiceai_ivr.stores.db import Database
    from voiceai_ivr.stores.migrate import migrate
    from voiceai_ivr.switch import Switch

    cfg = dataclasses.replace(config, server=dataclasses.replace(config.server, allow_clock_override=True))
    db = Database.from_config(cfg)
    sim: Optional[Simulator] = None
    client: Any = None
    server: Any = None
    try:
        migrate(db)
        document = scenario.directory_document()
        if document is not None:
            from voiceai_ivr.domain.destinations import parse_directory
            from voiceai_ivr.stores.directory import import_directory

            import_directory(db, parse_directory(document))
        sim = Simulator(scale=scale, domain=scenario.domain, **speech_settings(scenario)).start()
        host, port = sim.inbound_address
        client = InboundClient(host, port, sim.password, timeout=cfg.esl.timeout).connect()
        services = build_services(cfg, db=db, switch=Switch(client, timeout=cfg.esl.timeout), mode="sim", metrics=False)
        server = CallServer(cfg, host="127.0.0.1", port=0, flow=call_handler(cfg, services=services)).start()
        cfg.server.agent_socket_address = "{}:{}".format(*server.address)
        yield sim, server, db
    finally:
        if server is not None:
            server.stop(5.0)
        if client is not None:
            client.close()
        if sim is not None:
            sim.stop()
        db.close()


def simulate(config: Config, scenario: Scenario, *, scale: float = 0.05, timeout: float = 120.0) -> CallResult:
    """Run one scenario through the whole stack; the result is enriched from the database."""
    with running_stack(config, scenario, scale=scale) as (sim, server, db):
        result = sim.place_call(scenario, server.address, timeout=timeout)
        db_enricher(db, scenario.domain)(result)
    if scenario.expect:
        result.extra["expect_failures"] = check_expect(scenario, result.to_json())
    return result
