"""Event Socket framing: bytes in, frames out. Never touches a socket.

The grammar, as mod_event_socket.c speaks it (and as the capture in
shared/fixtures/freeswitch-1.11 shows byte for byte):

* a frame is ``Name: value`` lines ending in one blank line (``\\n\\n``);
* a body follows only when a ``Content-Length`` header is present; header order
  is not fixed (events put Content-Length before Content-Type);
* ``text/event-plain`` bodies are header blocks of their own whose values are
  URL-encoded; an event may carry its own body (its own Content-Length);
* commands sent to FreeSWITCH use the same block form, the first line being the
  command itself (``api status``, ``sendmsg``...).

``FrameParser`` is used in both directions: our clients read FreeSWITCH's
frames with it, and the simulator reads our commands with it.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional, Union
from urllib.parse import unquote

from voiceai_ivr.errors import ProtocolError

MAX_HEADER_BYTES = 256 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

# switch_utils.c: SWITCH_URL_UNSAFE, plus control and non-ASCII bytes.
_URL_UNSAFE = frozenset(b'\r\n "#%&+:;<=>?@[\\]^`{|}')
_URL_SAFE = [b for b in range(33, 127) if b not in _URL_UNSAFE]
# Every value made of safe bytes only is sent as it is (one C-level match) ...
_ALL_SAFE = re.compile("[" + re.escape(bytes(_URL_SAFE).decode("ascii")) + "]*")
# ... the others byte by byte, through str.translate on the UTF-8 bytes read as Latin-1
# (one code point per byte): each unsafe byte becomes %XX, upper-case hex.
_ENCODE_MAP = {b: f"%{b:02X}" for b in range(256) if b not in _URL_SAFE}


_ENCODED: dict[str, str] = {}  # short values seen before (a channel's variables repeat in every event)
_ENCODED_MAX = 8192


def url_encode(value: str) -> str:
    """Encode a header value the way FreeSWITCH's ``switch_url_encode`` does."""
    if _ALL_SAFE.fullmatch(value):
        return value
    done = _ENCODED.get(value)
    if done is None:
        done = value.encode("utf-8").decode("latin-1").translate(_ENCODE_MAP)
        if len(value) <= 256:
            if len(_ENCODED) >= _ENCODED_MAX:
                _ENCODED.clear()
            _ENCODED[value] = done
    return done


def url_decode(value: str) -> str:
    if "%" not in value:
        return value
    return unquote(value, encoding="utf-8", errors="replace")


@dataclass
class Frame:
    """One Event Socket frame: raw header lines (values as sent) and an optional body."""

    headers: list[tuple[str, str]]
    body: str = ""
    first_line: str = ""  # for command frames: the line with no colon (``api status``)
    # Content-Type, found once by the parser (every consumer asks for it, most more than once).
    _ctype: Optional[str] = field(default=None, init=False, repr=False, compare=False)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        for key, value in self.headers:  # exact case first: what FreeSWITCH sends
            if key == name:
                return value
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    @property
    def content_type(self) -> str:
        ctype = self._ctype
        if ctype is None:
            ctype = self._ctype = self.get("Content-Type", "") or ""
        return ctype

    @property
    def reply_text(self) -> str:
        return self.get("Reply-Text", "") or ""

    @property
    def is_event(self) -> bool:
        return self.content_type.startswith("text/event-")


# "\nName:" needles for Event.get, made once per header name.
_NEEDLES: dict[str, str] = {}


