"""Benchmark-only: the simulator (voiceai_sim) in its own process, driven by
JSON lines on stdin, answering JSON lines on stdout.

    python benchmarks/_sim_process.py --scale 1.0
    -> {"ready": true, "inbound": [host, port], "pid": N}
    <- {"op": "load", "server": [host, port], "scenario": {...}, "count": N, "rate": R,
        "expect": "transferred" | "first_prompt", "timeout": S, "concurrency": C}
       (``concurrency``: closed loop, C calls in flight until N were placed; else
       open loop, N calls started at R per second)
    -> {"ok": .., "failed": .., "failures": [...], "latency_ms": {...}, ...}
    <- {"op": "quit"}

Latency probe (the "time the handler adds per ESL command"): on every outbound
socket the simulator remembers when it last WROTE a frame a handler waits on
(a command/reply, an api/response, a CHANNEL_EXECUTE_COMPLETE, a DTMF,
DETECTED_SPEECH or BACKGROUND_JOB event). When the next command arrives on that
socket, and that frame was written after the previous command arrived (the
handler was waiting, not pipelining), the sample is ``arrival - write``. A
command that arrives while music on hold plays on that leg ends a wait for the
agent, not for this side: it is kept apart (``on_hold_ms``). The simulator's own
event-loop lag is measured alongside (a 10 ms ticker) because it inflates every
sample taken on this side of the socket.

Only this process patches the simulator (two methods, wrapped, behaviour unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import re
import resource
import sys
import time
from typing import Any, Optional

from voiceai_sim import outbound as sim_outbound
from voiceai_sim.engine import SimSwitch
from voiceai_sim.scenario import parse_scenario
from voiceai_sim.session import ConnectionBase
from voiceai_sim.simulator import Simulator
from voiceai_sim.wire import Frame

_AWAITED = re.compile(
    rb"command/reply|api/response|CHANNEL_EXECUTE_COMPLETE|Event-Name: DTMF|DETECTED_SPEECH|BACKGROUND_JOB"
)


class Probe:
    """Per-command latency samples, collected on the simulator's loop thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.by_command: dict[str, list[float]] = {}
        self.on_hold: list[float] = []
        self.enabled = False

    def reset(self) -> None:
        self.samples = []
        self.by_command = {}
        self.on_hold = []


PROBE = Probe()
BRIDGE_REQUESTED: set[str] = set()  # call uuids the application asked to bridge (uuid_bridge)
SIM_RACE = "simulator bridge race"


def _command_name(frame: Frame) -> str:
    line = frame.first_line.strip()
    word = line.split(" ", 1)[0].lower()
    if word == "sendmsg":
        app = frame.get("execute-app-name")
        return f"execute {app}" if app else f"sendmsg {frame.get('call-command') or ''}".strip()
    if word in ("api", "bgapi"):
        parts = line.split(" ", 2)
        return f"{word} {parts[1] if len(parts) > 1 else ''}"
    return word


def install_probe() -> None:
    original_write = ConnectionBase.write
    original_handle = sim_outbound.OutboundSession.handle

    def write(self: ConnectionBase, data: bytes) -> bool:
        ok = original_write(self, data)
        if ok and PROBE.enabled and isinstance(self, sim_outbound.OutboundSession):
            if _AWAITED.search(data, 0, 400):
                self._bench_sent = time.perf_counter()  # type: ignore[attr-defined]
        return ok

    async def handle(self: sim_outbound.OutboundSession, frame: Frame) -> None:
        if PROBE.enabled:
            now = time.perf_counter()
            sent: Optional[float] = getattr(self, "_bench_sent", None)
            last_cmd: float = getattr(self, "_bench_cmd", 0.0)
            if sent is not None and sent > last_cmd:
                delta = now - sent
                if self.channel.hold is not None:
                    # Music on hold plays on this leg: the handler was waiting for the
                    # agent (ring, announcement), not for this simulator; the caller
                    # hears music, not dead air. Kept apart, out of the samples.
                    PROBE.on_hold.append(delta)
                else:
                    PROBE.samples.append(delta)
                    PROBE.by_command.setdefault(_command_name(frame), []).append(delta)
            self._bench_cmd = now  # type: ignore[attr-defined]
        await original_handle(self, frame)

    original_bridge = SimSwitch.bridge

    def bridge(self: SimSwitch, a: Any, b: Any) -> None:
        for ch in (a, b):
            if ch.call is not None:
                BRIDGE_REQUESTED.add(ch.call.call_uuid)
        original_bridge(self, a, b)

    SimSwitch.bridge = bridge  # type: ignore[method-assign]
    ConnectionBase.write = write  # type: ignore[method-assign]
    sim_outbound.OutboundSession.handle = handle  # type: ignore[method-assign]


