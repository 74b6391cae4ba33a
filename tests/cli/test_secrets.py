"""Secrets on the command line (issue 12, point 8): a malformed DSN is never echoed
with its password, ``config show`` masks passwords inside URLs and DSNs, and
exports of customers' data are readable by their owner only."""

from __future__ import annotations

import csv
import io
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores.callbacks import CallbackRequest, save_confirmed_callback
from voiceai_ivr.stores.db import Database

PASSWORD = "S3cretPw9"

MALFORMED_DSNS = [
    f"postgresql//voiceai:{PASSWORD}@db.example/voiceai",  # a missing ':' (libpq echoes the whole text)
    f"postgresql://voiceai:{PASSWORD}@[::1/voiceai",  # unterminated IPv6 host
    f"postgresql://voiceai:{PASSWORD}%zz@db.example/voiceai",  # bad percent-encoding (libpq quotes it)
    f"host=db.example password='{PASSWORD}",  # unterminated quote
    f"host=db.example passwrd={PASSWORD}",  # a misspelt option
    PASSWORD,  # the password pasted alone
]


@pytest.mark.parametrize("dsn", MALFORMED_DSNS)
@pytest.mark.parametrize(
    "args",
    [
        ("destinations", "list", "--domain", "demo.local"),
        ("callbacks", "list"),
        ("db", "status"),
        ("outbox", "status"),
        ("dispatch-callbacks",),
        ("config", "check"),
    ],
)
def test_a_malformed_dsn_is_refused_without_echoing_its_password(tmp_path: Path, dsn: str, args) -> None:
    env = {"VOICEAI_DATABASE_DSN": dsn, "VOICEAI_DATA_DIR": str(tmp_path), "VOICEAI_CONFIG": ""}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert PASSWORD not in result.output
    assert "VOICEAI_DATABASE_DSN (database.dsn): not a PostgreSQL connection string" in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_a_malformed_fusionpbx_dsn_is_named_and_masked(tmp_path: Path) -> None:
    env = {
        "VOICEAI_FUSIONPBX_DSN": f"postgres//fusionpbx:{PASSWORD}@pbx/fusionpbx",
        "VOICEAI_DATA_DIR": str(tmp_path),
        "VOICEAI_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["config", "show"], env=env)
    assert result.exit_code == 1
    assert PASSWORD not in result.output
    assert "VOICEAI_FUSIONPBX_DSN (dialplan.fusionpbx_dsn)" in result.stderr


def test_config_show_masks_passwords_inside_urls_and_dsns(tmp_path: Path) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(
        "helpdesk: {url: 'https://bot:HdPass77@helpdesk.example/api'}\n"
        "llm: {url: 'https://x:LlmPass88@llm.example/v1'}\n"
        "dialplan: {fusionpbx_dsn: \"host=pbx dbname=fusionpbx user=fusionpbx password='Fu sion99'\"}\n",
        encoding="utf-8",
    )
    env = {
        "VOICEAI_CONFIG": str(conf),
        "VOICEAI_DATABASE_DSN": f"postgresql://voiceai:{PASSWORD}@db.example:5432/voiceai?sslmode=require",
        "VOICEAI_DATA_DIR": str(tmp_path),
    }
    for fmt in ([], ["--json"]):
        shown = CliRunner().invoke(cli, ["config", "show", *fmt], env=env)
        assert shown.exit_code == 0, shown.output
        out = shown.output
        for secret in (PASSWORD, "HdPass77", "LlmPass88", "Fu sion99", "sion99"):
            assert secret not in out, (secret, out)
        # what an operator needs to check stays readable
        assert "postgresql://voiceai:***@db.example:5432/voiceai?sslmode=require" in out
        assert "https://bot:***@helpdesk.example/api" in out
        assert "host=pbx dbname=fusionpbx user=fusionpbx password='***'" in out


# --------------------------------------------------------------------------- export files


@pytest.fixture
def seeded(db: Database) -> None:
    t0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)
    for i in range(3):
        request = CallbackRequest(
            domain="a.example",
            number_e164=f"+55119876540{i:02d}",
            window_start=t0 + timedelta(hours=1),
            window_end=t0 + timedelta(hours=3),
            reason=f"motivo {i}",
        )
        save_confirmed_callback(db, request, confirmed_messages())


@pytest.mark.parametrize("umask", [0o000, 0o022])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_callbacks_export_file_is_private_whatever_the_umask(
    cli_env: dict[str, str], seeded: None, tmp_path: Path, umask: int, fmt: str
) -> None:
    target = tmp_path / f"out.{fmt}"
    old = os.umask(umask)
    try:
        result = CliRunner().invoke(
            cli, ["callbacks", "export", "--format", fmt, "--output", str(target)], env=cli_env, catch_exceptions=False
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    text = target.read_text(encoding="utf-8")
    if fmt == "csv":
        assert len(list(csv.reader(io.StringIO(text)))) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_a_failed_export_leaves_the_previous_file_untouched(cli_env: dict[str, str], seeded: None, tmp_path: Path,
                                                             db: Database) -> None:
    target = tmp_path / "out.csv"
    target.write_text("the previous export\n", encoding="utf-8")
    with db.cursor() as cur:  # the stream fails part-way: its table is gone
        cur.execute("ALTER TABLE callbacks RENAME TO callbacks_gone")
    result = CliRunner().invoke(cli, ["callbacks", "export", "--output", str(target)], env=cli_env)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert target.read_text(encoding="utf-8") == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
