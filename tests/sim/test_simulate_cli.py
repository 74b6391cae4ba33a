"""``voiceai-ivr simulate`` runs a scenario through the real stack (PostgreSQL, call
server, simulator) in one command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from voiceai_ivr.cli import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_simulate_json_transfer_accepted(cli_env):
    result = CliRunner().invoke(
        cli, ["simulate", str(SCENARIOS / "transfer_accepted.yaml"), "--json"], env=cli_env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert data["outcome"] == "transferred"
    assert data["legs_left_up"] == 0
    assert data["source"] == "database"
    assert data["transfers"] and data["transfers"][0]["status"]
    assert data["expect_failures"] == []
    assert any(e["from"] == "caller" and e.get("slot") for e in data["transcript"])


def test_simulate_readable_transcript(cli_env):
    result = CliRunner().invoke(cli, ["simulate", str(SCENARIOS / "transfer_accepted.yaml")], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "outcome: transferred" in result.output
    assert "legs left up: 0" in result.output


def test_simulate_refuses_a_bad_scenario_naming_the_field(tmp_path, cli_env):
    bad = tmp_path / "bad.yaml"
    bad.write_text("caller_inputs:\n  - dtmf: '12x'\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", str(bad)], env=cli_env)
    assert result.exit_code != 0
    assert "caller_inputs[0].dtmf" in result.output
