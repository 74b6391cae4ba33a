"""Events decoded lazily (``Event.from_plain``) answer exactly what a full decode of
every line answers, and the outbound session wakes a waiting handler only for the
frames it waits on."""

from __future__ import annotations

import socket
import threading
import time
from typing import Optional
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from esl.peer import load_capture
from voiceai_ivr.esl.outbound import OutboundServer, OutboundSession
from voiceai_ivr.esl.protocol import Event, FrameParser, encode_event_frame, frame_to_event, serialize_event_plain
from voiceai_ivr.esl.session import new_event_uuid


def reference(text: str) -> tuple[dict[str, str], dict[str, list[str]], str]:
    """The eager decode every line used to get: first value wins, all values kept,
    the body cut at the (last) Content-Length of the head."""
    head, sep, rest = text.partition("\n\n")
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    length: Optional[int] = None
    for line in head.split("\n"):
        key, colon, value = line.partition(": ")
        if not colon:
            key, colon, value = line.partition(":")
            if not colon:
                continue
        value = unquote(value, errors="replace") if "%" in value else value
        if key == "Content-Length":
            length = int(value)
        first.setdefault(key, value)
        every.setdefault(key, []).append(value)
    body = rest.encode()[:length].decode(errors="replace") if sep and length else ""
    return first, every, body


