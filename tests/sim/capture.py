"""Reading the FreeSWITCH 1.11 capture for the simulator's shape comparisons."""

from __future__ import annotations

import json
from pathlib import Path

from voiceai_ivr.esl.protocol import Frame, FrameParser, frame_to_event

#: the capture lives in the repository (see tests/fixtures/freeswitch-1.11/README.md)
CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch-1.11" / "esl-capture.jsonl"


def capture_path() -> Path:
    return CAPTURE


def load(call: str) -> list[tuple[str, object]]:
    """[("app", command_text) | ("fs", Frame)] for one ``call`` of the capture, in order."""
    path = capture_path()
    items: list[tuple[str, object]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if obj["call"] != call:
            continue
        if obj["dir"] == "app>fs":
            items.append(("app", obj["data"]))
        else:
            for frame in FrameParser().feed(obj["data"].encode("utf-8")):
                items.append(("fs", frame))
    return items


def shape(frame: Frame) -> tuple[str, str, str]:
    """(content type, event name, application) of one frame."""
    if frame.get("Event-Name") == "CHANNEL_DATA" and not frame.body:
        return ("command/reply", "CHANNEL_DATA", "")
    if frame.is_event:
        event = frame_to_event(frame)
        return (frame.content_type, event.name, event.get("Application") or "")
    if frame.content_type == "command/reply":
        text = frame.reply_text
        return ("command/reply", text.split(":")[0] if text.startswith("+OK Job-UUID") else text[:3], "")
    if frame.content_type == "text/disconnect-notice":
        return (frame.content_type, frame.get("Content-Disposition") or "", "")
    return (frame.content_type, "", "")


def header_names(frame: Frame) -> set[str]:
    if frame.is_event:
        names = set(frame_to_event(frame).headers)
    else:
        names = {k for k, _ in frame.headers}
    return {n for n in names if not n.startswith("variable_")}
