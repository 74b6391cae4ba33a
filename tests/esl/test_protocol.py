"""Framing: every frame of the real FreeSWITCH 1.11.1 capture, every frame kind, and
property tests (any split of the byte stream, garbage in) against FrameParser."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esl.peer import load_capture
from voiceai_ivr.errors import ProtocolError
from voiceai_ivr.esl.protocol import (
    Frame,
    FrameParser,
    Reply,
    encode_command,
    encode_event_frame,
    encode_frame,
    frame_to_event,
    parse_event_json,
    url_decode,
    url_encode,
)

ROWS = load_capture()
FS_ROWS = [r for r in ROWS if r["dir"] == "fs>app"]
APP_ROWS = [r for r in ROWS if r["dir"] == "app>fs"]


def _one(data: str, *, commands: bool = False) -> Frame:
    frames = FrameParser(commands=commands).feed(data.encode("utf-8"))
    assert len(frames) == 1, data[:200]
    return frames[0]


def _expected_headers(block: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in block.split("\n") if line]  # type: ignore[misc]


@pytest.mark.parametrize("index", range(len(FS_ROWS)))
def test_every_freeswitch_frame_of_the_capture(index: int) -> None:
    raw = FS_ROWS[index]["data"]
    frame = _one(raw)
    head, _, rest = raw.partition("\n\n")
    assert frame.headers == _expected_headers(head)
    length = frame.get("Content-Length")
    assert frame.body == (rest[: int(length)] if length else "")
    ctype = frame.content_type
    if ctype == "text/event-plain":
        event = frame_to_event(frame)
        # Every header of the event body is there, URL-decoded, in order.
        ev_head = frame.body.split("\n\n", 1)[0]
        pairs = [(k, url_decode(v)) for k, v in _expected_headers(ev_head)]
        for key, value in pairs:
            assert value in event.get_all(key)
        assert event.name == pairs[0][1]
        if event.get("Content-Length"):
            assert len(event.body.encode()) == int(event.get("Content-Length") or 0)
    elif ctype == "command/reply":
        assert Reply.from_frame(frame).text
    elif ctype == "api/response":
        assert frame.body
    else:
        assert ctype in ("auth/request", "text/disconnect-notice")


@pytest.mark.parametrize("index", range(len(APP_ROWS)))
def test_every_command_of_the_capture_parses_and_round_trips(index: int) -> None:
    raw = APP_ROWS[index]["data"]
    frame = _one(raw, commands=True)
    lines = raw.rstrip("\n").split("\n")
    assert frame.first_line == lines[0]
    assert frame.headers == _expected_headers("\n".join(lines[1:]))
    assert encode_command(frame.first_line, frame.headers) == raw.encode()


def test_whole_capture_per_connection_in_one_feed_and_byte_by_byte() -> None:
    for call in sorted({r["call"] for r in ROWS}):
        for direction, commands in (("fs>app", False), ("app>fs", True)):
            rows = [r for r in ROWS if r["call"] == call and r["dir"] == direction]
            stream = b"".join(r["data"].encode() for r in rows)
            whole = FrameParser(commands=commands).feed(stream)
            parser = FrameParser(commands=commands)
            split = [f for i in range(len(stream)) for f in parser.feed(stream[i : i + 1])]
            assert len(whole) == len(rows) == len(split)
            assert [(f.headers, f.body, f.first_line) for f in whole] == [
                (f.headers, f.body, f.first_line) for f in split
            ]
            assert parser.buffered == 0


def test_connect_reply_carries_channel_data_decoded() -> None:
    raw = next(r["data"] for r in ROWS if r["call"] == "ivr-call" and r["dir"] == "fs>app")
    frame = _one(raw)
    assert frame.content_type == "command/reply"
    assert "Content-Length" not in dict(frame.headers)
    assert frame.get("Reply-Text") == "%2BOK%0A"
    event = frame_to_event(frame)
    assert event.get("Reply-Text") == "+OK\n"
    assert Reply.from_frame(frame).ok
    assert event.get("Unique-ID") == "a4584fba-42ba-4e2b-bafa-e4382cc8825e"
    assert event.get("Socket-Mode") == "async" and event.get("Control") == "full"
    assert event.get("variable_current_application_data") == "127.0.0.1:8084 async full"
    assert event.get("FreeSWITCH-IPv6") == "fd00::2"
    assert event.get("Event-Date-GMT") == "Tue, 24 Nov 2026 16:06:27 GMT"


def test_background_job_bodies_and_undef() -> None:
    bodies = {}
    for r in FS_ROWS:
        frame = _one(r["data"])
        if frame.content_type == "text/event-plain":
            ev = frame_to_event(frame)
            if ev.name == "BACKGROUND_JOB":
                bodies[ev.get("Job-UUID")] = (ev.body, ev.get("Job-Command-Arg"))
    assert bodies["91df1ddf-8af5-468e-a884-60564a8334df"] == (
        "-ERR NO_ANSWER\n", "{originate_timeout=5}error/no_answer &park")
    ok = bodies["42f04108-2773-421b-a6b5-38aead72c0de"][0]
    assert ok == "+OK 127f8c19-0fc4-4ec4-92b7-d5a4727d9904\n"
    undef = next(r["data"] for r in FS_ROWS if r["data"].endswith("_undef_"))
    assert _one(undef).body == "_undef_"


def test_execute_complete_fields_from_capture() -> None:
    marker = "Event-Name: CHANNEL_EXECUTE_COMPLETE\n"
    events = [frame_to_event(_one(r["data"])) for r in FS_ROWS if marker in r["data"][:200]]
    digits = [e for e in events if e.get("Application") == "play_and_get_digits"]
    assert digits[0].get("variable_digits") == "42"
    assert digits[0].get("variable_read_terminator_used") == "#"
    assert digits[0].get("Application-UUID") == "dd48bbea-4b8c-4848-84dc-b8db877a2d91"
    assert digits[1].get("variable_nodigits") is None  # no input: the variable is absent
    playback = next(e for e in events if e.get("Application") == "playback")
    assert playback.get("Application-Response") == "FILE PLAYED"
    assert playback.get("Application-Data") == "tone_stream://%(300,100,440)"


def test_disconnect_notices_from_capture() -> None:
    notices = [_one(r["data"]) for r in FS_ROWS if "disconnect-notice" in r["data"]]
    linger = [f for f in notices if f.get("Content-Disposition") == "linger"]
    final = [f for f in notices if f.get("Content-Disposition") == "disconnect"]
    assert linger and final
    assert linger[0].get("Linger-Time") == "-1" and linger[0].body == ""
    assert final[0].body.startswith("Disconnected, goodbye.")


# ------------------------------------------------------------------ frame kinds not in the capture


def test_rude_rejection_log_data_and_event_json() -> None:
    msg = "Access Denied, go away.\n"
    rude = _one(f"Content-Type: text/rude-rejection\nContent-Length: {len(msg)}\n\n{msg}")
    assert rude.content_type == "text/rude-rejection" and rude.body == msg

    log_body = "2026-11-24 16:06:27.1 [INFO] switch_core.c:2522 hello\n"
    log = _one(f"Content-Type: log/data\nContent-Length: {len(log_body)}\nLog-Level: 6\nText-Channel: 3\n"
               f"Log-File: switch_core.c\nLog-Func: main\nLog-Line: 2522\nUser-Data: \n\n{log_body}")
    assert log.content_type == "log/data" and log.body == log_body and log.get("User-Data") == ""

    payload = json.dumps({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j1", "Content-Length": "15",
                          "_body": "-ERR USER_BUSY\n"})
    frame = _one(f"Content-Length: {len(payload)}\nContent-Type: text/event-json\n\n{payload}")
    event = frame_to_event(frame)
    assert event.name == "BACKGROUND_JOB" and event.body == "-ERR USER_BUSY\n" and event.get("Job-UUID") == "j1"
    with pytest.raises(ProtocolError):
        parse_event_json("[1, 2]")
    with pytest.raises(ProtocolError):
        parse_event_json("{not json")


def test_auth_request_and_replies() -> None:
    assert _one("Content-Type: auth/request\n\n").content_type == "auth/request"
    bad = Reply.from_frame(_one("Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"))
    assert not bad.ok and bad.text == "-ERR invalid"
    api = Reply.from_frame(_one("Content-Type: api/response\nContent-Length: 15\n\n-ERR USER_BUSY\n"))
    assert not api.ok and api.text == "-ERR USER_BUSY"


def test_event_with_repeated_headers_and_own_body() -> None:
    frame = FrameParser().feed(encode_event_frame(
        [("Event-Name", "CUSTOM"), ("X", "a b"), ("X", "c%d")], body="line1\nline2\n"))[0]
    event = frame_to_event(frame)
    assert event.get_all("X") == ["a b", "c%d"]
    assert event.body == "line1\nline2\n"


def test_url_encoding_matches_freeswitch() -> None:
    assert url_encode("+OK\n") == "%2BOK%0A"
    assert url_encode("127.0.0.1:8084 async full") == "127.0.0.1%3A8084%20async%20full"
    assert url_decode(url_encode("ação 100% ${x}")) == "ação 100% ${x}"


def test_command_injection_refused() -> None:
    with pytest.raises(ProtocolError):
        encode_command("api status\n\napi shutdown")
    with pytest.raises(ProtocolError):
        encode_command("sendmsg", [("execute-app-arg", "x\nexecute-app-name: hangup")])


@pytest.mark.parametrize("data", [
    b"Content-Length: 5x\n\nhello",
    b"Content-Length: -1\n\n",
    b"Content-Length: 99999999999999\n\n",
    b"no colon here\n\n",
    b"Content-Type: \xff\xfe\n\n",
    b"A" * 300_000,
])
def test_garbage_raises_protocol_error_and_parser_stays_broken(data: bytes) -> None:
    parser = FrameParser()
    with pytest.raises(ProtocolError):
        parser.feed(data)
    assert parser.broken
    with pytest.raises(ProtocolError):
        parser.feed(b"Content-Type: auth/request\n\n")


def test_oversized_body_refused_before_reading_it() -> None:
    parser = FrameParser(max_body_bytes=1000)
    with pytest.raises(ProtocolError, match="exceeds"):
        parser.feed(b"Content-Type: api/response\nContent-Length: 1001\n\n")


def test_truncated_body_waits_then_completes() -> None:
    parser = FrameParser()
    assert parser.feed(b"Content-Type: api/response\nContent-Length: 10\n\n0123") == []
    assert parser.buffered == 4
    frames = parser.feed(b"456789Content-Type: auth/request\n\n")
    assert [f.body for f in frames] == ["0123456789", ""]


# ------------------------------------------------------------------ properties

STREAM = b"".join(r["data"].encode() for r in ROWS if r["call"] == "ivr-call" and r["dir"] == "fs>app")
EXPECTED = [(f.headers, f.body) for f in FrameParser().feed(STREAM)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_of_the_stream_yields_the_same_frames(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    parser = FrameParser()
    frames = []
    prev = 0
    for p in [*points, len(STREAM)]:
        frames.extend(parser.feed(STREAM[prev:p]))
        prev = p
    assert [(f.headers, f.body) for f in frames] == EXPECTED


frame_kinds = st.sampled_from([
    b"Content-Type: auth/request\n\n",
    b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
    b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n",
    b"Content-Type: log/data\nContent-Length: 3\nLog-Level: 7\n\nabc",
    b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n",
    b"Content-Type: text/rude-rejection\nContent-Length: 2\n\nno",
    encode_event_frame([("Event-Name", "DTMF"), ("DTMF-Digit", "#")]),
    encode_frame([("Content-Length", ""), ("Content-Type", "text/event-json")], '{"Event-Name":"HEARTBEAT"}'),
])


@settings(max_examples=80, deadline=None)
@given(st.lists(frame_kinds, min_size=1, max_size=12), st.data())
def test_every_frame_kind_at_every_boundary(chunks: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(chunks)
    expected = FrameParser().feed(stream)
    assert len(expected) == len(chunks)
    step = data.draw(st.integers(min_value=1, max_value=max(1, len(stream))))
    parser = FrameParser()
    got = [f for i in range(0, len(stream), step) for f in parser.feed(stream[i : i + step])]
    assert [(f.headers, f.body) for f in got] == [(f.headers, f.body) for f in expected]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=512))
def test_garbage_yields_frames_or_protocol_error_quickly(blob: bytes, step: int) -> None:
    parser = FrameParser(max_header_bytes=2048, max_body_bytes=4096)
    started = time.monotonic()
    try:
        for i in range(0, len(blob), step):
            for frame in parser.feed(blob[i : i + step]):
                assert isinstance(frame, Frame)
    except ProtocolError:
        assert parser.broken
    assert time.monotonic() - started < 1.0
    assert parser.buffered <= 2048 + 4096 + step


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FS_ROWS), st.integers(min_value=-20, max_value=20), st.binary(max_size=64))
def test_wrong_content_length_and_truncation(row: dict, delta: int, tail: bytes) -> None:
    raw = row["data"].encode()
    if b"Content-Length: " not in raw:
        return
    head, _, rest = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    lines = [
        (b"Content-Length: %d" % max(0, int(line.split(b": ")[1]) + delta))
        if line.startswith(b"Content-Length") else line
        for line in lines
    ]
    mutated = b"\n".join(lines) + b"\n\n" + rest + tail
    parser = FrameParser()
    try:
        frames = parser.feed(mutated)
    except ProtocolError:
        return
    for frame in frames:
        if frame.content_type == "text/event-plain":
            try:
                frame_to_event(frame)
            except ProtocolError:
                pass


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=8))
def test_enormous_header_block_is_refused(kib: int) -> None:
    parser = FrameParser(max_header_bytes=1024)
    line = b"X-Big: " + b"a" * (kib * 1024) + b"\n"
    with pytest.raises(ProtocolError):
        parser.feed(line)
        parser.feed(b"\n")
