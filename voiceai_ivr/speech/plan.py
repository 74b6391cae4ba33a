"""Which synthesizer speaks each language and which recognizer hears callers, and why.

Decided at start (``serve``, mod_python3, the dispatcher) and by ``config check``,
from what is really there, never assumed:

``speech.synthesizer: auto`` (the default), per language, the first that holds:

1. ``http`` when ``speech.tts_url`` is set (the speech service the company pays for
   or hosts);
2. ``freeswitch`` when ``speech.tts_voice.<language>`` is set: the administrator
   chose a voice of a FreeSWITCH TTS module (refused for Portuguese with ``flite``,
   whose voices are all English);
3. ``espeak-ng`` when the command is installed with the language's voice and
   FreeSWITCH can read the audio directory (FreeSWITCH's ``file_exists`` on a probe
   file; mod_python3 runs inside FreeSWITCH, so it always can);
4. ``freeswitch`` for English (``flite``'s English voices are fine for English);
5. nothing suitable: ``freeswitch`` all the same, so callers hear something, and
   the plan carries a problem (``config check`` fails and says what to install).

``speech.recognizer: auto``: ``freeswitch`` when the PBX has the ASR engine
``speech.asr_engine``; else ``http`` when ``speech.asr_url`` is set and FreeSWITCH
can write the audio directory; else ``freeswitch`` (every turn keyed, as
``flows.asr_support`` finds out).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.config import LANGUAGES, Config, default_data_dir
from voiceai_ivr.speech.cache import AudioStore, ensure_dir
from voiceai_ivr.speech.synth import ESPEAK, FREESWITCH, HTTP, synthesizer_for

log = logging.getLogger("voiceai_ivr.speech")

AUTO = "auto"
#: FreeSWITCH TTS modules whose every voice is English.
ENGLISH_ONLY_TTS = frozenset({"flite"})
_LOOPBACK = ("127.", "localhost", "::1")


@dataclass
class Choice:
    """One decision, with the reason an administrator reads in ``config check``."""

    engine: str
    voice: str = ""
    reason: str = ""
    problem: str = ""  # non-empty: callers are not served as they should be

    def to_json(self) -> dict[str, str]:
        out = {"engine": self.engine, "voice": self.voice, "reason": self.reason}
        if self.problem:
            out["problem"] = self.problem
        return out


@dataclass
class Visibility:
    """Whether FreeSWITCH sees the audio directory at the same path."""

    visible: Optional[bool]  # None: could not be asked
    reason: str


@dataclass
class SpeechPlan:
    audio_dir: Path
    visibility: Visibility
    synthesizers: dict[str, Choice] = field(default_factory=dict)
    recognizer: Choice = field(default_factory=lambda: Choice(FREESWITCH))
    fallback: dict[str, Choice] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        out = [f"speech.synthesizer ({lang}): {c.problem}" for lang, c in self.synthesizers.items() if c.problem]
        if self.recognizer.problem:
            out.append(f"speech.recognizer: {self.recognizer.problem}")
        return out

    @property
    def warnings(self) -> list[str]:
        return [f"speech fallback ({lang}): {c.problem}" for lang, c in self.fallback.items() if c.problem]

    def lines(self) -> list[str]:
        """What ``config check`` prints: one line per language and one for callers' speech."""
        out = [f"audio directory {self.audio_dir}: {self.visibility.reason}"]
        for lang, c in self.synthesizers.items():
            voice = f" voice {c.voice}" if c.voice else ""
            out.append(f"prompts in {lang}: {c.engine}{voice} ({c.reason})")
            fb = self.fallback.get(lang)
            if fb is not None and c.engine != FREESWITCH:
                out.append(f"  fallback in {lang}: FreeSWITCH {fb.voice} ({fb.reason})")
        out.append(f"callers' speech: {self.recognizer.engine} ({self.recognizer.reason})")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "audio_dir": str(self.audio_dir),
            "audio_dir_visible": self.visibility.visible,
            "synthesizers": {k: v.to_json() for k, v in self.synthesizers.items()},
            "fallback": {k: v.to_json() for k, v in self.fallback.items()},
            "recognizer": self.recognizer.to_json(),
            "problems": self.problems,
        }


