"""HTTP primitives of the API, shared by ``api.app`` (the WSGI callable) and
``api.resources`` (the endpoints): ``Request``, ``Response``, ``HTTPError``,
the input checks whose errors name the refused field, and ``send`` (the WSGI
response sending that the console's pages use too)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional, Union

JSON = "application/json"
MIN_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_DATE = datetime(2100, 1, 1, tzinfo=timezone.utc)
MAX_SNOOZE = timedelta(days=30)
STATUSES = ("pending", "in_progress", "completed", "failed", "expired", "cancelled")

#: Every status the API and the console send (the console's 206/303/416/429 too).
REASONS = {
    200: "OK",
    202: "Accepted",
    206: "Partial Content",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class HTTPError(Exception):
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


def bad(field_name: str, message: str, status: int = 400, code: str = "invalid") -> HTTPError:
    return HTTPError(status, code, f"{field_name}: {message}", field_name)


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    domain: str
    environ: dict
    _body: Any = field(default=None, repr=False)

    def json(self, max_bytes: int) -> dict:
        """The body as a JSON object ({} when empty)."""
        if self._body is not None:
            return dict(self._body)
        env = self.environ
        raw_len = env.get("CONTENT_LENGTH") or ""
        try:
            length = int(raw_len) if raw_len else 0
        except ValueError:
            raise bad("Content-Length", "must be a whole number") from None
        if length < 0:
            raise bad("Content-Length", "must be 0 or more")
        if length > max_bytes:
            raise HTTPError(413, "too_large", f"body: larger than {max_bytes} bytes", "body")
        data = env["wsgi.input"].read(length) if length else b""
        if not data.strip():
            self._body = {}
            return {}
        ctype = (env.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if ctype != JSON:
            raise HTTPError(415, "unsupported_media_type", "body: Content-Type must be application/json", "body")
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad("body", f"not valid JSON ({exc})") from None
        except RecursionError:  # a few KB of [[[[... exhaust the decoder's recursion
            raise bad("body", "nested too deeply") from None
        if not isinstance(value, dict):
            raise bad("body", "must be a JSON object")
        self._body = value
        return dict(value)


Handler = Callable[[Request], "Response"]


@dataclass
class Response:
    status: int
    body: Any = None  # dict -> JSON; Iterable[str] -> streamed as is
    content_type: str = JSON
    headers: list = field(default_factory=list)


def send(
    start_response: Callable,
    status: str,
    headers: list[tuple[str, str]],
    body: Union[str, bytes, Iterable[bytes]],
    *,
    head: bool,
) -> Iterable[bytes]:
    """Start a WSGI response and return its body. A ``str``/``bytes`` body goes as
    one chunk with a ``Content-Length`` (unless ``headers`` already carry one); an
    iterable one is returned as is, or closed unread when answering ``HEAD`` (so a
    file or a database cursor behind it is released)."""
    if isinstance(body, (str, bytes)):
        data = body.encode("utf-8") if isinstance(body, str) else body
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers = [*headers, ("Content-Length", str(len(data)))]
        start_response(status, headers)
        return [] if head else [data]
    start_response(status, headers)
    if head:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []
    return body


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_datetime(name: str, value: Any) -> datetime:
    """ISO-8601 with an offset (``Z`` allowed), 2000-2099."""
    if not isinstance(value, str) or not value:
        raise bad(name, "must be an ISO-8601 date-time with offset, e.g. 2026-11-24T15:00:00-03:00")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad(name, f"{value!r} is not an ISO-8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise bad(name, "must carry a UTC offset (e.g. Z or -03:00)")
    if not MIN_DATE <= parsed < MAX_DATE:
        raise bad(name, "out of range (2000-01-01 to 2099-12-31)", 422, "out_of_range")
    return parsed


def parse_public_id(name: str, value: str) -> str:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise bad(name, "must be a UUID (e.g. 7c9e6679-7425-40de-944b-e07fc1f90ae7)") from None
    if str(parsed) != value.lower():
        raise bad(name, "must be a UUID in canonical form")
    return str(parsed)


def check_fields(body: dict, allowed: Iterable[str]) -> None:
    known = set(allowed)
    for key in body:
        if key not in known:
            raise bad(str(key)[:64], f"unknown field (allowed: {', '.join(sorted(known)) or 'none'})")


def check_query(query: dict[str, str], allowed: Iterable[str]) -> None:
    known = set(allowed)
    for key in query:
        if key not in known:
            raise bad(str(key)[:64], f"unknown query parameter (allowed: {', '.join(sorted(known)) or 'none'})")


MAX_OFFSET = 2**31 - 1  # a cursor past this was not made by this API (and would overflow SQL)
MAX_CURSOR_CHARS = 64


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": int(offset)}).encode()).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    """The offset inside a cursor this API returned; 400 for anything else (a
    float, a bool, a huge or negative number, another shape, too long)."""
    not_ours = bad("cursor", "not a cursor returned by this API")
    if len(value) > MAX_CURSOR_CHARS:
        raise not_ours
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error):
        raise not_ours from None
    offset = data.get("o") if isinstance(data, dict) and len(data) == 1 else None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise not_ours
    return offset


def parse_whole(name: str, value: str, low: int, high: int) -> int:
    """An ASCII decimal ``low``..``high`` (``str.isdigit`` also accepts ``²``)."""
    if not re.fullmatch(r"[0-9]{1,18}", value) or not low <= int(value) <= high:
        raise bad(name, f"must be a whole number {low}-{high}")
    return int(value)


__all__ = [
    "JSON",
    "MAX_SNOOZE",
    "REASONS",
    "STATUSES",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "bad",
    "check_fields",
    "check_query",
    "decode_cursor",
    "encode_cursor",
    "json_default",
    "parse_datetime",
    "parse_public_id",
    "parse_whole",
    "send",
]
