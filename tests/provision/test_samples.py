"""The dialplan/ samples are what ``render_dialplan`` produces, and well-formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voiceai_ivr.provision.dialplan import is_managed, render_dialplan

SAMPLES = Path(__file__).resolve().parents[2] / "dialplan"
COMMON = {"domain": "demo.local", "did": "8000", "secretary_id": 1, "secretary_name": "Recepção", "language": "pt-BR"}


@pytest.mark.parametrize(
    ("name", "spec", "handoff"),
    [
        ("voiceai_demo.local_8000.socket.xml", {**COMMON, "mode": "socket", "host": "127.0.0.1", "port": 8084},
         ("socket", "127.0.0.1:8084 async full")),
        ("voiceai_demo.local_8000.python.xml",
         {**COMMON, "mode": "python", "config_file": "/etc/voiceai-ivr/voiceai.yaml"},
         ("python", "voiceai_ivr.modpython config=/etc/voiceai-ivr/voiceai.yaml")),
    ],
)
def test_sample_matches_renderer(name: str, spec: dict, handoff: tuple[str, str]) -> None:
    path = SAMPLES / name
    text = path.read_text(encoding="utf-8")
    assert text == render_dialplan(spec)
    assert is_managed(path)
    actions = ET.fromstring(text).findall("extension/condition/action")
    handoffs = [(a.get("application"), a.get("data")) for a in actions if a.get("application") in ("socket", "python")]
    assert handoffs == [handoff]
