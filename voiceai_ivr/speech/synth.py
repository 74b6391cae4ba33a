"""Synthesizers: text in the caller's language to a WAV FreeSWITCH plays.

Three implementations behind one interface (``Synthesizer``):

* ``freeswitch``: FreeSWITCH's own TTS module (``say:TEXT`` with the channel's
  ``tts_engine``/``tts_voice``): makes no file; it is also every other engine's
  fallback on a call;
* ``espeak-ng``: the local command (Debian/Ubuntu package ``espeak-ng``), voices
  ``pt-br`` and ``en-us`` by default, run without a shell, bounded by a timeout;
* ``http``: any OpenAI-compatible ``POST {url}/audio/speech`` (``model``,
  ``input``, ``voice``, ``response_format: wav``), bearer key, bounded end to end.

Whatever comes back is converted to 16 kHz mono 16-bit WAV (``speech.audio``).
"""

from __future__ import annotations

import abc
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional

from voiceai_ivr.speech.audio import playable_wav
from voiceai_ivr.speech.errors import AudioError, SynthesisError
from voiceai_ivr.speech.http import ThreadSessions

log = logging.getLogger("voiceai_ivr.speech")

FREESWITCH = "freeswitch"
ESPEAK = "espeak-ng"
HTTP = "http"
ENGINES = (FREESWITCH, ESPEAK, HTTP)
#: Largest audio an HTTP synthesizer may send for one prompt.
MAX_AUDIO_BYTES = 16 * 1024 * 1024
#: Raw PCM rate of OpenAI-style ``response_format: pcm``.
RAW_PCM_RATE = 24000
DEFAULT_ESPEAK_VOICES = {"pt-BR": "pt-br", "en-US": "en-us"}


class Synthesizer(abc.ABC):
    """Text to playable audio for one engine. Thread-safe."""

    name: str = ""
    makes_files: bool = True

    @abc.abstractmethod
    def voice(self, language: str) -> str:
        """The voice this engine uses for ``language`` ("" when it has none)."""

    def identity(self, language: str) -> str:
        """Everything besides voice and text that changes the audio (goes into the
        cache key with language, voice and text)."""
        return self.name

    @abc.abstractmethod
    def synthesize(self, text: str, language: str, timeout: float) -> bytes:
        """A 16 kHz mono 16-bit WAV of ``text``; ``SynthesisError`` on failure or when
        ``timeout`` seconds pass."""

    def check(self, language: str) -> tuple[bool, str]:
        """Whether this engine can speak ``language`` here, and why (or why not)."""
        return True, ""


class FreeSwitchSynthesizer(Synthesizer):
    """FreeSWITCH's TTS module: the channel says ``say:TEXT`` itself."""

    name = FREESWITCH
    makes_files = False

    def __init__(self, engine: str, voices: Mapping[str, str]) -> None:
        self.engine = engine
        self.voices = dict(voices)

    def voice(self, language: str) -> str:
        return self.voices.get(language) or "kal"

    def identity(self, language: str) -> str:
        return f"{FREESWITCH}:{self.engine}"

    def synthesize(self, text: str, language: str, timeout: float) -> bytes:
        raise SynthesisError("the freeswitch engine makes no files: FreeSWITCH speaks say: itself")


# --------------------------------------------------------------------------- espeak-ng


