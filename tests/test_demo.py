"""``voiceai-ivr demo`` as a newcomer runs it: the installed console script, in a
subprocess, with nothing configured but a private data directory
(VOICEAI_DATA_DIR), so the embedded PostgreSQL is created from scratch."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from doubles.helpdesk import HelpdeskServer

from voiceai_ivr.stores.db import embedded_status_at, ensure_embedded, stop_embedded_at

LIMIT = 60.0  # the issue: "must finish in under a minute"
TITLES = (
    "Transfer accepted",
    "Busy -> callback captured",
    "Out of hours",
    "The dispatcher calls the customer back",
)


def _script() -> str:
    beside = Path(sys.executable).parent / "voiceai-ivr"
    found = str(beside) if beside.exists() else shutil.which("voiceai-ivr")
    if not found:
        pytest.fail("the voiceai-ivr console script is not installed next to this Python")
    return found


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAI_")}
    env.update({"VOICEAI_DATA_DIR": str(data_dir), "VOICEAI_CONFIG": "", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def _demo(data_dir: Path, *args: str, **extra_env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [_script(), "demo", *args],
        env=_env(data_dir, **extra_env),
        capture_output=True,
        text=True,
        timeout=LIMIT + 60,
        check=False,
    )
    return proc, time.monotonic() - started


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root, pgserver runs the cluster as the
    # "pgserver" user, and every pytest session (ours or a parallel one) makes
    # /tmp/pytest-of-root 0700 again, cutting a running cluster off its files.
    home = Path(tempfile.mkdtemp(prefix="voiceai-demo-test-"))
    path = home / "voiceai-data"
    try:
        yield path
    finally:
        stop_embedded_at(path / "pg", timeout=20)
        shutil.rmtree(home, ignore_errors=True)


def test_demo_tours_every_flow_on_a_fresh_data_dir(data_dir: Path) -> None:
    proc, elapsed = _demo(data_dir)
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\nSTDOUT:\n{out}\nSTDERR:\n{proc.stderr}"
    assert elapsed < LIMIT, f"demo took {elapsed:.1f}s"
    # every flow announced, its transcript printed, and judged OK
    for n, title in enumerate(TITLES, 1):
        assert f"{n}/4  {title}" in out, out
        assert re.search(rf"^OK    {re.escape(title)}: ", out, re.M), out
    assert "FAIL" not in out and "DEMO FAILED" not in out
    assert re.search(r"^All 4 flows did what they should in \d+\.\ds\.$", out, re.M), out
    # what each transcript shows (rendered by the simulator from the real calls)
    assert "Tecle 1 para aceitar ou 2 para recusar" in out  # the agent's announcement
    assert "transfer: Financeiro -> accepted" in out
    assert "transfer: Comercial -> busy (USER_BUSY)" in out
    assert "Pronto, seu retorno está confirmado" in out
    assert "Financeiro não está atendendo neste horário" in out
    assert "transfer: Financeiro -> out_of_hours" in out
    assert re.search(r"^callback: \+55119\d{8} \S+ \.\. \S+ \[completed\]$", out, re.M), out
    assert "switch           bridge    agent <-> customer" in out
    # the database was created and is meant to keep running; nothing else is left
    status = embedded_status_at(data_dir / "pg")
    assert status.initialized and status.running, status
    assert f"on the embedded PostgreSQL at {data_dir / 'pg'} (dropped afterwards" in out
    if Path("/proc/self/environ").exists():
        left = [pid for pid in _processes_with(f"VOICEAI_DATA_DIR={data_dir}") if pid != status.pid]
        assert left == [], f"processes left running: {left}"

    # A second run (database already up, domain already imported) in JSON.
    proc2, elapsed2 = _demo(data_dir, "--json")
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    assert elapsed2 < LIMIT
    report = json.loads(proc2.stdout)
    assert report["ok"] is True and report["error"] == ""
    assert report["domain"] == "demo.voiceai.local"
    assert re.match(r"^database voiceai_demo_\d+_[0-9a-f]{6} of its own on the embedded PostgreSQL", report["database"])
    assert [f["title"] for f in report["flows"]] == list(TITLES)
    assert all(f["ok"] and f["problems"] == [] for f in report["flows"]), report["flows"]
    transfer, capture, closed, dispatch = (f["result"] for f in report["flows"])
    assert transfer["outcome"] == "transferred" and transfer["legs_left_up"] == 0
    assert capture["outcome"] == "callback_created" and capture["callback"]["status"] == "pending"
    assert [(t["destination"], t["status"]) for t in closed["transfers"]] == [("Financeiro", "out_of_hours")]
    assert dispatch["outcome"] == "completed"
    assert dispatch["callback"]["number"] == capture["callback"]["number"]
    assert [a["outcome"] for a in dispatch["attempts"]] == ["completed"]
    # every run captures for a fresh number, so runs never merge into each other's request
    first_number = re.search(r"^callback: (\+\d+) .* \[completed\]$", out, re.M)
    assert first_number is not None and first_number.group(1) != capture["callback"]["number"]


def test_demo_says_clearly_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dsn = f"postgresql://voiceai@127.0.0.1:{port}/voiceai"
    proc, elapsed = _demo(tmp_path / "data", VOICEAI_DATABASE_DSN=dsn)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the demo could not start" in proc.stderr, proc.stderr
    assert "All 4 flows" not in proc.stdout
    assert elapsed < 30
    assert not (tmp_path / "data" / "pg").exists()  # no embedded cluster when a server is configured


def _cli(data_dir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [_script(), *args], env=_env(data_dir, **extra_env), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# The operator's own demo.local: not the scenarios' directory (a re-import would change it).
OPERATOR_DIRECTORY = """\
domain: demo.local
timezone: America/Sao_Paulo
hours: {mon-fri: ["08:00-18:00"]}
secretaries:
  - name: Recepção
    dids: ["8000"]
    language: pt-BR
    fallback: Caixa
