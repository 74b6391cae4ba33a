"""``python -m voiceai_sim``: the simulator as a separate process (load benchmarks).

It starts a simulator, prints one JSON line ``{"inbound": [host, port],
"password": ...}`` and then reads JSON requests, one per line, on stdin,
answering each with one JSON line on stdout:

* ``{"op": "place_calls", "server": [host, port], "scenario": {...}, "count": N,
  "concurrency": C, "vary_caller": true}`` -> a summary (calls, ok, failed,
  outcomes, legs_left_up, elapsed_s, duration p50/p99, first errors);
* ``{"op": "set_endpoints", "agents": {...}, "customers": {...}}``;
* ``{"op": "stats"}`` -> ``Simulator.stats()``;
* ``{"op": "stop"}`` (or end of input) stops the process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from voiceai_ivr import yamlfile
from voiceai_ivr.errors import ValidationError
from voiceai_sim.scenario import parse_endpoints, parse_scenario
from voiceai_sim.simulator import Simulator


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def place_calls(sim: Simulator, request: Mapping[str, Any]) -> dict[str, Any]:
    server = request.get("server")
    if not isinstance(server, list) or len(server) != 2:
        raise ValidationError("server", "must be [host, port]")
    count = int(request.get("count", 1))
    if not 1 <= count <= 100_000:
        raise ValidationError("count", "must be 1-100000")
    base = dict(request.get("scenario") or {})
    scenarios = []
    for i in range(count):
        doc = dict(base)
        if request.get("vary_caller"):
            doc["caller"] = f"+55119{i % 100_000_000:08d}"
        scenarios.append(parse_scenario(doc))
    concurrency = request.get("concurrency")
    started = time.monotonic()
    results = sim.place_calls(
        scenarios,
        (str(server[0]), int(server[1])),
        concurrency=int(concurrency) if concurrency else None,
        timeout=float(request.get("timeout", 3600)),
    )
    elapsed = time.monotonic() - started
    failed = [r for r in results if r.errors or r.socket_end != "exit"]
    durations = [r.duration_s for r in results]
    return {
        "calls": len(results),
        "ok": len(results) - len(failed),
        "failed": len(failed),
        "outcomes": dict(Counter(r.outcome for r in results)),
        "legs_left_up": sum(r.legs_left_up for r in results),
        "elapsed_s": round(elapsed, 3),
        "duration_p50_s": round(_percentile(durations, 50), 3),
        "duration_p99_s": round(_percentile(durations, 99), 3),
        "errors": [e for r in failed[:5] for e in (r.errors or [f"socket_end={r.socket_end}"])],
    }


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiceai_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="real seconds per simulated second")
    parser.add_argument("--host", default="127.0.0.1", help="inbound ESL host")
    parser.add_argument("--port", type=int, default=0, help="inbound ESL port (0: any free port)")
    parser.add_argument("--endpoints", help="YAML file with agents: and customers: mappings")
    parser.add_argument("--asr-engines", default="",
                        help="comma-separated speech-recognition engines loaded (default: none, a stock PBX)")
    parser.add_argument("--asr-format", default="json", choices=("json", "nlsml"),
                        help="what the engines return (json: mod_test, nlsml: mod_unimrcp)")
    args = parser.parse_args(argv)
    agents: dict[str, Any] = {}
    customers: dict[str, Any] = {}
    if args.endpoints:
        try:
            doc = yamlfile.load(args.endpoints) or {}
        except yamlfile.YamlFileError as exc:
            parser.error(str(exc))
        agents = parse_endpoints(doc.get("agents"), "agents")
        customers = parse_endpoints(doc.get("customers"), "customers")
    engines = [e.strip() for e in args.asr_engines.split(",") if e.strip()]
    try:
        sim = Simulator(scale=args.scale, agents=agents, customers=customers, inbound_host=args.host,
                        inbound_port=args.port, asr_engines=engines, asr_format=args.asr_format).start()
    except ValidationError as exc:
        parser.error(str(exc))
    out = sys.stdout
    try:
        host, port = sim.inbound_address
        out.write(json.dumps({"inbound": [host, port], "password": sim.password}) + "\n")
        out.flush()
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
                op = request.get("op")
                if op == "stop":
                    break
                if op == "place_calls":
                    answer: dict[str, Any] = place_calls(sim, request)
                elif op == "stats":
                    answer = sim.stats()
                elif op == "set_endpoints":
                    sim.set_endpoints(agents=request.get("agents"), customers=request.get("customers"))
                    answer = {"ok": True}
                else:
                    answer = {"error": f"unknown op {op!r}"}
            except (ValueError, ValidationError) as exc:
                answer = {"error": str(exc)}
            out.write(json.dumps(answer, default=str) + "\n")
            out.flush()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
