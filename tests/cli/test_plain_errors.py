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


# --------------------------------------------------------------------------- YAML bounds (issue 19, defect 4)


DEEP = "domain: demo.local\ndestinations: " + "[" * 900 + "]" * 900 + "\n"


@pytest.mark.parametrize("how", ["import", "config", "simulate", "option"])
def test_deeply_nested_yaml_is_one_line_for_every_command(run, tmp_path: Path, how: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP, encoding="utf-8")
    if how == "import":
        line = one_error_line(run("destinations", "import", str(path)))
        assert line == f"Error: {path}: nested deeper than 64 levels at line 2, column 78"
    elif how == "config":
        line = one_error_line(run("--config", str(path), "destinations", "list", *D))
        assert line == f"Error: invalid configuration: {path}: nested deeper than 64 levels at line 2, column 78"
    elif how == "simulate":
        line = one_error_line(run("simulate", str(path)))
        assert line == f"Error: {path}: nested deeper than 64 levels at line 2, column 78"
    else:
        result = run("destinations", "add", *D, "X", "--type", "extension", "--target", "1001",
                     "--hours", "[" * 900 + "]" * 900)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert "nested deeper than 64 levels" in result.output, result.output


def test_a_50_mb_directory_is_refused_at_once(tmp_path: Path) -> None:
    """Measured in a process of its own: refused from the file's size, in well
    under a second and without reading it (it used to take 81 s and 1.15 GB)."""
    import json
    import subprocess
    import sys

    path = tmp_path / "directory.yaml"
    entry = "  - {name: Destino, type: extension, target: '1001', aliases: [a, b, c]}\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("domain: demo.local\ndestinations:\n")
        fh.write(entry * (50 * 1024 * 1024 // len(entry)))
    size = path.stat().st_size
    probe = (
        "import json, resource, sys, time\n"
        "from click.testing import CliRunner\n"
        "from voiceai_ivr.cli import cli\n"
        "t = time.monotonic()\n"
        "r = CliRunner().invoke(cli, ['destinations', 'import', sys.argv[1]], env={'VOICEAI_CONFIG': ''})\n"
        "print(json.dumps({'s': time.monotonic() - t, 'code': r.exit_code, 'out': r.output,\n"
        "                  'rss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
    )
    small = tmp_path / "small.yaml"
    small.write_text("a: [1\n", encoding="utf-8")
    got = {}
    for name in (path, small):
        done = subprocess.run([sys.executable, "-c", probe, str(name)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "VOICEAI_DATABASE_DSN": "postgresql://nobody@127.0.0.1:1/none"})
        got[name] = json.loads(done.stdout.strip().splitlines()[-1])
    big = got[path]
    assert big["code"] != 0
    assert big["out"].strip() == (
        f"Error: {path}: {size:,} bytes, limit 5 MiB (set VOICEAI_YAML_MAX_BYTES to raise it)"
    )
    assert big["s"] < 1.0, big
    # the file costs no memory: the same peak as refusing a 6-byte file
    assert big["rss_kib"] - got[small]["rss_kib"] < 16 * 1024, got
