"""Dispatcher PROCESSES against the simulator and PostgreSQL: several started
together dial each callback exactly once; one killed with SIGKILL mid-attempt
loses nothing and nothing is ever dialled twice at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import DOMAIN, LegWatch, write_config
from .helpers import add_callbacks, add_domain, fetch

CLI = [sys.executable, "-c", "from voiceai_ivr.cli import main; main()"]


def _env(config, tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update(
        VOICEAI_DATABASE_DSN=config.database.dsn,
        VOICEAI_DATA_DIR=str(tmp_path / "data"),
        VOICEAI_CONFIG="",
    )
    return env


def _population(sim, db_dsn, n: int, *, agent_answer_after: float = 0.5):
    add_domain(db_dsn, DOMAIN)
    agents = [str(20000 + i) for i in range(n)]
    ids = add_callbacks(db_dsn, DOMAIN, n, agents=agents)
    numbers = [r[0] for r in fetch(db_dsn, "SELECT number_e164 FROM callbacks ORDER BY id")]
    sim.set_endpoints(
        agents={a: {"behavior": "answer", "answer_after": agent_answer_after} for a in agents},
        customers={num: {"behavior": "answer", "answer_after": 0.5, "talk_for": 1.0} for num in numbers},
    )
    return ids, agents, numbers


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_processes_dial_each_callback_exactly_once(sim, db_dsn, dconfig, tmp_path):
    n = 2000
    _ids, agents, numbers = _population(sim, db_dsn, n)
    dconfig.dispatcher.concurrency = 16
    dconfig.dispatcher.batch_size = 16
    cfg_path = write_config(dconfig, tmp_path / "dispatch.yaml")
    env = _env(dconfig, tmp_path)
    started = time.monotonic()
    with LegWatch(sim, period=0.05) as watch:
        procs = [
            subprocess.Popen(
                [*CLI, "--config", str(cfg_path), "dispatch-callbacks", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=100) for p in procs]
    elapsed = time.monotonic() - started
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(s["claimed"] for s in summaries) == n
    assert sum(s["completed"] for s in summaries) == n, [s["outcomes"] for s in summaries]
    assert all(s["claimed"] > 0 for s in summaries), summaries  # all four took part
    # counted on the simulator's side: every agent and every customer dialled once
    counts = sim.originate_counts()
    assert [a for a in agents if counts.get(a) != 1] == []
    assert [c for c in numbers if counts.get(c) != 1] == []
    assert max(watch.max_at_once.values()) == 1
    rows = fetch(db_dsn, "SELECT status, count(*) FROM callbacks GROUP BY status")
    assert rows == [("completed", n)]
    attempts = fetch(
        db_dsn,
        "SELECT count(*), count(DISTINCT callback_id), count(DISTINCT dispatcher)"
        " FROM callback_attempts WHERE outcome = 'completed'",
    )
    assert attempts == [(n, n, 4)]
    print(f"4 dispatcher processes, {n} callbacks: {elapsed:.1f}s")


@pytest.mark.timeout(90)
def test_sigkill_mid_attempt_loses_nothing(sim, db_dsn, dconfig, db, tmp_path):
    from voiceai_ivr.cli.dispatch_cmd import build_dispatcher

    n = 12
    # Agents take 4 real seconds to answer: the first dispatcher dies while they
    # ring, and they are still ringing when its 2-second leases run out.
    _ids, agents, numbers = _population(sim, db_dsn, n, agent_answer_after=400.0)
    dconfig.callbacks.lease_seconds = 2.0
    dconfig.callbacks.agent_answer_timeout = 600
    cfg_path = write_config(dconfig, tmp_path / "dispatch.yaml")
    victim = subprocess.Popen(
        [*CLI, "--config", str(cfg_path), "dispatch-callbacks"],
        env=_env(dconfig, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with LegWatch(sim) as watch:
        deadline = time.monotonic() + 30
        while sum(sim.originate_counts().get(a, 0) for a in agents) < dconfig.dispatcher.concurrency:
            assert time.monotonic() < deadline, "the first dispatcher never dialled"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        in_flight = fetch(db_dsn, "SELECT count(*) FROM callbacks WHERE status = 'in_progress'")[0][0]
        assert in_flight > 0  # it died holding leases
        ringing = {leg["uuid"] for leg in sim.live_legs() if leg["role"] == "agent"}
        assert len(ringing) == in_flight  # the dead dispatcher's agent legs ring on, for nobody
        # A successor: once the leases have run out it hangs up the dead
        # dispatcher's legs, and only then dials again; then everything is done, once.
        dconfig.callbacks.agent_answer_timeout = 20
        sim.set_endpoints(agents={a: {"behavior": "answer", "answer_after": 0.5} for a in agents})
        successor = build_dispatcher(dconfig, db)
        try:
            deadline = time.monotonic() + 45
            while fetch(db_dsn, "SELECT count(*) FROM callbacks WHERE status <> 'completed'")[0][0]:
                assert time.monotonic() < deadline, fetch(db_dsn, "SELECT status, attempts FROM callbacks")
                successor.run_once()
                time.sleep(0.2)
        finally:
            successor.close()
            if successor.esl_client is not None:
                successor.esl_client.close()
    counts = sim.originate_counts()
    assert all(counts.get(c) == 1 for c in numbers), counts  # each customer called exactly once
    assert max(watch.max_at_once.values()) == 1  # never two legs to one person at once
    lost = fetch(
        db_dsn,
        "SELECT details->'hung_up_legs' FROM callback_attempts WHERE details->>'reason' = 'lease_expired'",
    )
    assert len(lost) == in_flight
    hung_up = {uuid for (legs,) in lost for uuid in legs}
    assert hung_up == ringing  # exactly the dead dispatcher's legs were hung up
    assert not ringing & {leg["uuid"] for leg in sim.live_legs()}
    assert fetch(db_dsn, "SELECT count(*) FROM callbacks WHERE attempts = 1")[0][0] == n  # lost ones not counted
    redialled = [a for a in agents if counts.get(a, 0) == 2]
    assert len(redialled) == len(lost)
