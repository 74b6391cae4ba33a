"""The simulated switch: channels, event delivery, originate, bridges, the
endpoint directory (scripted agents and customers) and counters.

Everything here runs on one asyncio loop; ``Simulator`` (``voiceai_sim.simulator``)
owns that loop in a thread and offers the blocking API.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, Protocol

from voiceai_sim import apps
from voiceai_sim.actors import EndpointActor
from voiceai_sim.args import Endpoint, Originate
from voiceai_sim.channel import AppRun, Bridge, CallerProfile, SimChannel
from voiceai_sim.clock import SimClock
from voiceai_sim.events import CoreIdentity, Pairs, background_job_pairs, epoch_us, new_uuid
from voiceai_sim.outbound import OutboundSession, dial_socket
from voiceai_sim.record import CallRecord, OriginateLog
from voiceai_sim.scenario import EndpointBehavior

log = logging.getLogger(__name__)

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RING_BEFORE_FAIL = 0.02  # simulated seconds before a busy/rejecting phone's answer (486/603 at once)


class EventSink(Protocol):
    """An ESL connection that may receive events."""

    def wants(self, name: str, channel_uuid: Optional[str], job_owner: Optional[str]) -> bool: ...

    def send_event(self, name: str, pairs: Pairs, body: str) -> None: ...


@dataclass
class Directory:
    """Scripted endpoints known to the whole simulator (scenario agents are added per call)."""

    agents: dict[str, EndpointBehavior] = field(default_factory=dict)
    customers: dict[str, EndpointBehavior] = field(default_factory=dict)
    gateways: Optional[dict[str, bool]] = None  # name -> up; None: every gateway exists and is up
    domain: str = "demo.local"


@dataclass
class Modules:
    """Speech modules the simulated switch has loaded (``show interfaces``).

    ``asr_engines``: engines ``play_and_detect_speech`` / ``detect:ENGINE`` can open
    (none, as on a stock FreeSWITCH or FusionPBX); ``asr_format``: what they hand
    back in ``detect_speech_result`` (``json`` as mod_test, ``nlsml`` as
    mod_unimrcp); ``tts_engines``: ``speech`` interfaces listed."""

    asr_engines: tuple[str, ...] = ()
    asr_format: str = "json"
    tts_engines: tuple[str, ...] = ("flite",)


@dataclass
class RingOutcome:
    ok: bool
    cause: str = ""
    channel: Optional[SimChannel] = None


class SimSwitch:
    """The FreeSWITCH stand-in's core."""

    def __init__(
        self,
        clock: SimClock,
        *,
        directory: Optional[Directory] = None,
        modules: Optional[Modules] = None,
        hostname: str = "sim",
        max_write_buffer: int = 16 * 1024 * 1024,
    ) -> None:
        self.clock = clock
        self.core = CoreIdentity(core_uuid=new_uuid(), hostname=hostname)
        self.directory = directory or Directory()
        self.modules = modules or Modules()
        self.channels: dict[str, SimChannel] = {}
        self.sinks: list[EventSink] = []
        self.calls: dict[str, CallRecord] = {}
        self.active_calls: dict[str, CallRecord] = {}
        self._sequence = 0
        self.max_write_buffer = max_write_buffer
        self.originate_counts: Counter[str] = Counter()
        self.originates: list[OriginateLog] = []
        self.stats: Counter[str] = Counter()
        self.sessions: set[OutboundSession] = set()
        self.started_at = clock.wall()
        self.started_mono = time.monotonic()
        self.sessions_since_start = 0
        self.peak_channels = 0
        self.on_channel_gone: list[Callable[[SimChannel], None]] = []
        self.jobs: set[asyncio.Task[Any]] = set()
        # sched_transfer tasks by group (the leg's uuid), as mod_commands keeps them
        self.scheduled: dict[str, list[asyncio.TimerHandle]] = {}

    def spawn_job(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)
        return task

    # ------------------------------------------------------------------ events

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def add_sink(self, sink: EventSink) -> None:
        if sink not in self.sinks:
            self.sinks.append(sink)

    def remove_sink(self, sink: EventSink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def dispatch(self, name: str, channel: Optional[SimChannel], build: Callable[[], Pairs], body: str = "") -> None:
        uuid = channel.uuid if channel is not None else None
        targets: list[EventSink] = []
        link = channel.socket if channel is not None else None
        if link is not None and link.session.wants(name, uuid, None):
            targets.append(link.session)
        for sink in self.sinks:
            if (link is None or sink is not link.session) and sink.wants(name, uuid, None):
                targets.append(sink)
        self.stats["events"] += 1
        if not targets:
            return
        pairs = build()
        for sink in targets:
            sink.send_event(name, pairs, body)

    def fire_background_job(
        self, job_uuid: str, command: str, arg: Optional[str], result: str, owner: Optional[SimChannel]
    ) -> None:
        owner_uuid = owner.uuid if owner is not None else None
        targets: list[EventSink] = [s for s in self.sinks if s.wants("BACKGROUND_JOB", None, owner_uuid)]
        link = owner.socket if owner is not None else None
        if link is not None and link.session not in targets and link.session.wants("BACKGROUND_JOB", None, owner_uuid):
            targets.append(link.session)
        if not targets:
            return
        when = owner.now() if owner is not None else self.clock.wall()
        pairs = background_job_pairs(self.core, when, self.next_sequence(), job_uuid, command, arg, owner_uuid)
        for sink in targets:
            sink.send_event("BACKGROUND_JOB", pairs, result)

    # ------------------------------------------------------------------ channels

    def new_channel(
        self,
        *,
        name: str,
        direction: str,
        profile: CallerProfile,
        variables: Mapping[str, str],
        role: str,
        call: Optional[CallRecord],
        origin: Optional[datetime],
        uuid: Optional[str] = None,
        actor: Any = None,
    ) -> SimChannel:
        uid = uuid or new_uuid()
        base = {
            "direction": direction,
            "uuid": uid,
            "session_id": str(self.sessions_since_start + 1),
            "channel_name": name,
        }
        base.update(variables)
        base.setdefault("call_uuid", uid)
        ch = SimChannel(
            self,
            uuid=uid,
            name=name,
            direction=direction,
            profile=profile,
            variables=base,
            role=role,
            call=call,
            origin=origin,
            actor=actor,
        )
        self.channels[uid] = ch
        self.sessions_since_start += 1
        self.peak_channels = max(self.peak_channels, len(self.channels))
        self.stats["channels_created"] += 1
        ch.fire("CHANNEL_CREATE")
        return ch

    def channel_gone(self, ch: SimChannel) -> None:
        self.channels.pop(ch.uuid, None)
        for callback in list(self.on_channel_gone):
            callback(ch)

    def locate(self, uuid: str) -> Optional[SimChannel]:
        ch = self.channels.get(uuid.strip())
        if ch is None or ch.hungup:
            return None
        return ch

    def apps_known(self, name: str) -> bool:
        return name in apps.APPLICATIONS

    async def run_application(self, ch: SimChannel, run: AppRun) -> None:
        """Run one dialplan application on ``ch`` (``apps``: what mod_dptools would do)."""
        await apps.run_application(ch, run)

    def asr_engines_for(self, ch: SimChannel) -> tuple[str, ...]:
        """Engines a ``detect:ENGINE`` on this leg can open: its call's scenario
        ``asr_engines`` when given, else the switch's."""
        call = ch.call
        if call is not None and call.asr_engines is not None:
            return call.asr_engines
        return self.modules.asr_engines

    def asr_format_for(self, ch: SimChannel) -> str:
        call = ch.call
        if call is not None and call.asr_format:
            return call.asr_format
        return self.modules.asr_format

    # ------------------------------------------------------------------ bridges

    def bridge(self, a: SimChannel, b: SimChannel) -> None:
        """``uuid_bridge A B``: both legs leave what they run (their socket
        application ends) and are joined, with the events of the capture."""
        now_us = epoch_us(a.now())
        a.other, b.other = b, a
        a.bridge_pending = b.bridge_pending = True
        for ch in (a, b):
            ch.stop_hold("bridge")
            ch.flush_queue()
            ch.cancel_lead()
            if ch.running is not None:
                ch.request_break("bridge")

        async def run() -> None:
            try:
                await join()
            finally:
                a.bridge_pending = b.bridge_pending = False

        async def join() -> None:
            for ch in (a, b):
                if ch.running is not None:
                    try:
                        await asyncio.wait_for(ch._idle.wait(), 2.0)
                    except asyncio.TimeoutError:
                        log.warning("sim: application on %s did not stop for the bridge", ch.uuid)
            if a.hungup or b.hungup:
                return
            for ch, other in ((a, b), (b, a)):
                ch.other = other
                ch.set_var("uuid_bridge", other.uuid)
                ch.set_var("bridge_channel", other.name)
                ch.set_var("bridge_uuid", other.uuid)
                ch.set_var("signal_bond", other.uuid)
                ch.end_socket_app()
                ch.set_state("CS_HIBERNATE")
                ch.set_state("CS_RESET")
                ch.set_state("CS_SOFT_EXECUTE")
            bridge = Bridge(a, b, now_us)
            a.bridge = bridge
            b.bridge = bridge
            a.bridged_us = b.bridged_us = now_us
            a.fire("CHANNEL_EXECUTE", tail=[("Application", "uuid_bridge"), ("Application-Data", b.uuid)])
            lead = [("Bridge-A-Unique-ID", a.uuid), ("Bridge-B-Unique-ID", b.uuid)]
            a.fire("CHANNEL_BRIDGE", lead=lead)
            b.fire("CHANNEL_BRIDGE", lead=lead)
            call = a.call or b.call
            if call is not None:
                call.bridges.append((a.uuid, b.uuid))
                for entry in call.originates:
                    if entry.leg_uuid in (a.uuid, b.uuid):
                        entry.bridged = True
                call.say({"from": "switch", "kind": "bridge", "text": f"{a.role} <-> {b.role}"})
            for ch in (a, b):
                if ch.actor is not None:
                    ch.actor.on_event(ch, "bridged")

        a.spawn(run())

    def unbridge(self, gone: SimChannel, peer: SimChannel, *, hung_up: SimChannel) -> None:
        bridge = gone.bridge
        if bridge is None:
            return
        lead = [("Bridge-A-Unique-ID", bridge.a.uuid), ("Bridge-B-Unique-ID", bridge.b.uuid)]
        gone.bridge = None
        peer.bridge = None
        cause = hung_up.hangup_cause or "NORMAL_CLEARING"
        for ch in (peer, gone):
            ch.fire("CHANNEL_UNBRIDGE", lead=lead)
        if peer.hungup:
            return
        peer.set_var("last_bridge_hangup_cause", cause)
        peer.set_var("bridge_hangup_cause", cause)
        peer.set_state("CS_EXECUTE")
        if (peer.get_var("park_after_bridge") or "").lower() in ("true", "yes", "1", "on"):
            peer.park()
            return
        peer.hangup("NORMAL_CLEARING", by="bridge-peer")

    # ------------------------------------------------------------------ directory / attribution

    def attribute(self, command: str, owner: Optional[SimChannel], target: str = "") -> Optional[CallRecord]:
        """Which scripted call an originate belongs to (see docs/simulator.md)."""
        if owner is not None and owner.call is not None:
            return owner.call
        for token in _UUID_RE.findall(command):
            call = self.active_calls.get(token)
            if call is not None:
                return call
            ch = self.channels.get(token)
            if ch is not None and ch.call is not None:
                return ch.call
        if target:
            matching = [c for c in self.active_calls.values() if target in c.agents or target in c.customers]
            if len(matching) == 1:
                return matching[0]
        if len(self.active_calls) == 1:
            return next(iter(self.active_calls.values()))
        return None

    def behavior_for(self, target: str, call: Optional[CallRecord]) -> tuple[Optional[EndpointBehavior], str]:
        keys = [target]
        if target.startswith("+"):
            keys.append(target[1:])
        elif target.isdigit() and len(target) > 8:
            keys.append("+" + target)
        sources: list[tuple[Mapping[str, EndpointBehavior], str]] = []
        if call is not None:
            sources.extend([(call.customers, "customer"), (call.agents, "agent")])
        sources.extend([(self.directory.customers, "customer"), (self.directory.agents, "agent")])
        for mapping, kind in sources:
            for key in keys:
                if key in mapping:
                    return mapping[key], kind
        return None, "other"

    def all_agents(self) -> dict[str, EndpointBehavior]:
        agents = dict(self.directory.agents)
        for call in self.active_calls.values():
            for key, value in call.agents.items():
                agents.setdefault(key, value)
        return agents

    # ------------------------------------------------------------------ originate

    async def originate(self, command_arg: str, spec: Originate, *, owner: Optional[SimChannel], via: str) -> str:
        """Run an originate to its end; returns ``+OK UUID\\n`` or ``-ERR CAUSE\\n``."""
        first_target = _target_of(spec.endpoints[0][0]) if spec.endpoints and spec.endpoints[0] else ""
        call = self.attribute(command_arg, owner, first_target)
        timeout = _int(spec.variables.get("originate_timeout"), spec.timeout or 60)
        entry = OriginateLog(
            command=command_arg,
            dial_string=spec.dial_string,
            targets=[_target_of(ep) for group in spec.endpoints for ep in group],
            kind="other",
            started=call.now() if call is not None else 0.0,
            via=via,
            caller_id_name=spec.variables.get("origination_caller_id_name", ""),
        )
        for target in entry.targets:
            self.originate_counts[target] += 1
        self.originates.append(entry)
        self.stats["originates"] += 1
        if call is not None:
            call.originates.append(entry)
        outcome = RingOutcome(False, "NO_ANSWER")
        first_uuid = spec.variables.get("origination_uuid")
        for group in spec.endpoints:
            outcome = await self._ring_group(group, spec, timeout, call, entry, first_uuid)
            first_uuid = None
            if outcome.ok:
                break
        if outcome.ok and outcome.channel is not None:
            leg = outcome.channel
            started = await self._start_leg_app(leg, spec)
            if not started:
                outcome = RingOutcome(False, "NORMAL_CLEARING")
            else:
                entry.leg_uuid = leg.uuid
                entry.answered = True
                entry.result = f"+OK {leg.uuid}\n"
                return entry.result
        entry.cause = outcome.cause
        entry.result = f"-ERR {outcome.cause}\n"
        entry.ended = call.now() if call is not None else None
        return entry.result

    async def _ring_group(
        self,
        group: list[Endpoint],
        spec: Originate,
        timeout: int,
        call: Optional[CallRecord],
        entry: OriginateLog,
        first_uuid: Optional[str],
    ) -> RingOutcome:
        tasks = []
        for i, endpoint in enumerate(group):
            uuid = first_uuid if (i == 0 and first_uuid) else None
            tasks.append(asyncio.ensure_future(self._ring_one(endpoint, spec, timeout, call, entry, uuid)))
        winner: Optional[RingOutcome] = None
        failures: list[RingOutcome] = []
        pending = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    result = task.result()
                    if result.ok and winner is None:
                        winner = result
                    elif result.ok and result.channel is not None:
                        result.channel.hangup("LOSE_RACE", by="switch")
                    else:
                        failures.append(result)
                if winner is not None:
                    break
        finally:
            for task in pending:
                task.cancel()
        if winner is not None:
            return winner
        causes = [f.cause for f in failures if f.cause]
        return RingOutcome(False, causes[0] if causes else "NO_ANSWER")

    async def _ring_one(
        self,
        endpoint: Endpoint,
        spec: Originate,
        timeout: int,
        call: Optional[CallRecord],
        entry: OriginateLog,
        uuid: Optional[str],
    ) -> RingOutcome:
        if endpoint.kind == "error":
            return RingOutcome(False, endpoint.target.upper() or "NORMAL_CLEARING")
        target = _target_of(endpoint)
        behavior, kind = self.behavior_for(target, call)
        if kind != "other":
            entry.kind = kind
        unknown_cause = _unknown_cause(endpoint, self.directory)
        if endpoint.kind == "gateway" and self.directory.gateways is not None:
            up = self.directory.gateways.get(endpoint.gateway)
            if up is None:
                return RingOutcome(False, "INVALID_NUMBER_FORMAT")
            if not up:
                return RingOutcome(False, "GATEWAY_DOWN")
        if behavior is None:
            return RingOutcome(False, unknown_cause)
        b = behavior.behavior
        immediate = {
            "offline": "USER_NOT_REGISTERED",
            "invalid": "UNALLOCATED_NUMBER",
            "gateway_down": "GATEWAY_DOWN",
        }
        if b in immediate:
            if call is not None:
                call.say({"from": kind, "kind": "unreachable", "text": target, "leg": kind, "target": target})
            return RingOutcome(False, immediate[b])
        if endpoint.kind == "user" and not behavior.is_registered:
            return RingOutcome(False, "USER_NOT_REGISTERED")
        leg = self._new_leg(endpoint, spec, target, kind, behavior, call, uuid)
        if call is not None:
            call.leg_uuids.append(leg.uuid)
            call.say({"from": kind, "kind": "ring", "text": target, "leg": kind, "target": target})
        ring_for = {
            "busy": RING_BEFORE_FAIL,
            "dnd": RING_BEFORE_FAIL,
            "reject": RING_BEFORE_FAIL,
            "no_answer": float(timeout),
        }.get(b, behavior.answer_after)
        fail_cause = {"busy": "USER_BUSY", "dnd": "USER_BUSY", "reject": "CALL_REJECTED"}.get(b, "NO_ANSWER")
        if ring_for >= timeout:
            ring_for, fail_cause = float(timeout), "NO_ANSWER"
        elif b == "answer":
            fail_cause = ""
        why = await leg.pause(ring_for)
        if why == "hangup" or leg.hungup:
            # killed while ringing (uuid_kill): the originate fails with that cause
            return RingOutcome(False, leg.hangup_cause or "ORIGINATOR_CANCEL")
        if fail_cause:
            leg.hangup(fail_cause, by=kind)
            return RingOutcome(False, fail_cause)
        leg.mark_answered()
        if call is not None:
            call.say({"from": kind, "kind": "answer", "text": target, "leg": kind, "target": target})
        if leg.actor is not None:
            leg.actor.on_event(leg, "answered")
        return RingOutcome(True, "", leg)

    def _new_leg(
        self,
        endpoint: Endpoint,
        spec: Originate,
        target: str,
        kind: str,
        behavior: EndpointBehavior,
        call: Optional[CallRecord],
        uuid: Optional[str],
    ) -> SimChannel:
        variables = dict(spec.variables)
        variables.update(endpoint.variables)
        variables.pop("origination_uuid", None)
        domain = endpoint.domain or self.directory.domain
        if endpoint.kind == "user":
            name = f"sofia/internal/{target}@{domain}"
        elif endpoint.kind == "loopback":
            name = f"loopback/{target}-a"
        elif endpoint.kind == "gateway":
            name = f"sofia/gateway/{endpoint.gateway}/{target}"
        else:
            name = endpoint.raw
        cid_num = variables.get("origination_caller_id_number") or spec.cid_num or "0000000000"
        cid_name = variables.get("origination_caller_id_name") or spec.cid_name or "Outbound Call"
        profile = CallerProfile(
            caller_id_name=cid_name,
            caller_id_number=cid_num,
            destination_number=target,
            context=spec.context or "default",
            source="mod_sofia" if endpoint.kind != "loopback" else "mod_loopback",
            callee_id_name=behavior.name or target,
            callee_id_number=target,
        )
        variables.setdefault("originate_timeout", str(_int(spec.variables.get("originate_timeout"), 60)))
        variables["dialed_user"] = target
        variables["dialed_domain"] = domain
        origin = call.origin if call is not None else None
        actor = EndpointActor(behavior, kind, target)
        leg = self.new_channel(
            name=name,
            direction="outbound",
            profile=profile,
            variables=variables,
            role=kind if kind != "other" else "agent",
            call=call,
            origin=origin,
            uuid=uuid,
            actor=actor,
        )
        leg.target = target
        return leg

    async def _start_leg_app(self, leg: SimChannel, spec: Originate) -> bool:
        """After answer: run the originate's application on the new leg."""
        app = spec.app or "park"
        if app == "socket":
            ok = await dial_socket(self, leg, spec.app_arg)
            if not ok:
                leg.hangup("NORMAL_CLEARING", by="switch")
                return False
            return True
        if app == "park" or not self.apps_known(app) or app in ("bridge", "transfer"):
            leg.park()
            return True
        leg.enqueue(AppRun(app, spec.app_arg, app_uuid=new_uuid(), internal=True))
        return True

    # ------------------------------------------------------------------ calls

    def register_call(self, call: CallRecord) -> None:
        self.calls[call.call_uuid] = call
        self.active_calls[call.call_uuid] = call

    def finish_call(self, call: CallRecord) -> None:
        self.active_calls.pop(call.call_uuid, None)

    def live_legs(self, call: Optional[CallRecord] = None) -> list[SimChannel]:
        """Agent/customer legs still up (of one call, or all)."""
        legs = []
        for ch in self.channels.values():
            if ch.hungup or ch.role == "caller":
                continue
            if call is None or ch.call is call:
                legs.append(ch)
        return legs


def _int(value: Optional[str], default: int) -> int:
    try:
        return int(str(value).strip()) if value not in (None, "") else default
    except ValueError:
        return default


def _target_of(endpoint: Endpoint) -> str:
    return endpoint.target


def _unknown_cause(endpoint: Endpoint, directory: Directory) -> str:
    if endpoint.kind == "user":
        return "SUBSCRIBER_ABSENT"
    if endpoint.kind == "loopback":
        return "NO_ROUTE_DESTINATION"
    if endpoint.kind == "gateway":
        return "UNALLOCATED_NUMBER"
    if endpoint.kind == "sofia":
        return "NORMAL_TEMPORARY_FAILURE"
    return "DESTINATION_OUT_OF_ORDER"
