"""The inbound client against a FreeSWITCH-like peer on a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from esl.peer import FakeInbound
from voiceai_ivr.errors import AuthError, CommandError, ESLDisconnected, ESLTimeout
from voiceai_ivr.esl.inbound import InboundClient


def answer(cmd: str) -> str:
    if cmd == "status":
        return "UP 0 years, 0 days\n"
    if cmd.startswith("originate") and "user_busy" in cmd:
        return "-ERR USER_BUSY\n"
    if cmd.startswith("originate"):
        return "+OK 127f8c19-0fc4-4ec4-92b7-d5a4727d9904\n"
    if cmd.startswith("slow"):
        time.sleep(1.0)
        return "+OK slow\n"
    if cmd.startswith("echo "):
        return cmd[5:] + "\n"
    return f"-ERR {cmd.split(' ')[0]} Command not found!\n"


@pytest.fixture
def fs() -> Iterator[FakeInbound]:
    peer = FakeInbound(api=answer)
    yield peer
    peer.close()


def client(peer: FakeInbound, **kwargs: object) -> InboundClient:
    return InboundClient("127.0.0.1", peer.port, "ClueCon", timeout=3.0, reconnect_max_delay=0.2,
                         **kwargs).connect()  # type: ignore[arg-type]


def test_auth_api_and_subscription(fs: FakeInbound) -> None:
    with client(fs, events=["CHANNEL_HANGUP_COMPLETE"]) as c:
        assert c.api("status").startswith("UP 0 years")
        assert c.api("nosuchcommand").startswith("-ERR nosuchcommand")
    assert fs.commands[:2] == ["auth ClueCon", "event plain BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE"]
    assert fs.wait_command("exit") and fs.commands[-1] == "exit"


def test_wrong_password_and_acl_rejection_raise_auth_error(fs: FakeInbound) -> None:
    with pytest.raises(AuthError, match="refused"):
        InboundClient("127.0.0.1", fs.port, "wrong", timeout=2).connect()
    rude = FakeInbound(reject=True)
    try:
        with pytest.raises(AuthError, match="Access Denied"):
            InboundClient("127.0.0.1", rude.port, "ClueCon", timeout=2).connect()
    finally:
        rude.close()


def test_nothing_listening_is_esl_disconnected() -> None:
    peer = FakeInbound()
    port = peer.port
    peer.close()
    with pytest.raises(ESLDisconnected):
        InboundClient("127.0.0.1", port, "ClueCon", connect_timeout=1).connect()


def test_bgapi_results_correlated_by_job_uuid(fs: FakeInbound) -> None:
    with client(fs) as c:
        busy = c.bgapi("originate {originate_timeout=5}error/user_busy &park")
        ok = c.bgapi("originate loopback/5001/default &park")
        results: list[str] = []
        done = threading.Event()
        ok.add_done_callback(lambda text: (results.append(text), done.set()))
        assert busy.wait(3) == "-ERR USER_BUSY\n"
        assert ok.wait(3) == "+OK 127f8c19-0fc4-4ec4-92b7-d5a4727d9904\n"
        assert done.wait(1) and results == [ok.result]
        assert busy.job_uuid != ok.job_uuid


def test_many_threads_share_one_client(fs: FakeInbound) -> None:
    with client(fs) as c:
        errors: list[str] = []

        def worker(n: int) -> None:
            for i in range(20):
                got = c.api(f"echo {n}-{i}")
                if got != f"{n}-{i}\n":
                    errors.append(f"{n}-{i} got {got!r}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert errors == []


def test_timeout_keeps_replies_in_order(fs: FakeInbound) -> None:
    with client(fs) as c:
        with pytest.raises(ESLTimeout):
            c.api("slow", timeout=0.2)
        # the late reply to "slow" is matched to its abandoned waiter, not to this one
        assert c.api("echo after", timeout=3) == "after\n"


def test_watch_delivers_one_channels_events(fs: FakeInbound) -> None:
    with client(fs) as c:
        w = c.watch("leg-a")
        other = c.watch("leg-b")
        fs.send_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "leg-a")])
        fs.send_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "leg-c")])
        fs.send_event([("Event-Name", "CHANNEL_HANGUP_COMPLETE"), ("Unique-ID", "leg-a"),
                       ("Hangup-Cause", "USER_BUSY")])
        first = w.next(2)
        second = w.next(2)
        assert first is not None and first.name == "CHANNEL_ANSWER"
        assert second is not None and second.name == "CHANNEL_HANGUP_COMPLETE"
        assert w.gone.is_set() and w.hangup_cause == "USER_BUSY"
        assert w.next(0.05) is None
        assert other.next(0.05) is None
        seen = []
        remove = c.on_event(seen.append)
        fs.send_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "leg-b")])
        got = other.next(2)
        assert got is not None and got.get("Unique-ID") == "leg-b"
        remove()
        assert [e.name for e in seen] == ["CHANNEL_ANSWER"]
        w.close()
        other.close()


def test_filters_are_sent_and_restored_after_reconnect(fs: FakeInbound) -> None:
    with client(fs) as c:
        c.add_filter("Unique-ID", "leg-a")
        fs.drop()
        assert _wait(lambda: c.connected and fs.connections >= 2, 5)
        assert fs.commands.count("filter Unique-ID leg-a") == 2


def test_disconnect_fails_waiters_then_reconnects(fs: FakeInbound) -> None:
    with client(fs) as c:
        w = c.watch("leg-a")
        outcome: dict[str, BaseException] = {}

        def pending() -> None:
            try:
                c.api("slow", timeout=5)
            except ESLDisconnected as exc:
                outcome["api"] = exc

        job = c.bgapi("slow")  # its result would come after 1 s
        t = threading.Thread(target=pending)
        t.start()
        time.sleep(0.2)
        started = time.monotonic()
        fs.drop()
        t.join(3)
        assert isinstance(outcome.get("api"), ESLDisconnected)
        assert time.monotonic() - started < 1.0
        with pytest.raises(ESLDisconnected):
            job.wait(1)
        with pytest.raises(ESLDisconnected):
            w.next(1)
        assert _wait(lambda: c.connected, 5)
        assert c.reconnects == 1
        assert c.api("echo back") == "back\n"
        fs.send_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "leg-a")])
        ev = w.next(2)
        assert ev is not None and ev.name == "CHANNEL_ANSWER"


def test_commands_while_disconnected_fail_fast(fs: FakeInbound) -> None:
    c = client(fs)
    try:
        fs.close()
        assert _wait(lambda: not c.connected, 3)
        started = time.monotonic()
        with pytest.raises(ESLDisconnected):
            c.api("status")
        with pytest.raises(ESLDisconnected):
            c.bgapi("status")
        assert time.monotonic() - started < 0.5
    finally:
        c.close()


def test_bgapi_refused_by_freeswitch_is_a_command_error(fs: FakeInbound) -> None:
    refusing = FakeInbound(api=answer)
    refusing_commands = refusing.commands
    try:
        with client(refusing) as c:
            # the peer answers unknown commands with -ERR: "sendevent" is not api/bgapi
            reply = c.command("sendevent NOTIFY")
            assert not reply.ok and reply.text == "-ERR command not found"
    finally:
        refusing.close()
    assert "sendevent NOTIFY" in refusing_commands
    assert CommandError("bgapi x", "-ERR denied").reply == "-ERR denied"


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_close_takes_the_exit_reply_quietly(fs: FakeInbound, caplog: pytest.LogCaptureFixture) -> None:
    """``+OK bye`` after our own ``exit`` is the expected answer, not a warning
    (every CLI command that used the Event Socket logged one)."""
    c = client(fs)
    assert c.api("status").startswith("UP")
    with caplog.at_level("DEBUG", logger="voiceai_ivr.esl.inbound"):
        c.close()
        time.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text


def test_connection_callbacks_follow_a_restart_of_the_switch(fs: FakeInbound) -> None:
    """FreeSWITCH going away and coming back on the same port: the client says
    so (``on_connection``), reconnects with its bounded backoff and works again;
    metrics and /health follow it through ``app.follow_pbx``."""
    from voiceai_ivr.app import follow_pbx
    from voiceai_ivr.metrics import Metrics

    port = fs.port
    metrics = Metrics()
    seen: list[bool] = []
    c = client(fs)
    try:
        c.on_connection(seen.append)
        follow_pbx(c, metrics)
        assert metrics.health()["pbx"] == {"connected": True} and metrics.health()["status"] == "ok"
        fs.close()
        assert _wait(lambda: seen == [False], 3), seen
        assert c.disconnected_at is not None
        body = metrics.health()
        assert body["status"] == "degraded" and body["pbx"]["connected"] is False
        assert metrics.esl_reconnects_total._value.get() == 0
        with pytest.raises(ESLDisconnected):
            c.api("status")
        time.sleep(0.5)  # down for a while: several refused attempts, backoff capped at 0.2 s
        back = FakeInbound(api=answer, port=port)
        try:
            assert _wait(lambda: seen == [False, True], 3), seen
            assert c.connected and c.disconnected_at is None and c.reconnects == 1
            assert c.api("status").startswith("UP")
            assert metrics.health()["pbx"] == {"connected": True} and metrics.health()["status"] == "ok"
            assert metrics.esl_reconnects_total._value.get() == 1
        finally:
            c.close()
            back.close()
        assert seen == [False, True], "close() is not a drop"
    finally:
        c.close()


def test_reconnect_now_cuts_the_backoff_short(fs: FakeInbound, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call arriving from the restarted switch (or a dispatcher pass, a health
    check) need not wait for the end of a long backoff step: ``reconnect_now``
    tries at once (here with a 0.1 s gap between such attempts)."""
    from voiceai_ivr.esl import inbound

    monkeypatch.setattr(inbound, "RECONNECT_NOW_GAP", 0.1)
    port = fs.port
    c = InboundClient("127.0.0.1", port, "ClueCon", timeout=3.0, reconnect_max_delay=10.0).connect()
    try:
        c.reconnect_now()  # connected: no effect
        fs.close()
        assert _wait(lambda: not c.connected, 3)
        time.sleep(2.0)  # refused attempts at ~0.1, 0.3, 0.7, 1.5 s; the next one ~1.6 s later
        back = FakeInbound(api=answer, port=port)
        try:
            started = time.monotonic()
            c.reconnect_now()
            assert _wait(lambda: c.connected, 0.5), "reconnect_now did not try at once"
            assert time.monotonic() - started < 0.5 and c.reconnects == 1
            assert c.api("status").startswith("UP")
        finally:
            c.close()
            back.close()
    finally:
        c.close()


def test_reconnect_now_asked_often_is_one_attempt_per_gap(fs: FakeInbound, caplog: pytest.LogCaptureFixture) -> None:
    """Health checks polled 20 times a second while FreeSWITCH is away do not turn
    into 20 connection attempts (and 20 log lines) a second."""
    from voiceai_ivr.esl.inbound import RECONNECT_NOW_GAP

    c = InboundClient("127.0.0.1", fs.port, "ClueCon", timeout=3.0, reconnect_max_delay=10.0).connect()
    try:
        fs.close()
        assert _wait(lambda: not c.connected, 3)
        time.sleep(1.0)
        caplog.clear()
        with caplog.at_level("WARNING", logger="voiceai_ivr.esl.inbound"):
            window = 2.0
            ends = time.monotonic() + window
            while time.monotonic() < ends:
                c.reconnect_now()
                time.sleep(0.05)
        attempts = [r for r in caplog.records if "reconnect" in r.getMessage() and "failed" in r.getMessage()]
        # one per gap asked for, plus at most one step of the ordinary backoff
        assert len(attempts) <= window / RECONNECT_NOW_GAP + 2, [r.getMessage() for r in attempts]
    finally:
        c.close()
