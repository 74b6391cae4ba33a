"""Callback exports as text streams: CSV (spreadsheet-safe) and a JSON array written
incrementally. Used by ``voiceai-ivr callbacks export`` and the HTTP API's
``/callbacks/export.csv``; both stream rows, so memory stays flat."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

CSV_COLUMNS = (
    "public_id",
    "domain",
    "status",
    "number_e164",
    "caller_name",
    "window_start",
    "window_end",
    "reason",
    "category",
    "language",
    "destination_name",
    "agent_extension",
    "attempts",
    "max_attempts",
    "last_outcome",
    "ticket_id",
    "call_uuid",
    "created_at",
    "completed_at",
)
# Free text a spreadsheet could read as a formula (CSV injection).
_TEXT_COLUMNS = {"caller_name", "reason", "category", "destination_name"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if name in _TEXT_COLUMNS and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_rows(callbacks: Iterable[Any]) -> Iterator[str]:
    """CSV text, header first, one chunk per row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buf.getvalue()
    for cb in callbacks:
        buf.seek(0)
        buf.truncate()
        writer.writerow([_cell(col, getattr(cb, col)) for col in CSV_COLUMNS])
        yield buf.getvalue()


def json_rows(callbacks: Iterable[Any]) -> Iterator[str]:
    """A JSON array written incrementally (valid JSON once complete)."""
    first = True
    yield "["
    for cb in callbacks:
        yield ("\n" if first else ",\n") + json.dumps(cb.to_json(), ensure_ascii=False, sort_keys=True)
        first = False
    yield "\n]\n"