destinations:
  - name: Caixa
    aliases: [tesouraria]
    type: extension
    target: "1777"
"""


def _operator_state(data_dir: Path) -> dict:
    status = json.loads(_cli(data_dir, "outbox", "status", "--json").stdout)
    status.pop("oldest_pending_age_seconds")  # grows by itself
    listing = _cli(data_dir, "destinations", "list", "--domain", "demo.local").stdout
    dsn = ensure_embedded(data_dir / "pg")
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM callbacks")
            callbacks = cur.fetchone()[0]
            cur.execute("SELECT count(*), coalesce(max(id), 0) FROM helpdesk_outbox")
            outbox_rows = cur.fetchone()
    finally:
        conn.close()
    return {"outbox": status, "destinations": listing, "callbacks": callbacks, "outbox_rows": outbox_rows}


def test_demo_and_simulate_never_touch_the_operators_database(data_dir: Path, tmp_path: Path) -> None:
    """The issue: demo tickets ended up in the real outbox (and the real helpdesk),
    and simulating tests/scenarios/*.yaml re-imported demo.local. Now both run in
    a database of their own: the operator's outbox, directory and callbacks stay
    as they were, and the configured helpdesk hears nothing."""
    directory = tmp_path / "operator.yaml"
    directory.write_text(OPERATOR_DIRECTORY, encoding="utf-8")
    _cli(data_dir, "db", "migrate")
    _cli(data_dir, "destinations", "import", str(directory))
    # one message of the operator's waiting for their helpdesk
    conn = psycopg2.connect(ensure_embedded(data_dir / "pg"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO helpdesk_outbox (domain, kind, idempotency_key, payload)"
                " VALUES ('demo.local', 'call.missed', 'call.missed:operator-1', '{\"call_id\": \"operator-1\"}')"
            )
    finally:
        conn.close()
    before = _operator_state(data_dir)
    assert "Caixa" in before["destinations"] and before["outbox"]["pending"] == 1

    with HelpdeskServer() as helpdesk:
        env = {"VOICEAI_HELPDESK_URL": helpdesk.url, "VOICEAI_HELPDESK_TOKEN": helpdesk.token}
        proc, _elapsed = _demo(data_dir, "--json", **env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["ok"] is True
        scenario = Path(__file__).resolve().parent / "scenarios" / "callback" / "caller_id_accepted.yaml"
        sim = _cli(data_dir, "simulate", str(scenario), "--json", **env)
        result = json.loads(sim.stdout.strip().splitlines()[-1])
        assert result["outcome"] == "callback_created" and result["callback"]["request"] == "created"
        assert helpdesk.requests == []  # nothing of the demo's or the simulation's reached it

    after = _operator_state(data_dir)
    assert after == before
    # and no sandbox database is left behind
    conn = psycopg2.connect(ensure_embedded(data_dir / "pg"))
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'voiceai\\_%'")
            assert cur.fetchall() == []
    finally:
        conn.close()


def test_simulate_without_createdb_says_what_to_do(pg_admin_uri: str, db_dsn: str) -> None:
    """On a server where the configured user may not create databases, simulate
    refuses in one line (no traceback) rather than use the operator's database."""
    import secrets as _secrets

    from click.testing import CliRunner
    from psycopg2.extensions import make_dsn, parse_dsn

    from voiceai_ivr.cli import cli

    role, password = f"limited_{_secrets.token_hex(4)}", _secrets.token_hex(8)
    admin = psycopg2.connect(pg_admin_uri)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD %s", (password,))
        params = parse_dsn(db_dsn)
        params.pop("password", None)
        dsn = make_dsn(**dict(params, user=role, password=password))
        scenario = Path(__file__).resolve().parent / "scenarios" / "transfer_accepted.yaml"
        result = CliRunner().invoke(
            cli, ["simulate", str(scenario), "--json"], env={"VOICEAI_DATABASE_DSN": dsn, "VOICEAI_CONFIG": ""}
        )
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        admin.close()
    assert result.exit_code == 1, result.output
    assert "cannot create a database of its own on the PostgreSQL server of database.dsn" in result.output
    assert "grant CREATEDB" in result.output and "Traceback" not in result.output
    assert password not in result.output
