"""A test double of mod_python3's ``session`` (FreeSWITCH's ``PYTHON::Session``)
and of ``freeswitch.API``, following FreeSWITCH's behaviour (``src/switch_cpp.cpp``,
``mod_python3/freeswitch_python.cpp``, ``mod_dptools.c``, ``switch_ivr_play_say.c``):

* ``ready()`` is True until the channel hangs up or ``uuid_bridge`` takes it
  (``CF_TRANSFER``: ``transfer_now``), False after; ``getState()`` says which
  (``CS_EXECUTE``, ``CS_HANGUP``, ``CS_HIBERNATE``);
* the hangup hook set with ``setHangupHook(func[, arg])`` runs as
  ``func(session, "hangup"[, arg])`` once, on the thread that next calls into the
  session (``ready()`` or the end of a blocking call), as mod_python3 does; the
  double keeps the hook like the C++ object does (``hook_refs`` counts it);
* ``getVariable`` returns None for an unset variable; ``setVariable(name, "")``
  unsets it;
* keys: ``dtmf`` is the channel's DTMF queue. ``playback`` (``on_dtmf``) takes a
  key off it at the prompt's first frame: a terminator (``playback_terminators``:
  ``any``, ``none``, a list, unset = ``*``) ends the prompt and is left in
  ``playback_terminator_used``; any other key is dropped. ``getDigits(max,
  terminators, timeout, interdigit)`` reads the queue (``switch_ivr_collect_digits_count``);
  ``flushDigits`` empties it;
* ``execute(app, data)`` records the application, clears a pending break (as
  ``switch_core_session_exec`` does) and sets ``current_application_response``;
  ``playback``, ``play_and_detect_speech``, ``set``, ``answer``, ``hangup`` and
  ``sleep`` act on the channel. ``play_and_detect_speech`` with an engine not in
  ``asr_engines`` answers ``ASR INIT ERROR`` (FreeSWITCH without that ASR module)
  and plays nothing; otherwise ``detect_speech_result`` is NLSML (``asr_format``
  ``nlsml``, mod_unimrcp) or JSON (``json``, mod_test), or ``DIGIT: k`` when a key
  ended it.

The caller is scripted like the simulator's scenario ``caller_inputs``: one input
is consumed each time the IVR asks (a ``playback`` while ``voiceai_slot`` is set,
i.e. a keyed turn's prompt, or ``play_and_detect_speech``)::

    {"say": "financeiro"}      speech (a keyed turn hears nothing)
    {"dtmf": "12#"}            keys pressed during the prompt (they end it)
    {"silence": True}          nothing until the timeout
    {"hangup": True}           hangs up when the IVR next asks
    {"hangup": {"after": 2.5}} hangs up 2.5 s of call time after the previous
                               input, wherever the call is (prompts advance the
                               double's clock by ``media_seconds``)

``press(keys)`` queues keys from any thread, at any time (type-ahead).

Hold music is real time: a ``local_stream://`` playback blocks the session thread
until ``uuid_break`` (``FakeAPI``, any thread), hangup, ``uuid_bridge``,
``playback_timeout_sec`` or ``max_music_s``; each is recorded in ``heard`` with its
start and stop times. A break that arrives while nothing plays stays pending
(``CF_BREAK``) until the next application clears it; ``sleep`` returns at once on it.

Everything the IVR did is in ``session.log`` as ``(method, detail)`` tuples.
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional
from xml.sax.saxutils import escape

ALL_KEYS = "0123456789*#"


@dataclass
class Heard:
    """One hold music the caller really heard (``time.monotonic()`` seconds)."""

    source: str
    started: float
    stopped: Optional[float] = None
    stopped_by: str = ""  # uuid_break | hangup | transfer | timeout | limit

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
        asr_engines: Iterable[str] = ("unimrcp", "test"),
        asr_format: str = "nlsml",
        missing_sources: Iterable[str] = (),
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
        self.asr_engines = set(asr_engines)
        self.asr_format = asr_format
        self.missing_sources = set(missing_sources)  # "FILE NOT FOUND" at once
        self.log: list[tuple[str, str]] = []
        self.answered = False
        self.state = "CS_EXECUTE"
        self._hook: Optional[Callable[..., Any]] = None
        self._hook_arg: Any = None
        self._hook_fired = False
        self._hook_lock = threading.Lock()
        self._clock = 0.0
        self._hangup_at: Optional[float] = None
        # media state shared with other threads (uuid_break, press, hang_up_now)
        self._media = threading.Condition(threading.RLock())
        self.dtmf: deque[str] = deque()
        self._break = 0  # CF_BREAK
        self.max_music_s = max_music_s  # a music nobody breaks ends here (a test fails, never hangs)
        self.heard: list[Heard] = []
        self.breaks: list[float] = []  # when each uuid_break arrived
        self.dropped_keys: list[str] = []  # keys playback's on_dtmf took and discarded
        self.recordings: list[tuple[str, str]] = []  # (path, what the caller said) per record
        self._said = ""
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

    @property
    def _up(self) -> bool:
        return self.state == "CS_EXECUTE"

    def _drop(self, cause: str) -> None:
        with self._media:
            if self._up:
                self.state = "CS_HANGUP"
                self.variables["hangup_cause"] = cause.upper()
                self.log.append(("hangup", cause.upper()))
            self._media.notify_all()

    def _run_hook(self) -> None:
        with self._hook_lock:
            if self.state != "CS_HANGUP" or self._hook is None or self._hook_fired:
                return
            self._hook_fired = True
            hook, arg = self._hook, self._hook_arg
        if arg is None:
            hook(self, "hangup")
        else:
            hook(self, "hangup", arg)

    # ------------------------------------------------------------------ from other threads

    def press(self, keys: str) -> None:
        """The caller presses ``keys`` now (they wait in the DTMF queue)."""
        with self._media:
            if self._up:
                self.dtmf.extend(k for k in keys if k in ALL_KEYS)
                self._media.notify_all()

    def break_media(self) -> bool:
        """``uuid_break UUID [all]``."""
        with self._media:
            if self.state in ("CS_HANGUP",):
                return False
            self.breaks.append(time.monotonic())
            self._break = 1
            self._media.notify_all()
            return True

    def hang_up_now(self, cause: str = "NORMAL_CLEARING") -> None:
        """The caller hangs up from outside (another thread)."""
        self._drop(cause)

    def transfer_now(self) -> None:
        """``uuid_bridge`` took this leg (``CF_TRANSFER``; state ``CS_HIBERNATE``): not
        ready any more, not hung up; whatever it plays stops."""
        with self._media:
            if self._up:
                self.state = "CS_HIBERNATE"
                self.log.append(("transfer", ""))
            self._media.notify_all()

    # ------------------------------------------------------------------ CoreSession API

    def get_uuid(self) -> str:
        return self.uuid

    def ready(self) -> bool:
        self._run_hook()
        return self._up

    def getState(self) -> str:
        return self.state

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

    def release_hook(self) -> None:
        """What ``Session::destroy`` does with the hook when the Python object dies."""
        self._hook = self._hook_arg = None

    def getVariable(self, name: str) -> Optional[str]:
        return self.variables.get(name)

    def setVariable(self, name: str, value: str) -> None:
        self.log.append(("setVariable", f"{name}={value}"))
        if value is None or value == "":
            self.variables.pop(name, None)  # FreeSWITCH unsets a variable set to nothing
        else:
            self.variables[name] = value

    def flushDigits(self) -> int:
        with self._media:
            self.log.append(("flushDigits", "".join(self.dtmf)))
            self.dtmf.clear()
        return 0

    def getDigits(self, maxdigits: int, terminators: str, timeout: int, interdigit: int = 0,
                  abstimeout: int = 0) -> str:
        """``switch_ivr_collect_digits_count``: keys from the queue; a terminator ends
        (and is not returned); the call time of the timeouts passes when none come."""
        self.log.append(("getDigits", f"{maxdigits} {terminators} {timeout} {interdigit}"))
        try:
            digits = ""
            with self._media:
                while self._up and len(digits) < maxdigits:
                    if not self.dtmf:
                        self._advance((interdigit if digits else timeout) / 1000.0)
                        break
                    key = self.dtmf.popleft()
                    if terminators and key in terminators:
                        break
                    digits += key
            return digits
        finally:
            self._run_hook()

    def sleep(self, ms: int, sync: int = 0) -> int:
        """``switch_ivr_sleep``: 1 after ``ms`` (real time), 0 when broken or hung up."""
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
                    self._pass_real_time(end - now)
        finally:
            self._run_hook()

    def execute(self, app: str, data: Optional[str] = None) -> None:
        data = data or ""
        self.log.append(("execute", f"{app} {data}".strip()))
        try:
            with self._media:
                self._break = 0  # switch_core_session_exec clears CF_BREAK before the application
            self.variables.pop("current_application_response", None)
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
            elif app == "sleep":
                self.sleep(int(data or "0"))
            elif app == "playback":
                response = self._playback(data)
            elif app == "play_and_detect_speech":
                response = self._detect_speech(data)
            elif app == "record":
                response = self._record(data)
            if response:
                self.variables["current_application_response"] = response
        finally:
            self._run_hook()

    # ------------------------------------------------------------------ media (session thread)

    def _pass_real_time(self, seconds: float) -> None:
        """Wait up to ``seconds`` for news, counting the time waited as call time.
        Caller holds ``_media``."""
        if self._hangup_at is not None:
            seconds = min(seconds, max(0.0, self._hangup_at - self._clock))
        started = time.monotonic()
        self._media.wait(max(0.0, seconds))
        self._advance(time.monotonic() - started)

    def _terminators(self) -> str:
        value = self.variables.get("playback_terminators")
        if value is None:
            return "*"  # mod_dptools on_dtmf's default
        if value.lower() == "any":
            return ALL_KEYS
        if value.lower() == "none":
            return ""
        return value

    def _take_key(self) -> str:
        """``on_dtmf`` at a frame: a terminator ends the playback (returned), any other
        key is dropped. Caller holds ``_media``."""
        terminators = self._terminators()
        while self.dtmf:
            key = self.dtmf.popleft()
            if key in terminators:
                self.variables["playback_terminator_used"] = key
                return key
            self.dropped_keys.append(key)
        return ""

    def _asked(self) -> Optional[Mapping[str, Any]]:
        """The IVR asks the caller something: the next scripted input. Keys are
        pressed during the prompt; a hangup happens now."""
        item = self._next_input()
        if item.get("hangup") is True:
            self._drop("NORMAL_CLEARING")
            return None
        if "dtmf" in item:
            self.press(str(item["dtmf"]))
        return item

    def _playback(self, source: str) -> str:
        self.variables.pop("playback_terminator_used", None)
        if source in self.missing_sources:
            self.log.append(("missing", source))
            return "FILE NOT FOUND"
        if source.startswith("local_stream://"):
            return self._music(source)
        self.log.append(("playback", source))
        with self._media:
            if self._take_key():  # a key waiting ends it at the first frame: nothing heard, nothing asked
                self.log.append(("cut", source))
                return "FILE PLAYED"
        if self.variables.get("voiceai_slot"):
            item = self._asked()
            if item is None:
                return ""
            if "say" in item:
                self.log.append(("unheard", str(item["say"])))  # nobody listens for speech here
                self._said = str(item["say"])  # ... unless a recording follows the prompt
        with self._media:
            if self._take_key():
                self.log.append(("key", source))  # the caller pressed it during the prompt
                return "FILE PLAYED"
        self._advance(self.media_seconds)
        return "FILE PLAYED"

    def _music(self, source: str) -> str:
        heard = Heard(source, time.monotonic())
        self.heard.append(heard)
        self.log.append(("music", source))
        limit = self.max_music_s
        bound = self.variables.get("playback_timeout_sec")
        if bound and bound.isdigit() and int(bound) > 1:
            limit = min(limit, float(bound))
        end = heard.started + limit
        with self._media:
            while True:
                now = time.monotonic()
                if self.state == "CS_HANGUP":
                    heard.stopped_by = "hangup"
                elif self.state != "CS_EXECUTE":
                    heard.stopped_by = "transfer"
                elif self._break:
                    self._break = 0  # switch_ivr_play_file clears the CF_BREAK that stopped it
                    heard.stopped_by = "uuid_break"
                elif self._take_key():
                    heard.stopped_by = "key"
                elif now >= end:
                    heard.stopped_by = "timeout" if limit < self.max_music_s else "limit"
                if heard.stopped_by:
                    heard.stopped = now
                    break
                self._pass_real_time(end - now)
        return "FILE PLAYED"

    def _record(self, data: str) -> str:
        """``record PATH MAX_S THRESHOLD SILENCE_S``: what the caller said after the
        prompt becomes ``record_samples`` (8 kHz); a key (``on_dtmf``) ends it."""
        path = data.split(" ", 1)[0]
        self.variables.pop("record_samples", None)
        self.variables.pop("playback_terminator_used", None)
        with self._media:
            key = self._take_key()
        said, self._said = self._said, ""
        if key:
            return ""
        if said:
            seconds = max(1.0, len(said.split()) * 0.4)
            self._advance(seconds)
            self.variables["record_samples"] = str(int(seconds * 8000))
            self.recordings.append((path, said))
        return ""

    def _detect_speech(self, data: str) -> str:
        self.variables["detect_speech_result"] = ""
        head, sep, tail = data.partition(" detect:")
        engine = tail.split(" ", 1)[0] if sep else ""
        if engine not in self.asr_engines:
            return "ASR INIT ERROR"  # switch_ivr_detect_speech failed: nothing played
        self.log.append(("detect", head))
        with self._media:
            key = self._take_key()  # type-ahead: a key waiting ends it at the first frame
        if not key:
            item = self._asked()
            if item is None:
                return "DONE"
            with self._media:
                key = self._take_key()
            if not key and "say" in item:
                self._advance(self.media_seconds)
                self.variables["detect_speech_result"] = self._speech_result(str(item["say"]))
                return "DONE"
        if key:
            self.variables["detect_speech_result"] = f"DIGIT: {key}"
            return "DONE"
        self._advance(self.media_seconds)
        self.variables["detect_speech_result"] = (
            "Completion-Cause: 002" if self.asr_format == "nlsml"
            else '{"grammar": "builtin:grammar/boolean", "text": "", "confidence": 0, "error": "no_input"}'
        )
        return "DONE"

    def _speech_result(self, text: str) -> str:
        if self.asr_format == "json":
            return json.dumps({"grammar": "builtin:grammar/boolean", "text": text, "confidence": self.confidence})
        return (
            '<?xml version="1.0"?><result>'
            f'<interpretation grammar="session:request1@form-level.store" confidence="{self.confidence}">'
            f'<instance>{escape(text)}</instance><input mode="speech">{escape(text)}</input>'
            "</interpretation></result>"
        )

    # ------------------------------------------------------------------ helpers for tests

    def played(self) -> list[str]:
        """The prompts the IVR started (music and speech recognition not included)."""
        return [detail for method, detail in self.log if method == "playback"]

    def heard_prompts(self) -> list[str]:
        """The prompts the caller heard at least a frame of (a key waiting before the
        first frame cuts a prompt before it is heard)."""
        out: list[str] = []
        for (method, detail), nxt in zip(self.log, [*self.log[1:], ("", "")]):
            if method == "playback" and nxt != ("cut", detail):
                out.append(detail)
        return out

    def applications(self, name: str) -> list[str]:
        """Arguments of every ``execute(name, ...)``."""
        prefix = name + " "
        return [d[len(prefix):] if d.startswith(prefix) else "" for m, d in self.log
                if m == "execute" and (d == name or d.startswith(prefix))]


class FakeAPI:
    """``freeswitch.API()``: ``executeString("cmd args")`` answers from ``replies``;
    ``uuid_break``, ``uuid_bridge`` and ``uuid_kill`` of one of ``sessions`` act on
    it (from whatever thread calls, as FreeSWITCH's api does)."""

    def __init__(self, replies: Optional[Mapping[str, str]] = None, sessions: Iterable[FakeSession] = ()) -> None:
        self.replies = dict(replies or {})
        self.sessions = {s.uuid: s for s in sessions}
        self.commands: list[str] = []
        self._lock = threading.Lock()

    def add(self, session: FakeSession) -> None:
        self.sessions[session.uuid] = session

    def executeString(self, command: str) -> str:
        with self._lock:
            self.commands.append(command)
        argv = command.split()
        name = argv[0] if argv else ""
        session = self.sessions.get(argv[1]) if len(argv) > 1 else None
        if name == "uuid_break" and len(argv) > 1:
            return "+OK\n" if session is not None and session.break_media() else "-ERR No such channel!\n"
        if name == "uuid_kill" and session is not None:
            session.hang_up_now(argv[2] if len(argv) > 2 else "NORMAL_CLEARING")
            return "+OK\n"
        if name == "uuid_bridge" and len(argv) > 2:
            other = self.sessions.get(argv[2])
            for leg in (session, other):
                if leg is not None:
                    leg.transfer_now()
            return "+OK\n"
        return self.replies.get(command, self.replies.get(name, "-ERR no reply"))



__all__ = ["ALL_KEYS", "FakeAPI", "FakeSession", "Heard"]