def audio_dir(config: Config) -> Path:
    """``speech.audio_dir``, else ``<data dir>/speech``."""
    if config.speech.audio_dir:
        return Path(config.speech.audio_dir).expanduser()
    base = Path(config.database.data_dir).expanduser() if config.database.data_dir else default_data_dir()
    return base / "speech"


def _pbx_api(switch: Any, command: str) -> str:
    transport = getattr(switch, "transport", None)
    api = getattr(transport, "api", None) or getattr(switch, "api", None)
    if api is None:
        raise RuntimeError("no PBX API")
    return str(api(command, float(getattr(switch, "timeout", 5.0) or 5.0))).strip()


def check_visibility(root: Path, switch: Any, *, mode: str = "socket", esl_host: str = "") -> Visibility:
    """Can FreeSWITCH read files we write under ``root`` at the same path? Asked
    with ``file_exists`` on a probe file (it fails too when FreeSWITCH runs as
    another user, since the directory is 0700)."""
    try:
        ensure_dir(root)
    except OSError as exc:
        return Visibility(False, f"cannot create it: {exc.strerror or exc}")
    if switch is None and mode == "python":
        return Visibility(True, "mod_python3 runs inside FreeSWITCH (same host, same user)")
    if switch is None:
        local = esl_host.startswith(_LOOPBACK)
        where = "on this host" if local else f"at {esl_host}"
        guess = "assumed visible (same host)" if local else "FreeSWITCH must see it at the same path"
        return Visibility(True if local else None, f"FreeSWITCH {where} not asked; {guess}")
    probe = root / f".probe-{os.getpid()}-{secrets.token_hex(4)}.wav"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as exc:
        return Visibility(False, f"not writable: {exc.strerror or exc}")
    try:
        reply = _pbx_api(switch, f"file_exists {probe}")
    except Exception as exc:  # noqa: BLE001 - any PBX failure means "not asked"
        return Visibility(None, f"FreeSWITCH could not be asked ({type(exc).__name__})")
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    if reply == "true":
        return Visibility(True, "FreeSWITCH reads it (file_exists)")
    if reply == "false":
        return Visibility(False, "FreeSWITCH cannot see it: use a path both hosts share, run voiceai-ivr as "
                                 "FreeSWITCH's user on its host, or use mod_python3 (dialplan.mode: python)")
    return Visibility(None, f"FreeSWITCH could not tell (file_exists: {reply[:60]})")


def _tts_modules(switch: Any) -> Optional[set[str]]:
    if switch is None or not hasattr(switch, "interfaces"):
        return None
    try:
        return set(switch.interfaces("speech"))
    except Exception:  # noqa: BLE001 - unknown, not absent
        return None


def _fallback_choice(config: Config, lang: str, modules: Optional[set[str]]) -> Choice:
    engine = config.speech.tts_engine
    voice = config.speech.tts_voice.get(lang) or "kal"
    problem = ""
    if lang != "en-US" and engine.lower() in ENGLISH_ONLY_TTS:
        problem = (f"FreeSWITCH's {engine} has only English voices: a failed synthesis is read to {lang} callers "
                   f"in English; set speech.tts_engine and speech.tts_voice.{lang} to a Portuguese voice of a "
                   "FreeSWITCH TTS module (e.g. tts_commandline with pt-br)")
    elif modules is not None and engine.lower() not in modules:
        problem = f"the PBX has no TTS module {engine!r} (loaded: {', '.join(sorted(modules)) or 'none'})"
    reason = f"speech.tts_engine {engine}, voice {voice}"
    return Choice(FREESWITCH, f"{engine}/{voice}", reason, problem)


