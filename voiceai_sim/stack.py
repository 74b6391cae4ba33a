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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Callable, Optional

from voiceai_ivr.app import build_services, call_handler, connect_pbx
from voiceai_ivr.config import Config
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.flows.context import Services
from voiceai_ivr.server import CallServer
from voiceai_ivr.stores import calls
from voiceai_ivr.stores.callbacks import get_callback
from voiceai_ivr.stores.db import Database
from voiceai_ivr.stores.directory import import_directory
from voiceai_ivr.stores.migrate import migrate
from voiceai_sim.result import CallResult
from voiceai_sim.scenario import Scenario, check_expect
from voiceai_sim.simulator import Simulator, speech_settings

log = logging.getLogger(__name__)

DB_SETTLE_SECONDS = 2.0  # the handler may finish its call-log row just after closing the socket


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def db_enricher(db: Any, domain: str) -> Callable[[CallResult], None]:
    """Replace wire-derived outcome/transfers/callback with the application's records."""
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


class SimStack:
    """What the demo and ``voiceai-ivr simulate`` run: the application's call
    handler (``build_services`` + ``call_handler`` in a ``CallServer`` on a free
    loopback port) against a simulated FreeSWITCH (``sim.Simulator``, its inbound
    ESL on port 0), on ``config``'s database, with ``document`` (a directory)
    imported first. ``config`` is copied with the clock override on (simulated
    calls carry their own clock) and the server's agent-socket address set to
    where the server listens. ``stop()`` stops everything but the database server."""

    def __init__(
        self,
        config: Config,
        *,
        domain: str,
        scale: float = 0.05,
        document: Any = None,
        migrate: bool = False,
        sim_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        import dataclasses

        self.config = dataclasses.replace(
            config, server=dataclasses.replace(config.server, allow_clock_override=True, agent_socket_address="")
        )
        self.domain = domain
        self.scale = scale
        self.document = document
        self._migrate = migrate
        # Simulator arguments; by default the simulated PBX recognises speech with
        # ``speech.asr_engine`` (``{"asr_engines": ()}``: a stock PBX without ASR).
        self.sim_options = dict(sim_options or {})
        self.db: Any = None
        self.sim: Any = None
        self.client: Any = None
        self.server: Any = None
        self.services: Optional[Services] = None

    def start(self) -> SimStack:
        cfg = self.config
        try:
            self.db = Database.from_config(cfg)
            if self._migrate:
                migrate(self.db)
            if self.document is not None:
                import_directory(self.db, parse_directory(self.document))
            options = {"asr_engines": [cfg.speech.asr_engine], **self.sim_options}
            self.sim = Simulator(scale=self.scale, domain=self.domain, **options).start()
            host, port = self.sim.inbound_address
            pbx = dataclasses_replace_esl(cfg, host, port, self.sim.password)
            self.client, switch = connect_pbx(pbx, metrics=False)  # as serve's (build_services)
            self.services = build_services(cfg, db=self.db, switch=switch, mode="sim", metrics=False)
            self.server = CallServer(
                cfg, host="127.0.0.1", port=0, flow=call_handler(cfg, services=self.services)
            ).start()
            cfg.server.agent_socket_address = "{}:{}".format(*self.server.address)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def esl_config(self) -> Config:
        """``config`` with ``esl`` pointing at the simulator (for a dispatcher)."""
        host, port = self.sim.inbound_address
        return dataclasses_replace_esl(self.config, host, port, self.sim.password)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(5.0)
            self.server = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.sim is not None:
            self.sim.stop()
            self.sim = None
        if self.db is not None:
            self.db.close()
            self.db = None

    def __enter__(self) -> SimStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dataclasses_replace_esl(config: Config, host: str, port: int, password: str) -> Config:
    import dataclasses

    esl = dataclasses.replace(config.esl, host=host, port=int(port), password=password)
    return dataclasses.replace(config, esl=esl)



@contextmanager
def running_stack(config: Config, scenario: Scenario, *, scale: float = 0.05) -> Iterator[tuple[Simulator, Any, Any]]:
    """Start database, simulator, inbound client and call server (``SimStack``,
    the composition the demo uses too); yields ``(simulator, call_server,
    database)`` and stops everything afterwards."""
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
