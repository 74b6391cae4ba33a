"""The callback's public field list is defined once (``stores.callbacks.PUBLIC_FIELDS``)
and each format derives from it; what clients see is pinned here, so a new field
(or a reordering) is a decision, not an accident."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

from voiceai_ivr.api.resources import API_FIELDS, public
from voiceai_ivr.exports import CSV_COLUMNS, csv_rows, json_rows
from voiceai_ivr.stores.callbacks import INTERNAL_FIELDS, PUBLIC_FIELDS, Callback

# What the API, the CSV and the JSON export gave before the list was defined once.
API_KEYS = [
    "id", "domain", "status", "number_e164", "caller_name", "window_start", "window_end", "reason",
    "category", "language", "destination_name", "agent_extension", "attempts", "max_attempts",
    "next_attempt_at", "last_outcome", "ticket_id", "source", "created_at", "updated_at", "completed_at",
]
CSV_HEADER = (
    "public_id,domain,status,number_e164,caller_name,window_start,window_end,reason,category,language,"
    "destination_name,agent_extension,attempts,max_attempts,last_outcome,ticket_id,call_uuid,created_at,"
    "completed_at"
)


def _callback() -> Callback:
    t = datetime(2026, 12, 7, 9, 30, tzinfo=timezone.utc)
    values = {f.name: None for f in dataclasses.fields(Callback)}
    values.update(
        id=7, public_id="0b9e3f64-6c38-4d3f-9d7b-0d5f1b7c2a10", domain="a.example", status="pending",
        number_e164="+5511999990000", caller_name="=Ana", window_start=t, window_end=t + timedelta(hours=2),
        reason="boleto", transcript="quero falar do boleto", language="pt-BR", source="ivr", attempts=1,
        max_attempts=3, next_attempt_at=t, created_at=t, updated_at=t, call_uuid="c-1",
    )
    return Callback(**values)


def test_api_resource_keys_and_order() -> None:
    assert ["id", *API_FIELDS] == API_KEYS
    assert list(public(_callback())) == API_KEYS


def test_csv_header_is_the_spreadsheet_contract() -> None:
    assert ",".join(CSV_COLUMNS) == CSV_HEADER
    header, row = "".join(csv_rows([_callback()])).splitlines()
    assert header == CSV_HEADER
    assert row.split(",")[4] == "'=Ana"  # still formula-safe


def test_json_export_is_every_column_public_first() -> None:
    names = [f.name for f in dataclasses.fields(Callback)]
    assert sorted(PUBLIC_FIELDS + INTERNAL_FIELDS) == sorted(names)
    assert len(set(PUBLIC_FIELDS + INTERNAL_FIELDS)) == len(names)
    cb = _callback()
    assert list(cb.to_json()) == [*PUBLIC_FIELDS, *INTERNAL_FIELDS]
    (exported,) = json.loads("".join(json_rows([cb])))
    assert exported == {n: (v.isoformat() if isinstance(v, datetime) else v)
                        for n, v in dataclasses.asdict(cb).items()}


def test_every_format_keeps_the_public_order() -> None:
    for derived in (API_FIELDS, CSV_COLUMNS):
        assert list(derived) == [name for name in PUBLIC_FIELDS if name in derived]