class EspeakSynthesizer(Synthesizer):
    """The ``espeak-ng`` command: ``espeak-ng -v VOICE -s WPM --stdout -- TEXT``."""

    name = ESPEAK

    def __init__(self, command: str = "espeak-ng", voices: Optional[Mapping[str, str]] = None,
                 speed: int = 160) -> None:
        self.command = command or "espeak-ng"
        self.voices = dict(DEFAULT_ESPEAK_VOICES if voices is None else voices)
        self.speed = int(speed)
        self._voices_listed: Optional[set[str]] = None
        self._lock = threading.Lock()

    def voice(self, language: str) -> str:
        return self.voices.get(language) or DEFAULT_ESPEAK_VOICES.get(language, "")

    def identity(self, language: str) -> str:
        return f"{ESPEAK}:{self.speed}"

    def executable(self) -> Optional[str]:
        return shutil.which(self.command)

    def synthesize(self, text: str, language: str, timeout: float) -> bytes:
        exe = self.executable()
        if exe is None:
            raise SynthesisError(f"{self.command}: command not found (install the espeak-ng package)")
        voice = self.voice(language)
        if not voice:
            raise SynthesisError(f"espeak-ng: no voice configured for {language}")
        argv = [exe, "-v", voice, "-s", str(self.speed), "--stdout", "--", text]
        try:
            # argv, no shell; the text is one argument after "--"
            proc = subprocess.run(argv, capture_output=True, timeout=max(0.05, timeout), check=False,  # noqa: S603
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise SynthesisError(f"espeak-ng took longer than {timeout:.1f}s") from exc
        except OSError as exc:
            raise SynthesisError(f"espeak-ng could not run: {exc.strerror or exc}") from exc
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
            raise SynthesisError(f"espeak-ng exited {proc.returncode}" + (f": {detail[0][:200]}" if detail else ""))
        try:
            return playable_wav(proc.stdout)
        except AudioError as exc:
            raise SynthesisError(f"espeak-ng: {exc}") from exc

    def listed_voices(self) -> set[str]:
        """Voice names and language tags ``espeak-ng --voices`` lists (lower case)."""
        with self._lock:
            if self._voices_listed is not None:
                return self._voices_listed
        exe = self.executable()
        found: set[str] = set()
        if exe is not None:
            try:
                proc = subprocess.run([exe, "--voices"], capture_output=True, timeout=10,  # noqa: S603
                                      check=False, stdin=subprocess.DEVNULL)
                for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
                    cols = line.split()
                    if len(cols) >= 5:
                        found.add(cols[1].lower())  # language tag (pt-br)
                        found.add(cols[3].lower())  # voice name
                        found.add(cols[4].lower())  # file (roa/pt-BR)
            except (OSError, subprocess.SubprocessError) as exc:
                log.info("espeak-ng --voices failed: %s", exc)
        with self._lock:
            self._voices_listed = found
        return found

    def check(self, language: str) -> tuple[bool, str]:
        exe = self.executable()
        if exe is None:
            return False, (f"{self.command} is not installed (Debian/Ubuntu: sudo apt-get install espeak-ng, "
                           "or sudo bash scripts/install-system-packages.sh)")
        voice = self.voice(language)
        if not voice:
            return False, f"no espeak-ng voice configured for {language} (speech.espeak_voice.{language})"
        if voice.lower() not in self.listed_voices():
            return False, f"espeak-ng at {exe} has no voice {voice!r} (espeak-ng --voices lists them)"
        return True, f"installed at {exe} with voice {voice}"


# --------------------------------------------------------------------------- http


class HttpSynthesizer(Synthesizer):
    """An OpenAI-compatible speech endpoint: ``POST {url}/audio/speech``."""

    name = HTTP

    def __init__(self, url: str, model: str, voices: Mapping[str, str], api_key: str = "",
                 timeout: float = 5.0, session: Any = None) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.voices = dict(voices)
        self._key = api_key
        self.timeout = float(timeout)
        self._sessions = ThreadSessions(session)

    def __repr__(self) -> str:  # never the key
        return f"HttpSynthesizer(url={self.url!r}, model={self.model!r})"

    def voice(self, language: str) -> str:
        return self.voices.get(language) or "alloy"

    def identity(self, language: str) -> str:
        return f"{HTTP}:{self.model}@{self.url}"

    def _http(self) -> Any:
        return self._sessions.get()

    def synthesize(self, text: str, language: str, timeout: float) -> bytes:
        import requests

        bound = max(0.05, min(timeout, self.timeout))
        deadline = time.monotonic() + bound
        headers = {"Accept": "audio/wav"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        body = {"model": self.model, "input": text, "voice": self.voice(language), "response_format": "wav"}
        try:
            resp = self._http().post(f"{self.url}/audio/speech", json=body, headers=headers, stream=True,
                                     timeout=(bound, bound))
        except requests.RequestException as exc:
            raise SynthesisError(f"speech endpoint unreachable: {type(exc).__name__}") from exc
        with resp:
            if resp.status_code != 200:
                raise SynthesisError(f"speech endpoint answered HTTP {resp.status_code}")
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in resp.iter_content(65536):
                    size += len(chunk)
                    if size > MAX_AUDIO_BYTES:
                        raise SynthesisError("speech endpoint sent more than 16 MiB")
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise SynthesisError(f"speech endpoint took longer than {bound:.1f}s")
            except requests.RequestException as exc:
                raise SynthesisError(f"speech endpoint failed mid-answer: {type(exc).__name__}") from exc
            ctype = (resp.headers.get("Content-Type") or "").lower()
        data = b"".join(chunks)
        raw_rate = RAW_PCM_RATE if ("pcm" in ctype or "l16" in ctype) else 0
        try:
            return playable_wav(data, raw_rate=raw_rate)
        except AudioError as exc:
            raise SynthesisError(f"speech endpoint: {exc}") from exc

    def check(self, language: str) -> tuple[bool, str]:
        if not self.url or not self.model:
            return False, "speech.tts_url and speech.tts_model must be set"
        return True, f"{self.url}/audio/speech, model {self.model}, voice {self.voice(language)}"


def synthesizer_for(engine: str, speech: Any) -> Synthesizer:
    """The synthesizer ``engine`` configured by ``speech`` (a ``SpeechConfig``)."""
    if engine == ESPEAK:
        return EspeakSynthesizer(speech.espeak_command, speech.espeak_voice or None, speech.espeak_speed)
    if engine == HTTP:
        return HttpSynthesizer(speech.tts_url, speech.tts_model, speech.tts_http_voice, speech.tts_api_key,
                               speech.tts_timeout)
    if engine == FREESWITCH:
        return FreeSwitchSynthesizer(speech.tts_engine, speech.tts_voice)
    raise ValueError(f"unknown synthesizer {engine!r}")


__all__ = ["ENGINES", "ESPEAK", "FREESWITCH", "HTTP", "EspeakSynthesizer", "FreeSwitchSynthesizer",
           "HttpSynthesizer", "Synthesizer", "synthesizer_for"]
