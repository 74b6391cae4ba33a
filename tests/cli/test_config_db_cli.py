from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.config import Config, check_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "conf" / "voiceai.yaml"


def _settings(obj: object, prefix: str = "") -> set[str]:
    """Dotted paths of every setting of a config dataclass instance."""
    out = set()
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if f.name == "source":
            continue
        path = f"{prefix}{f.name}"
        out.add(path)
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out |= _settings(value, path + ".")
    return out


def _keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in data.items():
        out.add(f"{prefix}{k}")
        if isinstance(v, dict) and v and f"{prefix}{k}" not in ("speech.tts_voice", "helpdesk.whatsapp.templates"):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_sample_config_documents_every_setting_and_is_valid() -> None:
    _cfg, problems = check_config(SAMPLE, env={})
    assert problems == []
    documented = _keys(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))
    missing = _settings(Config()) - documented
    assert not missing, f"conf/voiceai.yaml lacks: {sorted(missing)}"
    # every setting line carries a comment or sits under a commented section
    text = SAMPLE.read_text(encoding="utf-8")
    assert text.count("#") > 60


def test_config_check_lists_every_problem_with_path_and_no_secret(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "esl: {port: 70000, password: S3cr3t-esl-pass}\n"
        "server: {max_calls: 0}\n"
        "database: {pool_size: abc, dsn: 'postgresql://u:TopSecretPw@h/db'}\n"
        "helpdesk: {url: ftp://x, token: HelpdeskToken123}\n"
        "nosuch: 1\n"
    )
    result = CliRunner().invoke(cli, ["--config", str(bad), "config", "check"], env={"VOICEAI_CONFIG": ""})
    assert result.exit_code == 1
    out = result.output
    for line in (
        "esl.port: must be 1-65535",
        "server.max_calls: must be 1-100000",
        "database.pool_size: must be a whole number",
        "helpdesk.url: must start with http:// or https://",
        "nosuch: unknown setting",
    ):
        assert line in out, out
    for secret in ("S3cr3t-esl-pass", "TopSecretPw", "HelpdeskToken123"):
        assert secret not in out


@pytest.mark.parametrize("name", ["ACME & Co", "O'Brien, Souza & Cia.", "Padaria São João 24h", "Ações = #1 (RH)"])
def test_config_check_accepts_caller_id_names_admins_type(tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"callbacks": {"caller_id_name": name, "caller_id_number": "+551140040000"}}))
    _cfg, problems = check_config(path, env={})
    assert problems == []


@pytest.mark.parametrize(("name", "number", "line"), [
    ('ACME "Co"', "+551140040000", "callbacks.caller_id_name: \" not allowed: FreeSWITCH's SIP module cuts"),
    ("100% ACME", "+551140040000", "callbacks.caller_id_name: % not allowed: FreeSWITCH's SIP module URL-decodes"),
    ("ACME {x}", "+551140040000", "callbacks.caller_id_name: { } not allowed: brackets delimit"),
    ("ACME ☎", "+551140040000", "callbacks.caller_id_name: '☎' not allowed (use letters, digits, spaces and"),
    ("ACME", "+55 11 4004", "callbacks.caller_id_number: not a caller id number"),
])
def test_config_check_refuses_caller_ids_freeswitch_would_not_deliver(
    tmp_path: Path, name: str, number: str, line: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"callbacks": {"caller_id_name": name, "caller_id_number": number}},
                                   allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "check"], env={"VOICEAI_CONFIG": ""})
    assert result.exit_code == 1
    assert line in result.output, result.output
    assert "Traceback" not in result.output


def test_one_token_for_two_domains_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "Shared-Token-0123456789"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"api": {"tokens": [
        {"token": secret, "domain": "a.example"},
        {"token": "Other-Token-0123456789", "domain": "c.example"},
        {"token": secret, "domain": "b.example"},
    ]}}))
    result = CliRunner().invoke(cli, ["--config", str(path), "config", "check"], env={"VOICEAI_CONFIG": ""})
    assert result.exit_code == 1
    assert "api.tokens[2].token: the same token as api.tokens[0] (one token, one domain" in result.output
    assert secret not in result.output
    env_pairs = f"a.example:{secret},b.example:{secret}"
    _cfg, problems = check_config(None, env={"VOICEAI_API_TOKENS": env_pairs})
    assert problems == ["VOICEAI_API_TOKENS (api.tokens[1].token): the same token as api.tokens[0] "
                        "(one token, one domain: give each domain its own token)"]
    # and at start: the API refuses to serve with such a list
    from voiceai_ivr.api.app import ApiApp
    from voiceai_ivr.config import APIToken
    from voiceai_ivr.errors import ConfigError

    cfg = Config()
    cfg.api.tokens = [APIToken(secret, "a.example"), APIToken(secret, "b.example")]
    with pytest.raises(ConfigError) as err:
        ApiApp(cfg, None)  # type: ignore[arg-type]
    assert secret not in str(err.value)


