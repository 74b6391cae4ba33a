"""The simulator's own framing (``voiceai_sim.wire``) against the real FreeSWITCH
1.11.1 capture: it reads every command the application sent as FreeSWITCH did, and
writes every frame FreeSWITCH sent byte for byte. Expected values come from the
capture's text, never from ``voiceai_ivr.esl``: the two implementations must each
match FreeSWITCH, so a bug in one cannot hide behind the other."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.capture import capture_path
from voiceai_ivr.errors import ProtocolError
from voiceai_ivr.esl.protocol import FrameParser as ProductParser
from voiceai_ivr.esl.protocol import frame_to_event
from voiceai_sim.wire import FrameParser, encode_event_frame, encode_frame, serialize_event_plain, url_encode

ROWS = [json.loads(line) for line in capture_path().read_text(encoding="utf-8").splitlines() if line.strip()]
FS_ROWS = [r["data"] for r in ROWS if r["dir"] == "fs>app"]
APP_ROWS = [r["data"] for r in ROWS if r["dir"] == "app>fs"]


def _lines(block: str) -> list[tuple[str, str]]:
    return [(line.split(": ", 1)[0], line.split(": ", 1)[1]) for line in block.split("\n") if line]


@pytest.mark.parametrize("index", range(len(APP_ROWS)))
def test_reads_every_command_of_the_capture(index: int) -> None:
    raw = APP_ROWS[index]
    head, _, body = raw.partition("\n\n")
    lines = head.split("\n")
    (frame,) = FrameParser().feed(raw.encode("utf-8"))
    assert frame.first_line == lines[0]
    assert frame.headers == _lines("\n".join(lines[1:]))
    assert frame.body == body


def test_reads_each_connection_whole_and_byte_by_byte() -> None:
    for call in sorted({r["call"] for r in ROWS}):
        rows = [r["data"] for r in ROWS if r["call"] == call and r["dir"] == "app>fs"]
        stream = "".join(rows).encode("utf-8")
        whole = FrameParser().feed(stream)
        parser = FrameParser()
        split = [f for i in range(len(stream)) for f in parser.feed(stream[i : i + 1])]
        assert [f.first_line for f in whole] == [row.split("\n", 1)[0] for row in rows]
        assert whole == split
        assert parser.buffered == 0


def test_command_with_a_body_and_crlf_blocks() -> None:
    data = b"sendmsg u1\r\ncall-command: execute\r\ncontent-length: 5\r\n\r\nhello\n\napi status\n\n"
    first, second = FrameParser().feed(data)
    assert (first.first_line, first.get("Call-Command"), first.body) == ("sendmsg u1", "execute", "hello")
    assert (second.first_line, second.headers, second.body) == ("api status", [], "")


@pytest.mark.parametrize(
    "data",
    [b"api status\nno colon here\n\n", b"sendmsg\ncontent-length: x\n\n", b"api \xff\n\n", b"x" * (300 * 1024)],
)
def test_bad_input_breaks_the_reader_for_good(data: bytes) -> None:
    parser = FrameParser()
    with pytest.raises(ProtocolError):
        parser.feed(data)
    with pytest.raises(ProtocolError):
        parser.feed(b"api status\n\n")


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True).filter(lambda n: n.lower() != "content-length")
TEXT = st.text(st.characters(blacklist_categories=("Cs",)))


@pytest.mark.parametrize("index", range(len(FS_ROWS)))
def test_writes_every_freeswitch_frame_of_the_capture_byte_for_byte(index: int) -> None:
    raw = FS_ROWS[index]
    head, _, rest = raw.partition("\n\n")
    headers = _lines(head)
    if dict(headers).get("Content-Type") == "text/event-plain":
        event_head, _, event_body = rest.partition("\n\n")
        pairs = [(k, unquote(v)) for k, v in _lines(event_head) if k != "Content-Length"]
        assert serialize_event_plain(pairs, event_body) == rest
        assert encode_event_frame(pairs, event_body) == raw.encode("utf-8")
    else:
        length = dict(headers).get("Content-Length")
        body = rest[: int(length)] if length else ""
        assert encode_frame(headers, body) == raw.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NAMES, TEXT), max_size=8), TEXT)
def test_the_product_reads_what_the_simulator_writes(pairs: list[tuple[str, str]], body: str) -> None:
    """Cross-check: any event the simulator writes, the product's parser decodes to the same pairs."""
    pairs = [("Event-Name", "CUSTOM"), *pairs]
    frames = ProductParser().feed(encode_event_frame(pairs, body))
    assert len(frames) == 1
    event = frame_to_event(frames[0])
    for key, value in pairs:
        assert value in event.get_all(key)
    assert event.body == body


@pytest.mark.parametrize(
    ("value", "encoded"),
    [("+OK\n", "%2BOK%0A"), ("a b/c,d", "a%20b/c,d"), ("ação", "a%C3%A7%C3%A3o"), ("!$'()*~_.-", "!$'()*~_.-"),
     ('"#%&+:;<=>?@[\\]^`{|}', "%22%23%25%26%2B%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D")],
)
def test_url_encode_as_switch_url_encode(value: str, encoded: str) -> None:
    assert url_encode(value) == encoded
