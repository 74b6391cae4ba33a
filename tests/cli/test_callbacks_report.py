"""`voiceai-ivr callbacks list|show|stats|export` against a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.stores.callbacks import CallbackRequest, create_or_update_callback

T0 = datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)


def _add(cur, domain: str, number: str, *, status: str = "pending", dest: str = "Financeiro",
         reason: str = "boleto", created: datetime = T0, done_after: float = 0.0) -> str:
    req = CallbackRequest(domain=domain, number_e164=number, window_start=created + timedelta(hours=1),
                          window_end=created + timedelta(hours=3), reason=reason, destination_name=dest)
    cb, _ = create_or_update_callback(cur, req)
    completed = created + timedelta(seconds=done_after) if status == "completed" else None
    cur.execute("UPDATE callbacks SET status = %s, created_at = %s, completed_at = %s WHERE id = %s",
                (status, created, completed, cb.id))
    return cb.public_id


@pytest.fixture
def seeded(db):
    with db.transaction() as cur:
        ids = {
            "a1": _add(cur, "a.example", "+5511990000001", status="completed", done_after=600),
            "a2": _add(cur, "a.example", "+5511990000002", status="completed", done_after=1800),
            "a3": _add(cur, "a.example", "+5511990000003", status="failed", dest="Suporte"),
            "a4": _add(cur, "a.example", "+5511990000004", reason="=HYPERLINK(\"http://x\")",
                       created=T0 + timedelta(days=2)),
            "b1": _add(cur, "b.example", "+5511990000005"),
        }
    return ids


def run(cli_env, *args):
    result = CliRunner().invoke(cli, list(args), env=cli_env, catch_exceptions=False)
    return result


def test_list_filters_by_domain_status_and_dates(cli_env, seeded):
    r = run(cli_env, "callbacks", "list", "--domain", "a.example", "--json")
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert {row["public_id"] for row in rows} == {seeded[k] for k in ("a1", "a2", "a3", "a4")}
    r = run(cli_env, "callbacks", "list", "--domain", "a.example", "--status", "failed", "--json")
    assert [json.loads(x)["public_id"] for x in r.output.splitlines()] == [seeded["a3"]]
    r = run(cli_env, "callbacks", "list", "--domain", "a.example", "--from", "2026-11-25", "--json")
    assert [json.loads(x)["public_id"] for x in r.output.splitlines()] == [seeded["a4"]]


def test_bad_dates_are_refused_with_the_option_named(cli_env, seeded):
    r = run(cli_env, "callbacks", "list", "--from", "yesterday")
    assert r.exit_code != 0 and "--from" in r.output and "ISO-8601" in r.output
    r = run(cli_env, "callbacks", "stats", "--from", "2026-11-25", "--to", "2026-11-20")
    assert r.exit_code != 0 and "--to" in r.output


def test_stats_median_and_rate_per_destination(cli_env, seeded):
    r = run(cli_env, "callbacks", "stats", "--domain", "a.example", "--json")
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["total"] == 4
    assert stats["by_status"]["completed"] == 2 and stats["by_status"]["failed"] == 1
    assert stats["median_seconds_to_callback"] == pytest.approx(1200.0)
    assert stats["completion_rate"] == pytest.approx(2 / 3, abs=1e-3)
    per = {d["destination"]: d for d in stats["per_destination"]}
    assert per["Financeiro"]["completion_rate"] == 1.0
    assert per["Suporte"]["completion_rate"] == 0.0


def test_export_csv_is_valid_and_neutralises_formulas(cli_env, seeded, tmp_path):
    out = tmp_path / "cb.csv"
    r = run(cli_env, "callbacks", "export", "--format", "csv", "--domain", "a.example", "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 4
    formula = next(row for row in rows if row["public_id"] == seeded["a4"])
    assert formula["reason"].startswith("'=")
    assert all(row["number_e164"].startswith("+55") for row in rows)


def test_export_json_streams_a_valid_array(cli_env, seeded):
    r = run(cli_env, "callbacks", "export", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert len(data) == 5 and {d["domain"] for d in data} == {"a.example", "b.example"}


def test_show_with_domain_scope(cli_env, seeded):
    r = run(cli_env, "callbacks", "show", seeded["b1"], "--json")
    assert r.exit_code == 0 and json.loads(r.output)["domain"] == "b.example"
    r = run(cli_env, "callbacks", "show", seeded["b1"], "--domain", "a.example")
    assert r.exit_code != 0 and "no callback" in r.output
    r = run(cli_env, "callbacks", "show", "not-a-uuid")
    assert r.exit_code != 0 and "UUID" in r.output
