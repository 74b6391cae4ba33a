"""Music on hold under mod_python3: ``start_hold`` / ``wait_event`` / ``stop_hold``
against the session double, which (like FreeSWITCH) plays a ``local_stream://`` only
while the session thread runs it, ends it on ``uuid_break``, hangup, bridge or
``playback_timeout_sec``, and loses a break that arrives before the playback starts
(``switch_core_session_exec`` clears ``CF_BREAK``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Callable, Optional

import pytest
from doubles.fs_session import FakeAPI, FakeSession

from voiceai_ivr.channel.modpython import HOLD_BREAK_RETRY_S, ModPythonChannel
from voiceai_ivr.errors import CallGone, ValidationError

MOH = "local_stream://moh"


class _LossyAPI(FakeAPI):
    """``freeswitch.API`` whose first ``lose`` uuid_breaks never reach the channel
    (as a break that lands before the playback starts)."""

    def __init__(self, session: FakeSession, lose: int) -> None:
        super().__init__(sessions=[session])
        self.lose = lose

    def executeString(self, command: str) -> str:
        if command.startswith("uuid_break") and self.lose > 0:
            self.lose -= 1
            self.commands.append(command)
            return "+OK\n"
        return super().executeString(command)


def _lossy_leg(lose: int) -> tuple[FakeSession, _LossyAPI, ModPythonChannel]:
    """A leg on hold whose first ``lose`` breaks never arrive."""
    session = FakeSession(media_seconds=0.1)
    api = _LossyAPI(session, lose=lose)
    channel = ModPythonChannel(session, api, watch_interval=0.05)
    channel.answer()
    channel.start_hold(MOH)
    return session, api, channel


def _leg(api: Optional[FakeAPI] = None, **kwargs: object) -> tuple[FakeSession, FakeAPI, ModPythonChannel]:
    session = FakeSession(media_seconds=0.1, **kwargs)  # type: ignore[arg-type]
    api = api or FakeAPI()
    api.add(session)
    channel = ModPythonChannel(session, api, watch_interval=0.05)
    channel.answer()
    return session, api, channel


def _later(seconds: float, fn: Callable[[], None], stamps: Optional[list[float]] = None) -> threading.Timer:
    """Run ``fn`` from another thread after ``seconds``, noting when in ``stamps``."""

    def run() -> None:
        if stamps is not None:
            stamps.append(time.monotonic())
        fn()

    timer = threading.Timer(seconds, run)
    timer.daemon = True
    timer.start()
    return timer


@pytest.fixture(autouse=True)
def _no_watcher_left() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(t.name.startswith("modpython-hold") for t in threading.enumerate()):
        time.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("modpython-hold")]


def test_the_music_plays_during_the_wait_and_stops_when_the_event_is_set() -> None:
    session, api, channel = _leg()
    assert channel.start_hold(MOH) is True
    wake = threading.Event()
    set_at: list[float] = []
    _later(0.5, wake.set, set_at)
    started = time.monotonic()
    assert channel.wait_event(wake, 5.0) is True
    returned = time.monotonic()
    (heard,) = session.heard
    assert heard.source == MOH
    assert heard.started - started < 0.1  # at once, on the session thread
    assert heard.stopped_by == "uuid_break"
    assert heard.stopped is not None and heard.stopped - set_at[0] < 0.2
    assert returned - set_at[0] < 0.3
    assert api.commands == [f"uuid_break {session.uuid}"]
    # the music is the playback application, keys do not end it, and FreeSWITCH
    # itself bounds it by the wait's deadline
    assert session.applications("playback") == [MOH]
    assert ("setVariable", "playback_terminators=none") in session.log
    assert ("setVariable", "playback_timeout_sec=6") in session.log
    assert channel.stop_hold() is True
    # afterwards prompts end on a key again, and are not bounded by the hold's timeout
    assert session.variables["playback_terminators"] == "any"
    assert "playback_timeout_sec" not in session.variables
    channel.play("say:Financeiro não atendeu.")
    assert session.heard_prompts() == ["say:Financeiro não atendeu."]


def test_the_timeout_stops_the_music_and_returns_false() -> None:
    session, _api, channel = _leg()
    channel.start_hold(MOH)
    started = time.monotonic()
    assert channel.wait_event(threading.Event(), 0.4) is False
    assert 0.4 <= time.monotonic() - started < 0.7
    assert [h.stopped_by for h in session.heard] == ["uuid_break"]


def test_a_lost_break_is_sent_again() -> None:
    session, api, channel = _lossy_leg(lose=1)
    wake = threading.Event()
    set_at: list[float] = []
    _later(0.3, wake.set, set_at)
    assert channel.wait_event(wake, 5.0) is True
    (heard,) = session.heard
    assert heard.stopped_by == "uuid_break"
    assert heard.stopped is not None
    assert HOLD_BREAK_RETRY_S - 0.05 < heard.stopped - set_at[0] < HOLD_BREAK_RETRY_S + 0.25
    assert api.commands == [f"uuid_break {session.uuid}"] * 2


def test_with_every_break_lost_freeswitch_still_ends_the_music_by_the_deadline() -> None:
    session, _api, channel = _lossy_leg(lose=1000)
    started = time.monotonic()
    assert channel.wait_event(threading.Event(), 1.0) is False
    took = time.monotonic() - started
    assert 1.9 < took < 2.5  # playback_timeout_sec=2: the smallest bound FreeSWITCH honours
    assert [h.stopped_by for h in session.heard] == ["timeout"]


def test_the_music_goes_on_across_wakes() -> None:
    session, _api, channel = _leg()
    channel.start_hold(MOH)
    wake = threading.Event()
    _later(0.3, wake.set)
    assert channel.wait_event(wake, 5.0)  # the agent answered: the hold goes on
    wake.clear()
    _later(0.3, wake.set)
    assert channel.wait_event(wake, 5.0)  # the agent accepted
    first, second = session.heard
    assert first.stopped is not None and second.started - first.stopped < 0.1
    assert second.seconds >= 0.25
    assert channel.stop_hold() is True
    assert len(session.heard) == 2  # nothing plays the music after the hold


def test_keys_pressed_on_hold_are_dropped_and_do_not_end_the_music() -> None:
    session, _api, channel = _leg()
    channel.play("say:Um momento.")
    channel.start_hold(MOH)
    wake = threading.Event()
    _later(0.2, lambda: session.press("1"))
    _later(0.5, wake.set)
    assert channel.wait_event(wake, 5.0)
    session.press("2")  # between two waits: still on hold
    assert [h.stopped_by for h in session.heard] == ["uuid_break"]  # not "key"
    assert session.dropped_keys == ["1"]
    assert channel.stop_hold() is True
    assert ("flushDigits", "2") in session.log
    session.press("3")  # after the hold: a key for the next turn again
    assert channel.collect_digits("say:Tecle 1 para deixar recado.", timeout_s=1) == "3"


def test_hangup_during_the_music_raises_call_gone_at_once() -> None:
    session, api, channel = _leg()
    gone = threading.Event()
    channel.on_hangup(gone.set)
    channel.start_hold(MOH)
    hung_up: list[float] = []
    _later(0.3, session.hang_up_now, hung_up)
    with pytest.raises(CallGone):
        channel.wait_event(threading.Event(), 10.0)
    assert time.monotonic() - hung_up[0] < 0.3
    assert gone.is_set()
    assert [h.stopped_by for h in session.heard] == ["hangup"]
    assert not [c for c in api.commands if c.startswith("uuid_break")]  # nothing to break on a dead leg
    assert channel.stop_hold() is True
    channel.close()


def test_a_music_that_does_not_play_leaves_a_silent_wait(caplog: pytest.LogCaptureFixture) -> None:
    session, _api, channel = _leg(missing_sources=("local_stream://nowhere",))
    channel.start_hold("local_stream://nowhere")
    wake = threading.Event()
    _later(0.4, wake.set)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="voiceai_ivr.channel.modpython"):
        assert channel.wait_event(wake, 5.0) is True
    assert time.monotonic() - started < 0.6  # no busy loop, no overrun
    assert "did not play" in caplog.text
    assert session.applications("playback") == ["local_stream://nowhere"]  # tried once, then silence
    assert [m for m, _ in session.log].count("sleep") >= 2


def test_without_music_the_wait_returns_soon_after_the_event() -> None:
    session, _api, channel = _leg()
    wake = threading.Event()
    _later(0.3, wake.set)
    started = time.monotonic()
    assert channel.wait_event(wake, 5.0) is True
    assert time.monotonic() - started < 0.5
    assert session.heard == []
    assert channel.stop_hold() is True  # no hold: nothing to stop


def test_wait_event_refuses_a_bad_timeout_and_a_set_event_returns_at_once() -> None:
    session, _api, channel = _leg()
    with pytest.raises(ValidationError, match="timeout"):
        channel.wait_event(threading.Event(), float("nan"))
    with pytest.raises(ValidationError, match="timeout"):
        channel.wait_event(threading.Event(), "5")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="music"):
        channel.start_hold("local_stream://moh' evil")
    done = threading.Event()
    done.set()
    assert channel.wait_event(done, 5.0) is True
    assert not [m for m, _ in session.log if m == "sleep"]
