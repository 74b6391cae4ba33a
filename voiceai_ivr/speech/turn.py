"""One listen turn heard through the ``http`` recognizer.

1. ``Channel.record_answer``: the prompt (a key ends it), then FreeSWITCH's
   ``record`` into a fresh 0600 file of the audio directory, ended by
   ``speech.record_silence_seconds`` of silence, ``speech.record_max_seconds``, a
   key, or the hangup. Keys (during the prompt or the recording) make it a keyed
   answer; the recording is then thrown away.
2. The recording is measured (``audio.voicing``, FreeSWITCH's own energy measure):
   no voice in it is no input, without asking the service. The turn-latency clock
   starts at the end of the caller's speech: when silence ended the recording
   (``silence_hits_exhausted``), ``record_silence_seconds`` before it ended; else
   when it ended. (Not from the file: FreeSWITCH writes no comfort-noise frames and
   trims the silent tail, so the file is shorter than the time it took.)
3. ``HttpRecognizer.transcribe`` within ``speech.asr_timeout``: the transcript is
   a ``SPEECH`` result for the usual understanding path.

``None`` means the turn could not be heard (no recording, the service down,
slow, or wrong): the caller's context plays the turn again keyed; the recognizer
is left alone for a while meanwhile (``recognize.COOLDOWN_S``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.channel.base import DTMF, SILENCE, SPEECH, ListenResult
from voiceai_ivr.errors import CallGone
from voiceai_ivr.speech.audio import parse_wav, voicing
from voiceai_ivr.speech.errors import SpeechError

log = logging.getLogger("voiceai_ivr.speech")


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _ended_by_silence(ctx: Any) -> bool:
    """FreeSWITCH's ``record`` sets ``silence_hits_exhausted`` when the silence
    window, not the time limit, ended it."""
    try:
        return (ctx.channel.get_var("silence_hits_exhausted") or "").lower() == "true"
    except CallGone:
        raise
    except Exception:  # noqa: BLE001 - unknown: count from the end (an upper bound)
        return False


def recorded_turn(ctx: Any, source: str, *, slot: str, max_digits: int) -> Optional[ListenResult]:
    """The caller's answer to ``source`` through the transcription service, or None
    (play the turn keyed). Raises ``CallGone``."""
    speech = ctx.services.speech
    recognizer = speech.recognizer
    path = speech.store.recording_path(ctx.call_uuid, int(ctx.elapsed() * 1000))
    try:
        recorded, keys = ctx.channel.record_answer(
            source, str(path), max_s=speech.record_max_s, silence_s=speech.record_silence_s,
            threshold=speech.record_threshold, slot=slot, max_digits=max(1, max_digits))
    except CallGone:
        _discard(path)
        raise
    ended = time.monotonic()
    if keys:
        _discard(path)
        ctx.mark_answered(ended, "keys")
        return ListenResult(DTMF, keys)
    if recorded is None:
        _discard(path)
        recognizer.mark_failed("FreeSWITCH recorded nothing")
        ctx.log_event("recording_failed", slot=slot)
        ctx.services.emit("transcription", outcome="no_recording")
        return None
    try:
        pcm = parse_wav(Path(recorded).read_bytes())
    except (OSError, SpeechError) as exc:
        _discard(path)
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        recognizer.mark_failed(f"recording unreadable: {reason}")
        ctx.log_event("recording_failed", slot=slot, error=str(reason))
        ctx.services.emit("transcription", outcome="no_recording")
        return None
    heard = voicing(pcm, speech.record_threshold)
    if not heard.has_voice:
        _discard(path)
        ctx.log_event("recorded", slot=slot, audio_s=round(heard.seconds, 2), voice=False)
        return ListenResult(SILENCE)
    speech_end = ended - (speech.record_silence_s if _ended_by_silence(ctx) else 0.0)
    try:
        transcript = recognizer.transcribe(Path(recorded), ctx.language)
    except SpeechError as exc:
        ctx.log_event("transcription_failed", slot=slot, error=str(exc))
        ctx.services.emit("transcription", outcome="failed")
        if speech.keep_recordings_s <= 0:
            _discard(path)
        return None
    if speech.keep_recordings_s <= 0:
        _discard(path)
    ctx.mark_answered(speech_end, "http")
    ctx.services.emit("transcription", outcome="ok" if transcript.text else "empty")
    ctx.log_event("transcribed", slot=slot, audio_s=round(heard.seconds, 2),
                  service_ms=round(transcript.seconds * 1000, 1))
    if not transcript.text:
        return ListenResult(SPEECH, "")
    return ListenResult(SPEECH, transcript.text)


__all__ = ["recorded_turn"]
