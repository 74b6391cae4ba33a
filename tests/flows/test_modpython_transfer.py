"""The attended transfer with both legs under mod_python3.

FreeSWITCH is one process: the caller's leg runs ``voiceai_ivr.modpython`` (the
session double, ``tests/doubles/fs_session.py``, through the real shim with
``config=FILE``), and the transfer originates the agent leg with
``&python('voiceai_ivr.modpython config=FILE')``, so the agent's announcement runs
in the same process too and meets the caller's flow through the process-wide
agent registry. Here the simulator plays the PBX API side (originate, ringing,
busy, uuid_bridge, uuid_kill over inbound ESL, with a parked twin of each
session's channel under the same uuid), and ``_OneProcess`` does what FreeSWITCH
does with ``&python(...)``: once the simulator answers the agent leg, the shim runs
on a session double of that leg. ``uuid_bridge`` takes both sessions
(``CF_TRANSFER``), as in FreeSWITCH.

Hold music is the caller's own: the session plays it inside ``wait_event`` and a
watcher breaks it through ``freeswitch.API`` (``uuid_break``), so these tests also
check when it really stopped."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from doubles.fs_session import FakeAPI, FakeSession

from voiceai_ivr import app as app_module
from voiceai_ivr import modpython
from voiceai_ivr.app import build_services, call_handler
from voiceai_ivr.config import load_config
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.flows.transfer import ORIGINATE_MARGIN
from voiceai_ivr.stores import calls
from voiceai_ivr.stores.directory import import_directory
from voiceai_ivr.switch import BackgroundJob, DialStringError, Switch, python_app
from voiceai_sim.channel import CallerProfile
from voiceai_sim.record import CallRecord
from voiceai_sim.result import build_result
from voiceai_sim.simulator import Simulator

from .test_scenarios import SCENARIOS

CLOCK = "2026-11-24T10:30:00-03:00"  # a Tuesday morning: Financeiro is open
MOH = "local_stream://moh"
_APP_RE = re.compile(r" &python\('voiceai_ivr\.modpython config=([^']+)'\)$")


class _NeverDone:
    """A bgapi job whose BACKGROUND_JOB never arrives (a lost event)."""

    def __init__(self) -> None:
        self.job_uuid = "lost"
        self.done = threading.Event()

    def wait(self, timeout: float) -> str:
        raise AssertionError("nobody should wait on a lost job")

    def add_done_callback(self, fn: Callable[[str], None]) -> None:
        return None


class _OneProcess:
    """FreeSWITCH as one process: PBX API commands go to the simulator (inbound ESL);
    an originated ``&python(...)`` leg runs the shim on a session double once the
    simulator answered it; ``uuid_bridge``/``uuid_kill`` also act on the sessions."""

    def __init__(self, client: InboundClient, fs_api: FakeAPI, agent_inputs: list[Mapping[str, Any]],
                 *, lose_originate: bool = False) -> None:
        self.client = client
        self.fs_api = fs_api
        self.agent_inputs = agent_inputs
        self.lose_originate = lose_originate
        self.originates: list[str] = []
        self.agents: list[FakeSession] = []
        self.threads: list[threading.Thread] = []
        self.agent_started = threading.Event()

    def api(self, command: str, timeout: float = 5.0) -> str:
        argv = command.split()
        reply = self.client.api(command, timeout)
        if argv and argv[0] in ("uuid_bridge", "uuid_kill") and reply.startswith("+OK"):
            self.fs_api.executeString(command)
        return reply

    def bgapi(self, command: str, timeout: float = 5.0) -> BackgroundJob:
        if not command.startswith("originate "):
            return self.client.bgapi(command, timeout)
        self.originates.append(command)
        m = _APP_RE.search(command)
        if m is None:
            return self.client.bgapi(command, timeout)
        if self.lose_originate:
            return _NeverDone()
        job = self.client.bgapi(command[: m.start()] + " &park()", timeout)
        variables = dict(kv.split("=", 1) for kv in command.split("{", 1)[1].split("}", 1)[0].split(","))
        job.add_done_callback(lambda result: self._answered(result, variables, f"config={m.group(1)}"))
        return job

    def _answered(self, result: str, variables: dict[str, str], args: str) -> None:
        """FreeSWITCH runs the originate's application on the answered leg."""
        if not result.startswith("+OK"):
            return
        session = FakeSession(
            list(self.agent_inputs),
            uuid=variables["origination_uuid"],
            variables={"voiceai_role": variables["voiceai_role"],
                       "voiceai_transfer_id": variables["voiceai_transfer_id"],
                       "channel_name": "sofia/internal/1001@127.0.0.1", "destination_number": "1001",
                       "caller_id_number": variables.get("origination_caller_id_number", "")},
            media_seconds=0.2,
        )
        self.fs_api.add(session)
        self.agents.append(session)
        thread = threading.Thread(target=modpython.handler, args=(session, args), name="agent-leg", daemon=True)
        self.threads.append(thread)
        thread.start()
        self.agent_started.set()


