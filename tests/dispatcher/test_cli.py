"""``voiceai-ivr dispatch-callbacks`` and ``voiceai-ivr api`` as commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml
from doubles.helpdesk import HelpdeskServer

from .conftest import DOMAIN, write_config
from .helpers import add_callbacks, add_domain, callback_row, fetch

CLI = [sys.executable, "-c", "from voiceai_ivr.cli import main; main()"]


def _env(config, tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(VOICEAI_DATABASE_DSN=config.database.dsn, VOICEAI_DATA_DIR=str(tmp_path / "data"), VOICEAI_CONFIG="")
    env.update(extra)
    return env


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_one_pass_prints_summary_and_textfile(sim, db_dsn, dconfig, tmp_path):
    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="2001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(agents={"2001": "answer"}, customers={number: "answer"})
    cfg = write_config(dconfig, tmp_path / "d.yaml")
    prom = tmp_path / "dispatcher.prom"
    data = yaml.safe_load(cfg.read_text())
    data["dispatcher"]["textfile_path"] = str(prom)
    cfg.write_text(yaml.safe_dump(data))
    with HelpdeskServer() as helpdesk:
        helpdesk.tickets[pid] = ["created-earlier"]  # its ticket exists (this test wrote the row directly)
        proc = subprocess.run(
            [*CLI, "--config", str(cfg), "dispatch-callbacks"],
            env=_env(dconfig, tmp_path, VOICEAI_HELPDESK_URL=helpdesk.url, VOICEAI_HELPDESK_TOKEN=helpdesk.token),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        # the pass itself told the helpdesk: the attempt, then the result
        assert proc.stdout.strip() == (
            "claimed 1, completed 1, retried 0, expired 0, failed 0; helpdesk: delivered 2"
        ), proc.stderr
        assert [(r.kind, r.status) for r in helpdesk.requests] == [
            ("callback.attempt", 200),
            ("callback.result", 200),
        ]
    text = prom.read_text()
    assert 'voiceai_ivr_callbacks_total{event="completed"} 1.0' in text
    assert "voiceai_ivr_outbox_backlog 0.0" in text
    # valid node-exporter exposition: prometheus-client's own parser reads it back
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("voiceai_ivr_callbacks_total", (("event", "completed"),))] == 1.0
    assert samples[("voiceai_ivr_callbacks_total", (("event", "dispatched"),))] == 1.0
    assert callback_row(db_dsn, pid)["status"] == "completed"


def test_pbx_down_exits_nonzero_but_expires(db_dsn, dconfig, tmp_path):
    from datetime import datetime, timedelta, timezone

    dconfig.esl.port = _free_port()
    add_domain(db_dsn, DOMAIN)
    (due,) = add_callbacks(db_dsn, DOMAIN, 1)
    now = datetime.now(timezone.utc)
    (old,) = add_callbacks(
        db_dsn,
        DOMAIN,
        1,
        number_base=5511800000000,
        window_start=now - timedelta(hours=2),
        window_end=now - timedelta(minutes=1),
    )
    cfg = write_config(dconfig, tmp_path / "d.yaml")
    proc = subprocess.run(
        [*CLI, "--config", str(cfg), "dispatch-callbacks", "--json"],
        env=_env(dconfig, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "PBX unreachable" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["claimed"], summary["expired"]) == (0, 1)
    assert callback_row(db_dsn, due)["status"] == "pending"  # untouched, dialled on a later pass
    assert callback_row(db_dsn, old)["status"] == "expired"


def test_database_down_exits_nonzero(dconfig, tmp_path):
    cfg = write_config(dconfig, tmp_path / "d.yaml")
    env = _env(dconfig, tmp_path, VOICEAI_DATABASE_DSN=f"postgresql://nobody@127.0.0.1:{_free_port()}/x")
    proc = subprocess.run(
        [*CLI, "--config", str(cfg), "dispatch-callbacks"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and "cannot connect to PostgreSQL" in proc.stderr


def test_loop_stops_cleanly_on_sigterm(sim, db_dsn, dconfig, tmp_path):
    add_domain(db_dsn, DOMAIN)
    cfg = write_config(dconfig, tmp_path / "d.yaml")
    proc = subprocess.Popen(
        [*CLI, "--config", str(cfg), "dispatch-callbacks", "--loop", "--interval", "0.2", "--json"],
        env=_env(dconfig, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # one pass done
        assert json.loads(first)["claimed"] == 0
        # a callback that shows up while it sleeps is taken on a later pass
        (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="2002")
        number = callback_row(db_dsn, pid)["number_e164"]
        sim.set_endpoints(agents={"2002": "answer"}, customers={number: "answer"})
        deadline = time.monotonic() + 30
        while callback_row(db_dsn, pid)["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err


def _missed_call_row(db_dsn: str, call_id: str) -> None:
    """One message waiting for the helpdesk (a missed-call ticket needs no earlier one)."""
    import psycopg2

    conn = psycopg2.connect(db_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO helpdesk_outbox (domain, kind, idempotency_key, call_uuid, payload)"
                " VALUES (%s, 'call.missed', %s, %s, %s)",
                (DOMAIN, f"call.missed:{call_id}", call_id, json.dumps({"call_id": call_id, "domain": DOMAIN})),
            )
    finally:
        conn.close()


def test_api_command_serves_and_stops(sim, db_dsn, dconfig, tmp_path):
    add_domain(db_dsn, DOMAIN)
    add_callbacks(db_dsn, DOMAIN, 2)
    _missed_call_row(db_dsn, "call-waiting-1")
    cfg = write_config(dconfig, tmp_path / "d.yaml")
    data = yaml.safe_load(cfg.read_text())
    data["helpdesk"] = {"delivery_interval": 0.2}
    cfg.write_text(yaml.safe_dump(data))
    port = _free_port()
    with HelpdeskServer() as helpdesk:
        env = _env(
            dconfig,
            tmp_path,
            VOICEAI_API_TOKENS=f"{DOMAIN}:a-token-for-the-api-0001",
            VOICEAI_HELPDESK_URL=helpdesk.url,
            VOICEAI_HELPDESK_TOKEN=helpdesk.token,
        )
        proc = subprocess.Popen(
            [*CLI, "--config", str(cfg), "api", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert "listening" in proc.stdout.readline()
            r = requests.get(
                f"http://127.0.0.1:{port}/callbacks",
                timeout=10,
                headers={"Authorization": "Bearer a-token-for-the-api-0001"},
            )
            assert r.status_code == 200 and len(r.json()["items"]) == 2
            # the API process delivers the outbox by itself, and /health says so
            deadline = time.monotonic() + 10
            while True:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
                if health["outbox"]["backlog"] == 0 and health["outbox"]["delivered"] == 1:
                    break
                assert time.monotonic() < deadline, health
                time.sleep(0.1)
            assert health["status"] == "ok" and health["checks"] == {"database": "ok", "pbx": "ok"}
            assert health["outbox"]["helpdesk_configured"] is True
            assert [(x.kind, x.status) for x in helpdesk.requests] == [("call.missed", 201)]
            metrics = requests.get(
                f"http://127.0.0.1:{port}/metrics",
                timeout=10,
                headers={"Authorization": "Bearer a-token-for-the-api-0001"},
            ).text
            assert "voiceai_ivr_outbox_backlog 0" in metrics
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert fetch(db_dsn, "SELECT count(*) FROM callbacks WHERE status = 'pending'") == [(2,)]
