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
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiceai_ivr.stores.db import embedded_status_at, stop_embedded_at

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
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "voiceai-data"
    try:
        yield path
    finally:
        stop_embedded_at(path / "pg", timeout=20)


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
    assert f"embedded PostgreSQL at {data_dir / 'pg'}" in out
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
