"""Summary lines of a suite (printed at the end of a run) under pytest-xdist.

A worker has no terminal of its own: what a suite would print in
``pytest_terminal_summary`` is handed to the controller with ``worker_summary``,
and tests/conftest.py prints it once there."""

from __future__ import annotations

import pytest

WORKER_SUMMARY = "voiceai_summary"


def worker_summary(config: pytest.Config, section: str, lines: list[str]) -> bool:
    """On a pytest-xdist worker, hand ``lines`` (under ``section``; "" for plain
    warning lines) to the controller; False when this process is not a worker."""
    out = getattr(config, "workeroutput", None)
    if out is None:
        return False
    out.setdefault(WORKER_SUMMARY, []).extend([section, line] for line in lines)
    return True
