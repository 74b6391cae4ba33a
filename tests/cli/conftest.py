"""The CLI tests' shared parts: ``run`` invokes ``voiceai-ivr`` in-process against
the test database (a traceback fails the test), ``imported`` loads the sample
directory (``demo.local``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
from click.testing import CliRunner, Result

from voiceai_ivr.cli import cli

SAMPLE = Path(__file__).resolve().parents[2] / "conf" / "directory.sample.yaml"


@pytest.fixture
def run(cli_env: dict[str, str]):
    runner = CliRunner()

    def invoke(*args: str, env: Optional[dict[str, str]] = None) -> Result:
        return runner.invoke(cli, list(args), env={**cli_env, **(env or {})}, catch_exceptions=False)

    return invoke


@pytest.fixture
def imported(run) -> None:
    result = run("destinations", "import", str(SAMPLE))
    assert result.exit_code == 0, result.output
