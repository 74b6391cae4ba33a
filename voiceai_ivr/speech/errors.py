"""Errors of the speech package (all ``VoiceAIError``; none reaches a caller: a
failed synthesis is played by FreeSWITCH's own engine, a failed transcription
becomes a keyed turn)."""

from __future__ import annotations

from voiceai_ivr.errors import VoiceAIError


class SpeechError(VoiceAIError):
    """Prompt audio or a transcription could not be had."""


class AudioError(SpeechError):
    """Audio that is not a WAV we can read."""


class SynthesisError(SpeechError):
    """A synthesizer failed, or did not answer within its time bound."""


class TranscriptionError(SpeechError):
    """The transcription service failed, or did not answer within its time bound."""


__all__ = ["AudioError", "SpeechError", "SynthesisError", "TranscriptionError"]