def pct(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50) * 1000, 3),  # type: ignore[operator]
        "p99": round(pct(values, 99) * 1000, 3),  # type: ignore[operator]
        "max": round(max(values) * 1000, 3),
    }


def _first_prompt_s(result: Any, scale: float) -> Optional[float]:
    """Real seconds from the dial to the first thing the IVR says."""
    for entry in result.transcript:
        if entry.get("from") == "ivr":
            return float(entry.get("t", 0.0)) * scale
    return None


def judge(result: Any, expect: str) -> Optional[str]:
    """None when the call went as the load expects, else why it failed."""
    if isinstance(result, BaseException):
        return f"exception: {type(result).__name__}: {result}"
    if result.errors:
        return "sim errors: " + "; ".join(result.errors)[:300]
    if result.legs_left_up:
        return f"{result.legs_left_up} legs left up"
    if result.socket_end != "exit":
        return f"socket ended by {result.socket_end!r} (handler did not send exit)"
    if expect == "first_prompt":
        if not any(e.get("from") == "ivr" and e.get("slot") for e in result.transcript):
            return "never reached the first prompt"
        return None
    if expect and result.outcome != expect:
        if expect == "transferred" and result.call_uuid in BRIDGE_REQUESTED:
            # uuid_bridge answered +OK, then the handler's ``exit`` reached the simulator before
            # its asynchronous bridge finished, and the simulator hung the caller up (README).
            return f"{SIM_RACE}: bridge requested, caller hung up by the simulator on 'exit'"
        return f"outcome {result.outcome!r}, wanted {expect!r}"
    return None


