"""Speech-recognition results as FreeSWITCH's ASR modules hand them over.

``play_and_detect_speech`` leaves the recogniser's result in the channel variable
``detect_speech_result`` (and the body of the ``DETECTED_SPEECH`` event). Its format
is the module's choice:

* NLSML (mod_unimrcp, from an MRCP server): ``<result><interpretation
  confidence="0.87"><input mode="speech">words</input>…`` — confidence 0-1 (MRCPv2)
  or 0-100 (MRCPv1); no input is a bare ``Completion-Cause: 002`` header line;
* JSON (mod_test and the cloud ASR modules): ``{"text": …, "confidence": …}``, with
  ``"error": "no_input"`` when nobody spoke; some modules use ``transcript`` or an
  ``alternatives`` list instead of ``text``;
* ``DIGIT: 5``: play_and_detect_speech ended on a key (``playback_terminators``).

``parse_asr_result`` reads all of them defensively; an unknown format is logged
(once per distinct shape) and counts as no result, never as a crash.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from typing import Any, Optional

from voiceai_ivr.channel.base import DTMF, SPEECH, ListenResult

log = logging.getLogger("voiceai_ivr.channel.asr")

MAX_RESULT_BYTES = 64 * 1024
MAX_WORDS_CHARS = 1000
_NO_RESULT = ("", "_undef_", "ERROR", "NO_MATCH", "NO_INPUT")
_COMPLETION_RE = re.compile(r"^\s*Completion-Cause\s*:\s*(\d{3})", re.IGNORECASE)
_DIGIT_RE = re.compile(r"^\s*DIGIT:\s*([0-9*#A-Da-d])\s*$")
_unknown_logged: set[str] = set()


def parse_asr_result(text: Optional[str]) -> Optional[ListenResult]:
    """A recogniser's result as a ``ListenResult``; ``None`` for no input, no match,
    an error, or anything unreadable or oversized."""
    if text is None or text.strip() in _NO_RESULT:
        return None
    if len(text.encode("utf-8", errors="replace")) > MAX_RESULT_BYTES:
        log.warning("speech result of %d bytes ignored (limit %d)", len(text), MAX_RESULT_BYTES)
        return None
    stripped = text.strip()
    digit = _DIGIT_RE.match(stripped)
    if digit:
        return ListenResult(DTMF, digit.group(1))
    if _COMPLETION_RE.match(stripped) and "<" not in stripped:
        return None  # mod_unimrcp: RECOGNITION-COMPLETE with no body (no input, no match)
    if stripped.startswith("{") or stripped.startswith("["):
        return parse_json_result(stripped)
    if stripped.startswith("<"):
        return parse_nlsml(stripped)
    _log_unknown(stripped)
    return None


def parse_json_result(text: str) -> Optional[ListenResult]:
    try:
        data = json.loads(text)
    except ValueError:
        _log_unknown(text)
        return None
    if isinstance(data, list):
        data = data[0] if data else {}
    if not isinstance(data, dict):
        _log_unknown(text)
        return None
    if data.get("error"):
        return None
    words = _json_words(data)
    if words is None:
        _log_unknown(text)
        return None
    words = " ".join(words.split())[:MAX_WORDS_CHARS]
    if not words:
        return None
    confidence = _confidence(data.get("confidence"))
    if confidence is None:
        alternatives = data.get("alternatives")
        if isinstance(alternatives, list) and alternatives and isinstance(alternatives[0], dict):
            confidence = _confidence(alternatives[0].get("confidence"))
    return ListenResult(SPEECH, words, confidence)


def _json_words(data: dict[str, Any]) -> Optional[str]:
    for key in ("text", "transcript", "utterance"):
        value = data.get(key)
        if isinstance(value, str):
            return value
    alternatives = data.get("alternatives")
    if isinstance(alternatives, list) and alternatives and isinstance(alternatives[0], dict):
        value = alternatives[0].get("transcript") or alternatives[0].get("text")
        if isinstance(value, str):
            return value
    return None


def parse_nlsml(text: Optional[str]) -> Optional[ListenResult]:
    """Read an NLSML result defensively: ``None`` for no result, no match, no input,
    anything unparseable or oversized."""
    if text is None or text.strip() in _NO_RESULT:
        return None
    if len(text.encode("utf-8", errors="replace")) > MAX_RESULT_BYTES:
        log.warning("speech result of %d bytes ignored (limit %d)", len(text), MAX_RESULT_BYTES)
        return None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        log.warning("speech result with a DOCTYPE ignored")
        return None
    try:
        root = ET.fromstring(text.strip())  # noqa: S314 - DOCTYPE/entities refused above
    except ET.ParseError:
        log.warning("speech result is not XML: %r", text[:80])
        return None
    for interp in root.iter():
        if _local(interp.tag) != "interpretation":
            continue
        confidence = _confidence(interp.get("confidence"))
        for node in interp.iter():
            if _local(node.tag) != "input":
                continue
            if any(_local(child.tag) in ("nomatch", "noinput") for child in node):
                continue
            words = " ".join("".join(node.itertext()).split())
            if not words:
                continue
            node_conf = _confidence(node.get("confidence"))
            kind = DTMF if (node.get("mode") or "").lower() == "dtmf" else SPEECH
            return ListenResult(kind, words[:MAX_WORDS_CHARS], node_conf if node_conf is not None else confidence)
    return None


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def _confidence(value: object) -> Optional[float]:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    if number > 1.0:  # MRCPv1 engines and mod_test report 0-100
        number = number / 100.0
    return min(number, 1.0)


def _log_unknown(text: str) -> None:
    shape = re.sub(r"[A-Za-z0-9]+", "x", text[:40])
    if shape in _unknown_logged or len(_unknown_logged) > 100:
        return
    _unknown_logged.add(shape)
    log.warning("speech result in an unknown format ignored: %r", text[:120])


__all__ = ["parse_asr_result", "parse_json_result", "parse_nlsml"]
