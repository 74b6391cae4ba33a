"""Fixtures for dispatcher tests: the FreeSWITCH simulator (its inbound ESL on
port 0), a dispatcher configuration pointing at it, and a leg watcher."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from voiceai_sim.simulator import Simulator

DOMAIN = "a.example"
SCALE = 0.01  # real seconds per simulated second


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(scale=SCALE, domain=DOMAIN)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def dconfig(config, sim, tmp_path):
    """Config for a dispatcher talking to ``sim``."""
    host, port = sim.inbound_address
    config.esl.host = host
    config.esl.port = port
    config.callbacks.caller_id_number = "+551140040000"
    config.callbacks.caller_id_name = "Empresa"
    config.callbacks.gateway = "pstn"
    config.callbacks.lease_seconds = 30.0
    config.callbacks.agent_answer_timeout = 20
    config.callbacks.customer_answer_timeout = 20
    config.callbacks.spool_path = str(tmp_path / "spool.jsonl")
    config.dispatcher.listen_port = 0
    config.dispatcher.concurrency = 8
    # the agent flow waits for a key twice, KEY_TIMEOUT (6 s) each, in real time
    config.dispatcher.whisper_timeout = 20.0
    config.dispatcher.availability_cache_seconds = 0.0
    config.helpdesk.whatsapp.enabled = True
    return config


@pytest.fixture
def dispatchers(dconfig, db) -> Iterator[Any]:
    """``make(**attributes)``: a started dispatcher on ``dconfig`` (attributes set
    on it, e.g. ``_clock``); every one made is closed after the test."""
    from voiceai_ivr.cli.dispatch_cmd import build_dispatcher

    made = []

    def make(**attributes: Any) -> Any:
        d = build_dispatcher(dconfig, db)
        for key, value in attributes.items():
            setattr(d, key, value)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()
        if d.esl_client is not None:
            d.esl_client.close()


def write_config(cfg: Any, path: Path) -> Path:
    """The YAML a dispatcher subprocess reads (secrets stay in the environment)."""
    data = {
        "esl": {"host": cfg.esl.host, "port": cfg.esl.port},
        "callbacks": {
            "caller_id_number": cfg.callbacks.caller_id_number,
            "gateway": cfg.callbacks.gateway,
            "lease_seconds": cfg.callbacks.lease_seconds,
            "agent_answer_timeout": cfg.callbacks.agent_answer_timeout,
            "customer_answer_timeout": cfg.callbacks.customer_answer_timeout,
            "spool_path": cfg.callbacks.spool_path,
        },
        "dispatcher": {
            "listen_port": 0,
            "concurrency": cfg.dispatcher.concurrency,
            "batch_size": cfg.dispatcher.batch_size,
            "whisper_timeout": cfg.dispatcher.whisper_timeout,
            "availability_cache_seconds": cfg.dispatcher.availability_cache_seconds,
            "loop_interval": 0.5,
        },
        "database": {"pool_size": 4},
        "logging": {"level": "WARNING"},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class LegWatch:
    """Polls the simulator's live legs and keeps, per dialled target, the most
    legs ever up at once (``max_at_once``): "never twice at once" is checkable."""

    def __init__(self, sim: Simulator, period: float = 0.02) -> None:
        self.sim = sim
        self.period = period
        self.max_at_once: Counter[str] = Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            legs = self.sim.live_legs()
            now: Counter[str] = Counter(str(leg["target"]) for leg in legs if leg["role"] in ("agent", "customer"))
            for target, n in now.items():
                if n > self.max_at_once[target]:
                    self.max_at_once[target] = n
            self.samples += 1

    def __enter__(self) -> LegWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
