"""Real-switch suite: runs only where a FreeSWITCH answers on its Event Socket.

Without one the whole folder is left out (deselected) with one reason line in the
summary; ``VOICEAI_REQUIRE_FREESWITCH=1`` (set by ``.ci/run``) turns that into a
failure. Every test must leave the switch with zero channels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from freeswitch.harness import REQUIRE_ENV, SKIP_REASON, Switchboard, freeswitch_missing
from summaries import add_summary

HERE = Path(__file__).parent
_MISSING: list[str] = []
_SKIPPED: list[int] = []


@pytest.hookimpl(tryfirst=True)  # ahead of pytest-xdist, which reads xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(HERE)]
    if not ours:
        return
    for item in ours:  # one switch: under pytest-xdist, one worker runs them all, in order
        item.add_marker(pytest.mark.xdist_group("freeswitch"))
    missing = freeswitch_missing()
    if missing is None:
        return
    _MISSING.append(missing)
    if os.environ.get(REQUIRE_ENV, "") in ("1", "true", "yes"):
        return  # the session fixture fails every test with the reason
    # Not run here: deselected, and said once in the summary (one line, not one per test).
    items[:] = [item for item in items if item not in ours]
    config.hook.pytest_deselected(items=ours)
    _SKIPPED.append(len(ours))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _SKIPPED:
        add_summary(session.config, "", [f"{SKIP_REASON} [{_SKIPPED[0]} tests]"])


@pytest.fixture(scope="session")
def switchboard() -> Iterator[Switchboard]:
    missing = freeswitch_missing()
    if missing is not None:
        pytest.fail(f"{REQUIRE_ENV} is set but FreeSWITCH is not usable: {missing}", pytrace=False)
    board = Switchboard()
    try:
        yield board
    finally:
        board.close()


@pytest.fixture(autouse=True)
def zero_channels_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every real-switch test, ``show channels`` must be back to zero."""
    yield
    if "switchboard" not in request.fixturenames:
        return
    board: Switchboard = request.getfixturevalue("switchboard")
    left = board.wait_no_channels(20.0)
    if left != 0:
        listing = board.api("show channels")
        board.hupall()
        board.wait_no_channels(10.0)
        pytest.fail(f"{left} channel(s) left after the test:\n{listing}", pytrace=False)