def test_config_check_ok_and_show_redacts(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("esl: {password: S3cr3t-esl-pass}\nhelpdesk: {url: 'http://hd.example', token: Tok123456}\n")
    runner = CliRunner()
    env = {"VOICEAI_CONFIG": str(good), "VOICEAI_DATABASE_DSN": "postgresql://u:DbPw999@h/db"}
    ok = runner.invoke(cli, ["config", "check"], env=env)
    assert ok.exit_code == 0 and "OK" in ok.output
    shown = runner.invoke(cli, ["config", "show", "--json"], env=env)
    assert shown.exit_code == 0
    data = json.loads(shown.output)
    assert data["esl"]["password"] == "***"
    assert data["helpdesk"]["token"] == "***"
    assert data["database"]["dsn"] == "postgresql://u:***@h/db"  # the password only
    assert data["helpdesk"]["url"] == "http://hd.example"
    for secret in ("S3cr3t-esl-pass", "Tok123456", "DbPw999"):
        assert secret not in shown.output
    yaml_out = runner.invoke(cli, ["config", "show"], env=env)
    assert yaml_out.exit_code == 0 and "DbPw999" not in yaml_out.output


def test_db_migrate_twice_and_status(empty_db_dsn: str, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"VOICEAI_DATABASE_DSN": empty_db_dsn, "VOICEAI_DATA_DIR": str(tmp_path), "VOICEAI_CONFIG": ""}
    first = runner.invoke(cli, ["db", "migrate"], env=env)
    assert first.exit_code == 0, first.output
    assert "applied 001_initial.sql" in first.output
    second = runner.invoke(cli, ["db", "migrate"], env=env)
    assert second.exit_code == 0
    assert "nothing to apply" in second.output and "applied 0" not in second.output
    status = runner.invoke(cli, ["db", "status", "--json"], env=env)
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)
    assert info["mode"] == "external" and info["running"] is True
    assert info["pending"] == [] and info["applied"][0]["name"] == "001_initial.sql"
    human = runner.invoke(cli, ["db", "status"], env=env)
    assert "external" in human.output and "pending:        none" in human.output
    assert empty_db_dsn not in human.output
    stop = runner.invoke(cli, ["db", "stop"], env=env)
    assert stop.exit_code != 0 and "only manages the embedded server" in stop.output


def test_db_status_external_unreachable_exits_nonzero(tmp_path: Path) -> None:
    env = {
        "VOICEAI_DATABASE_DSN": f"postgresql://postgres@/x?host={tmp_path}&port=1",
        "VOICEAI_DATA_DIR": str(tmp_path),
        "VOICEAI_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["db", "status"], env=env)
    assert result.exit_code == 1
    assert "running:        no (unreachable)" in result.output


@pytest.fixture
def private_dir() -> Iterator[Path]:
    # Not tmp_path: when root, pgserver runs postgres as user "pgserver", and a new
    # pytest session elsewhere resets /tmp/pytest-of-root to 0700, locking it out.
    root = Path(tempfile.gettempdir()) / "voiceai-test-pg"
    root.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="cli", dir=root))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_lifecycle_and_cli_speed(private_dir: Path) -> None:
    """Real console script against the embedded server: start, stay up, answer fast, stop."""
    exe = Path(sys.executable).with_name("voiceai-ivr")
    env = dict(os.environ)
    env.pop("VOICEAI_DATABASE_DSN", None)
    env.update(VOICEAI_DATA_DIR=str(private_dir / "data"), VOICEAI_CONFIG="")

    def run(*args: str) -> tuple[subprocess.CompletedProcess, float]:
        t0 = time.monotonic()
        proc = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=120)
        return proc, time.monotonic() - t0

    try:
        proc, _ = run("db", "status")
        assert proc.returncode == 0 and "not created yet" in proc.stdout
        proc, _ = run("db", "migrate")  # initdb + start + migrate
        assert proc.returncode == 0, proc.stderr
        assert "applied 001_initial.sql" in proc.stdout
        assert "XDG_RUNTIME_DIR" not in proc.stderr
        timings = []
        for _ in range(3):
            proc, took = run("db", "migrate")
            assert proc.returncode == 0 and "nothing to apply" in proc.stdout
            timings.append(took)
        proc, took = run("db", "status")
        timings.append(took)
        assert proc.returncode == 0 and "running:        yes" in proc.stdout
        best = min(timings)
        print(f"\nCLI against running embedded database: best {best:.3f}s, all {[round(t, 3) for t in timings]}")
        assert best < 3.0
    finally:
        proc, _ = run("db", "stop")
    assert proc.returncode == 0 and "stopped" in proc.stdout, proc.stderr
    proc, _ = run("db", "status")
    assert "running:        no" in proc.stdout


@pytest.mark.parametrize(
    ("failover", "problem"),
    [
        (["127.0.0.1:8084"], "dialplan.socket_failover[0]: 127.0.0.1:8084 is listed twice"),
        (["10.0.0.2"], "dialplan.socket_failover[0]: must be HOST:PORT"),
        (["10.0.0.2:8084 async full"], "dialplan.socket_failover[0]: must be a whole number 1-65535"),
        ("10.0.0.2:8084", "dialplan.socket_failover: must be a list"),
    ],
)
def test_config_check_refuses_bad_failover_addresses(tmp_path: Path, failover: object, problem: str) -> None:
    path = tmp_path / "failover.yaml"
    path.write_text(yaml.safe_dump({"dialplan": {"socket_failover": failover}}))
    _cfg, problems = check_config(path, env={})
    assert any(p.startswith(problem) for p in problems), problems


def test_config_check_accepts_failover_addresses(tmp_path: Path) -> None:
    path = tmp_path / "failover.yaml"
    path.write_text(yaml.safe_dump({"dialplan": {"socket_failover": ["10.0.0.2:8084", "ivr3.internal:9000"]}}))
    _cfg, problems = check_config(path, env={})
    assert not [p for p in problems if "failover" in p], problems
