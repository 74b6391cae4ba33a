"""Call recording: a secretary with recording on starts record_session after the
answer, and the recording path travels with the callback ticket."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from harness import scenario_stack

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.flows.conversation import recording_path

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def _directory(recording: bool) -> dict:
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    for secretary in doc["secretaries"]:
        secretary["recording"] = recording
    return doc


def _scenario() -> dict:
    doc = yaml.safe_load((SCENARIOS / "callback" / "caller_id_accepted.yaml").read_text(encoding="utf-8"))
    doc.pop("directory", None)
    doc.pop("expect", None)
    return doc


def test_recording_on_records_the_call_and_the_ticket_carries_the_path(db, config, tmp_path):
    config.server.call_recordings_dir = "/var/lib/freeswitch/recordings/voiceai"
    with scenario_stack(db, config, _directory(True), scale=0.02) as stack:
        result = stack.run(_scenario())
    records = [e for e in result["transcript"] if e.get("kind") == "record"]
    expected = f"/var/lib/freeswitch/recordings/voiceai/demo.local/2026-11-24/{result['call_uuid']}.wav"
    assert [e["text"] for e in records] == [expected]
    (callback,) = stack.callbacks(call_uuid=result["call_uuid"])
    assert callback["recording_path"] == expected
    (created,) = [o for o in stack.outbox(call_uuid=result["call_uuid"]) if o["kind"] == "callback.created"]
    assert expected in str(created["payload"])


def test_recording_off_records_nothing(db, config):
    with scenario_stack(db, config, _directory(False), scale=0.02) as stack:
        result = stack.run(_scenario())
    assert not [e for e in result["transcript"] if e.get("kind") == "record"]
    (callback,) = stack.callbacks(call_uuid=result["call_uuid"])
    assert callback["recording_path"] is None


@pytest.mark.parametrize(
    ("base", "domain", "uuid", "field"),
    [
        ("relative/dir", "demo.local", "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", "server.call_recordings_dir"),
        ("/rec/../etc", "demo.local", "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", "server.call_recordings_dir"),
        ("/rec/${x}", "demo.local", "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", "server.call_recordings_dir"),
        ("/rec", "../../etc", "0f1e2d3c-aaaa-bbbb-cccc-1234567890ab", "domain"),
        ("/rec", "demo.local", "x' ; rm", "call_uuid"),
    ],
)
def test_recording_path_refuses_unsafe_parts(base, domain, uuid, field):
    from datetime import datetime, timezone

    with pytest.raises(ValidationError) as err:
        recording_path(base, domain, datetime(2026, 11, 24, tzinfo=timezone.utc), uuid)
    assert err.value.field == field
