"""The same attended-transfer flow under the mod_python3 adapter.

The caller's leg is FreeSWITCH's mod_python3 ``session`` (OPS's test double,
``tests/doubles/fs_session.py``) driven through ``ModPythonChannel``; the PBX API
(originate, uuid_broadcast, uuid_break, uuid_bridge, uuid_kill) goes over inbound
ESL to the simulator, which plays the agent and also holds a parked twin of the
caller's channel under the same uuid (in FreeSWITCH it is one channel; the two
doubles each stand for one side of it). The agent leg dials back into the real
outbound server (``&socket``) for the announcement."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from doubles.fs_session import FakeSession

from voiceai_ivr.app import build_services, call_handler
from voiceai_ivr.channel.modpython import ModPythonChannel
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.server import CallServer
from voiceai_ivr.sim.channel import CallerProfile
from voiceai_ivr.sim.record import CallRecord
from voiceai_ivr.sim.result import build_result
from voiceai_ivr.sim.simulator import Simulator
from voiceai_ivr.stores import calls
from voiceai_ivr.stores.directory import import_directory
from voiceai_ivr.switch import Switch

from .test_scenarios import SCENARIOS


@pytest.fixture
def python_stack(db, config) -> Iterator[tuple[Simulator, Any, Any]]:
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    import_directory(db, parse_directory(doc))
    sim = Simulator(scale=0.05, agents={"1001": {"behavior": "answer", "answer_after": 1, "accept": True}}).start()
    host, port = sim.inbound_address
    client = InboundClient(host, port, "ClueCon", timeout=5.0).connect()
    services = build_services(config, db=db, switch=Switch(client, timeout=5.0), mode="python", metrics=False)
    handler = call_handler(config, services=services)
    server = CallServer(config, host="127.0.0.1", port=0, flow=handler).start()  # agent legs land here
    config.server.agent_socket_address = "{}:{}".format(*server.address)
    try:
        yield sim, handler, db
    finally:
        server.stop(5.0)
        client.close()
        sim.stop()


def _twin(sim: Simulator, uuid: str) -> CallRecord:
    """The caller's channel as the PBX API sees it: parked, same uuid."""

    async def make() -> CallRecord:
        call = CallRecord(call_uuid=uuid, scale=sim.clock.scale)
        call.finished = asyncio.Event()
        sim.switch.register_call(call)
        profile = CallerProfile(caller_id_name="Cliente", caller_id_number="+5511998765432", destination_number="8000")
        sim.switch.new_channel(
            name="sofia/external/+5511998765432@192.0.2.10", direction="inbound", profile=profile,
            variables={"domain_name": "demo.local"}, role="caller", call=call, origin=None, uuid=uuid,
        )
        return call

    return sim.call_soon(make(), 5.0)


def test_transfer_accepted_under_mod_python3(python_stack) -> None:
    sim, handler, db = python_stack
    session = FakeSession(
        [{"say": "quero falar com o financeiro"}],
        variables={"domain_name": "demo.local", "destination_number": "8000"},
    )
    call = _twin(sim, session.uuid)
    channel = ModPythonChannel(session, listen_engine="unimrcp", grammar="builtin:grammar/boolean")
    handler(channel)  # what voiceai_ivr.modpython.handler does once it has the channel

    async def finish() -> dict[str, Any]:
        for _ in range(100):  # the agent talks for 3 simulated seconds, then hangs up the bridge
            if not sim.switch.live_legs(call) and sim.switch.locate(session.uuid) is None:
                break
            await asyncio.sleep(0.02)
        live = [{"uuid": ch.uuid} for ch in sim.switch.live_legs(call)]
        sim.switch.finish_call(call)
        return build_result(call, session.uuid, live).to_json()

    result = sim.call_soon(finish(), 10.0)
    assert result["outcome"] == "transferred", result
    assert result["legs_left_up"] == 0
    (agent,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert agent["answered"] and agent["bridged"]
    assert agent["dial_string"].endswith("user/1001@demo.local")
    assert result["holds"] and result["holds"][0]["stopped_by"] in ("uuid_break", "bridge")
    announced = [e["text"] for e in result["transcript"] if e.get("leg") == "agent" and e.get("from") == "ivr"]
    assert announced and "Tecle 1 para aceitar" in announced[0]
    # the caller side ran on the mod_python3 session
    assert session.answered
    assert any("Com quem você deseja falar" in detail for _, detail in session.log)
    assert any("vou transferir sua ligação para Financeiro" in detail for _, detail in session.log)
    with db.cursor() as cur:
        row = calls.get_call(cur, session.uuid)
        attempts = calls.list_transfer_attempts(cur, session.uuid)
    assert row is not None and row["outcome"] == "transferred" and row["mode"] == "python"
    assert [(a["destination_name"], a["status"]) for a in attempts] == [("Financeiro", "accepted")]