class Event:
    """A FreeSWITCH event: decoded headers (a header may repeat) and an optional body.

    An event read from the wire (``from_plain``) keeps its raw ``text/event-plain``
    text and decodes lazily: ``get(name)`` finds that one header's line and
    URL-decodes only its value, so the reader that routes an event (name,
    ``Unique-ID``, ``Application-UUID``...) never decodes the hundred-odd channel
    variables FreeSWITCH puts in it. ``headers`` (every header, as a dict: the
    first value of a repeated header wins; ``get_all`` has them all) is decoded
    on first use. Lines without a colon, which FreeSWITCH never sends, are
    skipped by that full decode.
    """

    __slots__ = ("_body", "_end", "_headers", "_multi", "_text")

    def __init__(self, pairs: Iterable[tuple[str, str]] = (), body: str = "") -> None:
        self._text = ""
        self._end = 0
        self._headers: Optional[dict[str, str]] = None
        self._multi: dict[str, list[str]] = {}
        self._set_pairs(list(pairs))
        self._body: Optional[str] = body

    @classmethod
    def from_plain(cls, text: str) -> Event:
        """A lazily decoded ``text/event-plain`` body (see the class docstring)."""
        event = cls.__new__(cls)
        event._text = text
        end = text.find("\n\n")
        event._end = len(text) if end < 0 else end
        event._headers = None
        event._multi = {}
        event._body = None
        return event

    def _set_pairs(self, pairs: list[tuple[str, str]]) -> None:
        headers = dict(pairs)
        if len(headers) != len(pairs):  # a header repeats: the first value wins, all are kept
            headers = {}
            for key, value in pairs:
                if key in headers:
                    self._multi.setdefault(key, [headers[key]]).append(value)
                else:
                    headers[key] = value
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            self._set_pairs(_decode_lines(self._text[: self._end]))
            headers = self._headers
            assert headers is not None
        return headers

    @property
    def body(self) -> str:
        body = self._body
        if body is None:
            body = self._body = self._plain_body()
        return body

    @body.setter
    def body(self, value: str) -> None:
        self._body = value

    def _plain_body(self) -> str:
        text, end = self._text, self._end
        if end >= len(text):
            return ""
        length_value = self.get("Content-Length")
        if not length_value:
            return ""
        length = _parse_content_length(length_value)
        if not length:
            return ""
        return text[end + 2 :].encode("utf-8")[:length].decode("utf-8", errors="replace")

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        headers = self._headers
        if headers is not None:
            return headers.get(name, default)
        text, end = self._text, self._end
        if text.startswith(name, 0, end) and text.startswith(":", len(name), end):
            at = len(name) + 1
        else:
            needle = _NEEDLES.get(name)
            if needle is None:
                needle = _NEEDLES.setdefault(name, f"\n{name}:")
            found = text.find(needle, 0, end)
            if found < 0:
                return default
            at = found + len(needle)
        if not text.startswith(" ", at, end):
            # ``Name:value``, or a longer key containing ``Name:``: the full decode decides.
            return self.headers.get(name, default)
        stop = text.find("\n", at, end)
        value = text[at + 1 : end if stop < 0 else stop]
        if "%" in value:
            value = unquote(value, encoding="utf-8", errors="replace")
        return value

    def get_all(self, name: str) -> list[str]:
        headers = self.headers
        if name in self._multi:
            return list(self._multi[name])
        return [headers[name]] if name in headers else []

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self.headers)} headers, body={len(self.body)}B)"


class LazyHeaders(Mapping[str, str]):
    """A read-only mapping over a lazily decoded header block (an ``Event``): ``get``
    and ``[]`` decode one value; iterating decodes them all. For the channel data of
    the outbound ``connect`` reply, which a call keeps for its whole life but reads
    a handful of keys of: one string instead of a dict of two hundred decoded pairs."""

    __slots__ = ("_event",)

    def __init__(self, event: Event) -> None:
        self._event = event

    @classmethod
    def from_frame(cls, frame: Frame) -> LazyHeaders:
        """The header lines of a frame (values as sent, URL-encoded), decoded lazily."""
        return cls(Event.from_plain("\n".join(f"{key}: {value}" for key, value in frame.headers)))

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:  # type: ignore[override]
        return self._event.get(key, default)

    def __getitem__(self, key: str) -> str:
        value = self._event.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._event.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._event.headers)

    def __len__(self) -> int:
        return len(self._event.headers)

    def __repr__(self) -> str:
        return f"LazyHeaders({len(self)} headers)"


