"""The simulator's own Event Socket framing: reading the application's commands
and writing FreeSWITCH's frames and events.

Written apart from ``voiceai_ivr.esl.protocol`` on purpose: the simulator is the
application's peer on the wire, so if both sides shared one parser and one
encoder, a bug there would be invisible (each side would agree with the other).
The grammar is mod_event_socket.c's, checked byte for byte against the
FreeSWITCH 1.11 capture in tests/fixtures (tests/sim/test_wire.py):

* a block is ``Name: value`` lines ending in one blank line;
* from the application, the first line of a block is the command
  (``api status``, ``sendmsg <uuid>``), the other lines its headers, and a body
  follows when a ``Content-Length`` header says so;
* to the application, frames are header blocks (``Content-Type`` first) with a
  body when ``Content-Length`` is given; ``text/event-plain`` bodies are header
  blocks of their own, values URL-encoded as ``switch_url_encode`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote

from voiceai_ivr.errors import ProtocolError

MAX_BLOCK_BYTES = 256 * 1024  # one command's header block
MAX_BODY_BYTES = 32 * 1024 * 1024

# switch_url_encode leaves letters, digits and these bytes alone; every other byte
# (space, controls, non-ASCII, and "#%&+:;<=>?@[\]^`{|}) becomes %XX, upper-case hex.
# quote() always keeps letters, digits and "_.-~".
_KEPT_PUNCTUATION = "!$'()*,/"
_LINE_END_BYTES = (0x0A, 0x0D)


@dataclass
class Frame:
    """One block read from the application: its command line, its headers (values
    as sent) and its body."""

    first_line: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """A header's value; names compare without regard to case, as FreeSWITCH's do."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default


class FrameParser:
    """Incremental reader of the application's commands: ``feed(data)`` returns the
    blocks completed so far. A protocol error leaves the reader unusable (the
    connection must be closed), as mod_event_socket drops such a client.

    ``commands`` is accepted for the reader's call sites; it reads commands only."""

    def __init__(self, *, commands: bool = True) -> None:
        self._data = bytearray()
        self._waiting: Optional[Frame] = None  # headers read, body still to come
        self._body_length = 0
        self._error: Optional[str] = None

    @property
    def buffered(self) -> int:
        return len(self._data)

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise ProtocolError(self._error)
        self._data.extend(data)
        done: list[Frame] = []
        try:
            while self._next(done):
                pass
        except ProtocolError as exc:
            self._error = str(exc)
            raise
        return done

    def _next(self, done: list[Frame]) -> bool:
        """Take one block (or one body) off the buffer; False when more bytes are needed."""
        data = self._data
        if self._waiting is not None:
            if len(data) < self._body_length:
                return False
            self._waiting.body = bytes(data[: self._body_length]).decode("utf-8", errors="replace")
            del data[: self._body_length]
            done.append(self._waiting)
            self._waiting = None
            return True
        skip = 0
        while skip < len(data) and data[skip] in _LINE_END_BYTES:  # blank lines between blocks
            skip += 1
        if skip:
            del data[:skip]
        end, gap = _block_end(data)
        if end < 0:
            if len(data) > MAX_BLOCK_BYTES:
                raise ProtocolError(f"command block exceeds {MAX_BLOCK_BYTES} bytes")
            return False
        if end > MAX_BLOCK_BYTES:
            raise ProtocolError(f"command block exceeds {MAX_BLOCK_BYTES} bytes")
        block = bytes(data[:end])
        del data[: end + gap]
        frame = _read_block(block)
        length = frame.get("Content-Length")
        if length is None:
            done.append(frame)
            return True
        size = _body_size(length)
        if size == 0:
            done.append(frame)
            return True
        self._waiting, self._body_length = frame, size
        return True


def _block_end(data: bytearray) -> tuple[int, int]:
    """Where the first header block ends and how long its blank-line separator is."""
    plain = data.find(b"\n\n")
    windows = data.find(b"\r\n\r\n")
    if windows >= 0 and (plain < 0 or windows < plain):
        return windows, 4
    return plain, 2


def _read_block(block: bytes) -> Frame:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"command block is not UTF-8 at byte {exc.start}") from exc
    lines = [line.rstrip("\r") for line in text.split("\n")]
    frame = Frame()
    head = lines[0]
    if ":" in head.split(" ", 1)[0]:
        frame.first_line = ""  # a block of headers only
    else:
        frame.first_line = head.strip()
        lines = lines[1:]
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"header line without colon: {line[:80]!r}")
        frame.headers.append((name.strip(), value[1:] if value[:1] == " " else value))
    return frame


def _body_size(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        raise ProtocolError(f"bad Content-Length: {text[:40]!r}")
    size = int(text)
    if size > MAX_BODY_BYTES:
        raise ProtocolError(f"Content-Length {size} exceeds {MAX_BODY_BYTES}")
    return size


# ---------------------------------------------------------------- writing FreeSWITCH's side


@functools.lru_cache(maxsize=16384)  # a channel's variables repeat in every event it sends
def url_encode(value: str) -> str:
    """``switch_url_encode``: UTF-8 bytes, unsafe ones as %XX."""
    return quote(value, safe=_KEPT_PUNCTUATION, encoding="utf-8")


def encode_frame(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """One frame to the application, headers in the order given. A ``Content-Length``
    header (any value) is written with the body's byte length; with a body and no
    such header, one is added after the others."""
    payload = body.encode("utf-8")
    out: list[str] = []
    length_given = False
    for name, value in headers:
        if name == "Content-Length":
            length_given = True
            value = str(len(payload))
        out.append(name + ": " + value + "\n")
    if payload and not length_given:
        out.append(f"Content-Length: {len(payload)}\n")
    out.append("\n")
    return "".join(out).encode("utf-8") + payload


def serialize_event_plain(pairs: Sequence[tuple[str, str]], body: str = "") -> str:
    """An event as ``switch_event_serialize`` writes it: each header on its line with
    its value URL-encoded, a blank line, then the event's own body (with its own
    ``Content-Length``) when it has one."""
    text = "".join(f"{name}: {url_encode(str(value))}\n" for name, value in pairs)
    if body:
        return text + f"Content-Length: {len(body.encode('utf-8'))}\n\n" + body
    return text + "\n"


def encode_event_frame(pairs: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """A ``text/event-plain`` frame, outer headers in FreeSWITCH's order."""
    text = serialize_event_plain(pairs, body)
    return encode_frame([("Content-Length", ""), ("Content-Type", "text/event-plain")], text)
