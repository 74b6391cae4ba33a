"""The outbound server over real sockets, with a FreeSWITCH-like peer dialling in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Callable

import pytest

from esl.peer import FakeCall
from voiceai_ivr.channel.base import Channel
from voiceai_ivr.channel.esl import ESLChannel
from voiceai_ivr.errors import CallGone
from voiceai_ivr.esl.outbound import OutboundServer, OutboundSession
from voiceai_ivr.flows.minimal import minimal_flow


@pytest.fixture
def serve() -> Iterator[Callable[..., OutboundServer]]:
    servers: list[OutboundServer] = []

    def start(handler: Callable[[OutboundSession], None], **kwargs: object) -> OutboundServer:
        kwargs.setdefault("max_calls", 100)
        server = OutboundServer("127.0.0.1", 0, handler, **kwargs).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(1.0)


def channel_flow(flow: Callable[[Channel], None]) -> Callable[[OutboundSession], None]:
    return lambda session: flow(ESLChannel(session, listen_engine="unimrcp", grammar="builtin:speech/transcribe"))


def run_calls(calls: list[FakeCall], timeout: float = 20.0) -> None:
    for c in calls:
        c.start()
    for c in calls:
        c.join(timeout)
        assert not c.is_alive(), "fake call still running"


def test_fifty_concurrent_calls_none_failing(serve: Callable[..., OutboundServer]) -> None:
    server = serve(channel_flow(lambda ch: minimal_flow(ch, tts_engine="flite", tts_voice="kal")))
    calls = [FakeCall(server.address, inputs=[{"digits": str(1000 + i)}], media_s=0.02) for i in range(50)]
    run_calls(calls)
    for c in calls:
        assert c.error is None, c.error
        assert c.hangup_cause == "NORMAL_CLEARING"
        assert c.exited, "the handler must send exit after the linger disconnect-notice"
        apps = [a for a, _ in c.apps]
        assert apps == ["answer", "set", "set", "set", "set", "playback", "set", "playback", "playback"]
        assert c.commands[:4] == ["connect", "myevents", "event plain BACKGROUND_JOB", "linger"]
    said = {c.apps[7][1] for c in calls}
    assert len(said) == 50  # each call heard its own digits
    assert server.wait_idle(5.0)
    assert server.calls_total == 50 and server.calls_failed == 0
    assert not server._sessions


WAITS = {
    # name: (FakeCall kwargs, what the flow does)
    "execute": ({"hangup_on": "playback", "media_s": 30.0}, lambda ch: ch.play("/tmp/long.wav")),
    "collect": ({"inputs": [{"hangup": True}], "media_s": 30.0},
                lambda ch: ch.collect_digits("say:Digite", max_digits=4)),
    "listen": ({"inputs": [{"hangup": True}], "media_s": 30.0}, lambda ch: ch.listen("say:Diga", slot="intent")),
    "interruptible play": ({"hangup_on": "playback", "media_s": 30.0},
                           lambda ch: ch.play("say:Aguarde", interruptible=True)),
    "idle wait": ({"hangup_after": 0.3, "media_s": 30.0}, None),
}


@pytest.mark.parametrize("wait", list(WAITS))
def test_caller_hangup_during_any_wait_ends_the_handler_within_one_second(
    serve: Callable[..., OutboundServer], wait: str
) -> None:
    kwargs, action = WAITS[wait]
    ended: dict[str, float] = {}
    raised: dict[str, BaseException] = {}

    def flow(ch: Channel) -> None:
        if ch.data.get("Caller-Caller-ID-Number") == "1000":  # the bystander call
            minimal_flow(ch)
            return
        try:
            if action is None:
                ch.answer()
                gone = threading.Event()
                ch.on_hangup(gone.set)
                # a flow waiting on something else (an originate) reacts via on_hangup
                assert gone.wait(10)
                raise CallGone(ch.uuid, "via on_hangup")
            action(ch)
        except CallGone as exc:
            raised[ch.uuid] = exc
            raise
        finally:
            ended[ch.uuid] = time.monotonic()

    server = serve(channel_flow(flow))
    victim = FakeCall(server.address, **kwargs)  # type: ignore[arg-type]
    bystander = FakeCall(server.address, caller="1000", inputs=[{"digits": "7"}], media_s=0.05)
    run_calls([victim, bystander])
    assert victim.error is None and bystander.error is None, (victim.error, bystander.error)
    assert victim.hangup_at is not None
    assert isinstance(raised.get(victim.uuid), CallGone)
    assert ended[victim.uuid] - victim.hangup_at < 1.0
    assert victim.exited  # exit sent after the linger notice: no leaked socket
    assert bystander.hangup_cause == "NORMAL_CLEARING" and bystander.exited
    assert server.wait_idle(3.0)


def test_garbage_connection_dropped_without_affecting_others(serve: Callable[..., OutboundServer]) -> None:
    server = serve(channel_flow(minimal_flow))
    good = [FakeCall(server.address, inputs=[{"digits": "12"}], media_s=0.1) for _ in range(3)]
    for c in good:
        c.start()
    dropped = []
    for garbage in (b"\xff\xfe\xfd not utf-8\n\n", b"no colon line\n\n",
                    b"Content-Length: 12x\n\n", b"X-Big: " + b"a" * 300_000):
        raw = socket.create_connection(server.address, timeout=5)
        raw.sendall(garbage)
        raw.settimeout(3)
        started = time.monotonic()
        try:
            while raw.recv(65536):
                pass
        except ConnectionResetError:
            pass
        dropped.append(time.monotonic() - started)
        raw.close()
    # a peer that starts like FreeSWITCH and then sends garbage mid-call
    bad = FakeCall(server.address, inputs=[{"digits": "1"}], media_s=0.05,
                   garbage=b"Content-Length: 5\n\nabc\xffContent-Type garbage\n\n", garbage_on="sendmsg")
    bad.start()
    bad.join(10)
    assert bad.server_closed and not bad.exited
    for c in good:
        c.join(20)
        assert c.error is None and c.exited and c.hangup_cause == "NORMAL_CLEARING"
    assert all(t < 3 for t in dropped)
    assert server.connections_dropped >= 5
    assert server.wait_idle(3.0)


def test_over_capacity_calls_get_the_busy_message(serve: Callable[..., OutboundServer]) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def hold(session: OutboundSession) -> None:
        started.release()
        release.wait(10)
        session.hangup()

    server = serve(hold, max_calls=2, busy_source="/sounds/busy.wav")
    holders = [FakeCall(server.address) for _ in range(2)]
    for c in holders:
        c.start()
    assert started.acquire(timeout=5) and started.acquire(timeout=5)
    busy = FakeCall(server.address, media_s=0.01)
    busy.start()
    busy.join(10)
    assert busy.error is None
    assert busy.apps == [("playback", "/sounds/busy.wav")]
    assert busy.hangup_cause == "USER_BUSY" and busy.exited
    assert server.calls_busy == 1
    release.set()
    for c in holders:
        c.join(10)
        assert c.hangup_cause == "NORMAL_CLEARING"


def test_execute_protocol_details(serve: Callable[..., OutboundServer]) -> None:
    seen: dict[str, object] = {}
    fired: list[str] = []

    def handler(session: OutboundSession) -> None:
        session.on_hangup(lambda: fired.append("hangup"))
        long_arg = "line one\nline two " + "x" * 600
        ev = session.execute("log", long_arg, timeout=5)
        seen["log"] = ev.get("Application-Data")
        first = session.execute_async("playback", "a.wav")
        second = session.execute_async("playback", "b.wav")
        seen["second"] = session.wait(second, 5).get("Application-Data")
        seen["first"] = session.wait(first, 5).get("Application-Data")
        seen["undef"] = session.api(f"uuid_getvar {session.uuid} nothing_here")
        job = session.bgapi("status")
        seen["job"] = job.wait(5)
        seen["data"] = session.data.get("Caller-Destination-Number")
        session.hangup("CALL_REJECTED")
        seen["up"] = session.is_up()

    server = serve(handler)
    call = FakeCall(server.address, dest="8123")
    run_calls([call])
    assert call.error is None
    assert seen["log"] == "line one\nline two " + "x" * 600  # sent as a text/plain body
    assert (seen["first"], seen["second"]) == ("a.wav", "b.wav")
    assert seen["undef"] == "_undef_"
    assert str(seen["job"]).startswith("+OK ")
    assert seen["data"] == "8123"
    assert seen["up"] is False and call.hangup_cause == "CALL_REJECTED"
    assert fired == ["hangup"]
    assert call.exited and server.wait_idle(3)


def test_handler_exception_is_logged_and_the_call_hung_up(serve: Callable[..., OutboundServer],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(session: OutboundSession) -> None:
        raise RuntimeError("flow bug")

    server = serve(broken)
    call = FakeCall(server.address)
    run_calls([call])
    assert call.hangup_cause == "NORMAL_TEMPORARY_FAILURE" and call.exited
    assert "flow bug" in caplog.text and server.calls_failed == 1
    ok = FakeCall(server.address)
    run_calls([ok])
    assert ok.exited  # the server keeps serving


def test_stop_lets_calls_finish_and_refuses_new_ones(serve: Callable[..., OutboundServer]) -> None:
    server = serve(channel_flow(lambda ch: ch.play("/tmp/a.wav")))
    call = FakeCall(server.address, media_s=0.5)
    call.start()
    time.sleep(0.2)
    address = server.address
    cut = server.stop(5.0)
    call.join(5)
    assert cut == 0 and call.error is None and call.exited
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()


def test_connections_pending_when_the_listener_closes_get_the_busy_handler_not_a_reset(
        serve: Callable[..., OutboundServer]) -> None:
    """FreeSWITCH connected (the kernel completed the handshake) but the server had
    not accepted yet when it stopped: closing the listener would reset those
    connections, and FreeSWITCH parks such a caller for good. They are accepted
    and given the busy handler instead; only then does the listener close."""
    handled: list[str] = []

    def busy(session: OutboundSession) -> None:
        handled.append(session.uuid)

    server = serve(channel_flow(lambda ch: None), busy_handler=busy)
    blocked = threading.Event()

    def block_then_close() -> None:  # the reactor is busy while the calls connect
        blocked.set()
        time.sleep(0.5)
        server._close_listener()

    server._call_soon(block_then_close)
    assert blocked.wait(2)
    calls = [FakeCall(server.address, media_s=0.01) for _ in range(3)]
    for call in calls:
        call.start()
    for call in calls:
        call.join(10)
    assert [c.error for c in calls] == [None] * 3
    assert all(c.exited for c in calls) and sorted(handled) == sorted(c.uuid for c in calls)
    assert server.calls_busy == 3
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=1).close()


def test_stop_hangs_up_calls_past_the_grace(serve: Callable[..., OutboundServer]) -> None:
    server = serve(channel_flow(lambda ch: ch.play("/tmp/long.wav")))
    call = FakeCall(server.address, media_s=30)
    call.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert server.stop(0.3) == 1
    call.join(5)
    assert time.monotonic() - started < 5
    assert call.hangup_cause == "SYSTEM_SHUTDOWN"


def test_after_error_hook_that_takes_the_call_spares_the_hangup(serve: Callable[..., OutboundServer]) -> None:
    """``after_error`` returning True (the call's dialplan takes it back): no
    hangup, only ``exit``; False or a failing hook: the usual hangup."""
    def broken(session: OutboundSession) -> None:
        raise RuntimeError("flow bug")

    seen: list[str] = []

    def takes_back(session: OutboundSession) -> bool:
        seen.append(session.uuid)
        return True

    def hook_bug(session: OutboundSession) -> bool:
        raise ValueError("hook bug")

    kept = FakeCall(serve(broken, after_error=takes_back).address)
    cut = FakeCall(serve(broken, after_error=lambda s: False).address)
    hook_failed = FakeCall(serve(broken, after_error=hook_bug).address)
    run_calls([kept, cut, hook_failed])
    assert seen == [kept.uuid]
    # no sendmsg hangup: straight to exit (FreeSWITCH then runs the dialplan's next action)
    assert kept.exited and kept.commands[4:] == ["exit"], kept.commands
    assert cut.hangup_cause == "NORMAL_TEMPORARY_FAILURE" and cut.exited
    assert hook_failed.hangup_cause == "NORMAL_TEMPORARY_FAILURE" and hook_failed.exited


def test_at_shutdown_hook_replaces_the_hangup_past_the_grace(serve: Callable[..., OutboundServer]) -> None:
    handed: list[str] = []
    server = serve(channel_flow(lambda ch: ch.play("/tmp/long.wav")),
                   at_shutdown=lambda s: handed.append(s.uuid) or True)
    call = FakeCall(server.address, media_s=30)
    call.start()
    time.sleep(0.2)
    assert server.stop(0.3) == 1
    call.join(5)
    assert handed == [call.uuid]
    assert call.hangup_cause != "SYSTEM_SHUTDOWN"
