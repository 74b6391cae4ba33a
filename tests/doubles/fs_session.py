"""A test double of mod_python3's ``session`` (FreeSWITCH's ``PYTHON::Session``)
and of ``freeswitch.API``, following FreeSWITCH's documented behaviour
(``src/include/switch_cpp.h``, ``mod_python3/freeswitch_python.cpp``):

* ``ready()`` is True until the channel hangs up, False after;
* the hangup hook set with ``setHangupHook(func[, arg])`` runs as
  ``func(session, "hangup"[, arg])`` once, on the thread that next calls into the
  session (``ready()`` or the end of a blocking call), as mod_python3 does;
* ``getVariable`` returns None for an unset variable;
* ``playAndGetDigits(min, max, tries, timeout, terminators, audio, bad_audio,
  regex, var_name=None, digit_timeout=0, transfer_on_failure=None)`` returns the
  digits collected, or "" (no input, no match, or hangup); with ``var_name`` the
  digits are also stored in that variable;
* ``streamFile`` returns 1 when played, 0 when the channel is down;
* ``execute(app, data)`` records the application; ``set``/``export``, ``answer``,
  ``hangup``, ``playback`` and ``play_and_detect_speech`` act on the channel
  (the last sets ``detect_speech_result`` to NLSML as unimrcp does);
  ``current_application_response`` is set after each application.

The caller is scripted like the simulator's scenario ``caller_inputs``: one input
is consumed each time the IVR listens (``playAndGetDigits`` with a prompt, or
``play_and_detect_speech``)::

    {"say": "financeiro"}      speech (DTMF collectors hear nothing)
    {"dtmf": "12#"}            keys
    {"silence": True}          nothing until the timeout
    {"hangup": True}           hangs up when the IVR next listens
    {"hangup": {"after": 2.5}} hangs up 2.5 s of call time after the previous
                               input, wherever the call is (media advances the
                               double's clock by ``media_seconds`` per prompt)

Everything the IVR did is in ``session.log`` as ``(method, detail)`` tuples.
"""

from __future__ import annotations

import re
import threading
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional
from xml.sax.saxutils import escape