def choose_synthesizer(config: Config, lang: str, visibility: Visibility,
                       modules: Optional[set[str]]) -> Choice:
    speech = config.speech
    wanted = (speech.synthesizer or AUTO).lower()
    espeak = synthesizer_for(ESPEAK, speech)
    fs_voice = speech.tts_voice.get(lang, "")
    if wanted == HTTP:
        ok, why = synthesizer_for(HTTP, speech).check(lang)
        return Choice(HTTP, speech.tts_http_voice.get(lang) or "alloy", f"configured; {why}", "" if ok else why)
    if wanted == ESPEAK:
        ok, why = espeak.check(lang)
        if ok and visibility.visible is False:
            ok, why = False, f"audio directory: {visibility.reason}"
        return Choice(ESPEAK, espeak.voice(lang), f"configured; {why}", "" if ok else why)
    if wanted == FREESWITCH:
        fb = _fallback_choice(config, lang, modules)
        return Choice(FREESWITCH, fb.voice, "configured", fb.problem)
    # auto
    if speech.tts_url:
        ok, why = synthesizer_for(HTTP, speech).check(lang)
        if ok:
            return Choice(HTTP, speech.tts_http_voice.get(lang) or "alloy", f"speech.tts_url is set; {why}")
    if fs_voice and not (lang != "en-US" and speech.tts_engine.lower() in ENGLISH_ONLY_TTS):
        if modules is None or speech.tts_engine.lower() in modules:
            return Choice(FREESWITCH, f"{speech.tts_engine}/{fs_voice}",
                          f"speech.tts_voice.{lang} is set: the administrator's FreeSWITCH voice")
    ok, why = espeak.check(lang)
    if ok and visibility.visible:
        return Choice(ESPEAK, espeak.voice(lang), f"{why}; {visibility.reason}")
    espeak_missing = why if not ok else f"espeak-ng is installed but {visibility.reason}"
    if lang == "en-US":
        fb = _fallback_choice(config, lang, modules)
        return Choice(FREESWITCH, fb.voice, f"English voice for English text ({espeak_missing})", fb.problem)
    fb = _fallback_choice(config, lang, modules)
    return Choice(FREESWITCH, fb.voice, "nothing better available",
                  f"no {lang} voice available: {espeak_missing}; or set speech.tts_url (an OpenAI-compatible "
                  f"speech service). Until then callers hear FreeSWITCH's {fb.voice}")


def choose_recognizer(config: Config, visibility: Visibility, asr_known: Optional[bool]) -> Choice:
    speech = config.speech
    wanted = (speech.recognizer or AUTO).lower()
    has_url = bool(speech.asr_url and speech.asr_model)
    writable = bool(visibility.visible)
    if wanted == HTTP:
        problem = ""
        if not has_url:
            problem = "speech.asr_url and speech.asr_model must be set"
        elif not writable:
            problem = f"FreeSWITCH records the answers into the audio directory, but {visibility.reason}"
        return Choice(HTTP, speech.asr_model, f"configured; {speech.asr_url}/audio/transcriptions", problem)
    if wanted == FREESWITCH:
        return Choice(FREESWITCH, speech.asr_engine, _asr_reason(speech.asr_engine, asr_known))
    if asr_known is True:
        return Choice(FREESWITCH, speech.asr_engine, _asr_reason(speech.asr_engine, True))
    if has_url and writable:
        return Choice(HTTP, speech.asr_model,
                      f"{_asr_reason(speech.asr_engine, asr_known)}; answers recorded by FreeSWITCH and sent to "
                      f"{speech.asr_url}/audio/transcriptions")
    hint = "" if has_url else "; set speech.asr_url and speech.asr_model to hear callers without an ASR module"
    return Choice(FREESWITCH, speech.asr_engine, _asr_reason(speech.asr_engine, asr_known) + hint)


def _asr_reason(engine: str, known: Optional[bool]) -> str:
    if known is True:
        return f"the PBX has ASR engine {engine!r}"
    if known is False:
        return f"the PBX has no ASR engine {engine!r}: keyed turns"
    return f"ASR engine {engine!r} not checked yet (keyed turns if the PBX lacks it)"


def make_plan(config: Config, *, switch: Any = None, mode: str = "socket",
              asr_known: Optional[bool] = None, languages: tuple[str, ...] = LANGUAGES) -> SpeechPlan:
    root = audio_dir(config)
    visibility = check_visibility(root, switch, mode=mode, esl_host=config.esl.host)
    modules = _tts_modules(switch)
    plan = SpeechPlan(root, visibility)
    for lang in languages:
        plan.synthesizers[lang] = choose_synthesizer(config, lang, visibility, modules)
        plan.fallback[lang] = _fallback_choice(config, lang, modules)
    plan.recognizer = choose_recognizer(config, visibility, asr_known)
    return plan


def store_for(plan: SpeechPlan) -> AudioStore:
    return AudioStore(plan.audio_dir)


__all__ = ["AUTO", "Choice", "SpeechPlan", "Visibility", "audio_dir", "check_visibility", "choose_recognizer",
           "choose_synthesizer", "make_plan"]
