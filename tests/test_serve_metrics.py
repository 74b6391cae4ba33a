"""`voiceai-ivr serve` as a real process: a simulated call through it shows up on its
/metrics endpoint, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.stores.directory import import_directory
from voiceai_sim import Simulator, load_scenario

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_serve_counts_a_simulated_call_on_metrics(db, config, cli_env, tmp_path):
    with open(SCENARIOS / "directory.yaml", encoding="utf-8") as fh:
        import_directory(db, parse_directory(yaml.safe_load(fh)))
    port, metrics_port = _free_port(), _free_port()
    with Simulator(scale=0.05, domain="demo.local") as sim:
        esl_host, esl_port = sim.inbound_address
        conf = tmp_path / "voiceai.yaml"
        conf.write_text(yaml.safe_dump({
            "esl": {"host": esl_host, "port": esl_port, "password": sim.password},
            "server": {"host": "127.0.0.1", "port": port, "metrics_port": metrics_port,
                       "allow_clock_override": True, "shutdown_grace": 5},
        }), encoding="utf-8")
        env = {**os.environ, **cli_env, "VOICEAI_CONFIG": str(conf)}
        proc = subprocess.Popen(
            [sys.executable, "-c", "from voiceai_ivr.cli import main; main()", "serve"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_for(lambda: proc.poll() is not None or (_listening(port) and _listening(metrics_port)),
                      30, "serve to listen")
            assert proc.poll() is None, proc.communicate(timeout=5)
            before = _metrics(metrics_port)
            assert before.get("voiceai_ivr_calls_total", 0.0) == 0.0
            result = sim.place_call(load_scenario(SCENARIOS / "transfer_accepted.yaml"), ("127.0.0.1", port))
            assert result.legs_left_up == 0
            _wait_for(lambda: _metrics(metrics_port).get("voiceai_ivr_calls_active", 1.0) == 0.0, 10,
                      "the call to end in metrics")
            after = _metrics(metrics_port)
            assert after["voiceai_ivr_calls_total"] == 1.0
            assert after["voiceai_ivr_call_duration_seconds_count"] == 1.0
            assert after.get("voiceai_ivr_transfers_total", 0.0) >= 1.0
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        assert proc.returncode == 0, err
        assert "stopped" in err


def test_invented_domains_add_no_series(db, config):
    """Calls whose channel names a domain the directory does not know (anyone who
    reaches the outbound socket chooses it) are counted under ``unknown``: the
    ``domain`` label holds only known domains (300 connections used to make 227
    series)."""
    from tests.harness import scenario_stack
    from voiceai_ivr.metrics import Metrics

    metrics = Metrics()
    with scenario_stack(db, config, SCENARIOS / "directory.yaml", scale=0.01, metrics=metrics) as stack:
        known = stack.run(SCENARIOS / "transfer_accepted.yaml")
        assert known["outcome"] == "transferred"
        base = yaml.safe_load((SCENARIOS / "transfer_accepted.yaml").read_text(encoding="utf-8"))
        for i in range(40):
            doc = dict(base, domain=f"invented-{i}.example", caller_inputs=[], expect={})
            stack.run(doc)
    series = {
        tuple(sorted(s.labels.items())): s.value
        for family in metrics.registry.collect() if family.name == "voiceai_ivr_calls"
        for s in family.samples if s.name == "voiceai_ivr_calls_total"
    }
    assert series == {(("domain", "demo.local"),): 1.0, (("domain", "unknown"),): 40.0}
    assert metrics.registry.get_sample_value("voiceai_ivr_calls_active") == 0
