"""yamlfile: every YAML document the package reads is bounded in size, nesting and
aliases, and refused with one line naming it (issue 19, defect 4)."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from voiceai_ivr import yamlfile
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.yamlfile import MAX_DEPTH, YamlFileError


def nested_lists(levels: int) -> str:
    return "a: " + "[" * levels + "1" + "]" * levels + "\n"


def nested_maps(levels: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(levels)) + "  " * levels + "v\n"


@pytest.mark.parametrize("levels", [900, 100_000])
def test_deep_nesting_is_refused_before_pyyaml_recurses(levels: int) -> None:
    for text in (nested_lists(levels), nested_maps(min(levels, 2000))):
        with pytest.raises(YamlFileError) as err:
            yamlfile.parse(text, "destinations file")
        assert str(err.value).startswith(f"destinations file: nested deeper than {MAX_DEPTH} levels at line ")
        assert isinstance(err.value, ValidationError)


def test_the_limit_itself_is_fine() -> None:
    # the top-level mapping is one level: 63 lists inside it make 64
    assert yamlfile.parse(nested_lists(MAX_DEPTH - 1), "x") == {"a": eval("[" * 63 + "1" + "]" * 63)}
    with pytest.raises(YamlFileError):
        yamlfile.parse(nested_lists(MAX_DEPTH), "x")


def test_an_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 120):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(YamlFileError) as err:
        yamlfile.parse("\n".join(lines), "c.yaml")
    assert "more than 1000 aliases" in str(err.value)
    assert yamlfile.parse("a: &x [1]\nb: *x\n", "c.yaml") == {"a": [1], "b": [1]}  # a few are fine


def test_a_large_file_is_refused_from_its_size_without_being_read(tmp_path: Path) -> None:
    big = tmp_path / "directory.yaml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: reading it would take the time the check must not
    started = time.monotonic()
    with pytest.raises(YamlFileError) as err:
        yamlfile.load(big)
    assert time.monotonic() - started < 1.0
    assert str(err.value) == (
        f"{big}: 52,428,800 bytes, limit 5 MiB (set VOICEAI_YAML_MAX_BYTES to raise it)"
    )


def test_the_limit_is_an_environment_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: " + "x" * 3000 + "\n", encoding="utf-8")
    monkeypatch.setenv("VOICEAI_YAML_MAX_BYTES", "2K")
    with pytest.raises(YamlFileError) as err:
        yamlfile.load(path)
    assert str(err.value) == f"{path}: 3,004 bytes, limit 2,048 bytes (set VOICEAI_YAML_MAX_BYTES to raise it)"
    monkeypatch.setenv("VOICEAI_YAML_MAX_BYTES", "4KiB")
    assert yamlfile.load(path) == {"a": "x" * 3000}
    for bad in ("lots", "0", "-5", "2T"):
        monkeypatch.setenv("VOICEAI_YAML_MAX_BYTES", bad)
        with pytest.raises(YamlFileError) as err:
            yamlfile.load(path)
        assert str(err.value).startswith("VOICEAI_YAML_MAX_BYTES: must be a number of bytes")


def test_standard_input_is_read_one_byte_past_the_limit_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"a: 1\n" * 1000)

    monkeypatch.setattr(sys, "stdin", Stdin)
    with pytest.raises(YamlFileError) as err:
        yamlfile.load("-", limit=100)
    assert str(err.value) == (
        "standard input: more than 100 bytes, limit 100 bytes (set VOICEAI_YAML_MAX_BYTES to raise it)"
    )
    assert Stdin.buffer.tell() == 101


def test_ordinary_mistakes_say_where(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: [1\nb: 2\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"c.yaml: not valid YAML at line 2, column 2$"):
        yamlfile.load(path)
    path.write_bytes("a: Cl\xe9\n".encode("latin-1"))
    with pytest.raises(YamlFileError, match=r"not UTF-8 text \(byte 0xe9 at line 1\)"):
        yamlfile.load(path)
    with pytest.raises(YamlFileError, match=r"nope.yaml: cannot read \(No such file or directory\)$"):
        yamlfile.load(tmp_path / "nope.yaml")
    assert yamlfile.parse("", "x") is None
