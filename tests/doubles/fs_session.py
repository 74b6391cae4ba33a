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

Media is serviced by the session thread only, as in FreeSWITCH. ``uuid_broadcast
UUID SRC`` (through ``FakeAPI(sessions=[...])``, or ``queue_broadcast``) only
queues the source, like ``switch_ivr_broadcast``'s private event; it is played,
and recorded in ``session.heard`` with real start/stop times, when the session
next services media (``switch_ivr_parse_all_events``): in ``sleep``, and before a
prompt of ``streamFile``/``playAndGetDigits``/``execute``. A ``local_stream://``
source plays until ``uuid_break`` or hangup, blocking the call that runs it;
other sources last ``media_seconds``. ``uuid_break`` with nothing playing leaves
a pending break (``CF_BREAK``) that ends the next ``sleep`` at once and cuts the
next ``streamFile``/``playAndGetDigits`` prompt (recorded in ``session.cut``);
``execute`` clears it first, as ``switch_core_session_exec`` does. ``sleep`` and
music count as call time for ``{"hangup": {"after": ...}}``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional
from xml.sax.saxutils import escape


@dataclass
class Heard:
    """One broadcast the caller really heard (``time.monotonic()`` seconds)."""

    source: str
    started: float
    stopped: Optional[float] = None
    stopped_by: str = ""  # uuid_break | hangup | end | limit

    @property
    def seconds(self) -> float:
        return (self.stopped if self.stopped is not None else time.monotonic()) - self.started


