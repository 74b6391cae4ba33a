"""Caller prompts: per-language YAML files rendered with jinja2.

Where prompts come from, later sources overriding earlier ones key by key:

1. the packaged files ``conf/prompts/<lang>.yaml`` (``pt-BR``, ``en-US``);
2. packaged extra files ``conf/prompts/<name>.<lang>.yaml`` (``callback.pt-BR.yaml``):
   their keys are namespaced by the file's first name, so ``ask_number`` in
   ``callback.pt-BR.yaml`` is the prompt ``callback.ask_number`` (a key already
   written ``callback.ask_number`` is not prefixed twice);
3. the same two kinds of file in ``config.speech.prompts_dir`` when set.

A file is a mapping of key to template text; nested mappings are flattened with dots
(``transfer: {busy: ...}`` is ``transfer.busy``). Templates are jinja2 (sandboxed,
undefined variables are an error) so that a typo shows up in tests, not on a call.

``PromptBook.prompt`` (and ``source``, its playable string) turns a prompt into
something ``Channel.play`` understands, first found wins:

1. a recorded file ``<recordings_dir>/<lang>/<key>.wav`` when one exists and the
   prompt has no variables (a recording cannot say a caller's name);
2. with a ``speaker`` (``voiceai_ivr.speech``, set by ``app.build_services``): the
   text's WAV from the speech cache, or synthesized now within
   ``speech.synth_timeout``, in the language's engine (espeak-ng, an HTTP service);
3. ``say:TEXT``: FreeSWITCH's own TTS module (the ``freeswitch`` engine, and the
   fallback whenever a synthesizer fails or is too slow: never silence).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment

from voiceai_ivr import yamlfile
from voiceai_ivr.config import LANGUAGES, Config
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.speech.speaker import FREESWITCH_TTS, RECORDED, Speaker, Spoken

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "conf" / "prompts"
RECORDING_EXTENSIONS = (".wav", ".mp3")


#: Template variables that select a wording rather than fill in content
#: (``keyed``: the PBX cannot recognise speech, say only what can be keyed).
MODE_VARIABLES = frozenset({"keyed"})

class PromptError(ValidationError):
    """A prompt file or a prompt key is wrong (missing, bad YAML, bad template)."""


def _flatten(data: Mapping[str, Any], prefix: str, out: dict[str, str], where: str) -> None:
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise PromptError(where, f"prompt keys must be text, got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, full + ".", out, where)
        elif isinstance(value, str):
            out[full] = value
        else:
            raise PromptError(f"{where}: {full}", "must be text")


def load_prompt_file(path: Path, namespace: str = "") -> dict[str, str]:
    """One prompt file as flat ``key -> template``; ``namespace`` prefixes its keys."""
    try:
        data = yamlfile.load(path) or {}
    except yamlfile.YamlFileError as exc:
        raise PromptError(str(path), exc.reason) from None
    if not isinstance(data, Mapping):
        raise PromptError(str(path), "top level must be a mapping of prompt keys")
    flat: dict[str, str] = {}
    _flatten(data, "", flat, str(path))
    if not namespace:
        return flat
    prefix = namespace + "."
    return {(k if k.startswith(prefix) else prefix + k): v for k, v in flat.items()}


def _files_for(directory: Path, language: str) -> list[tuple[Path, str]]:
    """``(path, namespace)`` for the main file then extra files, sorted by name."""
    if not directory.is_dir():
        return []
    out: list[tuple[Path, str]] = []
    main = directory / f"{language}.yaml"
    if main.is_file():
        out.append((main, ""))
    suffix = f".{language}.yaml"
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.endswith(suffix) and name != main.name and path.is_file():
            namespace = name[: -len(suffix)]
            if namespace and "." not in namespace:
                out.append((path, namespace))
    return out


class PromptBook:
    """Every prompt of every language, compiled once; thread-safe to share."""

    def __init__(
        self,
        templates: Mapping[str, Mapping[str, str]],
        *,
        tts_voice: Optional[Mapping[str, str]] = None,
        tts_engine: str = "flite",
        recordings_dir: str = "",
    ) -> None:
        # Prompts are spoken text, not HTML: no autoescaping.
        self._env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._compiled: dict[str, dict[str, Any]] = {}
        self._variables: dict[str, dict[str, frozenset[str]]] = {}
        self._modes: dict[str, dict[str, frozenset[str]]] = {}
        for lang, items in templates.items():
            compiled: dict[str, Any] = {}
            variables: dict[str, frozenset[str]] = {}
            modes: dict[str, frozenset[str]] = {}
            for key, text in items.items():
                try:
                    compiled[key] = self._env.from_string(text)
                    found = meta.find_undeclared_variables(self._env.parse(text))
                    variables[key] = frozenset(found - MODE_VARIABLES)
                    modes[key] = frozenset(found & MODE_VARIABLES)
                except TemplateError as exc:
                    raise PromptError(f"prompts.{lang}.{key}", f"bad template: {exc}") from exc
            self._compiled[lang] = compiled
            self._variables[lang] = variables
            self._modes[lang] = modes
        self.tts_engine = tts_engine
        self.tts_voice = dict(tts_voice or {})
        self.recordings_dir = recordings_dir
        self._recording_cache: dict[tuple[str, str], Optional[str]] = {}
        self._lock = threading.Lock()
        self.speaker: Optional[Speaker] = None  # prompt audio (voiceai_ivr.speech); None: say: only

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        prompts_dir: str = "",
        *,
        languages: tuple[str, ...] = LANGUAGES,
        tts_voice: Optional[Mapping[str, str]] = None,
        tts_engine: str = "flite",
        recordings_dir: str = "",
        packaged_dir: Path = PACKAGED_DIR,
    ) -> PromptBook:
        templates: dict[str, dict[str, str]] = {}
        for lang in languages:
            merged: dict[str, str] = {}
            dirs = [packaged_dir] + ([Path(prompts_dir).expanduser()] if prompts_dir else [])
            for directory in dirs:
                for path, namespace in _files_for(directory, lang):
                    merged.update(load_prompt_file(path, namespace))
            if not merged:
                raise PromptError(f"prompts.{lang}", f"no prompt file found in {', '.join(map(str, dirs))}")
            templates[lang] = merged
        return cls(templates, tts_voice=tts_voice, tts_engine=tts_engine, recordings_dir=recordings_dir)

    @classmethod
    def from_config(cls, config: Config) -> PromptBook:
        if config.speech.prompts_dir and not Path(config.speech.prompts_dir).expanduser().is_dir():
            raise PromptError("speech.prompts_dir", f"not a directory: {config.speech.prompts_dir}")
        return cls.load(
            config.speech.prompts_dir,
            tts_voice=config.speech.tts_voice,
            tts_engine=config.speech.tts_engine,
            recordings_dir=config.speech.recordings_dir,
        )

    # ------------------------------------------------------------------ queries

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._compiled)

    def keys(self, language: str) -> frozenset[str]:
        return frozenset(self._compiled.get(language, {}))

    def has(self, language: str, key: str) -> bool:
        return key in self._compiled.get(language, {})

    def variables(self, language: str, key: str) -> frozenset[str]:
        self._template(language, key)
        return self._variables[language][key]

    def _template(self, language: str, key: str) -> Any:
        if language not in self._compiled:
            raise PromptError("language", f"no prompts for language {language!r}")
        try:
            return self._compiled[language][key]
        except KeyError:
            raise PromptError(f"prompts.{language}.{key}", "no such prompt") from None

    def render(self, language: str, key: str, **variables: Any) -> str:
        """The prompt's text with ``variables`` filled in, whitespace collapsed."""
        template = self._template(language, key)
        values = {"keyed": False, **variables}
        try:
            text = template.render(**values)
        except TemplateError as exc:
            raise PromptError(f"prompts.{language}.{key}", f"cannot render: {exc}") from exc
        return " ".join(text.split())

    def voice(self, language: str) -> str:
        return self.tts_voice.get(language) or "kal"

    def recording(self, language: str, key: str, *, keyed: bool = False) -> Optional[str]:
        """The recorded file for a variable-free prompt, when one exists. In keyed
        mode (no speech recognition) ``<key>.keyed.wav`` wins over ``<key>.wav``."""
        if not self.recordings_dir:
            return None
        if keyed:
            found_keyed = self.recording(language, f"{key}.keyed")
            if found_keyed:
                return found_keyed
        cache_key = (language, key)
        with self._lock:
            if cache_key in self._recording_cache:
                return self._recording_cache[cache_key]
        found: Optional[str] = None
        if not self._variables.get(language, {}).get(key.removesuffix(".keyed")):
            base = Path(self.recordings_dir).expanduser() / language
            for ext in RECORDING_EXTENSIONS:
                candidate = base / f"{key}{ext}"
                if candidate.is_file() and os.access(candidate, os.R_OK):
                    found = str(candidate)
                    break
        with self._lock:
            self._recording_cache[cache_key] = found
        return found

    def source(self, language: str, key: str, **variables: Any) -> str:
        """What ``Channel.play`` gets: a recorded file, a synthesized WAV, or ``say:TEXT``."""
        return self.prompt(language, key, **variables).source

    def prompt(self, language: str, key: str, **variables: Any) -> Spoken:
        """The prompt's audio and how it was had (recorded, cache, synthesized,
        freeswitch, fallback); synthesizing never raises (``say:`` instead)."""
        text = self.render(language, key, **variables)
        recorded = self.recording(language, key, keyed=bool(variables.get("keyed")))
        if recorded:
            return Spoken(recorded, RECORDED, RECORDED)
        if self.speaker is not None:
            return self.speaker.speak(language, text)
        return Spoken("say:" + text, FREESWITCH_TTS, FREESWITCH_TTS)

    def all_variables(self, language: str, key: str) -> frozenset[str]:
        """Every variable the template reads, mode variables (``keyed``) included."""
        self._template(language, key)  # an unknown prompt raises
        return self._variables[language][key] | self._modes[language][key]


__all__ = ["MODE_VARIABLES", "PACKAGED_DIR", "PromptBook", "PromptError", "load_prompt_file"]
