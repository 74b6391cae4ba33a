"""The process's speech services (built once, shared by every call): the plan,
the audio directory, the ``Speaker`` for prompts and the recognizer."""

from __future__ import annotations

import logging
from typing import Any, Optional

from voiceai_ivr.config import LANGUAGES, Config
from voiceai_ivr.speech.cache import AudioStore
from voiceai_ivr.speech.plan import SpeechPlan, make_plan
from voiceai_ivr.speech.recognize import HTTP as HTTP_RECOGNIZER
from voiceai_ivr.speech.recognize import FreeSwitchRecognizer, Recognizer, recognizer_for
from voiceai_ivr.speech.speaker import Speaker
from voiceai_ivr.speech.synth import Synthesizer, synthesizer_for

log = logging.getLogger("voiceai_ivr.speech")


class SpeechServices:
    """Thread-safe; one per process."""

    def __init__(self, config: Config, plan: SpeechPlan, *, store: Optional[AudioStore] = None,
                 synthesizers: Optional[dict[str, Synthesizer]] = None,
                 recognizer: Optional[Recognizer] = None) -> None:
        self.config = config
        self.plan = plan
        self.store = store if store is not None else AudioStore(plan.audio_dir)
        engines = synthesizers if synthesizers is not None else {
            lang: synthesizer_for(choice.engine, config.speech) for lang, choice in plan.synthesizers.items()
        }
        self.speaker = Speaker(self.store, engines, timeout=config.speech.synth_timeout)
        self.recognizer: Recognizer = recognizer if recognizer is not None else (
            recognizer_for(plan.recognizer.engine, config.speech))

    @classmethod
    def build(cls, config: Config, *, switch: Any = None, mode: str = "socket",
              asr_known: Optional[bool] = None, languages: tuple[str, ...] = LANGUAGES,
              report: bool = True) -> SpeechServices:
        """``report``: log the plan (problems as errors) — once at a long-running
        process's start; a cron pass (the dispatcher) leaves that to ``config check``
        and logs it at debug level, or cron would mail it every minute."""
        plan = make_plan(config, switch=switch, mode=mode, asr_known=asr_known, languages=languages)
        services = cls(config, plan)
        info, error, warning = (log.info, log.error, log.warning) if report else (log.debug,) * 3
        for line in plan.lines():
            info("speech: %s", line)
        for problem in plan.problems:
            error("speech: %s", problem)
        for note in plan.warnings:
            warning("speech: %s", note)
        return services

    @property
    def records_answers(self) -> bool:
        """Callers' answers are recorded and sent to a transcription service."""
        return self.recognizer.name == HTTP_RECOGNIZER

    @property
    def recognizer_available(self) -> bool:
        return self.recognizer.available

    def synthesizer_name(self, language: str) -> str:
        return self.speaker.engine_name(language)

    def use_pbx_asr(self) -> None:
        """Fall back to FreeSWITCH's ASR path (keyed when the PBX lacks it)."""
        self.recognizer = FreeSwitchRecognizer()

    # record settings (seconds; FreeSWITCH takes whole seconds)
    @property
    def record_max_s(self) -> int:
        return int(self.config.speech.record_max_seconds)

    @property
    def record_silence_s(self) -> int:
        return int(self.config.speech.record_silence_seconds)

    @property
    def record_threshold(self) -> int:
        return int(self.config.speech.record_silence_threshold)

    @property
    def keep_recordings_s(self) -> float:
        return float(self.config.speech.keep_recordings_hours) * 3600.0


__all__ = ["SpeechServices"]