def _decode_lines(head: str) -> list[tuple[str, str]]:
    """Every ``Name: value`` line of an event head, values URL-decoded."""
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for line in head.split("\n"):
        key, colon, value = line.partition(": ")
        if not colon:
            key, colon, value = line.partition(":")
            if not colon:
                continue
        if "%" in value:
            value = unquote(value, encoding="utf-8", errors="replace")
        append((key, value))
    return pairs


def _parse_content_length(value: str) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > 12:
        raise ProtocolError(f"bad Content-Length: {value[:40]!r}")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise ProtocolError(f"Content-Length {length} exceeds {MAX_BODY_BYTES}")
    return length


class FrameParser:
    """Incremental parser. ``feed(data)`` returns every frame completed so far.

    With ``commands=True`` the first line of a block may be a bare command
    (the app-to-FreeSWITCH direction). A protocol error leaves the parser
    unusable: the connection it serves must be closed.

    The buffer is consumed through an offset and compacted once per ``feed``,
    so a read holding many frames costs one copy, not one per frame.
    """

    def __init__(
        self,
        *,
        commands: bool = False,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._scan = 0  # where the search for the end of the header block resumes
        self._commands = commands
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes
        self._pending: Optional[Frame] = None  # headers read, waiting for body
        self._need = 0
        self._broken: Optional[str] = None

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    @property
    def broken(self) -> Optional[str]:
        """The protocol error that made this parser unusable, if any."""
        return self._broken

    def feed(self, data: bytes) -> list[Frame]:
        if self._broken:
            raise ProtocolError(self._broken)
        if data:
            self._buf += data
        try:
            frames = self._drain()
        except ProtocolError as exc:
            self._broken = str(exc)
            raise
        if self._pos:
            del self._buf[: self._pos]
            self._scan = max(0, self._scan - self._pos)
            self._pos = 0
        return frames

    def _drain(self) -> list[Frame]:
        buf = self._buf
        frames: list[Frame] = []
        while True:
            pos = self._pos
            if self._pending is not None:
                if len(buf) - pos < self._need:
                    return frames
                frame = self._pending
                frame.body = buf[pos : pos + self._need].decode("utf-8", errors="replace")
                self._pos = pos + self._need
                self._scan = self._pos
                self._pending = None
                frames.append(frame)
                continue
            # FreeSWITCH never sends blank lines between frames, but a peer may.
            while True:
                if buf[pos : pos + 1] == b"\n":
                    pos += 1
                elif buf[pos : pos + 2] == b"\r\n":
                    pos += 2
                else:
                    break
            if pos != self._pos:
                self._pos = pos
                self._scan = max(self._scan, pos)
            scan_from = max(pos, self._scan - 3)
            end = buf.find(b"\n\n", scan_from)
            sep = 2
            if b"\r" in buf[scan_from : (end if end != -1 else len(buf))]:
                crlf = buf.find(b"\r\n\r\n", scan_from)
                if crlf != -1 and (end == -1 or crlf < end):
                    end, sep = crlf, 4
            if end == -1:
                if len(buf) - pos > self._max_header:
                    raise ProtocolError(f"header block exceeds {self._max_header} bytes")
                self._scan = len(buf)
                return frames
            if end - pos > self._max_header:
                raise ProtocolError(f"header block exceeds {self._max_header} bytes")
            block = buf[pos:end]
            self._pos = end + sep
            self._scan = self._pos
            frame = self._parse_block(block)
            length_value = frame.get("Content-Length")
            if length_value is not None:
                length = _parse_content_length(length_value)
                if length > self._max_body:
                    raise ProtocolError(f"body of {length} bytes exceeds {self._max_body}")
                if length:
                    self._pending = frame
                    self._need = length
                    continue
            frames.append(frame)

    def _parse_block(self, block: Union[bytes, bytearray]) -> Frame:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"header block is not UTF-8 at byte {exc.start}") from exc
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        first = ""
        if self._commands and lines and ":" not in lines[0].split(" ", 1)[0]:
            first = lines.pop(0).strip()
        headers: list[tuple[str, str]] = []
        append = headers.append
        ctype: Optional[str] = None
        for line in lines:  # _split_header, inlined: this runs for every frame
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"header line without colon: {line[:80]!r}")
            if value.startswith(" "):
                value = value[1:]
            key = key.strip()
            if ctype is None and key == "Content-Type":
                ctype = value
            append((key, value))
        frame = Frame(headers=headers, first_line=first)
        if ctype is not None:
            frame._ctype = ctype
        return frame


