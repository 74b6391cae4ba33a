"""A shared scenario harness: the real stack over real sockets.

``scenario_stack(db, config, directory)`` imports a destinations document into the
test database, starts the Simulator (FreeSWITCH stand-in: inbound ESL + the
``socket`` application), connects the app's inbound ESL client to it, and starts
the real outbound server with ``app.call_handler``. ``Stack.run(scenario)`` places
one scripted call and returns the ``voiceai-ivr simulate --json``-shaped object;
the ``Stack`` helpers read what the application wrote to PostgreSQL.

Use it from a fixture::

    @pytest.fixture
    def stack(db, config):
        with scenario_stack(db, config, SCENARIOS / "directory.yaml") as s:
            yield s
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from voiceai_ivr.app import build_services, call_handler
from voiceai_ivr.config import Config
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.server import CallServer
from voiceai_ivr.stores import calls
from voiceai_ivr.stores.directory import import_directory
from voiceai_ivr.switch import Switch
from voiceai_sim.scenario import Scenario, load_scenario, parse_scenario
from voiceai_sim.simulator import Simulator, run_scenario
from voiceai_sim.stack import db_enricher

ScenarioSource = Union[str, Path, Mapping[str, Any], Scenario]


@dataclass
class Stack:
    sim: Simulator
    server: CallServer
    db: Any
    config: Config

    def scenario(self, source: ScenarioSource) -> Scenario:
        if isinstance(source, Scenario):
            return source
        if isinstance(source, (str, Path)):
            return load_scenario(source)
        return parse_scenario(dict(source))

    def run(self, source: ScenarioSource, *, timeout: float = 60.0) -> dict[str, Any]:
        """One call; the ``voiceai-ivr simulate --json`` object: outcome, transfers and
        callback read back from the database as ``simulate`` does (``source:
        "database"``), ``expect_failures`` when the scenario has ``expect``."""
        sc = self.scenario(source)
        return run_scenario(
            sc, self.server.address, simulator=self.sim, timeout=timeout, enrich=db_enricher(self.db, sc.domain)
        )

    # ------------------------------------------------------------------ database

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.db.cursor() as cur:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def call(self, call_uuid: str) -> dict[str, Any]:
        with self.db.cursor() as cur:
            row = calls.get_call(cur, call_uuid)
        assert row is not None, f"no call log row for {call_uuid}"
        return dict(row)

    def attempts(self, call_uuid: str) -> list[dict[str, Any]]:
        with self.db.cursor() as cur:
            return list(calls.list_transfer_attempts(cur, call_uuid))

    def callbacks(self, *, call_uuid: Optional[str] = None) -> list[dict[str, Any]]:
        if call_uuid is None:
            return self.query("SELECT * FROM callbacks ORDER BY id")
        return self.query("SELECT * FROM callbacks WHERE call_uuid = %s ORDER BY id", (call_uuid,))

    def outbox(self, *, call_uuid: Optional[str] = None) -> list[dict[str, Any]]:
        if call_uuid is None:
            return self.query("SELECT kind, payload, callback_id, idempotency_key FROM helpdesk_outbox ORDER BY id")
        return self.query(
            "SELECT kind, payload, callback_id, idempotency_key FROM helpdesk_outbox WHERE call_uuid = %s"
            " ORDER BY id",
            (call_uuid,),
        )


def load_directory_document(directory: Union[str, Path, Mapping[str, Any]]) -> Any:
    if isinstance(directory, (str, Path)):
        return yaml.safe_load(Path(directory).read_text(encoding="utf-8"))
    return dict(directory)


@contextmanager
def scenario_stack(
    db: Any,
    config: Config,
    directory: Union[str, Path, Mapping[str, Any]],
    *,
    scale: float = 0.05,
    agents: Optional[Mapping[str, Any]] = None,
    customers: Optional[Mapping[str, Any]] = None,
    asr_engines: Optional[Sequence[str]] = None,
    metrics: Any = False,
) -> Iterator[Stack]:
    """The simulator, the inbound ESL client and the outbound server, stopped on exit.
    ``asr_engines``: the speech engines the simulated PBX has; None: the configured
    ``speech.asr_engine`` (a PBX that recognises speech), ``()`` a stock one.
    ``metrics``: a ``voiceai_ivr.metrics.Metrics`` the calls report to (default none)."""
    import_directory(db, parse_directory(load_directory_document(directory)))
    config.server.allow_clock_override = True  # scenarios set the call's clock (``at``)
    engines = [config.speech.asr_engine] if asr_engines is None else list(asr_engines)
    sim = Simulator(scale=scale, agents=agents, customers=customers, asr_engines=engines).start()
    client: Optional[InboundClient] = None
    server: Optional[CallServer] = None
    try:
        host, port = sim.inbound_address
        client = InboundClient(host, port, sim.password, timeout=5.0).connect()
        services = build_services(config, db=db, switch=Switch(client, timeout=5.0), mode="sim", metrics=metrics)
        server = CallServer(config, host="127.0.0.1", port=0, flow=call_handler(config, services=services)).start()
        config.server.agent_socket_address = "{}:{}".format(*server.address)
        yield Stack(sim, server, db, config)
    finally:
        if server is not None:
            server.stop(5.0)
        if client is not None:
            client.close()
        sim.stop()


__all__ = ["Stack", "load_directory_document", "scenario_stack"]