Stack = Callable[..., tuple[Simulator, FakeSession, "_OneProcess", Any, Path]]


@pytest.fixture
def python_stack(db, db_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """``start(inputs, agents, agent_inputs)``: the simulator as the PBX, the real
    handler registered for a config file, and ``freeswitch`` as mod_python3 provides it."""
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    import_directory(db, parse_directory(doc))
    config_path = tmp_path / "voiceai.yaml"
    config_path.write_text(yaml.safe_dump({
        "database": {"dsn": db_dsn, "data_dir": str(tmp_path / "data")},
        "server": {"allow_clock_override": True, "metrics_port": 0},
        "speech": {"digit_timeout": 1.0},
    }))
    fs_api = FakeAPI()
    console: list[tuple[str, str]] = []
    monkeypatch.setitem(sys.modules, "freeswitch", types.SimpleNamespace(
        API=lambda: fs_api, consoleLog=lambda level, text: console.append((level, text))))
    root = logging.getLogger()
    level = root.level
    cleanup: list[Callable[[], None]] = []

    def start(inputs: list[Mapping[str, Any]], agents: Mapping[str, Any],
              agent_inputs: Optional[list[Mapping[str, Any]]] = None, *, lose_originate: bool = False,
              ) -> tuple[Simulator, FakeSession, _OneProcess, Any, Path]:
        session = FakeSession(
            inputs,
            variables={"domain_name": "demo.local", "destination_number": "8000", "voiceai_clock": CLOCK},
            media_seconds=0.2,
        )
        fs_api.add(session)
        sim = Simulator(scale=0.05, agents=agents).start()
        cleanup.append(sim.stop)
        host, port = sim.inbound_address
        client = InboundClient(host, port, "ClueCon", timeout=5.0).connect()
        cleanup.append(client.close)
        one = _OneProcess(client, fs_api, agent_inputs or [], lose_originate=lose_originate)
        config = load_config(str(config_path))
        services = build_services(config, db=db, switch=Switch(one, timeout=5.0), mode="python", metrics=False)
        # what the first call's shim would build from the file: this stack's services
        monkeypatch.setitem(app_module._SHARED, f"{config.source}|python", call_handler(config, services=services))
        return sim, session, one, db, config_path

    try:
        yield start
    finally:
        for fn in reversed(cleanup):
            fn()
        for handler in [h for h in root.handlers if getattr(getattr(h, "stream", None),
                                                            "voiceai_freeswitch_console", False)]:
            root.removeHandler(handler)
        root.setLevel(level)


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
    async def gone() -> None:
        twin = sim.switch.locate(uuid)
        if twin is not None:
            twin.hangup("NORMAL_CLEARING", by="caller")

    sim.call_soon(gone(), 5.0)


def _result(sim: Simulator, call: CallRecord, uuid: str) -> dict[str, Any]:
    async def finish() -> dict[str, Any]:
        for _ in range(100):
            if not sim.switch.live_legs(call):
                break
            await asyncio.sleep(0.02)
        live = [{"uuid": ch.uuid} for ch in sim.switch.live_legs(call)]
        sim.switch.finish_call(call)
        return build_result(call, uuid, live).to_json()

    return sim.call_soon(finish(), 10.0)


def _caller(session: FakeSession, config_path: Path) -> float:
    """The caller's leg: ``python voiceai_ivr.modpython config=FILE``; returns when it returned."""
    modpython.handler(session, f"config={config_path}")
    return time.monotonic()


def _attempts(db: Any, uuid: str) -> list[tuple[str, str]]:
    with db.cursor() as cur:
        return [(a["destination_name"], a["status"]) for a in calls.list_transfer_attempts(cur, uuid)]


def _after_music(session: FakeSession) -> list[str]:
    last = max(i for i, (m, _) in enumerate(session.log) if m == "music")
    return [d for m, d in session.log[last:] if m == "playback"]


def _failed_transfer(python_stack: Stack, agent: Mapping[str, Any]) -> tuple[FakeSession, _OneProcess, Any]:
    """The caller keys Financeiro (1001 behaves as ``agent``), hears what happened
    and hangs up; every simulated leg is down afterwards."""
    sim, session, one, db, config_path = python_stack([{"dtmf": "1"}, {"hangup": True}], {"1001": agent})
    call = _twin(sim, session.uuid)
    _caller(session, config_path)
    _hang_up_twin(sim, session.uuid)
    assert _result(sim, call, session.uuid)["legs_left_up"] == 0
    return session, one, db


def test_transfer_accepted_with_the_agent_leg_in_mod_python3(python_stack) -> None:
    # the agent's phone rings 12 simulated seconds (0.6 s real), then the announcement
    sim, session, one, db, config_path = python_stack(
        [{"dtmf": "1"}], {"1001": {"behavior": "answer", "answer_after": 12}}, [{"dtmf": "1"}])
    call = _twin(sim, session.uuid)
    _caller(session, config_path)
    for thread in one.threads:
        thread.join(10)
    result = _result(sim, call, session.uuid)
    # the agent leg was handed to mod_python3 with the caller's configuration file
    (originate,) = one.originates
    assert originate.endswith(f" &python('voiceai_ivr.modpython config={config_path}')")
    assert "voiceai_role=agent" in originate and "voiceai_transfer_id=" in originate
    (agent,) = one.agents
    assert "Tecle 1 para aceitar" in agent.played()[0]
    assert [m for m, _ in agent.log].count("hangup") == 0  # bridged, not hung up
    # uuid_bridge took both sessions; neither handler hung its leg up
    assert session.state == agent.state == "CS_HIBERNATE"
    assert "hangup_cause" not in session.variables
    assert result["outcome"] == "transferred", result
    (leg,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert leg["answered"] and leg["bridged"]
    # music on hold: heard through the ring and the announcement, stopped before the bridge
    assert session.heard and all(h.source == MOH for h in session.heard)
    assert sum(h.seconds for h in session.heard) >= 0.5
    assert all(h.stopped is not None for h in session.heard)
    assert session.heard[-1].stopped_by == "uuid_break"
    bridge_at = session.log.index(("transfer", ""))
    assert max(i for i, (m, _) in enumerate(session.log) if m == "music") < bridge_at
    with db.cursor() as cur:
        row = calls.get_call(cur, session.uuid)
    assert row is not None and (row["outcome"], row["mode"]) == ("transferred", "python")
    assert _attempts(db, session.uuid) == [("Financeiro", "accepted")]


def test_the_agent_declines_under_mod_python3(python_stack) -> None:
    sim, session, one, db, config_path = python_stack(
        [{"dtmf": "1"}, {"hangup": True}], {"1001": {"behavior": "answer", "answer_after": 2}}, [{"dtmf": "2"}])
    call = _twin(sim, session.uuid)
    _caller(session, config_path)
    _hang_up_twin(sim, session.uuid)
    for thread in one.threads:
        thread.join(10)
    result = _result(sim, call, session.uuid)
    assert result["legs_left_up"] == 0
    (agent,) = one.agents
    assert agent.variables.get("hangup_cause") in ("CALL_REJECTED", "NORMAL_CLEARING")
    assert "não pode atender" in " ".join(_after_music(session))
    assert _attempts(db, session.uuid) == [("Financeiro", "rejected")]


def test_busy_agent_stops_the_music_and_the_next_prompt_is_whole(python_stack) -> None:
    session, one, db = _failed_transfer(python_stack, {"behavior": "busy"})
    assert not one.agents  # never answered: nothing ran on an agent leg
    assert all(h.stopped is not None for h in session.heard)
    prompts = [d for m, d in session.log if m == "playback"]
    told = [p for p in prompts if "em outra ligação" in p]
    assert told, prompts
    assert ("cut", told[0]) not in session.log  # heard from its first word
    assert _attempts(db, session.uuid) == [("Financeiro", "busy")]


def test_no_answer_stops_the_music_when_freeswitch_reports_it(python_stack) -> None:
    # the destination rings 20 simulated seconds (1 s real), then NO_ANSWER
    session, _one, db = _failed_transfer(python_stack, {"behavior": "no_answer"})
    assert sum(h.seconds for h in session.heard) >= 0.8  # the whole ring
    assert session.heard[-1].stopped_by == "uuid_break"
    assert "não atendeu" in " ".join(_after_music(session))
    assert _attempts(db, session.uuid) == [("Financeiro", "no_answer")]


def test_the_ring_bound_holds_when_freeswitch_never_reports(python_stack) -> None:
    """Issue 11: the caller sat 71 s in "ringing" because the bound never fired while
    the session slept. A lost originate result must end the hold at the destination's
    ring timeout plus the margin, and stop the music at once."""
    sim, session, _one, db, config_path = python_stack(
        [{"dtmf": "1"}, {"hangup": True}], {"1001": {"behavior": "no_answer"}}, lose_originate=True)
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    (financeiro,) = [d for d in doc["destinations"] if d["name"] == "Financeiro"]
    financeiro["timeout"] = 5
    import_directory(db, parse_directory(doc))
    call = _twin(sim, session.uuid)
    started = time.monotonic()
    _caller(session, config_path)
    _hang_up_twin(sim, session.uuid)
    _result(sim, call, session.uuid)
    first = session.heard[0].started
    last = session.heard[-1]
    bound = 5 + ORIGINATE_MARGIN  # Financeiro rings 5 s now
    assert last.stopped is not None
    assert bound - 0.5 < last.stopped - first < bound + 1.0, (last.stopped - first, bound)
    assert time.monotonic() - started < bound + 10
    assert "não atendeu" in " ".join(_after_music(session))
    with db.cursor() as cur:
        (attempt,) = calls.list_transfer_attempts(cur, session.uuid)
    assert (attempt["status"], attempt["hangup_cause"]) == ("no_answer", "TIMEOUT")


def test_caller_hangup_on_hold_kills_the_agent_leg_within_1s(python_stack) -> None:
    sim, session, _one, db, config_path = python_stack([{"dtmf": "1"}], {"1001": {"behavior": "no_answer"}})
    call = _twin(sim, session.uuid)
    hung_up: list[float] = []

    def caller_leaves() -> None:
        deadline = time.monotonic() + 10
        while not session.heard and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # 0.3 s into the hold, the agent's phone still ringing
        hung_up.append(time.monotonic())
        session.hang_up_now()
        _hang_up_twin(sim, session.uuid)

    leaver = threading.Thread(target=caller_leaves, daemon=True)
    leaver.start()
    returned = _caller(session, config_path)
    leaver.join(5)
    assert hung_up, "the hold never started"
    assert returned - hung_up[0] < 1.0

    async def agent_gone() -> float:
        while sim.switch.live_legs(call):
            await asyncio.sleep(0.01)
        return time.monotonic()

    assert sim.call_soon(agent_gone(), 5.0) - hung_up[0] < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("modpython-hold")]
    assert session.heard and session.heard[-1].stopped_by == "hangup"
    assert _attempts(db, session.uuid) == [("Financeiro", "caller_hangup")]


def test_python_app_is_the_only_python_an_originate_may_run() -> None:
    assert python_app("") == "&python(voiceai_ivr.modpython)"
    assert python_app("/etc/voiceai-ivr/voiceai.yaml") == (
        "&python('voiceai_ivr.modpython config=/etc/voiceai-ivr/voiceai.yaml')")
    switch = Switch(types.SimpleNamespace(), timeout=1.0)  # type: ignore[arg-type]
    args = switch.build_originate("user/1001@demo.local", uuid="0d2a5f2e-4e0b-4c55-9d3f-6f1f0f5b2a11",
                                  timeout_s=20, caller_id_number="5511", app=python_app("/etc/v.yaml"))
    assert args.endswith(" &python('voiceai_ivr.modpython config=/etc/v.yaml')")
    for bad in ("relative.yaml", "/etc/a b.yaml", "/etc/x'y.yaml", "/etc/x).yaml", "/etc/${x}.yaml", "/etc/../x"):
        with pytest.raises(DialStringError):
            switch.build_originate("user/1001@demo.local", uuid="0d2a5f2e-4e0b-4c55-9d3f-6f1f0f5b2a11",
                                   timeout_s=20, caller_id_number="5511",
                                   app=f"&python('voiceai_ivr.modpython config={bad}')")
    for app in ("&python(os)", "&python('voiceai_ivr.modpython evil=1')", "&python('other.module config=/x')"):
        with pytest.raises(DialStringError):
            switch.build_originate("user/1001@demo.local", uuid="0d2a5f2e-4e0b-4c55-9d3f-6f1f0f5b2a11",
                                   timeout_s=20, caller_id_number="5511", app=app)