class FakeSession:
    def __init__(
        self,
        inputs: Iterable[Mapping[str, Any]] = (),
        *,
        variables: Optional[Mapping[str, str]] = None,
        uuid: Optional[str] = None,
        media_seconds: float = 1.0,
        confidence: int = 90,
    ) -> None:
        self.uuid = uuid or str(uuidlib.uuid4())
        self.inputs = list(inputs)
        self.variables: dict[str, str] = {
            "uuid": self.uuid,
            "call_uuid": self.uuid,
            "channel_name": "sofia/external/+5511998765432@192.0.2.10",
            "caller_id_number": "+5511998765432",
            "caller_id_name": "Cliente",
            "destination_number": "8000",
            "context": "public",
        }
        self.variables.update(variables or {})
        self.media_seconds = media_seconds
        self.confidence = confidence
        self.log: list[tuple[str, str]] = []
        self.answered = False
        self.tts: Optional[tuple[str, str]] = None
        self._up = True
        self._hook: Optional[Callable[..., Any]] = None
        self._hook_arg: Any = None
        self._hook_fired = False
        self._hook_lock = threading.Lock()
        self._clock = 0.0
        self._hangup_at: Optional[float] = None
        self._arm_timed_hangup()

    # ------------------------------------------------------------------ script

    def _arm_timed_hangup(self) -> None:
        if self.inputs and isinstance(self.inputs[0].get("hangup"), Mapping):
            after = float(self.inputs[0]["hangup"].get("after", 0))
            self.inputs.pop(0)
            self._hangup_at = self._clock + after

    def _advance(self, seconds: float) -> bool:
        """Let ``seconds`` of call time pass; False if the caller hung up meanwhile."""
        if not self._up:
            return False
        if self._hangup_at is not None and self._clock + seconds >= self._hangup_at:
            self._clock = self._hangup_at
            self._drop("NORMAL_CLEARING")
            return False
        self._clock += seconds
        return True

    def _next_input(self) -> Mapping[str, Any]:
        if not self.inputs:
            return {"silence": True}
        item = self.inputs.pop(0)
        self._arm_timed_hangup()
        return item

    def _drop(self, cause: str) -> None:
        if self._up:
            self._up = False
            self.variables["hangup_cause"] = cause.upper()
            self.log.append(("hangup", cause.upper()))

    def _run_hook(self) -> None:
        with self._hook_lock:
            if self._up or self._hook is None or self._hook_fired:
                return
            self._hook_fired = True
            hook, arg = self._hook, self._hook_arg
        if arg is None:
            hook(self, "hangup")
        else:
            hook(self, "hangup", arg)

    # ------------------------------------------------------------------ CoreSession API

    def get_uuid(self) -> str:
        return self.uuid

    def ready(self) -> bool:
        self._run_hook()
        return self._up

    def answer(self) -> int:
        self.log.append(("answer", ""))
        if not self._up:
            return -1
        self.answered = True
        self.variables["answer_state"] = "answered"
        return 0

    def hangup(self, cause: str = "normal_clearing") -> None:
        self._drop(cause)

    def setHangupHook(self, func: Callable[..., Any], arg: Any = None) -> None:
        if not callable(func):
            return  # FreeSWITCH logs "Hangup hook is not a python function." and ignores it
        self._hook, self._hook_arg = func, arg

    def getVariable(self, name: str) -> Optional[str]:
        return self.variables.get(name)

    def setVariable(self, name: str, value: str) -> None:
        self.log.append(("setVariable", f"{name}={value}"))
        if value is None or value == "":
            self.variables.pop(name, None)  # FreeSWITCH unsets a variable set to nothing
        else:
            self.variables[name] = value

    def set_tts_parms(self, tts_name: str, voice_name: str) -> None:
        self.tts = (tts_name, voice_name)
        self.log.append(("set_tts_parms", f"{tts_name} {voice_name}"))

    def speak(self, text: str) -> int:
        return self.streamFile(f"say:{text}")

    def streamFile(self, file: str, starting_sample_count: int = 0) -> int:
        self.log.append(("streamFile", file))
        try:
            return 1 if self._advance(self.media_seconds) else 0
        finally:
            self._run_hook()

    def playAndGetDigits(
        self,
        min_digits: int,
        max_digits: int,
        max_tries: int,
        timeout: int,
        terminators: str,
        audio_files: str,
        bad_input_audio_files: str,
        digits_regex: str,
        var_name: Optional[str] = None,
        digit_timeout: int = 0,
        transfer_on_failure: Optional[str] = None,
    ) -> str:
        self.log.append(("playAndGetDigits", audio_files))
        try:
            digits = ""
            for _ in range(max(1, max_tries)):
                if not self._advance(self.media_seconds):
                    return ""
                item = self._next_input()
                if item.get("hangup") is True:
                    self._drop("NORMAL_CLEARING")
                    return ""
                keys = str(item.get("dtmf", ""))
                collected = ""
                for key in keys:
                    if key in (terminators or ""):
                        break
                    collected += key
                    if len(collected) >= max_digits:
                        break
                if len(collected) >= min_digits and (not digits_regex or re.fullmatch(digits_regex, collected)):
                    digits = collected
                    break
                if not self._advance(timeout / 1000.0):
                    return ""
            if digits and var_name:
                self.variables[var_name] = digits
            self.variables["read_result"] = "success" if digits else "failure"
            return digits
        finally:
            self._run_hook()

    def execute(self, app: str, data: Optional[str] = None) -> None:
        data = data or ""
        self.log.append(("execute", f"{app} {data}".strip()))
        try:
            if not self._up:
                return
            response = ""
            if app in ("set", "export"):
                name, _, value = data.partition("=")
                self.setVariable(name, value)
            elif app == "answer":
                self.answer()
            elif app == "hangup":
                self._drop(data or "NORMAL_CLEARING")
            elif app == "playback":
                self._advance(self.media_seconds)
            elif app == "play_and_detect_speech":
                response = self._detect_speech()
            self.variables["current_application_response"] = response or "_none_"
        finally:
            self._run_hook()

    def _detect_speech(self) -> str:
        if not self._advance(self.media_seconds):
            return ""
        item = self._next_input()
        if item.get("hangup") is True:
            self._drop("NORMAL_CLEARING")
            return ""
        if "say" in item:
            mode, text = "speech", str(item["say"])
        elif "dtmf" in item:
            mode, text = "dtmf", str(item["dtmf"])
        else:
            self.variables["detect_speech_result"] = (
                '<?xml version="1.0"?><result><interpretation><input><noinput/></input></interpretation></result>'
            )
            return ""
        self.variables["detect_speech_result"] = (
            '<?xml version="1.0"?><result>'
            f'<interpretation grammar="session:request1@form-level.store" confidence="{self.confidence}">'
            f'<instance>{escape(text)}</instance><input mode="{mode}">{escape(text)}</input>'
            "</interpretation></result>"
        )
        return ""

    # ------------------------------------------------------------------ helpers for tests

    def hang_up_now(self, cause: str = "NORMAL_CLEARING") -> None:
        """The caller hangs up from outside (another thread)."""
        self._drop(cause)

    def played(self) -> list[str]:
        return [detail for method, detail in self.log if method in ("streamFile", "playAndGetDigits")]


class FakeAPI:
    """``freeswitch.API()``: ``executeString("cmd args")`` answers from ``replies``."""

    def __init__(self, replies: Optional[Mapping[str, str]] = None) -> None:
        self.replies = dict(replies or {})
        self.commands: list[str] = []

    def executeString(self, command: str) -> str:
        self.commands.append(command)
        name = command.split(" ", 1)[0]
        return self.replies.get(command, self.replies.get(name, "-ERR no reply"))