class FakeSession:
    def __init__(
        self,
        inputs: Iterable[Mapping[str, Any]] = (),
        *,
        variables: Optional[Mapping[str, str]] = None,
        uuid: Optional[str] = None,
        media_seconds: float = 1.0,
        confidence: int = 90,
        max_music_s: float = 30.0,
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
        # media state shared with the api threads (uuid_broadcast / uuid_break)
        self._media = threading.Condition(threading.RLock())
        self._private: deque[str] = deque()  # queued broadcasts, not yet heard
        self._break = 0  # CF_BREAK: 0, 1, or 2 (uuid_break ... all)
        self.max_music_s = max_music_s  # a music nobody breaks ends here (a test fails, never hangs)
        self.broadcasts: list[tuple[float, str]] = []  # when each uuid_broadcast arrived
        self.heard: list[Heard] = []
        self.breaks: list[float] = []  # when each uuid_break arrived
        self.cut: list[str] = []  # prompts a pending break stopped at their first frame
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
        with self._media:
            if self._up:
                self._up = False
                self.variables["hangup_cause"] = cause.upper()
                self.log.append(("hangup", cause.upper()))
            self._media.notify_all()

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

    # ------------------------------------------------------------------ media (session thread)

    def _pass_real_time(self, seconds: float) -> None:
        """Wait up to ``seconds`` for news (a broadcast, a break, a hangup), counting the
        time waited as call time. Caller holds ``_media``."""
        if self._hangup_at is not None:
            seconds = min(seconds, max(0.0, self._hangup_at - self._clock))
        started = time.monotonic()
        self._media.wait(max(0.0, seconds))
        self._advance(time.monotonic() - started)

    def _play_queued(self) -> None:
        """``switch_ivr_parse_all_events``: play the queued broadcasts on this thread.
        Caller holds ``_media``."""
        while self._private and self._up:
            source = self._private.popleft()
            self._break = 0  # the broadcast runs as an application: switch_core_session_exec clears CF_BREAK
            heard = Heard(source, time.monotonic())
            self.heard.append(heard)
            self.log.append(("broadcast", source))
            endless = source.startswith("local_stream://")
            end = heard.started + (self.max_music_s if endless else self.media_seconds)
            while True:
                now = time.monotonic()
                if not self._up:
                    heard.stopped_by = "hangup"
                elif self._break:
                    # a stopped broadcast leaves CF_BREAK set: the call running it returns too
                    heard.stopped_by = "uuid_break"
                elif now >= end:
                    heard.stopped_by = "limit" if endless else "end"
                if heard.stopped_by:
                    heard.stopped = now
                    break
                self._pass_real_time(end - now)
            if heard.stopped_by != "end":
                return

    def _prompt_may_play(self, what: str) -> bool:
        """Before a prompt's first frame (``switch_ivr_play_file``): a pending break cuts
        it, else queued broadcasts play first (a broken one ends the prompt too). False
        when the prompt must not play."""
        with self._media:
            if not self._break:
                self._play_queued()
            if self._break:
                self._break = 0
                self.cut.append(what)
                return False
            return self._up

    def queue_broadcast(self, source: str) -> bool:
        """``uuid_broadcast UUID SOURCE aleg`` from any thread: queued, not yet heard."""
        with self._media:
            if not self._up:
                return False
            self.broadcasts.append((time.monotonic(), source))
            self._private.append(source)
            self._media.notify_all()
            return True

    def break_media(self, flush: bool = False) -> bool:
        """``uuid_break UUID [all]`` from any thread."""
        with self._media:
            if not self._up:
                return False
            self.breaks.append(time.monotonic())
            if flush:
                self._private.clear()
            self._break = 2 if flush else 1
            self._media.notify_all()
            return True

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
            if not self._prompt_may_play(file):
                return 0
            return 1 if self._advance(self.media_seconds) else 0
        finally:
            self._run_hook()

    def sleep(self, ms: int, sync: int = 0) -> int:
        """``switch_ivr_sleep``: 1 after ``ms``, 0 when broken or hung up. Queued
        broadcasts play INSIDE it, so a music on hold blocks it until ``uuid_break``."""
        self.log.append(("sleep", str(ms)))
        try:
            end = time.monotonic() + max(0, int(ms)) / 1000.0
            with self._media:
                while True:
                    if not self._up:
                        return 0
                    if self._break:
                        self._break = 0
                        return 0
                    now = time.monotonic()
                    if now >= end:
                        return 1
                    if self._private:
                        self._play_queued()
                        continue
                    self._pass_real_time(end - now)
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
            self._prompt_may_play(audio_files)  # a cut prompt still collects keys
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
            with self._media:
                self._break = 0  # switch_core_session_exec clears CF_BREAK before the application
            if not self._up:
                return
            if app in ("playback", "play_and_detect_speech") and not self._prompt_may_play(f"{app} {data}"):
                self.variables["current_application_response"] = "_none_"
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
    """``freeswitch.API()``: ``executeString("cmd args")`` answers from ``replies``;
    ``uuid_broadcast``/``uuid_break`` of one of ``sessions`` act on that session
    (from whatever thread calls, as FreeSWITCH's api does)."""

    def __init__(self, replies: Optional[Mapping[str, str]] = None, sessions: Iterable[FakeSession] = ()) -> None:
        self.replies = dict(replies or {})
        self.sessions = {s.uuid: s for s in sessions}
        self.commands: list[str] = []
        self._lock = threading.Lock()

    def executeString(self, command: str) -> str:
        with self._lock:
            self.commands.append(command)
        argv = command.split()
        name = argv[0] if argv else ""
        session = self.sessions.get(argv[1]) if len(argv) > 1 else None
        if session is not None and name == "uuid_broadcast" and len(argv) >= 3:
            source = argv[2].strip("'")
            if len(argv) > 3 and argv[3] not in ("aleg", "both"):
                return "+OK Message sent\n"  # only the other leg hears it
            session.queue_broadcast(source)
            return "+OK Message sent\n"  # switch_ivr_broadcast's result is not checked
        if session is not None and name == "uuid_break":
            return "+OK\n" if session.break_media(flush="all" in argv[2:]) else "-ERR No such channel!\n"
        return self.replies.get(command, self.replies.get(name, "-ERR no reply"))
