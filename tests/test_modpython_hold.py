"""Music on hold under mod_python3: ``ModPythonChannel.wait_event`` keeps the session
servicing media, against the session double that plays a ``uuid_broadcast`` only
when the session thread services media (as FreeSWITCH does: the broadcast is a
private event parsed by ``switch_ivr_sleep``/``switch_ivr_play_file``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Callable, Optional

import pytest
from doubles.fs_session import FakeAPI, FakeSession

from voiceai_ivr.channel.modpython import ModPythonChannel
from voiceai_ivr.errors import CallGone, ValidationError

MOH = "local_stream://moh"


def _leg() -> tuple[FakeSession, FakeAPI, ModPythonChannel]:
    session = FakeSession(media_seconds=0.1)
    api = FakeAPI(sessions=[session])
    return session, api, ModPythonChannel(session, api, watch_interval=0.05)


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


def test_a_pure_python_wait_leaves_the_caller_in_silence() -> None:
    # the pitfall itself, as the double models it: queued, never played
    session, api, _channel = _leg()
    api.executeString(f"uuid_broadcast {session.uuid} {MOH} aleg")
    threading.Event().wait(0.3)
    assert session.broadcasts and session.heard == []
    assert api.executeString(f"uuid_break {session.uuid} all").startswith("+OK")


def test_music_plays_during_the_wait_and_stops_when_the_event_is_set() -> None:
    session, api, channel = _leg()
    api.executeString(f"uuid_broadcast {session.uuid} {MOH} aleg")
    wake = threading.Event()
    set_at: list[float] = []
    _later(0.5, wake.set, set_at)
    started = time.monotonic()
    assert channel.wait_event(wake, 5.0, music=MOH) is True
    returned = time.monotonic()
    (heard,) = session.heard
    assert heard.source == MOH
    assert heard.started - started < 0.1  # at once, not when the wait ends
    assert heard.stopped_by == "uuid_break"
    assert heard.stopped is not None and heard.stopped - set_at[0] < 0.2
    assert returned - set_at[0] < 0.3
    assert api.commands[-1] == f"uuid_break {session.uuid} all"


def test_the_timeout_breaks_the_music_and_returns_false() -> None:
    session, api, channel = _leg()
    api.executeString(f"uuid_broadcast {session.uuid} {MOH} aleg")
    started = time.monotonic()
    assert channel.wait_event(threading.Event(), 0.4, music=MOH) is False
    assert 0.4 <= time.monotonic() - started < 0.7
    assert [h.stopped_by for h in session.heard] == ["uuid_break"]


def test_the_music_goes_on_across_wakes_and_the_next_prompt_is_whole() -> None:
    session, api, channel = _leg()
    api.executeString(f"uuid_broadcast {session.uuid} {MOH} aleg")
    wake = threading.Event()
    _later(0.3, wake.set)
    assert channel.wait_event(wake, 5.0, music=MOH)  # the agent answered: the hold goes on
    wake.clear()
    _later(0.3, wake.set)
    assert channel.wait_event(wake, 5.0, music=MOH)  # the agent accepted
    first, second = session.heard
    assert first.stopped is not None and second.started - first.stopped < 0.1
    assert second.seconds >= 0.25
    # the flow stops the music itself (Switch.break_media): nothing is playing any more,
    # so FreeSWITCH keeps CF_BREAK for the next prompt; the channel consumes it first
    assert api.executeString(f"uuid_break {session.uuid} all").startswith("+OK")
    channel.play("say:Financeiro não atendeu.")
    assert session.cut == []
    assert session.played()[-1] == "say:Financeiro não atendeu."
    assert len(session.heard) == 2  # nothing plays the music again after the hold


def test_a_break_left_over_cuts_a_bare_prompt() -> None:
    # why the channel settles first: the double (like switch_ivr_play_file) stops at frame one
    session = FakeSession()
    api = FakeAPI(sessions=[session])
    api.executeString(f"uuid_break {session.uuid} all")
    assert session.streamFile("say:Financeiro não atendeu.") == 0
    assert session.cut == ["say:Financeiro não atendeu."]


def test_without_music_the_wait_still_returns_on_the_event() -> None:
    session, _api, channel = _leg()
    wake = threading.Event()
    _later(0.3, wake.set)
    started = time.monotonic()
    assert channel.wait_event(wake, 5.0) is True
    assert time.monotonic() - started < 0.6
    assert session.heard == []
    channel.play("say:olá")
    assert session.cut == []


def test_hangup_during_the_music_raises_call_gone_at_once() -> None:
    session, api, channel = _leg()
    gone = threading.Event()
    channel.on_hangup(gone.set)
    api.executeString(f"uuid_broadcast {session.uuid} {MOH} aleg")
    hung_up: list[float] = []
    _later(0.3, session.hang_up_now, hung_up)
    with pytest.raises(CallGone):
        channel.wait_event(threading.Event(), 10.0, music=MOH)
    assert time.monotonic() - hung_up[0] < 0.3
    assert gone.is_set()
    assert [h.stopped_by for h in session.heard] == ["hangup"]
    assert not [c for c in api.commands if c.startswith("uuid_break")]  # nothing to break on a dead leg
    channel.close()


def test_wait_event_refuses_a_bad_timeout_and_a_set_event_returns_at_once() -> None:
    session, _api, channel = _leg()
    with pytest.raises(ValidationError, match="timeout"):
        channel.wait_event(threading.Event(), float("nan"))
    with pytest.raises(ValidationError, match="timeout"):
        channel.wait_event(threading.Event(), "5")  # type: ignore[arg-type]
    done = threading.Event()
    done.set()
    assert channel.wait_event(done, 5.0) is True
    assert not [m for m, _ in session.log if m == "sleep"]
