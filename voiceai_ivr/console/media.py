"""The caller's recorded reason, streamed with HTTP Range support.

The file name never comes from the request: the handler looks the callback up
inside the session's domain and takes the path stored with it, which must have
the shape ``conversation.recording_path`` writes (``<recordings dir>/<domain>/
<YYYY-MM-DD>/<call uuid>.wav``) and, resolved (symbolic links followed), lie
inside ``<recordings dir>/<domain>/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

CHUNK = 64 * 1024
_TAIL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9A-Fa-f-]{8,64}\.wav")
_RANGE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")


def recording_file(base: str, domain: str, stored: Optional[str]) -> Optional[Path]:
    """The readable file of ``stored`` (a callback's ``recording_path``) when it
    is one of ``domain``'s recordings under ``base``; None otherwise."""
    if not stored or not base.startswith("/") or not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", domain):
        return None
    prefix = f"{base.rstrip('/')}/{domain}/"
    if not stored.startswith(prefix) or not _TAIL.fullmatch(stored[len(prefix):]):
        return None
    root = os.path.realpath(prefix)
    real = os.path.realpath(stored)
    if os.path.commonpath([root, real]) != root or not os.path.isfile(real):
        return None
    return Path(real)


def parse_range(header: str, size: int) -> Union[str, tuple[int, int], None]:
    """``(first, last)`` byte positions of a single ``Range: bytes=…`` request,
    ``"unsatisfiable"`` (416), or None: send the whole file (no header, a
    multi-range or unknown unit, which a server may ignore)."""
    header = (header or "").strip()
    if not header:
        return None
    m = _RANGE.fullmatch(header.replace(" ", ""))
    if m is None:
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


class FileRange:
    """A byte range of a file as a WSGI body (closed by the server when done)."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        self._file = open(path, "rb")
        self._file.seek(start)
        self._left = length

    def __iter__(self) -> Iterator[bytes]:
        while self._left > 0:
            data = self._file.read(min(CHUNK, self._left))
            if not data:
                break
            self._left -= len(data)
            yield data

    def close(self) -> None:
        self._file.close()


__all__ = ["FileRange", "parse_range", "recording_file"]