def parse_event_plain(text: str) -> Event:
    """A ``text/event-plain`` body as an ``Event`` that decodes lazily (``Event.from_plain``):
    the hot path of every call, so nothing is split or URL-decoded until asked for."""
    return Event.from_plain(text)


def parse_event_json(text: str) -> Event:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"text/event-json body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("text/event-json body is not an object")
    body = str(data.pop("_body", ""))
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, list):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, str(value)))
    return Event(pairs, body)


def frame_to_event(frame: Frame) -> Event:
    """Decode an event frame (plain or JSON), or the header-only ``connect`` reply."""
    ctype = frame.content_type
    if ctype == "text/event-plain":
        return Event.from_plain(frame.body)
    if ctype == "text/event-json":
        return parse_event_json(frame.body)
    # The outbound ``connect`` reply: one block of URL-encoded channel headers.
    return Event(((k, url_decode(v)) for k, v in frame.headers), frame.body)


# ---------------------------------------------------------------- encoding

HeaderItems = Union[Sequence[tuple[str, str]], dict]


def _check_line(value: str, what: str) -> None:
    if "\n" in value or "\r" in value:
        raise ProtocolError(f"{what} contains a line break")


def encode_command(command: str, headers: Optional[HeaderItems] = None, body: Optional[str] = None) -> bytes:
    """Encode one command for FreeSWITCH. Line breaks in any part are refused:
    they would inject a second command onto the socket."""
    _check_line(command, "command")
    parts = [command]
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    for key, value in items:
        _check_line(key, "header name")
        _check_line(str(value), f"header {key}")
        parts.append(f"{key}: {value}")
    payload = b""
    if body:
        payload = body.encode("utf-8")
        parts.append(f"content-length: {len(payload)}")
    return ("\n".join(parts) + "\n\n").encode("utf-8") + payload


def encode_frame(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """Encode a FreeSWITCH-side frame. Headers are written in the order given; when a
    body is present and no Content-Length is given, one is appended."""
    data = body.encode("utf-8")
    lines = []
    has_length = False
    for key, value in headers:
        if key == "Content-Length":
            has_length = True
            value = str(len(data))
        lines.append(f"{key}: {value}")
    if data and not has_length:
        lines.append(f"Content-Length: {len(data)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + data


@functools.lru_cache(maxsize=16384)
def _event_line(key: str, value: str) -> str:
    return f"{key}: {url_encode(value)}"


_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)


def serialize_event_plain(pairs: Sequence[tuple[str, str]], body: str = "") -> str:
    """Serialise an event as FreeSWITCH's ``switch_event_serialize`` does. A channel's
    headers repeat from event to event: each distinct line is encoded once (and
    the loop runs in C: keys, values made str, cached lines)."""
    lines = list(map(_event_line, map(str, map(_FIRST, pairs)), map(str, map(_SECOND, pairs))))
    if body:
        lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
        return "\n".join(lines) + "\n\n" + body
    return "\n".join(lines) + "\n\n"


def encode_event_frame(pairs: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """A complete ``text/event-plain`` frame, with FreeSWITCH's header order."""
    text = serialize_event_plain(pairs, body)
    return encode_frame([("Content-Length", ""), ("Content-Type", "text/event-plain")], text)


@dataclass
class Reply:
    """A ``command/reply`` or ``api/response`` reduced to ok/text."""

    ok: bool
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: Frame) -> Reply:
        if frame.content_type == "api/response":
            text = frame.body
        else:
            text = url_decode(frame.reply_text)
        stripped = text.strip()
        return cls(ok=not stripped.startswith("-ERR"), text=stripped, headers=dict(frame.headers))
