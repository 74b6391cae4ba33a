"""The fault suite's shared parts.

* ``ledger``: what the suite tried and what it checked, recorded by the tests as
  they run (faults injected, bad inputs sent, calls checked and lost, callbacks
  expected and found). The run's summary prints ONE line from it at the
  end, so the line reports what actually ran.
* ``fault_stack``: the real stack (simulator over real sockets, outbound server
  with ``app.call_handler``, inbound ESL client, PostgreSQL) with two watchers:
  when each simulated leg went down (the simulator's ``on_channel_gone``), and
  when each handler returned and whether anything escaped it.
* ``on_slot``: run a fault (blocking is fine) the first time the IVR listens for a
  given slot: the simulated caller waits for it before answering, so the fault
  lands exactly at that step whatever the machine's speed.

The dispatcher faults (SIGKILL mid-attempt, racing dispatchers) live in
tests/dispatcher/ (owned there, not duplicated here).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from harness import Stack, load_directory_document
from summaries import add_summary

from voiceai_ivr.app import build_services, call_handler
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.errors import CallGone
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.server import CallServer
from voiceai_ivr.stores.directory import import_directory
from voiceai_ivr.switch import Switch
from voiceai_sim.actors import CallerActor
from voiceai_sim.simulator import Simulator, run_scenario

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
SUMMARY_TITLE = "fault suite summary"
DIRECTORY = SCENARIOS / "directory.yaml"
SCALE = 0.01  # real seconds per simulated second
AT = "2026-11-24T10:30:00-03:00"  # Tuesday 10:30 in São Paulo: business hours

_LEDGER_KEY = pytest.StashKey["Ledger"]()


@dataclass
class Ledger:
    faults: dict[str, int] = field(default_factory=dict)
    bad_inputs: dict[str, int] = field(default_factory=dict)
    calls_checked: int = 0
    calls_lost: list[str] = field(default_factory=list)
    callbacks_expected: int = 0
    callbacks_found: int = 0
    callbacks_lost: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.faults[kind] = self.faults.get(kind, 0) + n

    def bad_input(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.bad_inputs[kind] = self.bad_inputs.get(kind, 0) + n

    def call(self, call_uuid: str, lost_because: Optional[str] = None) -> None:
        """One call checked end to end; ``lost_because`` when it was not carried properly."""
        with self.lock:
            self.calls_checked += 1
            if lost_because:
                self.calls_lost.append(f"{call_uuid}: {lost_because}")

    def note(self, text: str) -> None:
        """A known problem (an xfail test) worth printing under the summary line."""
        with self.lock:
            self.notes.append(text)

    def callbacks(self, expected: int, found: int, what: str = "") -> None:
        with self.lock:
            self.callbacks_expected += expected
            self.callbacks_found += min(found, expected)
            if found < expected:
                self.callbacks_lost.append(f"{what}: {expected - found} of {expected} missing")

    def line(self) -> str:
        faults = sum(self.faults.values())
        bad = sum(self.bad_inputs.values())
        lost_calls = len(self.calls_lost)
        lost_cb = self.callbacks_expected - self.callbacks_found
        verdict = "zero calls or callbacks lost" if not (lost_calls or lost_cb) else (
            f"LOST: {lost_calls} calls, {lost_cb} callbacks")
        return (f"fault suite: {faults} faults injected ({len(self.faults)} kinds) and {bad} bad inputs tried "
                f"({len(self.bad_inputs)} kinds); {self.calls_checked} calls and {self.callbacks_expected} "
                f"callbacks checked: {verdict}")


def _ledger(config: pytest.Config) -> Ledger:
    if _LEDGER_KEY not in config.stash:
        config.stash[_LEDGER_KEY] = Ledger()
    return config.stash[_LEDGER_KEY]


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Ledger:
    return _ledger(request.config)


def _summary(config: pytest.Config) -> list[str]:
    if _LEDGER_KEY not in config.stash:
        return []
    led = config.stash[_LEDGER_KEY]
    return ([led.line()] + [f"  lost: {entry}" for entry in led.calls_lost[:10] + led.callbacks_lost[:10]]
            + [f"  known problem: {entry}" for entry in led.notes[:10]])


@pytest.hookimpl(tryfirst=True)  # ahead of pytest-xdist, which reads xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One ledger: under pytest-xdist, one worker runs the whole fault suite."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group("faults"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    add_summary(session.config, SUMMARY_TITLE, _summary(session.config))


# --------------------------------------------------------------------------- watchers


class HandlerWatch:
    """When each call handler returned, and anything that escaped it."""

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}
        self.escaped: list[str] = []
        self.call_gone = 0
        self.lock = threading.Lock()

    def wrap(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def flow(channel: Any) -> None:
            try:
                handler(channel)
            except CallGone:
                with self.lock:
                    self.call_gone += 1
                raise
            except BaseException as exc:
                with self.lock:
                    self.escaped.append(f"{channel.uuid}: {type(exc).__name__}: {exc}")
                raise
            finally:
                with self.lock:
                    self.ended[channel.uuid] = time.monotonic()

        return flow


class LegWatch:
    """When each simulated leg went down (simulator loop thread)."""

    def __init__(self) -> None:
        self.gone: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def __call__(self, ch: Any) -> None:
        with self.lock:
            self.gone[ch.uuid] = (ch.role, time.monotonic())


@dataclass
class FaultStack:
    stack: Stack
    sim: Simulator
    server: CallServer
    client: InboundClient
    handlers: HandlerWatch
    legs: LegWatch
    db: Any
    config: Any

    def run(self, scenario: Any, *, timeout: float = 60.0) -> dict[str, Any]:
        """One call; outcome/transfers/callback read back from the database."""
        return self.stack.run(scenario, timeout=timeout)

    def run_wire(self, scenario: Any, *, timeout: float = 60.0) -> dict[str, Any]:
        """One call as the simulator saw it (no database read: for database outages)."""
        return run_scenario(self.stack.scenario(scenario), self.server.address, simulator=self.sim,
                            timeout=timeout)

    def handler_end_after_hangup(self, call_uuid: str) -> Optional[float]:
        """Seconds between the caller leg going down and its handler returning."""
        with self.handlers.lock:
            ended = self.handlers.ended.get(call_uuid)
        with self.legs.lock:
            gone = self.legs.gone.get(call_uuid)
        if ended is None or gone is None:
            return None
        return ended - gone[1]

    def wait_handlers_idle(self, timeout: float = 5.0) -> bool:
        return self.server.server.wait_idle(timeout)


@pytest.fixture
def fault_stack(db: Any, config: Any) -> Iterator[FaultStack]:
    with build_fault_stack(db, config) as fs:
        yield fs


@contextmanager
def build_fault_stack(db: Any, config: Any, *, scale: float = SCALE, directory: Any = DIRECTORY,
                      max_call_seconds: float = 900.0) -> Iterator[FaultStack]:
    import_directory(db, parse_directory(load_directory_document(directory)))
    config.server.allow_clock_override = True
    # a PBX that recognises speech (the simulator's default is a stock one: no ASR)
    sim = Simulator(scale=scale, max_call_seconds=max_call_seconds, asr_engines=[config.speech.asr_engine]).start()
    legs = LegWatch()
    sim.switch.on_channel_gone.append(legs)
    handlers = HandlerWatch()
    client: Optional[InboundClient] = None
    server: Optional[CallServer] = None
    try:
        host, port = sim.inbound_address
        client = InboundClient(host, port, sim.password, timeout=5.0).connect()
        services = build_services(config, db=db, switch=Switch(client, timeout=5.0), mode="sim", metrics=False)
        flow = handlers.wrap(call_handler(config, services=services))
        server = CallServer(config, host="127.0.0.1", port=0, flow=flow).start()
        config.server.agent_socket_address = "{}:{}".format(*server.address)
        yield FaultStack(Stack(sim, server, db, config), sim, server, client, handlers, legs, db, config)
    finally:
        if server is not None:
            server.stop(5.0)
        if client is not None:
            client.close()
        sim.stop()


# --------------------------------------------------------------------------- faults at a step


class SlotHooks:
    """``hooks[slot] = fn``: ``fn()`` runs (in a worker thread, bounded) the first time
    the IVR listens for ``slot``, before the simulated caller answers."""

    def __init__(self) -> None:
        self.hooks: dict[str, Callable[[], None]] = {}
        self.fired: list[str] = []
        self.errors: list[str] = []

    def __setitem__(self, slot: str, fn: Callable[[], None]) -> None:
        self.hooks[slot] = fn


@pytest.fixture
def on_slot(monkeypatch: pytest.MonkeyPatch) -> SlotHooks:
    hooks = SlotHooks()
    original = CallerActor.on_listen

    async def on_listen(self: CallerActor, channel: Any, kind: str, prompt: str) -> Any:
        slot = channel.get_var("voiceai_slot") or ""
        fn = hooks.hooks.pop(slot, None)
        if fn is not None:
            hooks.fired.append(slot)
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(None, fn), 90.0)
            except Exception as exc:  # reported by the test through hooks.errors
                hooks.errors.append(f"{slot}: {type(exc).__name__}: {exc}")
        return await original(self, channel, kind, prompt)

    monkeypatch.setattr(CallerActor, "on_listen", on_listen)
    return hooks


# --------------------------------------------------------------------------- assertions


def handler_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records that mean something escaped a flow or the server's handler."""
    bad = []
    for rec in caplog.records:
        if not rec.name.startswith("voiceai_ivr"):
            continue
        if rec.levelno >= logging.ERROR or rec.exc_info:
            bad.append(f"{rec.name}: {rec.getMessage()[:200]}")
    return bad


