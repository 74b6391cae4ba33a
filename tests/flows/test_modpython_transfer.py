"""The same attended-transfer flow under the mod_python3 adapter.

The caller's leg is FreeSWITCH's mod_python3 ``session`` (OPS's test double,
``tests/doubles/fs_session.py``) driven through ``ModPythonChannel``; the PBX API
(originate, uuid_broadcast, uuid_break, uuid_bridge, uuid_kill) goes over inbound
ESL to the simulator, which plays the agent and also holds a parked twin of the
caller's channel under the same uuid (in FreeSWITCH it is one channel; the two
doubles each stand for one side of it). The agent leg dials back into the real
outbound server (``&socket``) for the announcement.

The caller's media is the session double's: ``uuid_broadcast``/``uuid_break`` of the
caller's uuid reach it (``_OneSwitch``), and it plays them only when the session
thread services media, as FreeSWITCH does; a pure-Python wait leaves the caller
in silence while the agent rings (the pitfall these tests pin down)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import pytest
import yaml
from doubles.fs_session import FakeAPI, FakeSession

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
from voiceai_ivr.switch import BackgroundJob, Switch

from .test_scenarios import SCENARIOS

CLOCK = "2026-11-24T10:30:00-03:00"  # a Tuesday morning: Financeiro is open
MOH = "local_stream://moh"


class _OneSwitch:
    """FreeSWITCH is one process: the caller's channel runs mod_python3 (the session
    double, reached through its ``freeswitch.API``), every other leg is the
    simulator's (inbound ESL). Media commands for the caller's uuid go to the
    former, everything else to the latter."""

    def __init__(self, client: InboundClient, fs_api: FakeAPI, caller_uuid: str) -> None:
        self.client = client
        self.fs_api = fs_api
        self.caller_uuid = caller_uuid

    def api(self, command: str, timeout: float = 5.0) -> str:
        argv = command.split()
        if len(argv) > 1 and argv[0] in ("uuid_broadcast", "uuid_break") and argv[1] == self.caller_uuid:
            return self.fs_api.executeString(command)
        return self.client.api(command, timeout)

    def bgapi(self, command: str, timeout: float = 5.0) -> BackgroundJob:
        return self.client.bgapi(command, timeout)


Stack = Callable[..., tuple[Simulator, Any, Any, FakeSession, FakeAPI]]


@pytest.fixture
def python_stack(db, config) -> Iterator[Stack]:
    """``start(inputs, agents)``: the simulator playing the agents, the real handler and
    outbound server, and a mod_python3 session double for the caller."""
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    import_directory(db, parse_directory(doc))
    config.server.allow_clock_override = True
    cleanup: list[Callable[[], None]] = []

    def start(
        inputs: list[Mapping[str, Any]], agents: Mapping[str, Any]
    ) -> tuple[Simulator, Any, Any, FakeSession, FakeAPI]:
        session = FakeSession(
            inputs,
            variables={"domain_name": "demo.local", "destination_number": "8000", "voiceai_clock": CLOCK},
            media_seconds=0.2,
        )
        fs_api = FakeAPI(sessions=[session])
        sim = Simulator(scale=0.05, agents=agents).start()
        cleanup.append(sim.stop)
        host, port = sim.inbound_address
        client = InboundClient(host, port, "ClueCon", timeout=5.0).connect()
        cleanup.append(client.close)
        switch = Switch(_OneSwitch(client, fs_api, session.uuid), timeout=5.0)
        services = build_services(config, db=db, switch=switch, mode="python", metrics=False)
        handler = call_handler(config, services=services)
        server = CallServer(config, host="127.0.0.1", port=0, flow=handler).start()  # agent legs land here
        cleanup.append(lambda: _stop(server))
        config.server.agent_socket_address = "{}:{}".format(*server.address)
        return sim, handler, db, session, fs_api

    try:
        yield start
    finally:
        for fn in reversed(cleanup):
            fn()


def _stop(server: CallServer) -> None:
    server.stop(5.0)


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


def _hang_up_twin(sim: Simulator, uuid: str) -> None:
    """The caller's channel is gone: its PBX-side twin too (in FreeSWITCH they are one)."""

    async def gone() -> None:
        twin = sim.switch.locate(uuid)
        if twin is not None:
            twin.hangup("NORMAL_CLEARING", by="caller")

    sim.call_soon(gone(), 5.0)


def _channel(session: FakeSession, fs_api: FakeAPI) -> ModPythonChannel:
    # what voiceai_ivr.modpython.handler builds (inside FreeSWITCH the api is freeswitch.API())
    return ModPythonChannel(session, fs_api, listen_engine="unimrcp", grammar="builtin:grammar/boolean")


def _result(sim: Simulator, call: CallRecord, uuid: str) -> dict[str, Any]:
    async def finish() -> dict[str, Any]:
        for _ in range(100):  # the agent talks for 3 simulated seconds, then hangs up the bridge
            if not sim.switch.live_legs(call) and sim.switch.locate(uuid) is None:
                break
            await asyncio.sleep(0.02)
        live = [{"uuid": ch.uuid} for ch in sim.switch.live_legs(call)]
        sim.switch.finish_call(call)
        return build_result(call, uuid, live).to_json()

    return sim.call_soon(finish(), 10.0)