NAMES = ["Event-Name", "Unique-ID", "Application", "Application-UUID", "DTMF-Digit", "X", "X-Y", "Job-UUID"]
name = st.sampled_from(NAMES)
value = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(name, value), min_size=1, max_size=12), st.text(max_size=30))
def test_lazy_get_matches_a_full_decode(pairs: list[tuple[str, str]], body: str) -> None:
    text = serialize_event_plain(pairs, body)
    first, every, ref_body = reference(text)
    lazy = Event.from_plain(text)
    for key in [*NAMES, "Content-Length", "Nope"]:
        assert lazy.get(key) == first.get(key), key
    assert lazy.body == ref_body == body
    again = Event.from_plain(text)
    assert again.headers == first  # the full decode on first use of ``headers``
    for key in NAMES:
        assert again.get_all(key) == every.get(key, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    "Event-Name: DTMF", "Unique-ID:abc", "Unique-ID: x%20y", "Unique-ID:x: y", "Unique-IDs: no",
    "Application: socket", "Application-UUID: u-1", "no colon at all", "", ":", "Application:",
    "DTMF-Digit: %23", "DTMF-Digit: 5",
]), min_size=1, max_size=10))
def test_odd_lines_answer_like_a_full_decode(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n\n"
    first, _every, _body = reference(text)
    lazy = Event.from_plain(text)
    for key in ["Event-Name", "Unique-ID", "Application", "Application-UUID", "DTMF-Digit", "Unique-ID:x"]:
        assert lazy.get(key) == first.get(key), (key, text)


def test_every_event_of_the_capture_reads_the_same_lazily() -> None:
    rows = [r for r in load_capture() if r["dir"] == "fs>app"]
    seen = 0
    for row in rows:
        for frame in FrameParser().feed(row["data"].encode()):
            if frame.content_type != "text/event-plain":
                continue
            first, _every, body = reference(frame.body)
            event = frame_to_event(frame)
            for key, val in first.items():
                assert event.get(key) == val
            assert event.body == body
            seen += 1
    assert seen > 20


def test_event_uuids_are_unique_and_uuid_shaped() -> None:
    ids = {new_event_uuid() for _ in range(10000)}
    assert len(ids) == 10000
    for one in list(ids)[:50]:
        parts = one.split("-")
        assert [len(p) for p in parts] == [8, 4, 4, 4, 12]
        int(one.replace("-", ""), 16)


# --------------------------------------------------------------------------- wake-ups


class _Peer:
    """The FreeSWITCH side of one outbound socket, written by hand."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=5)
        self.parser = FrameParser(commands=True)

    def read_commands(self, n: int) -> list:
        got: list = []
        while len(got) < n:
            data = self.sock.recv(65536)
            assert data
            got.extend(self.parser.feed(data))
        return got

    def reply(self, text: str = "+OK") -> None:
        self.sock.sendall(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())

    def event(self, pairs: list[tuple[str, str]]) -> None:
        self.sock.sendall(encode_event_frame(pairs))


def test_a_waiting_handler_is_woken_only_by_what_it_waits_for() -> None:
    """While an execute waits, its ``+OK``, CHANNEL_EXECUTE and another execute's
    completion do not wake the handler thread; its own completion does."""
    state: dict = {}
    entered = threading.Event()
    finish = threading.Event()

    def handler(session: OutboundSession) -> None:
        first = session.execute_async("set", "a=1")
        second = session.execute_async("playback", "silence_stream://1000")
        state["ids"] = (first.event_uuid, second.event_uuid)
        waits = []
        original = session._wait_until

        def counting(ready, timeout):  # type: ignore[no-untyped-def]
            waits.append(time.monotonic())
            return original(ready, timeout)

        session._wait_until = counting  # type: ignore[method-assign]
        entered.set()
        state["event"] = session.wait(second, 10.0)
        state["waits"] = len(waits)
        state["waiters_left"] = len(session._waiters)
        finish.wait(5)

    server = OutboundServer("127.0.0.1", 0, handler, max_calls=4).start()
    try:
        peer = _Peer(server.address)
        peer.read_commands(4)  # connect, myevents, event, linger
        peer.sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: u-1\n"
                          b"Channel-Unique-ID: u-1\nAnswer-State: answered\n\n")
        for _ in range(3):
            peer.reply()
        peer.read_commands(2)
        assert entered.wait(5)
        first_id, second_id = state["ids"]
        peer.reply()
        peer.reply()
        peer.event([("Event-Name", "CHANNEL_EXECUTE"), ("Unique-ID", "u-1"), ("Application-UUID", first_id)])
        peer.event([("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", "u-1"),
                    ("Application", "set"), ("Application-UUID", first_id)])
        peer.event([("Event-Name", "CHANNEL_STATE"), ("Unique-ID", "u-1")])
        time.sleep(0.2)
        assert "event" not in state  # nothing it waits for has come
        peer.event([("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", "u-1"),
                    ("Application", "playback"), ("Application-UUID", second_id),
                    ("Application-Response", "FILE PLAYED")])
        deadline = time.monotonic() + 5
        while "waiters_left" not in state and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state["event"].get("Application-Response") == "FILE PLAYED"
        assert state["waits"] == 1 and state["waiters_left"] == 0
        finish.set()
        peer.sock.close()
    finally:
        finish.set()
        server.stop(grace=1.0)


def test_url_encode_is_switch_url_encode_byte_for_byte() -> None:
    """switch_url_encode: every byte outside printable ASCII, and each of
    ``\\r\\n "#%&+:;<=>?@[\\]^`{|}``, becomes %XX (upper-case hex); the rest stays."""
    from voiceai_ivr.esl.protocol import url_decode, url_encode

    unsafe = set(b'\r\n "#%&+:;<=>?@[\\]^`{|}')
    for b in range(128):
        char = chr(b)
        expected = char if 32 < b < 127 and b not in unsafe else f"%{b:02X}"
        assert url_encode(char) == expected, b
        assert url_encode(f"a{char}b") == f"a{expected}b"
    assert url_encode("ação") == "a%C3%A7%C3%A3o"
    assert url_encode("😀 x") == "%F0%9F%98%80%20x"
    for text in ["", "plain", "100% ${x} & y", "linha\nquebra", "ação"]:
        assert url_decode(url_encode(text)) == text


def test_a_pipeline_block_writes_its_commands_together_in_order() -> None:
    """``pipeline()``: the commands of the block reach the peer in one segment, in
    the order given, and their replies are matched in that order; a wait inside
    the block writes what is pending first."""
    state: dict = {}
    done = threading.Event()

    def handler(session: OutboundSession) -> None:
        writes: list[bytes] = []
        original = session._write

        def counting(data: bytes, timeout: float) -> None:
            writes.append(bytes(data))
            original(data, timeout)

        session._write = counting  # type: ignore[method-assign]
        state["writes"] = writes
        with session.pipeline():
            a = session.execute_async("set", "a=1")
            b = session.execute_async("set", "b=2")
            c = session.execute_async("playback", "silence_stream://10")
        state["ids"] = [a.event_uuid, b.event_uuid, c.event_uuid]
        with session.pipeline():
            d = session.execute_async("set", "d=4")
            state["d"] = session.wait(d, 5.0)  # flushed before waiting: no deadlock
        state["c"] = session.wait(c, 5.0)
        done.set()

    server = OutboundServer("127.0.0.1", 0, handler, max_calls=4).start()
    try:
        peer = _Peer(server.address)
        peer.read_commands(4)
        peer.sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: u-2\n\n")
        for _ in range(3):
            peer.reply()
        frames = peer.read_commands(4)
        assert [f.get("execute-app-arg") for f in frames] == ["a=1", "b=2", "silence_stream://10", "d=4"]
        ids = [f.get("Event-UUID") for f in frames[:3]]
        d_frame = frames[3]
        for _ in range(3):
            peer.reply()
        peer.reply()
        peer.event([("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", "u-2"), ("Application", "set"),
                    ("Application-UUID", d_frame.get("Event-UUID") or "")])
        peer.event([("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", "u-2"), ("Application", "playback"),
                    ("Application-UUID", ids[2] or ""), ("Application-Response", "FILE PLAYED")])
        assert done.wait(5)
        assert ids == state["ids"]
        # one write per block (then the exit the session sends when the handler returns)
        assert [w.count(b"sendmsg") for w in state["writes"][:2]] == [3, 1]
        assert state["c"].get("Application-Response") == "FILE PLAYED" and state["d"].get("Application") == "set"
        peer.sock.close()
    finally:
        server.stop(grace=1.0)


def test_channel_data_of_the_connect_reply_reads_like_the_full_decode() -> None:
    """``LazyHeaders`` (the outbound session's ``data``) over the capture's connect
    reply: every key, ``get``, ``in`` and ``dict()`` agree with decoding every line."""
    from voiceai_ivr.esl.protocol import LazyHeaders

    raw = next(r["data"] for r in load_capture() if r["call"] == "ivr-call" and r["dir"] == "fs>app")
    frame = FrameParser().feed(raw.encode())[0]
    eager = frame_to_event(frame).headers
    lazy = LazyHeaders.from_frame(frame)
    assert lazy.get("Unique-ID") == eager["Unique-ID"] == "a4584fba-42ba-4e2b-bafa-e4382cc8825e"
    assert lazy["variable_current_application_data"] == "127.0.0.1:8084 async full"
    assert "Caller-Destination-Number" in lazy and "variable_nope" not in lazy
    assert lazy.get("variable_nope", "x") == "x"
    assert dict(LazyHeaders.from_frame(frame)) == eager and len(lazy) == len(eager)
    for key, value in eager.items():
        assert LazyHeaders.from_frame(frame).get(key) == value, key
