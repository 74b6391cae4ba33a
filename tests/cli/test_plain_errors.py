"""Bad input on the command line: one clear line naming the option, variable or
file the user typed and why, a non-zero exit, no traceback, nothing half-written
(issue 12, point 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import Result

from voiceai_ivr.stores.db import Database

D = ["--domain", "demo.local"]


def one_error_line(result: Result) -> str:
    """The failure's stderr: exactly one line starting with ``Error:``."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("args", [("config", "show"), ("destinations", "list", *D), ("callbacks", "list")])
def test_a_latin1_config_file_is_one_clear_error_for_every_command(run, tmp_path: Path, args) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("esl:\n  password: Cl\xe9Con\n".encode("latin-1"))
    line = one_error_line(run("--config", str(path), *args))
    assert line == f"Error: invalid configuration: {path}: not UTF-8 text (byte 0xe9 at line 2); save it as UTF-8"
    checked = run("--config", str(path), "config", "check")  # lists problems, one per line
    assert checked.exit_code == 1
    assert checked.stderr.splitlines() == [
        f"{path}: 1 problem(s)",
        f"  {path}: not UTF-8 text (byte 0xe9 at line 2); save it as UTF-8",
    ]


@pytest.mark.parametrize(
    ("value", "reason"), [("abc", "must be a whole number"), ("99999", "must be 1-65535"), ("-1", "must be 1-65535")]
)
def test_a_bad_esl_port_variable_is_reported_once_and_named(run, value: str, reason: str) -> None:
    result = run("config", "check", env={"VOICEAI_ESL_PORT": value})
    assert result.exit_code == 1
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert problems == [f"VOICEAI_ESL_PORT (esl.port): {reason}"], result.stderr
    line = one_error_line(run("destinations", "list", *D, env={"VOICEAI_ESL_PORT": value}))
    assert line == f"Error: invalid configuration: VOICEAI_ESL_PORT (esl.port): {reason}"


def test_a_setting_from_the_file_keeps_its_path(run, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("esl: {port: abc}\n", encoding="utf-8")
    result = run("--config", str(path), "config", "check")
    assert result.exit_code == 1
    assert [line.strip() for line in result.stderr.splitlines()[1:]] == ["esl.port: must be a whole number"]


# --------------------------------------------------------------------------- exports to a missing folder


def test_destinations_export_into_a_missing_folder(run, imported, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "x.yaml"
    line = one_error_line(run("destinations", "export", *D, "--output", str(target)))
    assert "--output" in line and str(target.parent) in line and "does not exist" in line, line
    assert not (tmp_path / "missing").exists()


def test_callbacks_export_into_a_missing_folder(run, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.csv"
    line = one_error_line(run("callbacks", "export", "--output", str(target)))
    assert "--output" in line and str(target.parent) in line and "does not exist" in line, line
    assert not target.parent.exists()


def test_callbacks_export_onto_a_directory_is_refused(run, tmp_path: Path) -> None:
    before = sorted(os.listdir(tmp_path))
    result = run("callbacks", "export", "--output", str(tmp_path))
    assert result.exit_code == 2
    assert "--output" in result.stderr and "is a directory" in result.stderr, result.stderr
    assert sorted(os.listdir(tmp_path)) == before


# --------------------------------------------------------------------------- simulate


def test_simulate_a_binary_file(run, tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    line = one_error_line(run("simulate", str(path)))
    assert str(path) in line and "UTF-8" in line, line


# --------------------------------------------------------------------------- callbacks list


@pytest.mark.parametrize("command", ["list", "stats", "export"])
def test_callbacks_to_before_from_names_both_options(run, command: str) -> None:
    result = run("callbacks", command, "--from", "2026-11-02", "--to", "2026-11-01")
    assert result.exit_code == 2
    assert "--to must be after --from" in result.stderr, result.stderr
    assert "since" not in result.stderr and "until" not in result.stderr


# --------------------------------------------------------------------------- destinations


@pytest.mark.parametrize("utterance", ["", "   "])
def test_resolve_an_empty_utterance_is_refused_with_its_reason(run, imported, utterance: str) -> None:
    result = run("destinations", "resolve", *D, utterance)
    assert result.exit_code == 2
    assert "Error: Invalid value for UTTERANCE: is empty: give the words a caller would say" in result.stderr
    assert "reason:" not in result.stdout


def test_removing_a_fallback_destination_says_what_to_do(run, imported, db: Database) -> None:
    result = run("destinations", "remove", *D, "Financeiro")
    assert result.exit_code == 1
    text = result.stderr
    assert "secretaries[0]" not in text, text
    assert "Recepção" in text and "fallback" in text and "Financeiro" in text, text
    assert "destinations update" in text or "destinations import" in text, text
    assert text.rstrip().endswith("Nothing was written"), text
    shown = run("destinations", "show", *D, "Financeiro")
    assert shown.exit_code == 0  # still there


def test_removing_a_destination_another_destination_falls_back_to(run, imported) -> None:
    added = run(
        "destinations", "add", *D, "--name", "Vendas", "--type", "extension", "--target", "3000",
        "--fallback", "destination:Suporte Técnico",
    )
    assert added.exit_code == 0, added.output
    result = run("destinations", "remove", *D, "Suporte Técnico")
    assert result.exit_code == 1
    assert "destinations[" not in result.stderr, result.stderr
    assert "Vendas" in result.stderr and "--fallback" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("destinations", "list", "--domain", "bad domain!"),
        ("destinations", "show", "--domain", "bad domain!", "X"),
        ("destinations", "export", "--domain", "bad domain!"),
        ("destinations", "resolve", "--domain", "bad domain!", "financeiro"),
        ("destinations", "remove", "--domain", "bad domain!", "X"),
    ],
)
def test_a_malformed_domain_is_refused(run, args) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "--domain" in result.stderr and "not a valid domain name" in result.stderr, result.stderr
    assert "Traceback" not in result.output
