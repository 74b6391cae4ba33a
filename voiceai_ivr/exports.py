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

from voiceai_ivr.stores.callbacks import PUBLIC_FIELDS

# The CSV's columns: ``stores.callbacks.PUBLIC_FIELDS`` in their order, without
# the scheduling and bookkeeping fields (next_attempt_at, source, updated_at).
# The column order is a contract with spreadsheets (tests/callbacks pins it).
CSV_EXCLUDED = ("next_attempt_at", "source", "updated_at")
CSV_COLUMNS = tuple(name for name in PUBLIC_FIELDS if name not in CSV_EXCLUDED)
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
