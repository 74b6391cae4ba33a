"""Recognizers: what the caller said.

* ``freeswitch``: FreeSWITCH's ASR module (``play_and_detect_speech``, in the
  channel adapters; ``flows.asr_support`` finds out whether the PBX has it);
* ``http``: FreeSWITCH records the caller's answer (``record`` with silence
  detection and a time limit, ``Channel.record_answer``) into the audio directory;
  the file goes to any OpenAI-compatible ``POST {url}/audio/transcriptions``
  (multipart: ``file``, ``model``, ``language``, ``response_format=json``) and the
  transcript takes the same understanding path as a module's.

An ``HttpRecognizer`` that failed (unreachable, an error, slower than its
timeout) is not asked again for ``COOLDOWN_S``: meanwhile turns are keyed at
once, instead of each caller waiting out the timeout first.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.speech.errors import TranscriptionError
from voiceai_ivr.speech.http import ThreadSessions

log = logging.getLogger("voiceai_ivr.speech")

FREESWITCH = "freeswitch"
HTTP = "http"
RECOGNIZERS = (FREESWITCH, HTTP)
#: After a failure the HTTP recognizer is skipped this long (turns are keyed).
COOLDOWN_S = 30.0
#: Largest recording sent (about 9 minutes of 16 kHz audio).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: ISO 639-1 codes the transcription APIs take.
API_LANGUAGE = {"pt-BR": "pt", "en-US": "en"}


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # how long the service took


class Recognizer:
    """What hears the caller (``name``) and whether it can now."""

    name: str = ""

    @property
    def available(self) -> bool:
        return True


class FreeSwitchRecognizer(Recognizer):
    """The PBX's ASR module: turns run ``Channel.listen``."""

    name = FREESWITCH


class HttpRecognizer(Recognizer):
    """An OpenAI-compatible transcription endpoint. Thread-safe."""

    name = HTTP

    def __init__(self, url: str, model: str, api_key: str = "", timeout: float = 5.0, *,
                 cooldown_s: float = COOLDOWN_S, session: Any = None) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self._key = api_key
        self.timeout = float(timeout)
        self.cooldown_s = cooldown_s
        self._sessions = ThreadSessions(session)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.last_error = ""

    def __repr__(self) -> str:  # never the key
        return f"HttpRecognizer(url={self.url!r}, model={self.model!r})"

    @property
    def available(self) -> bool:
        with self._lock:
            return time.monotonic() >= self._down_until

    def mark_failed(self, reason: str) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.cooldown_s
            self.last_error = reason
        log.warning("transcription service failed (%s): keyed turns for the next %.0fs", reason, self.cooldown_s)

    def _http(self) -> Any:
        return self._sessions.get()

    def transcribe(self, path: Path, language: str, timeout: Optional[float] = None) -> Transcript:
        """The transcript of the WAV at ``path``; ``TranscriptionError`` on any failure
        (the recognizer is then marked failed for ``cooldown_s``)."""
        try:
            return self._transcribe(path, language, self.timeout if timeout is None else min(timeout, self.timeout))
        except TranscriptionError as exc:
            self.mark_failed(str(exc))
            raise

    def _transcribe(self, path: Path, language: str, bound: float) -> Transcript:
        import requests

        bound = max(0.05, bound)
        started = time.monotonic()
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TranscriptionError(f"recording {path} not readable: {exc.strerror or exc}") from exc
        if len(data) > MAX_UPLOAD_BYTES:
            raise TranscriptionError("recording larger than 16 MiB")
        headers = {"Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        fields = {"model": self.model, "response_format": "json",
                  "language": API_LANGUAGE.get(language, language.split("-")[0])}
        try:
            resp = self._http().post(f"{self.url}/audio/transcriptions", data=fields, headers=headers,
                                     files={"file": (Path(path).name, data, "audio/wav")}, timeout=(bound, bound))
        except requests.RequestException as exc:
            raise TranscriptionError(f"transcription endpoint unreachable or slow: {type(exc).__name__}") from exc
        elapsed = time.monotonic() - started
        if elapsed > bound:
            raise TranscriptionError(f"transcription took {elapsed:.1f}s (bound {bound:.1f}s)")
        if resp.status_code != 200:
            raise TranscriptionError(f"transcription endpoint answered HTTP {resp.status_code}")
        try:
            payload = resp.json()
        except ValueError as exc:
            raise TranscriptionError("transcription endpoint sent no JSON") from exc
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            raise TranscriptionError("transcription answer has no text")
        return Transcript(" ".join(text.split()), elapsed)


def recognizer_for(name: str, speech: Any) -> Recognizer:
    if name == HTTP:
        return HttpRecognizer(speech.asr_url, speech.asr_model, speech.asr_api_key, speech.asr_timeout)
    return FreeSwitchRecognizer()


__all__ = ["API_LANGUAGE", "COOLDOWN_S", "FREESWITCH", "HTTP", "RECOGNIZERS", "FreeSwitchRecognizer",
           "HttpRecognizer", "Recognizer", "Transcript", "recognizer_for"]