async def run_load(sim: Simulator, spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    scenario = parse_scenario(spec["scenario"])
    server = (spec["server"][0], int(spec["server"][1]))
    count = int(spec["count"])
    rate = float(spec.get("rate") or 0) or float("inf")
    expect = str(spec.get("expect", ""))
    switch = sim.switch
    PROBE.reset()
    BRIDGE_REQUESTED.clear()
    PROBE.enabled = bool(spec.get("probe", True))
    lags: list[float] = []
    peaks = {"sockets": 0, "caller_sockets": 0, "channels": 0}
    stop = asyncio.Event()

    async def ticker() -> None:
        tick = 0.01
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(tick)
            lags.append(max(0.0, loop.time() - before - tick))
            sessions = switch.sessions
            callers = sum(1 for s in sessions if s.channel.role == "caller")
            peaks["sockets"] = max(peaks["sockets"], len(sessions))
            peaks["caller_sockets"] = max(peaks["caller_sockets"], callers)
            peaks["channels"] = max(peaks["channels"], len(switch.channels))

    # Each call is judged as it ends and its records dropped (the simulator keeps every
    # call it placed): a long load does not grow this process's heap, nor its GC pauses.
    failures: dict[str, int] = {}
    counts = {"ok": 0, "races": 0, "cancelled": 0}
    first: list[float] = []
    outcomes: dict[str, int] = {}
    failed_samples: list[dict[str, Any]] = []
    sample: list[Any] = []

    def finished(task: asyncio.Task[Any]) -> None:
        result: Any = None
        if task.cancelled():
            counts["cancelled"] += 1
            reason: Optional[str] = "still running at the load timeout"
        else:
            exc = task.exception()
            result = exc if exc is not None else task.result()
            reason = judge(result, expect)
        if result is not None and not isinstance(result, BaseException):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            fp = _first_prompt_s(result, sim.clock.scale)
            if fp is not None:
                first.append(fp)
            if not sample:
                sample.extend(result.transcript[:8])
            if reason is not None and len(failed_samples) < 2:
                data = result.to_json()
                failed_samples.append({k: data[k] for k in ("transcript", "originates", "holds", "hangup_cause",
                                                             "hangup_by", "socket_end", "errors")})
            if result.call_uuid not in switch.active_calls:
                switch.calls.pop(result.call_uuid, None)
        if reason is None:
            counts["ok"] += 1
            return
        if reason.startswith(SIM_RACE):
            counts["races"] += 1
        key = reason[:160]
        failures[key] = failures.get(key, 0) + 1

    def place() -> asyncio.Task[Any]:
        task = asyncio.ensure_future(sim.place_call_async(scenario, server))
        task.add_done_callback(finished)
        return task

    ticking = asyncio.ensure_future(ticker())
    started = loop.time()
    tasks: list[asyncio.Task[Any]] = []
    concurrency = int(spec.get("concurrency") or 0)
    if concurrency > 0:
        # Closed loop: CONCURRENCY calls in flight, a new one as soon as one ends (the
        # first CONCURRENCY paced at RATE so the listen backlog is not one burst).
        free = asyncio.Semaphore(concurrency)

        def release(_task: asyncio.Task[Any]) -> None:
            free.release()

        for i in range(count):
            await free.acquire()
            if i < concurrency:
                delay = started + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            task = place()
            task.add_done_callback(release)
            tasks.append(task)
    else:
        for i in range(count):
            due = started + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(place())
    offered_s = loop.time() - started
    _done, pending = await asyncio.wait(tasks, timeout=float(spec.get("timeout", 300)))
    for task in pending:
        task.cancel()
    if pending:  # let them end (and be counted) before summing up
        await asyncio.gather(*pending, return_exceptions=True)
    elapsed = loop.time() - started
    stop.set()
    await ticking
    PROBE.enabled = False
    ok = counts["ok"]
    races = counts["races"]
    last_end = loop.time()
    by_command = {name: summary_ms(values) for name, values in sorted(PROBE.by_command.items())}
    return {
        "count": count,
        "ok": ok,
        "failed": count - ok,
        "failed_sim_bridge_race": races,
        "failures": dict(sorted(failures.items(), key=lambda kv: -kv[1])[:8]),
        "outcomes": outcomes,
        "offered_rate": round(count / offered_s, 1) if offered_s > 0 else None,
        "offered_s": round(offered_s, 3),
        "elapsed_s": round(elapsed, 3),
        "drain_s": round(last_end - started - offered_s, 3),
        "peak_sockets": peaks["sockets"],
        "peak_caller_sockets": peaks["caller_sockets"],
        "peak_channels": peaks["channels"],
        "latency_ms": summary_ms(PROBE.samples),
        "latency_by_command_ms": by_command,
        "on_hold_ms": summary_ms(PROBE.on_hold),
        "sim_loop_lag_ms": summary_ms(lags),
        "first_prompt_s": {
            "n": len(first),
            "p50": round(pct(first, 50) or 0.0, 4),
            "p99": round(pct(first, 99) or 0.0, 4),
        },
        "sample_transcript": sample,
        "failed_samples": failed_samples,
        "lost_events": switch.stats.get("lost_events", 0),
        "sim_cpu_s": round(sum(os.times()[:2]), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    install_probe()
    # a PBX that recognises speech with the application's default engine (each call
    # has a speech turn); the simulator's own default is a stock one without ASR
    # A call is hung up by the simulator after 600 simulated seconds, or 120 real ones
    # on a fast clock (with near-instant media a loaded server may take seconds).
    max_call = max(600.0, 120.0 / args.scale)
    sim = Simulator(scale=args.scale, max_call_seconds=max_call, asr_engines=["unimrcp"]).start()
    gc.freeze()  # what is loaded by now lives as long as the process: out of every collection
    print(json.dumps({"ready": True, "inbound": list(sim.inbound_address), "password": sim.password,
                      "pid": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            op = request.get("op")
            if op == "quit":
                break
            if op == "load":
                bound = float(request.get("timeout", 300)) + 30.0
                try:
                    reply = sim.call_soon(run_load(sim, request), bound)
                except Exception as exc:  # reported to the driver, which decides
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
            elif op == "stats":
                reply = sim.stats()
                reply.pop("originate_counts", None)
            else:
                reply = {"error": f"unknown op {op!r}"}
            print(json.dumps(reply), flush=True)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
