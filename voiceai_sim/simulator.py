"""The runner: a simulated FreeSWITCH on its own event loop thread, with a
blocking API for tests, ``voiceai-ivr simulate``, the demo and the benchmarks.

```python
with Simulator(scale=0.05, agents={"1001": {"behavior": "answer"}}) as sim:
    esl_host, esl_port = sim.inbound_address      # point the app's inbound ESL client here
    result = sim.place_call(scenario, ("127.0.0.1", outbound_port))
    assert result.legs_left_up == 0
```
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

from voiceai_ivr.errors import ValidationError
from voiceai_sim.actors import DEFAULT_EXTRA_LISTENS, CallerActor
from voiceai_sim.channel import CallerProfile, SimChannel
from voiceai_sim.clock import SimClock
from voiceai_sim.engine import Directory, Modules, SimSwitch
from voiceai_sim.events import new_uuid
from voiceai_sim.inbound import InboundServer
from voiceai_sim.outbound import dial_socket
from voiceai_sim.record import CallRecord
from voiceai_sim.result import CallResult, build_result
from voiceai_sim.scenario import (
    EndpointBehavior,
    Scenario,
    check_expect,
    load_scenario,
    parse_asr_engines,
    parse_asr_format,
    parse_endpoints,
    parse_scenario,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
ScenarioLike = Union[Scenario, Mapping[str, Any]]
Address = tuple[str, int]

SOCKET_GRACE = 2.0  # real seconds a handler has, after the hangup, to send ``exit``
LEG_GRACE = 1.0  # real seconds agent legs have to go down after the call ended


def _endpoints(value: Optional[Mapping[str, Any]], where: str) -> dict[str, EndpointBehavior]:
    if not value:
        return {}
    if all(isinstance(v, EndpointBehavior) for v in value.values()):
        return dict(value)
    return parse_endpoints(value, where)


class Simulator:
    """A FreeSWITCH stand-in. Use as a context manager, or ``start()``/``stop()``.

    ``scale`` is real seconds per simulated second (0.05: twenty times faster;
    1.0: real time). ``agents``/``customers`` are endpoints every call can
    dial (a scenario's own ``agents`` take precedence for its call).
    ``gateways`` (name -> up) restricts which gateways exist; None: all do.
    ``asr_engines`` are the speech-recognition engines loaded (none by default,
    as on a stock FreeSWITCH or FusionPBX: ``play_and_detect_speech`` answers
    ``ASR INIT ERROR``), ``asr_format`` what they return (``json`` as mod_test,
    ``nlsml`` as mod_unimrcp), ``tts_engines`` the TTS engines ``show interfaces``
    lists.
    """

    def __init__(
        self,
        *,
        scale: float = 0.05,
        agents: Optional[Mapping[str, Any]] = None,
        customers: Optional[Mapping[str, Any]] = None,
        gateways: Optional[Mapping[str, bool]] = None,
        domain: str = "demo.local",
        inbound_host: str = "127.0.0.1",
        inbound_port: int = 0,
        password: str = "ClueCon",  # noqa: S107 - FreeSWITCH's well-known default, for a local stand-in
        extra_listens: int = DEFAULT_EXTRA_LISTENS,
        max_call_seconds: float = 900.0,
        hostname: str = "sim",
        asr_engines: Sequence[str] = (),
        asr_format: str = "json",
        tts_engines: Sequence[str] = ("flite",),
    ) -> None:
        self.clock = SimClock(scale)
        self.directory = Directory(
            agents=_endpoints(agents, "agents"),
            customers=_endpoints(customers, "customers"),
            gateways=dict(gateways) if gateways is not None else None,
            domain=domain,
        )
        self.modules = Modules(
            asr_engines=parse_asr_engines(list(asr_engines)),
            asr_format=parse_asr_format(asr_format),
            tts_engines=parse_asr_engines(list(tts_engines), "tts_engines"),
        )
        self.password = password
        self.extra_listens = extra_listens
        self.max_call_seconds = max_call_seconds
        self._hostname = hostname
        self._inbound_host = inbound_host
        self._inbound_port = inbound_port
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._switch: Optional[SimSwitch] = None
        self._inbound: Optional[InboundServer] = None
        self._address: Optional[Address] = None
        self._start_error: Optional[BaseException] = None
        self.calls_placed = 0
        self.calls_finished = 0

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> Simulator:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run_loop, name="voiceai-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("simulator did not start in time")
        if self._start_error is not None:
            raise RuntimeError(f"simulator failed to start: {self._start_error}") from self._start_error
        return self

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _startup(self) -> None:
        self._switch = SimSwitch(self.clock, directory=self.directory, modules=self.modules, hostname=self._hostname)
        self._switch.on_channel_gone.append(self._leg_gone)
        self._inbound = InboundServer(
            self._switch, host=self._inbound_host, port=self._inbound_port, password=self.password
        )
        self._address = await self._inbound.start()

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
            except Exception:
                log.exception("simulator shutdown")
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        self._thread = None
        self._loop = None

    async def _shutdown(self) -> None:
        switch = self.switch
        if self._inbound is not None:
            await self._inbound.stop()
        for ch in list(switch.channels.values()):
            ch.hangup("MANAGER_REQUEST", by="switch")
        await asyncio.sleep(0.05)
        for session in list(switch.sessions):
            session._finish("simulator_stop", notice=False)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    # ------------------------------------------------------------------ helpers

    @property
    def switch(self) -> SimSwitch:
        if self._switch is None:
            raise RuntimeError("simulator not started")
        return self._switch

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("simulator not started")
        return self._loop

    @property
    def inbound_address(self) -> Address:
        """(host, port) of the inbound Event Socket (password: ``self.password``)."""
        if self._address is None:
            raise RuntimeError("simulator not started")
        return self._address

    def call_soon(self, coro: Awaitable[T], timeout: Optional[float] = 30.0) -> T:
        """Run a coroutine on the simulator's loop and wait (bounded) for its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def _leg_gone(self, ch: SimChannel) -> None:
        call = ch.call
        if call is None:
            return
        for entry in call.originates:
            if entry.leg_uuid == ch.uuid:
                entry.leg_hangup_cause = ch.hangup_cause
                entry.ended = call.now()

    def set_endpoints(
        self,
        *,
        agents: Optional[Mapping[str, Any]] = None,
        customers: Optional[Mapping[str, Any]] = None,
        gateways: Optional[Mapping[str, bool]] = None,
    ) -> None:
        """Replace the simulator-wide endpoints (dispatcher tests change them between runs)."""
        parsed_agents = _endpoints(agents, "agents") if agents is not None else None
        parsed_customers = _endpoints(customers, "customers") if customers is not None else None

        async def apply() -> None:
            if parsed_agents is not None:
                self.directory.agents = parsed_agents
            if parsed_customers is not None:
                self.directory.customers = parsed_customers
            if gateways is not None:
                self.directory.gateways = dict(gateways)

        self.call_soon(apply(), 5.0)

    # ------------------------------------------------------------------ calls

    def place_call(
        self, scenario: ScenarioLike, server_address: Address, *, timeout: Optional[float] = None
    ) -> CallResult:
        """Dial one scripted call into the outbound server at ``server_address`` and
        wait for it to end (bounded). Thread-safe."""
        sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
        bound = timeout if timeout is not None else self.clock.real(self.max_call_seconds) + 30.0
        return self.call_soon(self.place_call_async(sc, server_address), bound + 5.0)

    def place_calls(
        self,
        scenarios: Sequence[ScenarioLike],
        server_address: Address,
        *,
        concurrency: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> list[CallResult]:
        """Many calls at once (``concurrency`` at a time; default all)."""
        parsed = [s if isinstance(s, Scenario) else parse_scenario(s) for s in scenarios]
        limit = concurrency or max(1, len(parsed))

        async def run_all() -> list[CallResult]:
            gate = asyncio.Semaphore(limit)

            async def one(sc: Scenario) -> CallResult:
                async with gate:
                    return await self.place_call_async(sc, server_address)

            return list(await asyncio.gather(*(one(sc) for sc in parsed)))

        bound = timeout if timeout is not None else self.clock.real(self.max_call_seconds) * 2 + 60.0
        return self.call_soon(run_all(), bound)

    async def place_call_async(self, sc: Scenario, server_address: Address) -> CallResult:
        """The coroutine behind ``place_call`` (for use on the simulator's loop)."""
        switch = self.switch
        self.calls_placed += 1
        call_uuid = new_uuid()
        call = CallRecord(
            call_uuid=call_uuid,
            scale=self.clock.scale,
            origin=sc.at,
            agents=dict(sc.agents),
            customers=dict(sc.customers),
            asr_engines=sc.asr_engines,
            asr_format=sc.asr_format or "",
        )
        call.finished = asyncio.Event()
        switch.register_call(call)
        caller = self._caller_channel(sc, call)
        actor = caller.actor
        host, port = server_address
        try:
            connected = await dial_socket(switch, caller, f"{host}:{port} async full")
            if not connected:
                call.socket_end = "connect_failed"
                call.errors.append(f"cannot connect to the outbound server at {host}:{port}")
                caller.hangup("NORMAL_CLEARING", by="switch")
            elif isinstance(actor, CallerActor):
                actor.start(caller)
            if not await caller.wait_gone(self.clock.real(self.max_call_seconds) + 5.0):
                call.errors.append(f"call still up after {self.max_call_seconds:g} simulated seconds: hung up")
                caller.hangup("ALLOTTED_TIMEOUT", by="switch")
                await caller.wait_gone(5.0)
            call.ended_mono = time.monotonic()
            call.hangup_cause = caller.hangup_cause
            call.hangup_by = caller.hangup_by
            link = caller.socket
            if link is not None:
                try:
                    await asyncio.wait_for(link.session.closed.wait(), SOCKET_GRACE)
                except asyncio.TimeoutError:
                    call.socket_end = "open"
                    call.errors.append(
                        f"outbound socket still open {SOCKET_GRACE:g}s after the hangup (no 'exit' after linger)"
                    )
                else:
                    call.socket_end = link.session.end_reason
            await self._wait_legs(call)
            live = [self._leg_json(ch) for ch in switch.live_legs(call)]
            return build_result(call, caller.uuid, live)
        finally:
            switch.finish_call(call)
            self.calls_finished += 1
            call.finished.set()

    async def _wait_legs(self, call: CallRecord) -> None:
        deadline = asyncio.get_running_loop().time() + LEG_GRACE
        for ch in self.switch.live_legs(call):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await ch.wait_gone(remaining)

    @staticmethod
    def _leg_json(ch: SimChannel) -> dict[str, Any]:
        return {
            "uuid": ch.uuid,
            "role": ch.role,
            "target": ch.target,
            "name": ch.name,
            "answered": ch.answered,
            "bridged": ch.bridge is not None,
        }

    def _caller_channel(self, sc: Scenario, call: CallRecord) -> SimChannel:
        number = "anonymous" if sc.anonymous else sc.caller
        name_text = sc.caller_name or ("Anonymous" if sc.anonymous else sc.caller)
        user = number.lstrip("+") if not sc.anonymous else "anonymous"
        profile = CallerProfile(
            caller_id_name=name_text,
            caller_id_number=number,
            destination_number=sc.did,
            context="public",
            username=user,
            callee_id_name="",
            callee_id_number="",
        )
        variables: dict[str, str] = {
            "sip_from_user": user,
            "sip_from_host": sc.domain,
            "sip_to_user": sc.did,
            "sip_to_host": sc.domain,
            "sip_req_user": sc.did,
            "sip_req_host": sc.domain,
            "domain_name": sc.domain,
            "caller_id_number": number,
            "caller_id_name": name_text,
            "destination_number": sc.did,
            "read_codec": "PCMU",
            "read_rate": "8000",
            "write_codec": "PCMU",
            "write_rate": "8000",
        }
        if sc.anonymous:
            variables["privacy"] = "yes"
        if sc.at is not None:
            variables["voiceai_clock"] = sc.at.isoformat()
        if sc.language:
            variables["voiceai_language"] = sc.language
        variables.update(sc.variables)
        actor = CallerActor(sc.caller_inputs, extra_listens=self.extra_listens)
        ch = self.switch.new_channel(
            name=f"sofia/internal/{user}@{sc.domain}",
            direction="inbound",
            profile=profile,
            variables=variables,
            role="caller",
            call=call,
            origin=sc.at,
            uuid=call.call_uuid,
            actor=actor,
        )
        return ch

    # ------------------------------------------------------------------ reporting

    def stats(self) -> dict[str, Any]:
        """Counters: channels up and peak, calls, originates per endpoint, events,
        events dropped for slow readers (``lost_events``), open sockets."""

        async def collect() -> dict[str, Any]:
            sw = self.switch
            return {
                "channels_up": len(sw.channels),
                "peak_channels": sw.peak_channels,
                "calls_placed": self.calls_placed,
                "calls_finished": self.calls_finished,
                "calls_active": len(sw.active_calls),
                "originates": sw.stats["originates"],
                "originate_counts": dict(sw.originate_counts),
                "events": sw.stats["events"],
                "lost_events": sw.stats["lost_events"],
                "inbound_connections": sw.stats["inbound_connections"],
                "open_sockets": len(sw.sessions),
                "api": {k[4:]: v for k, v in sw.stats.items() if k.startswith("api:")},
            }

        return self.call_soon(collect(), 10.0)

    def originate_counts(self) -> dict[str, int]:
        """How many times each endpoint (extension, group, number) was dialled."""
        return dict(self.stats()["originate_counts"])

    def live_legs(self) -> list[dict[str, Any]]:
        async def collect() -> list[dict[str, Any]]:
            return [self._leg_json(ch) for ch in self.switch.live_legs()]

        return self.call_soon(collect(), 10.0)

    def hangup_all(self, cause: str = "MANAGER_REQUEST") -> None:
        async def run() -> None:
            for ch in list(self.switch.channels.values()):
                ch.hangup(cause, by="switch")

        self.call_soon(run(), 10.0)


def speech_settings(sc: Scenario) -> dict[str, Any]:
    """``Simulator`` arguments for a switch loaded as the scenario says
    (``asr_engines``, ``asr_format``); empty when it says nothing."""
    settings: dict[str, Any] = {}
    if sc.asr_engines is not None:
        settings["asr_engines"] = sc.asr_engines
    if sc.asr_format is not None:
        settings["asr_format"] = sc.asr_format
    return settings


def run_scenario(
    scenario: Union[ScenarioLike, str],
    server_address: Address,
    *,
    simulator: Optional[Simulator] = None,
    scale: float = 0.05,
    enrich: Optional[Callable[[CallResult], None]] = None,
    timeout: Optional[float] = None,
) -> dict[str, Any]:
    """Run one scenario and return the ``--json`` object. ``scenario`` may be a
    path, a mapping or a ``Scenario``. With no ``simulator`` one is started (its
    inbound ESL address is then unknown to the app: pass a started simulator
    whenever the app needs the inbound side). ``enrich`` may replace
    outcome/transfers/callback from the database."""
    if isinstance(scenario, str):
        sc = load_scenario(scenario)
    elif isinstance(scenario, Scenario):
        sc = scenario
    else:
        sc = parse_scenario(scenario)
    own = simulator is None
    sim = simulator or Simulator(scale=scale, **speech_settings(sc)).start()
    try:
        result = sim.place_call(sc, server_address, timeout=timeout)
    finally:
        if own:
            sim.stop()
    if enrich is not None:
        enrich(result)
    data = result.to_json()
    problems = check_expect(sc, data) if sc.expect else []
    if sc.expect:
        data["expect_failures"] = problems
    return data


__all__ = ["Address", "CallResult", "Simulator", "ValidationError", "run_scenario", "speech_settings"]
