"""Summary lines a suite prints at the end of a run, in one process or under
pytest-xdist.

A suite hands its lines to ``add_summary`` at ``pytest_sessionfinish`` (which
runs before the terminal summary); tests/conftest.py prints them once, under
their section. A pytest-xdist worker has no terminal of its own: there the lines
go to the controller with the worker's output, and the controller prints them."""

from __future__ import annotations

import pytest

WORKER_SUMMARY = "voiceai_summary"
LINES = pytest.StashKey[list]()


def add_summary(config: pytest.Config, section: str, lines: list[str]) -> None:
    """``lines`` to print at the end under ``section`` ("": plain warning lines)."""
    out = getattr(config, "workeroutput", None)
    pairs = [[section, line] for line in lines]
    if out is not None:
        out.setdefault(WORKER_SUMMARY, []).extend(pairs)
    else:
        config.stash.setdefault(LINES, []).extend(pairs)