def assert_clean_end(fs: FaultStack, result: dict[str, Any], ledger: Ledger, caplog: pytest.LogCaptureFixture,
                     *, within: float = 1.0, allow_errors: bool = False, failed_calls_allowed: int = 0) -> None:
    """The call ended properly: every leg down, the handler returned within ``within``
    seconds of the caller's hangup, nothing escaped, a closed call-log row."""
    call_uuid = result["call_uuid"]
    problems = []
    if result["legs_left_up"] or result["live_legs"]:
        problems.append(f"legs left up: {result['live_legs']}")
    if fs.sim.live_legs():
        problems.append(f"simulator still has live legs: {fs.sim.live_legs()}")
    if not fs.wait_handlers_idle(5.0):
        problems.append("handler still running 5 s after the call")
    delay = fs.handler_end_after_hangup(call_uuid)
    if delay is None:
        problems.append("no handler end or no hangup recorded")
    elif delay > within:
        problems.append(f"handler ended {delay:.2f}s after the hangup (limit {within}s)")
    if fs.handlers.escaped:
        problems.append(f"escaped the handler: {fs.handlers.escaped}")
    if fs.server.server.calls_failed > failed_calls_allowed:
        problems.append(f"server counted {fs.server.server.calls_failed} failed calls")
    if not allow_errors:
        errs = handler_errors(caplog)
        if errs:
            problems.append(f"error logs: {errs[:3]}")
    rows = fs.stack.query("SELECT outcome, ended_at FROM calls WHERE call_uuid = %s", (call_uuid,))
    if not rows or rows[0]["ended_at"] is None:
        problems.append(f"call log row missing or not closed: {rows}")
    ledger.call(call_uuid, "; ".join(problems) if problems else None)
    assert not problems, problems


def scenario(inputs: list[Any], *, caller: str = "+5511998765432", agents: Optional[dict[str, Any]] = None,
             at: str = AT, did: str = "8000") -> dict[str, Any]:
    return {"domain": "demo.local", "did": did, "caller": caller, "at": at, "caller_inputs": inputs,
            "agents": agents or {}}


def ivr_text(result: dict[str, Any]) -> str:
    return " | ".join(str(e.get("text", "")) for e in result["transcript"] if e.get("from") == "ivr")


def slots(result: dict[str, Any]) -> list[str]:
    """The caller's turns (an agent leg's announcement is recorded with ``leg``)."""
    return [e["slot"] for e in result["transcript"] if e.get("from") == "ivr" and e.get("slot") and not e.get("leg")]
