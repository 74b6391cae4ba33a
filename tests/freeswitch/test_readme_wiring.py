"""The README's "Wiring it into FreeSWITCH / FusionPBX" section, run as written
against the real switch: every ``voiceai-ivr`` command of its shell block, from
the repository root, then a call to the DID it installed."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from freeswitch.harness import FS_HOST, FS_PASSWORD, FS_PORT, VOICEAI, Switchboard, _with_dbname

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).parents[2]
FUSION_SCHEMA = ROOT / "tests" / "fixtures" / "fusionpbx_schema.sql"


def wiring_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Wiring it into FreeSWITCH / FusionPBX", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "the wiring section has no shell block"
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("voiceai-ivr "):
                commands.append(line)
    assert commands
    return commands


def test_readme_wiring_commands_work_as_written(switchboard: Switchboard, pg_admin_uri: str, tmp_path: Path) -> None:
    admin = psycopg2.connect(pg_admin_uri, connect_timeout=10)
    admin.autocommit = True
    names = [f"voiceai_rd_{uuid.uuid4().hex[:8]}", f"fusionpbx_rd_{uuid.uuid4().hex[:8]}"]
    with admin.cursor() as cur:
        for name in names:
            cur.execute(f'CREATE DATABASE "{name}"')
    dsn, fusion_dsn = (_with_dbname(pg_admin_uri, n) for n in names)
    conn = psycopg2.connect(fusion_dsn)
    with conn, conn.cursor() as cur:
        cur.execute(FUSION_SCHEMA.read_text())
        cur.execute("INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES (%s, 'demo.local', true)",
                    (str(uuid.uuid4()),))
    conn.close()
    port = 8084  # the README's commands as written: serve's and the dialplan's default port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "port 8084 is taken: stop the voiceai-ivr serve using it"
    env: dict[str, Any] = {
        "PATH": str(Path(VOICEAI).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path),
        "VOICEAI_DATABASE_DSN": dsn, "VOICEAI_DATA_DIR": str(tmp_path / "data"),
        "VOICEAI_ESL_HOST": FS_HOST, "VOICEAI_ESL_PORT": str(FS_PORT), "VOICEAI_ESL_PASSWORD": FS_PASSWORD,
        "VOICEAI_FUSIONPBX_DSN": fusion_dsn,
    }
    installed: list[Path] = []
    serve = None
    try:
        assert subprocess.run([VOICEAI, "db", "migrate"], env=env, capture_output=True, timeout=120).returncode == 0
        for command in wiring_commands():
            argv = shlex.split(command)
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
            assert "Traceback" not in proc.stderr, proc.stderr
            if argv[1:3] == ["dialplan", "render"]:
                assert f'<action application="socket" data="127.0.0.1:{port} async full"/>' in proc.stdout
            if argv[1:3] == ["dialplan", "install"] and "--fusionpbx" not in argv:
                path = Path(proc.stdout.split(":", 1)[0].strip())
                assert path.parent == Path(switchboard.api("global_getvar conf_dir")) / "dialplan" / "public", path
                installed.append(path)
                assert "reloadxml: +OK" in proc.stdout, proc.stdout
        fusion = psycopg2.connect(fusion_dsn)
        with fusion, fusion.cursor() as cur:
            cur.execute("SELECT count(*) FROM v_dialplans WHERE dialplan_number = '8000'")
            assert cur.fetchone()[0] == 1
        fusion.close()
        serve = subprocess.Popen([VOICEAI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(port, serve)
        call = switchboard.call("8000")
        greeting = call.wait_prompt_started(30)  # the secretary of demo.local greets the caller
        call.hangup()
        assert greeting.data, greeting
        call.wait_gone(10)
    finally:
        if serve is not None:
            switchboard.hupall()  # a failed assertion may leave the call up; serve would wait for it
            serve.terminate()
            try:
                serve.wait(40)
            except subprocess.TimeoutExpired:
                serve.kill()
        for path in installed:
            path.unlink(missing_ok=True)
        switchboard.api("reloadxml")
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _wait_port(port: int, proc: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("serve never listened")
