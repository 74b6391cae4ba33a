from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import psycopg2
import pytest
import yaml
from click.testing import CliRunner, Result
from doubles.fake_esl import FakeFreeSwitch

from voiceai_ivr.cli import cli
from voiceai_ivr.stores.db import Database

# Explicit secretary options: no database lookup.
SECRETARY = ["--secretary-id", "3", "--language", "en-US", "--no-recording"]


def _config(tmp_path: Path, **dialplan: object) -> Path:
    data = {"dialplan": {"directory": str(tmp_path / "public"), **dialplan}, "esl": {"timeout": 3}}
    path = tmp_path / "voiceai.yaml"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / "public").mkdir(exist_ok=True)
    return path


def _run(config: Path, *args: str, env: Optional[dict] = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "dialplan", *args], env=env or {}, catch_exceptions=False)


def test_render_prints_parseable_xml(tmp_path: Path) -> None:
    result = _run(_config(tmp_path), "render", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                  "--host", "10.0.0.5", "--port", "9001")
    assert result.exit_code == 0, result.output
    sockets = [a.attrib for a in ET.fromstring(result.output).iter("action") if a.get("application") == "socket"]
    assert sockets == [{"application": "socket", "data": "10.0.0.5:9001 async full"}]
    assert 'data="voiceai_secretary_id=3"' in result.output
    assert 'data="voiceai_language=en-US"' in result.output


def test_render_uses_configured_mode(tmp_path: Path) -> None:
    result = _run(_config(tmp_path, mode="python"), "render", "--domain", "demo.local", "--did", "8000", *SECRETARY)
    assert result.exit_code == 0, result.output
    assert '<action application="python" data="voiceai_ivr.modpython"/>' in result.output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--domain", "demo.local</x>", "--did", "8000"], "--domain"),
        (["--domain", "demo.local", "--did", "80|00"], "--did"),
        (["--domain", "demo.local", "--did", "8000", "--host", "a b"], "--host"),
        (["--domain", "demo.local", "--did", "8000", "--failover", "10.0.0.2"], "--failover"),
        (["--domain", "demo.local", "--did", "8000", "--failover", "127.0.0.1:8084"], "--failover"),
    ],
)
def test_render_refuses_bad_values_naming_the_option(tmp_path: Path, args: list[str], hint: str) -> None:
    result = _run(_config(tmp_path), "render", *args, *SECRETARY)
    assert result.exit_code == 2
    assert hint in result.output
    assert "<include>" not in result.output


def test_install_writes_and_reloads_over_esl(tmp_path: Path) -> None:
    with FakeFreeSwitch() as fs:
        config = _config(tmp_path)
        env = {"VOICEAI_ESL_PORT": str(fs.port)}
        result = _run(config, "install", "--domain", "demo.local", "--did", "+5511", *SECRETARY, env=env)
        assert result.exit_code == 0, result.output
        target = tmp_path / "public" / "voiceai_demo.local_5511.xml"
        assert f"{target}: created" in result.output
        assert "reloadxml: +OK [Success]" in result.output
        assert "api reloadxml" in fs.commands
        ET.fromstring(target.read_text())

        again = _run(config, "install", "--domain", "demo.local", "--did", "+5511", *SECRETARY, env=env)
        assert f"{target}: unchanged" in again.output


def test_install_refuses_foreign_file_and_does_not_reload(tmp_path: Path) -> None:
    config = _config(tmp_path)
    target = tmp_path / "public" / "voiceai_demo.local_8000.xml"
    target.write_text("<include/>")
    with FakeFreeSwitch() as fs:
        result = _run(config, "install", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                      env={"VOICEAI_ESL_PORT": str(fs.port)})
    assert result.exit_code == 1
    assert "not written by voiceai-ivr" in result.output
    assert target.read_text() == "<include/>"
    assert "api reloadxml" not in fs.commands


def test_install_reports_refused_reload(tmp_path: Path) -> None:
    with FakeFreeSwitch(api=lambda cmd: "-ERR [Failed to load XML]\n") as fs:
        result = _run(_config(tmp_path), "install", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                      env={"VOICEAI_ESL_PORT": str(fs.port)})
    assert result.exit_code == 1
    assert "refused reloadxml" in result.output


def test_install_without_freeswitch_says_the_file_is_written(tmp_path: Path) -> None:
    with FakeFreeSwitch(password="other") as fs:
        result = _run(_config(tmp_path), "install", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                      env={"VOICEAI_ESL_PORT": str(fs.port)})
    assert result.exit_code == 1
    assert "is written, but reloadxml over ESL failed" in result.output
    assert (tmp_path / "public" / "voiceai_demo.local_8000.xml").exists()


def test_install_no_reload(tmp_path: Path) -> None:
    result = _run(_config(tmp_path), "install", "--domain", "demo.local", "--did", "8000", *SECRETARY, "--no-reload")
    assert result.exit_code == 0, result.output
    assert "--no-reload" in result.output