def _music_until(session: FakeSession) -> float:
    """The caller heard the music from its first broadcast until this instant, without
    a gap longer than a frame or two; returns when it stopped."""
    assert session.heard, "the caller heard no music on hold"
    assert session.broadcasts and session.heard[0].started - session.broadcasts[0][0] < 0.3
    for before, after in zip(session.heard, session.heard[1:]):
        assert before.stopped is not None and after.started - before.stopped < 0.3, session.heard
    assert all(h.source == MOH for h in session.heard)
    last = session.heard[-1]
    assert last.stopped is not None, "the music never stopped"
    return last.stopped


def test_transfer_accepted_under_mod_python3(python_stack) -> None:
    # the agent's phone rings 12 simulated seconds (0.6 s real), then the announcement
    sim, handler, db, session, fs_api = python_stack(
        [{"say": "quero falar com o financeiro"}],
        {"1001": {"behavior": "answer", "answer_after": 12, "accept": True}},
    )
    call = _twin(sim, session.uuid)
    handler(_channel(session, fs_api))  # what voiceai_ivr.modpython.handler does once it has the channel
    result = _result(sim, call, session.uuid)
    assert result["outcome"] == "transferred", result
    assert result["legs_left_up"] == 0
    (agent,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert agent["answered"] and agent["bridged"]
    assert agent["dial_string"].endswith("user/1001@demo.local")
    announced = [e["text"] for e in result["transcript"] if e.get("leg") == "agent" and e.get("from") == "ivr"]
    assert announced and "Tecle 1 para aceitar" in announced[0]
    # the caller side ran on the mod_python3 session
    assert session.answered
    assert any("Com quem você deseja falar" in detail for _, detail in session.log)
    assert any("vou transferir sua ligação para Financeiro" in detail for _, detail in session.log)
    # music on hold: really heard through the ringing and the announcement, and stopped
    # by the flow's uuid_break just before the bridge
    stopped = _music_until(session)
    assert sum(h.seconds for h in session.heard) >= 0.6  # at least the ring time
    assert session.heard[-1].stopped_by == "uuid_break"
    assert session.breaks and session.breaks[-1] >= stopped - 0.05
    assert not result["holds"]  # the simulator's parked twin never played it: the session did
    assert session.cut == []
    with db.cursor() as cur:
        row = calls.get_call(cur, session.uuid)
        attempts = calls.list_transfer_attempts(cur, session.uuid)
    assert row is not None and row["outcome"] == "transferred" and row["mode"] == "python"
    assert [(a["destination_name"], a["status"]) for a in attempts] == [("Financeiro", "accepted")]


def test_music_stops_when_the_agent_does_not_answer_and_the_next_prompt_is_whole(python_stack) -> None:
    # no answer: the phone rings the destination's 20 s (1 s real) and the originate fails
    sim, handler, db, session, fs_api = python_stack(
        [{"say": "quero falar com o financeiro"}, {"hangup": True}],
        {"1001": {"behavior": "no_answer"}},
    )
    call = _twin(sim, session.uuid)
    handler(_channel(session, fs_api))
    _hang_up_twin(sim, session.uuid)
    result = _result(sim, call, session.uuid)
    assert result["legs_left_up"] == 0
    stopped = _music_until(session)
    assert sum(h.seconds for h in session.heard) >= 0.9  # the whole ring
    assert session.heard[-1].stopped_by == "uuid_break"
    # the caller is told what happened, from its first word: no break left over cuts it
    tail = session.log[session.log.index(("broadcast", MOH)) :]
    after = [d for m, d in tail if m in ("streamFile", "playAndGetDigits")]
    assert after and "Financeiro não atendeu" in " ".join(after)
    assert session.cut == []
    assert stopped < time.monotonic()
    with db.cursor() as cur:
        attempts = calls.list_transfer_attempts(cur, session.uuid)
    assert [(a["destination_name"], a["status"]) for a in attempts] == [("Financeiro", "no_answer")]


def test_caller_hangup_on_hold_ends_the_handler_and_kills_the_agent_leg(python_stack) -> None:
    sim, handler, db, session, fs_api = python_stack(
        [{"say": "quero falar com o financeiro"}],
        {"1001": {"behavior": "no_answer"}},
    )
    call = _twin(sim, session.uuid)
    hung_up: list[float] = []

    def caller_leaves() -> None:
        deadline = time.monotonic() + 10
        while not session.broadcasts and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # 0.3 s into the hold, the agent's phone still ringing
        hung_up.append(time.monotonic())
        session.hang_up_now()
        _hang_up_twin(sim, session.uuid)

    leaver = threading.Thread(target=caller_leaves, daemon=True)
    leaver.start()
    handler(_channel(session, fs_api))
    returned = time.monotonic()
    leaver.join(5)
    assert hung_up, "the hold never started"
    assert returned - hung_up[0] < 1.0

    async def agent_gone() -> float:
        while sim.switch.live_legs(call):
            await asyncio.sleep(0.01)
        return time.monotonic()

    assert sim.call_soon(agent_gone(), 5.0) - hung_up[0] < 1.0
    result = _result(sim, call, session.uuid)
    assert result["legs_left_up"] == 0
    (agent,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert not agent["answered"]
    assert not [t for t in threading.enumerate() if t.name.startswith("modpython-hold")]
    # the caller had been hearing the music until hanging up
    assert session.heard and session.heard[0].stopped_by == "hangup"
    assert session.heard[0].seconds >= 0.2
    with db.cursor() as cur:
        attempts = calls.list_transfer_attempts(cur, session.uuid)
    assert [(a["destination_name"], a["status"]) for a in attempts] == [("Financeiro", "caller_hangup")]
