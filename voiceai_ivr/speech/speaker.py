"""``Speaker``: a prompt's text to what ``Channel.play`` gets, never silence.

For a language whose synthesizer makes files: the cached WAV when there is one;
else the text is synthesized now, within ``speech.synth_timeout``, stored in the
cache and played; when the synthesizer fails or is too slow, ``say:TEXT``
(FreeSWITCH's own TTS engine) is played instead and the synthesizer is left
alone for ``COOLDOWN_S`` (later prompts fall back at once instead of each
waiting out the bound; cached prompts still play). Two calls needing the same new
text at once synthesize it once: the second waits for the first (within its own
bound).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from voiceai_ivr.speech.cache import AudioStore
from voiceai_ivr.speech.errors import SpeechError
from voiceai_ivr.speech.synth import Synthesizer

log = logging.getLogger("voiceai_ivr.speech")

COOLDOWN_S = 30.0

#: How a prompt's audio was had (the call log's ``audio`` and a metric label).
RECORDED = "recorded"  # speech.recordings_dir
CACHE = "cache"  # synthesized earlier
SYNTHESIZED = "synthesized"  # synthesized now, for this call
FREESWITCH_TTS = "freeswitch"  # say: by design (engine freeswitch)
FALLBACK = "fallback"  # say: because the synthesizer failed or was too slow


@dataclass(frozen=True)
class Spoken:
    """One prompt's audio: ``source`` for ``Channel.play``."""

    source: str
    how: str
    engine: str
    ms: Optional[float] = None  # synthesis time, when synthesized now
    error: str = ""

    @property
    def text(self) -> str:
        return self.source[4:] if self.source.startswith("say:") else ""


class Speaker:
    """Thread-safe; one per process, shared by every call."""

    def __init__(self, store: Optional[AudioStore], engines: Mapping[str, Synthesizer], *,
                 timeout: float = 2.5, cooldown_s: float = COOLDOWN_S) -> None:
        self.store = store
        self.engines = dict(engines)
        self.timeout = float(timeout)
        self.cooldown_s = cooldown_s
        self._lock = threading.Lock()
        self._inflight: dict[str, threading.Event] = {}
        self._down_until: dict[str, float] = {}
        self.last_error: dict[str, str] = {}

    def engine(self, language: str) -> Optional[Synthesizer]:
        return self.engines.get(language)

    def engine_name(self, language: str) -> str:
        syn = self.engines.get(language)
        return syn.name if syn is not None else FREESWITCH_TTS

    def cached(self, language: str, text: str) -> Optional[str]:
        """The cached file of ``text`` for ``language``'s synthesizer, if any."""
        syn = self.engines.get(language)
        if syn is None or not syn.makes_files or self.store is None:
            return None
        path = self.store.lookup(language, syn.voice(language), syn.identity(language), text)
        return str(path) if path else None

    def speak(self, language: str, text: str, *, timeout: Optional[float] = None, force: bool = False) -> Spoken:
        """``text``'s audio for ``language``. Never raises for a synthesizer's failure
        (``say:TEXT`` then); ``force`` ignores the cool-down (``prompts render``)."""
        syn = self.engines.get(language)
        say = "say:" + text
        if syn is None or not syn.makes_files or self.store is None:
            return Spoken(say, FREESWITCH_TTS, syn.name if syn is not None else FREESWITCH_TTS)
        voice, ident = syn.voice(language), syn.identity(language)
        path = self.store.lookup(language, voice, ident, text)
        if path is not None:
            return Spoken(str(path), CACHE, syn.name)
        if not force and self._cooling(syn.name):
            return Spoken(say, FALLBACK, syn.name, error=self.last_error.get(syn.name, "cooling down"))
        bound = self.timeout if timeout is None else timeout
        key = f"{language}\x00{voice}\x00{ident}\x00{text}"
        with self._lock:
            event = self._inflight.get(key)
            owner = event is None
            if owner:
                event = self._inflight[key] = threading.Event()
        assert event is not None
        if not owner:  # someone else synthesizes this very text: wait for it
            event.wait(bound)
            path = self.store.lookup(language, voice, ident, text)
            if path is not None:
                return Spoken(str(path), CACHE, syn.name)
            return Spoken(say, FALLBACK, syn.name, error="concurrent synthesis did not finish in time")
        started = time.monotonic()
        try:
            wav = syn.synthesize(text, language, bound)
            stored = self.store.store(language, voice, ident, text, wav)
        except (SpeechError, OSError) as exc:
            reason = str(exc) if isinstance(exc, SpeechError) else f"cache not writable: {exc}"
            self._failed(syn.name, reason)
            return Spoken(say, FALLBACK, syn.name, round((time.monotonic() - started) * 1000, 1), reason)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            event.set()
        self._ok(syn.name)
        return Spoken(str(stored), SYNTHESIZED, syn.name, round((time.monotonic() - started) * 1000, 1))

    # ------------------------------------------------------------------ health

    def _cooling(self, name: str) -> bool:
        with self._lock:
            return time.monotonic() < self._down_until.get(name, 0.0)

    def _failed(self, name: str, reason: str) -> None:
        with self._lock:
            self._down_until[name] = time.monotonic() + self.cooldown_s
            self.last_error[name] = reason
        log.warning("synthesizer %s failed (%s): FreeSWITCH speaks new texts for the next %.0fs",
                    name, reason, self.cooldown_s)

    def _ok(self, name: str) -> None:
        with self._lock:
            self._down_until.pop(name, None)


__all__ = ["CACHE", "FALLBACK", "FREESWITCH_TTS", "RECORDED", "SYNTHESIZED", "Speaker", "Spoken"]