def test_install_fusionpbx_round_trip_with_memcache(tmp_path: Path, fusion_dsn: str) -> None:
    conn = psycopg2.connect(fusion_dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) "
            "VALUES ('5e2f1a7c-3b4d-4e6f-8a9b-0c1d2e3f4a5b', 'demo.local', true)"
        )
    config = _config(tmp_path, fusionpbx_cache="memcache")
    with FakeFreeSwitch(api=lambda cmd: "+OK\n") as fs:
        env = {"VOICEAI_ESL_PORT": str(fs.port), "VOICEAI_FUSIONPBX_DSN": fusion_dsn}
        first = _run(config, "install", "--fusionpbx", "--domain", "demo.local", "--did", "8000", *SECRETARY, env=env)
        second = _run(config, "install", "--fusionpbx", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                      "--mode", "python", env=env)
    assert first.exit_code == 0, first.output
    assert ": created" in first.output
    assert second.exit_code == 0, second.output
    assert ": updated" in second.output
    assert "api memcache delete dialplan:public" in fs.commands
    assert {
        "Event-Name": "CUSTOM",
        "Event-Subclass": "fusion::memcache",
        "API-Command": "memcache",
        "API-Command-Argument": "delete dialplan:public",
    } in fs.events
    with conn, conn.cursor() as cur:
        cur.execute("SELECT dialplan_xml FROM v_dialplans WHERE dialplan_number = '8000'")
        rows = cur.fetchall()
    conn.close()
    assert len(rows) == 1
    assert 'application="python"' in rows[0][0]
    assert not list((tmp_path / "public").iterdir())  # FusionPBX mode writes no file


def test_install_fusionpbx_needs_a_dsn(tmp_path: Path) -> None:
    result = _run(_config(tmp_path), "install", "--fusionpbx", "--domain", "demo.local", "--did", "8000", *SECRETARY)
    assert result.exit_code == 1
    assert "fusionpbx_dsn" in result.output


def test_install_fusionpbx_memcache_without_esl_is_refused_before_writing(tmp_path: Path, fusion_dsn: str) -> None:
    result = _run(_config(tmp_path, fusionpbx_cache="memcache"), "install", "--fusionpbx", "--no-reload",
                  "--domain", "demo.local", "--did", "8000", *SECRETARY, env={"VOICEAI_FUSIONPBX_DSN": fusion_dsn})
    assert result.exit_code == 1
    assert "drop --no-reload" in result.output
    conn = psycopg2.connect(fusion_dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM v_dialplans")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_render_looks_the_secretary_up_by_domain_and_did(tmp_path: Path, db: Database, cli_env: dict) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO domains (domain) VALUES ('acme.example.com')")
        cur.execute(
            "INSERT INTO secretaries (domain, name, language, recording) "
            "VALUES ('acme.example.com', 'Recepção', 'en-US', true) RETURNING id"
        )
        sid = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO secretary_dids (secretary_id, domain, did) VALUES (%s, 'acme.example.com', '+551130000000')",
            (sid,),
        )
    config = _config(tmp_path)
    found = _run(config, "render", "--domain", "acme.example.com", "--did", "+551130000000", env=cli_env)
    assert found.exit_code == 0, found.output
    assert f'data="voiceai_secretary_id={sid}"' in found.output
    assert 'data="voiceai_language=en-US"' in found.output
    assert 'data="voiceai_recording=true"' in found.output
    assert "secretary=Recepção" in found.output
    # an explicit option wins over the stored value
    forced = _run(config, "render", "--domain", "acme.example.com", "--did", "+551130000000", "--language", "pt-BR",
                  env=cli_env)
    assert 'data="voiceai_language=pt-BR"' in forced.output
    missing = _run(config, "render", "--domain", "acme.example.com", "--did", "9999", env=cli_env)
    assert missing.exit_code == 1
    assert "no secretary answers DID 9999" in missing.output


def test_render_failover_from_option_or_config(tmp_path: Path) -> None:
    def sockets(output: str) -> list[str]:
        return [a.get("data", "") for a in ET.fromstring(output).iter("action") if a.get("application") == "socket"]

    configured = _config(tmp_path, socket_failover=["10.0.0.2:8084"])
    result = _run(configured, "render", "--domain", "demo.local", "--did", "8000", *SECRETARY)
    assert result.exit_code == 0, result.output
    assert sockets(result.output) == ["127.0.0.1:8084 async full", "10.0.0.2:8084 async full"]
    given = _run(configured, "render", "--domain", "demo.local", "--did", "8000", *SECRETARY,
                 "--failover", "10.0.0.3:9000", "--failover", "10.0.0.4:9000")
    assert sockets(given.output) == ["127.0.0.1:8084 async full", "10.0.0.3:9000 async full",
                                     "10.0.0.4:9000 async full"]
    # python mode: the configured failover does not apply (one FreeSWITCH runs the handler)
    python = _run(configured, "render", "--domain", "demo.local", "--did", "8000", *SECRETARY, "--mode", "python")
    assert python.exit_code == 0, python.output
    assert sockets(python.output) == []


def test_render_dials_the_secretarys_fallback_destination(tmp_path: Path, db: Database, cli_env: dict) -> None:
    from voiceai_ivr.domain.destinations import parse_directory
    from voiceai_ivr.stores.directory import import_directory

    import_directory(db, parse_directory({
        "domain": "acme.example.com",
        "secretaries": [{"name": "Recepção", "dids": ["+551130000000"], "fallback": "Mesa"}],
        "destinations": [{"name": "Mesa", "type": "extension", "target": "1010", "timeout": 40}],
    }))
    result = _run(_config(tmp_path), "render", "--domain", "acme.example.com", "--did", "+551130000000", env=cli_env)
    assert result.exit_code == 0, result.output
    actions = [(a.get("application"), a.get("data")) for a in ET.fromstring(result.output).iter("action")]
    assert ("bridge", "user/1010@acme.example.com") in actions
    assert ("set", "call_timeout=40") in actions
