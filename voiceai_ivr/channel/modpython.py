"""``Channel`` over mod_python3's ``session`` (FreeSWITCH's SWIG ``PYTHON::Session``,
a ``CoreSession``), for the dialplan action ``python voiceai_ivr.modpython``.

The session API used here, as FreeSWITCH defines it (``src/include/switch_cpp.h``,
``src/mod/languages/mod_python3/freeswitch_python.h``)::

    answer() -> int                      ready() -> bool
    execute(app, data=None)              getVariable(name) -> str | None
    setVariable(name, value)             hangup(cause="normal_clearing")
    getDigits(max, terminators, timeout_ms, interdigit_ms) -> str
    sleep(ms) -> int                     flushDigits()
    getState() -> "CS_EXECUTE"...        setHangupHook(func, arg=None)

plus ``freeswitch.API().executeString("cmd args")`` for api commands. The media
conventions are the outbound-socket adapter's (``channel.esl``), so a flow behaves
the same under both:

* every prompt is the ``playback`` application (``execute``): it emits the same
  CHANNEL_EXECUTE/EXECUTE_COMPLETE events as under the socket, and
  ``switch_core_session_exec`` clears a stale ``CF_BREAK`` before it, so a late
  ``uuid_break`` can never cut the next prompt;
* ``playback_terminators=any``: the caller's first key ends a prompt (FreeSWITCH's
  ``on_dtmf`` takes it off the channel's DTMF queue and leaves it in
  ``playback_terminator_used``); the adapter keeps that key for the next turn, and
  keys pressed later wait in FreeSWITCH's queue (``getDigits`` reads them). Keys the
  caller pressed during a prompt or between prompts are the next turn's input
  (type-ahead); a turn that finds a key waiting plays nothing;
* ``listen`` with speech: ``play_and_detect_speech SOURCE detect:ENGINE {…}GRAMMAR``
  (``channel.apps.detect_speech_arg``); its result is ``detect_speech_result``
  (NLSML, JSON or ``DIGIT: k``, ``channel.asr_result``); ``current_application_response``
  ``ASR INIT ERROR`` raises ``SpeechUnavailable``;
* keyed ``listen`` and ``collect_digits``: the prompt (unless a key waits), then
  ``getDigits`` (first key within the timeout after the prompt, then the
  inter-digit timeout; ``#`` ends); ``record_answer``: the prompt, then the
  ``record`` application (a key ends either and answers the turn instead);
* hold music (``start_hold``/``wait_event``/``stop_hold``): this handler IS the
  session thread, so nothing plays while it waits in Python. ``wait_event`` plays
  the music itself (``playback`` with ``playback_terminators=none``) and a watcher
  thread ends it with ``uuid_break`` the moment the wait is over, re-sent every
  250 ms until the playback has returned (a break that lands before the playback
  starts is cleared by FreeSWITCH and would be lost). ``playback_timeout_sec``
  bounds every music segment by the wait's own deadline as well, so even a lost
  break cannot keep the caller on hold past it. ``stop_hold`` is therefore
  verified by construction: the music plays only inside ``wait_event``;
* hangups: blocking calls return when the caller hangs up; afterwards ``ready()``
  is False and every method here raises ``CallGone`` (``hangup``, ``is_up``,
  ``on_hangup`` and ``data`` never do). ``uuid_bridge`` also makes ``ready()`` False
  (``CF_TRANSFER``): the handler has lost the leg to the bridge, which is the same
  thing for the flow. mod_python3 runs the hangup hook on the script's own thread
  the next time it calls into the session, so a watcher thread polls ``ready()``
  while ``on_hangup`` callbacks are registered;
* no leaked sessions: the Python ``Session`` object holds a read lock on the
  FreeSWITCH session until it is destroyed (``CoreSession::destroy``), and the
  channel stays in ``show channels`` until then. The hangup hook is kept by the
  C++ object, which the garbage collector cannot see through, so the hook holds
  only a weak reference to this adapter, and ``close`` (the shim calls it when the
  handler returns) drops every reference to the session.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional

from voiceai_ivr.channel.apps import SLOT_RE as _SLOT_RE
from voiceai_ivr.channel.apps import clean_digits
from voiceai_ivr.channel.apps import ms as _ms
from voiceai_ivr.channel.asr_result import parse_asr_result
from voiceai_ivr.channel.base import (
    DTMF,
    SILENCE,
    HoldBound,
    ListenResult,
    TurnChannel,
    check_listen_settings,
    record_arg,
)
from voiceai_ivr.errors import CallGone, SpeechUnavailable, ValidationError, VoiceAIError
from voiceai_ivr.switch import check_cause, check_source, check_uuid, check_var_name, sanitize_text

log = logging.getLogger("voiceai_ivr.channel.modpython")

_UNDEF = "_undef_"
# What a SWIG call on a destroyed or broken session raises.
_SWIG_ERRORS = (RuntimeError, TypeError, AttributeError, ValueError, SystemError)
#: Longest ``session.sleep`` slice of a wait without music: bounds how late a wait
#: notices that its event was set.
SLEEP_SLICE_MS = 100
#: How long a broken hold playback may take to return before the break is re-sent.
HOLD_BREAK_RETRY_S = 0.25
#: A hold playback that ends by itself sooner than this did not play (no such stream).
_MUSIC_MIN_S = 0.5
ASR_INIT_ERROR = "ASR INIT ERROR"
_RESPONSE_ERRORS = ("GRAMMAR ERROR", "USAGE ERROR", "ERROR")
_HANGUP_STATES = ("CS_HANGUP", "CS_REPORTING", "CS_DESTROY")

# Event Socket header names -> channel variables, so flows read ``channel.data``
# the same way under both adapters.
_HEADER_VARIABLES = {
    "Unique-ID": "uuid",
    "Channel-Call-UUID": "call_uuid",
    "Channel-Name": "channel_name",
    "Caller-Caller-ID-Number": "caller_id_number",
    "Caller-Caller-ID-Name": "caller_id_name",
    "Caller-Destination-Number": "destination_number",
    "Caller-ANI": "ani",
    "Caller-Network-Addr": "network_addr",
    "Caller-Context": "context",
    "Caller-Unique-ID": "uuid",
}


class _ClosedSession:
    """What a closed channel holds instead of the FreeSWITCH session: not up, no
    variables, every other call refused (as a destroyed SWIG session refuses)."""

    def ready(self) -> bool:
        return False

    def getVariable(self, name: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"session closed: {name}")


_CLOSED = _ClosedSession()


class SessionData(Mapping[str, str]):
    """``channel.data`` for a mod_python3 session: the Event Socket header names the
    flows use (``Caller-Caller-ID-Number``, ``variable_voiceai_domain``...), read
    from channel variables. Known headers are read once at start; ``variable_*``
    keys are read on first use and remembered."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._values: dict[str, str] = {}
        for header, var in _HEADER_VARIABLES.items():
            value = _get(session, var)
            if value is not None:
                self._values[header] = value

    def __getitem__(self, key: str) -> str:
        if key in self._values:
            return self._values[key]
        if key.startswith("variable_") and len(key) > 9:
            value = _get(self._session, key[9:])
            if value is not None:
                self._values[key] = value
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def release(self) -> None:
        """Forget the session (what was read stays readable)."""
        self._session = _CLOSED


def _get(session: Any, name: str) -> Optional[str]:
    value = session.getVariable(name)
    if value is None:
        return None
    text = str(value)
    return None if text in (_UNDEF, "") else text


def _weak_hook(channel: ModPythonChannel) -> Callable[..., None]:
    """The hangup hook mod_python3 keeps (in C++, out of the garbage collector's
    sight): it must not keep the adapter, and through it the session, alive."""
    ref = weakref.ref(channel)

    def hook(session: Any = None, what: str = "hangup", *args: Any) -> None:
        target = ref()
        if target is not None:
            target._went_away()

    return hook


class _HoldRun:
    """One music segment of a wait: ``stop`` once the wait is over, ``done`` once the
    playback has returned on the session thread."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.done = threading.Event()
        self.breaks = 0


class ModPythonChannel(TurnChannel):
    """One call leg driven through mod_python3's ``session``."""

    def __init__(
        self,
        session: Any,
        api: Any = None,
        *,
        listen_engine: str = "unimrcp",
        grammar: str = "builtin:grammar/boolean",
        recognition_timeout_s: float = 15.0,
        digit_timeout_s: float = 3.0,
        watch_interval: float = 0.25,
    ) -> None:
        check_listen_settings(listen_engine, grammar)
        _ms(digit_timeout_s, "speech.digit_timeout")
        self.session = session
        self._api = api
        self.listen_engine = listen_engine
        self.grammar = grammar
        self.recognition_timeout_s = recognition_timeout_s
        self.digit_timeout_s = digit_timeout_s
        self.watch_interval = watch_interval
        uuid = getattr(session, "uuid", None) or _get(session, "uuid") or ""
        self.uuid = str(uuid)
        self._data = SessionData(session)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._gone = threading.Event()
        self._closed = threading.Event()
        self._watcher: Optional[threading.Thread] = None
        self._api_lock = threading.Lock()
        # Keys FreeSWITCH took off the DTMF queue to end a prompt: the next turn's first keys.
        self._pending = ""
        self._terminators = ""  # the playback_terminators value this adapter last set
        self._hold = ""  # music start_hold asked for; it plays inside wait_event
        self._music_missing = ""  # a hold source that did not play: wait in silence instead
        session.setHangupHook(_weak_hook(self))

    # ------------------------------------------------------------------ hangup plumbing

    def _went_away(self) -> None:
        with self._lock:
            if self._gone.is_set():
                return
            self._gone.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one bad callback must not stop the others
                log.exception("call %s: hangup callback failed", self.uuid)

    def _ready(self) -> bool:
        if self._gone.is_set():
            return False
        try:
            up = bool(self.session.ready())
        except _SWIG_ERRORS:  # a destroyed session raises; it is certainly not up
            up = False
        if not up:
            self._went_away()
        return up

    def _check(self) -> None:
        if not self._ready():
            raise CallGone(self.uuid, self._cause())

    def _cause(self) -> Optional[str]:
        try:
            cause = _get(self.session, "hangup_cause")
            if cause is None and str(self.session.getState()) not in _HANGUP_STATES:
                return "TRANSFERRED"  # uuid_bridge (or a transfer) took the leg: not hung up
            return cause
        except _SWIG_ERRORS:
            return None

    def _watch(self) -> None:
        while not self._closed.is_set() and not self._gone.is_set():
            if not self._ready():
                return
            self._closed.wait(self.watch_interval)

    def close(self) -> None:
        """Stop the hangup watcher and let go of the session (the shim calls this when
        the handler returns): until the last reference to mod_python3's session object
        is gone, FreeSWITCH keeps the channel (``show channels``)."""
        self._closed.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(self.watch_interval * 4 + 1.0)
        self._gone.set()
        self.session = _CLOSED
        self._data.release()
        self._api = None

    # ------------------------------------------------------------------ Channel

    @property
    def data(self) -> Mapping[str, str]:
        return self._data

    def answer(self) -> None:
        self._check()
        self.session.answer()
        self._check()
        self._set_terminators("any")

    def _set_tts(self, engine: str, voice: str) -> None:
        self._check()
        # "say:" sources read these variables (nothing here uses session.speak, whose
        # set_tts_parms FreeSWITCH 1.10+ logs as deprecated).
        self.session.setVariable("tts_engine", engine)
        self.session.setVariable("tts_voice", voice)

    def play(self, source: str, *, interruptible: bool = False) -> str:
        """Play to the end, or until the caller presses a key. The key is kept for the
        next turn; with ``interruptible`` it is taken and returned instead (a key
        already waiting is returned at once, without playing)."""
        src = check_source(source)
        self._check()
        if interruptible and self._pending:
            key, self._pending = self._pending[0], self._pending[1:]
            return key
        key = self._playback(src)
        if key and interruptible:
            return key
        self._pending += key
        return ""

    def _speech_turn(self, arg: str, slot: str, *, limit: int, timeout_s: float) -> ListenResult:
        self._check()
        if self._pending:  # type-ahead: the caller already answered
            keys = self._more_keys("", limit, "#", 0.0, self.digit_timeout_s)
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        self._set_terminators("any")  # a key ends the prompt and the recognition
        self._set_slot(slot)
        self.session.execute("play_and_detect_speech", arg)
        self._check()
        response = (_get(self.session, "current_application_response") or "").strip().upper()
        if response == ASR_INIT_ERROR:
            raise SpeechUnavailable(self.listen_engine, ASR_INIT_ERROR)
        if response in _RESPONSE_ERRORS:
            log.warning("call %s: play_and_detect_speech answered %s; heard nothing", self.uuid, response)
            return ListenResult(SILENCE)
        result = parse_asr_result(_get(self.session, "detect_speech_result"))
        if result is None:
            return ListenResult(SILENCE)
        if result.kind == DTMF:
            # A key ended the recognition ("DIGIT: k"); more may follow.
            keys = self._more_keys(clean_digits(result.text), limit, "#", 0.0, self.digit_timeout_s)
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        return result

    def get_var(self, name: str) -> Optional[str]:
        check_var_name("name", name)
        self._check()
        return _get(self.session, name)

    def set_var(self, name: str, value: str) -> None:
        check_var_name("name", name)
        self._check()
        self.session.setVariable(name, sanitize_text(value, 4000))

    def _execute(self, app: str, arg: str) -> str:
        self._check()
        self.session.execute(app, arg)
        self._check()
        return _get(self.session, "current_application_response") or ""

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        check_cause("cause", cause)
        try:
            if self.session.ready():
                self.session.hangup(cause)
        except _SWIG_ERRORS as exc:  # never raises, per the contract
            log.info("call %s: hangup not sent: %s", self.uuid, exc)
        self._ready()  # runs the hook bookkeeping at once

    def is_up(self) -> bool:
        return self._ready()

    def on_hangup(self, callback: Callable[[], None]) -> None:
        start = False
        with self._lock:
            already = self._gone.is_set()
            if not already:
                self._callbacks.append(callback)
                if self._watcher is None:
                    self._watcher = threading.Thread(
                        target=self._watch, name=f"modpython-hangup-{self.uuid[:8]}", daemon=True
                    )
                    start = True
        if already:
            callback()
            return
        if start and self._watcher is not None:
            self._watcher.start()
        self._ready()

    # ------------------------------------------------------------------ api

    def break_media(self) -> bool:
        # freeswitch.API runs inside FreeSWITCH: no network connection to lose.
        try:
            reply = self.api(f"uuid_break {check_uuid('uuid', self.uuid)} all")
        except Exception as exc:  # noqa: BLE001 - the embedded API raises whatever SWIG gives it
            log.info("call %s: uuid_break failed: %s", self.uuid, exc)
            return False
        return reply.strip().startswith("+OK")

    def api(self, command: str) -> str:
        """``freeswitch.API().executeString(command)``: a FreeSWITCH api command."""
        if "\n" in command or "\r" in command:
            raise ValidationError("command", "must be one line")
        # One API object keeps its last reply in a member: never share it between threads at once.
        with self._api_lock:
            if self._api is None:
                import freeswitch  # type: ignore[import-not-found]  # only inside FreeSWITCH

                self._api = freeswitch.API()
            return str(self._api.executeString(command) or "")

    # ------------------------------------------------------------------ hold music

    def start_hold(self, source: str, bound: Optional[HoldBound] = None) -> bool:
        """Music on hold for the next waits: ``wait_event`` plays it on this leg (the
        handler runs on the session thread, so nothing else could). ``bound`` is not
        given here (``arms_hold_bound`` is False: the flow arms it through the PBX API)."""
        if bound is not None:
            raise ValidationError("bound", "this adapter does not arm the hold bound itself")
        src = check_source(source, "music")
        self._check()
        self._hold = src
        return True

    def stop_hold(self) -> bool:
        """The music plays only inside ``wait_event``, which returns only once its
        playback has (this thread ran it): stopped, verified. Keys pressed while on
        hold are dropped."""
        if not self._hold:
            return True
        self._hold = ""
        if self._gone.is_set():
            return True
        try:
            self.session.flushDigits()
        except _SWIG_ERRORS as exc:
            log.info("call %s: keys pressed on hold not flushed: %s", self.uuid, exc)
        return True

    def wait_event(self, event: threading.Event, timeout: float, *, music: str = "") -> bool:
        """Wait for ``event`` on the session thread, keeping the leg's media serviced:
        with music on hold (``start_hold``, or ``music``) the caller hears it until the
        wait is over, and not a frame longer than the watcher's break takes (at most
        one retry, 250 ms); without music the wait sleeps in slices of
        ``SLEEP_SLICE_MS``. Raises ``CallGone`` when the leg hangs up meanwhile."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout == timeout:
            raise ValidationError("timeout", f"not a number of seconds: {timeout!r}")
        if event.is_set():
            return True
        self._check()
        deadline = time.monotonic() + min(max(0.0, float(timeout)), 3600.0)
        source = self._hold or (check_source(music, "music") if music else "")
        while not event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if source and source != self._music_missing:
                self._play_hold(source, event, deadline)
            else:
                self.session.sleep(max(1, min(SLEEP_SLICE_MS, math.ceil(left * 1000))))
            self._check()
        return event.is_set()

    def _play_hold(self, source: str, event: threading.Event, deadline: float) -> None:
        """One music segment: until the wait is over (the watcher breaks it), the
        caller hangs up, or ``playback_timeout_sec`` (the deadline, rounded up)."""
        run = _HoldRun()
        watcher = threading.Thread(
            target=self._end_music, args=(event, deadline, run), name=f"modpython-hold-{self.uuid[:8]}", daemon=True
        )
        bound = max(2, math.ceil(deadline - time.monotonic()) + 1)  # FreeSWITCH ignores values below 2
        self._set_terminators("none")  # a key must not end the music (nor is it type-ahead)
        self.session.setVariable("playback_timeout_sec", str(bound))
        started = time.monotonic()
        watcher.start()
        ended_alone = False
        try:
            if not run.stop.is_set():
                self.session.execute("playback", source)
                ended_alone = not run.stop.is_set()
        finally:
            run.done.set()
            watcher.join(HOLD_BREAK_RETRY_S * 2 + 1.0)
            try:
                self.session.setVariable("playback_timeout_sec", "")
                self._set_terminators("any")
            except _SWIG_ERRORS as exc:
                log.info("call %s: playback variables not restored: %s", self.uuid, exc)
        if run.breaks > 1:
            log.info("call %s: hold music needed %d breaks", self.uuid, run.breaks)
        if ended_alone and time.monotonic() - started < _MUSIC_MIN_S and self._ready():
            response = _get(self.session, "current_application_response") or "?"
            log.warning("call %s: hold music %s did not play (%s); the caller waits in silence",
                        self.uuid, source, response)
            self._music_missing = source

    def _end_music(self, event: threading.Event, deadline: float, run: _HoldRun) -> None:
        """Watcher of one music segment: once the wait is over, ``uuid_break`` until the
        playback has returned (a break that arrives before the playback started is
        cleared by FreeSWITCH: it is sent again)."""
        while not run.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or event.wait(min(left, self.watch_interval)):
                break
        else:
            return  # the playback ended by itself (hangup, bridge, no such stream)
        run.stop.set()
        command = f"uuid_break {check_uuid('uuid', self.uuid)}"
        while not run.done.is_set() and not self._gone.is_set():
            run.breaks += 1
            try:
                reply = self.api(command)
            except (VoiceAIError, ImportError, *_SWIG_ERRORS) as exc:
                reply = f"-ERR {exc}"
            if not reply.startswith("+OK"):
                log.info("call %s: uuid_break: %s", self.uuid, reply.strip())
            run.done.wait(HOLD_BREAK_RETRY_S)

    # ------------------------------------------------------------------ prompts and keys

    def _set_terminators(self, value: str) -> None:
        if self._terminators != value:
            self.session.setVariable("playback_terminators", value)
            self._terminators = value

    def _set_slot(self, slot: str) -> None:
        """``set voiceai_slot=SLOT`` as an application, as the socket adapter sends it:
        its CHANNEL_EXECUTE tells observers (the simulator's transcript, the
        real-switch tests) that the IVR now waits for the caller."""
        self.session.execute("set", f"voiceai_slot={slot}")

    def _playback(self, src: str) -> str:
        """``playback SRC``: to its end, or until the caller's first key, which is
        returned (FreeSWITCH has taken it off the DTMF queue)."""
        self._set_terminators("any")
        self.session.execute("playback", src)
        self._check()
        return clean_digits(_get(self.session, "playback_terminator_used"))[:1]

    def _keyed_turn(self, source: str, slot: str, *, max_digits: int, first_timeout: float,
                    digit_timeout: float, terminators: str) -> str:
        """The prompt, unless a key is already waiting, then the keys."""
        src = check_source(source)
        self._check()
        first = ""
        if not self._pending:
            self._set_slot(slot)
            first = self._playback(src)
            self._set_slot("")
        return self._more_keys(first, max_digits, terminators, first_timeout, digit_timeout)

    def _more_keys(self, first: str, max_digits: int, terminators: str, first_timeout: float,
                   digit_timeout: float) -> str:
        """Keys of one turn: those already taken (``_pending``, then ``first``), then
        more from FreeSWITCH's queue (``getDigits``) up to ``max_digits``. A terminator
        ends the turn unless it is the only key of a one-key turn (then it is the key)."""
        waiting, self._pending = self._pending + first, ""
        keys = ""
        for i, key in enumerate(waiting):
            if len(keys) >= max_digits:
                self._pending = waiting[i:]  # the rest is the next turn's
                return keys
            if key in terminators and (keys or max_digits > 1):
                self._pending = waiting[i + 1 :]
                return keys
            keys += key
        if len(keys) >= max_digits:
            return keys
        timeout = digit_timeout if waiting else first_timeout
        if timeout <= 0:
            return keys
        # With one key to read a terminator is that key; with more it ends the turn
        # (FreeSWITCH does not return it).
        ends = terminators if max_digits > 1 else ""
        more = self.session.getDigits(max_digits - len(keys), ends, _ms(timeout, "timeout_s"),
                                      _ms(digit_timeout, "digit_timeout_s"))
        self._check()
        return keys + clean_digits(more)[: max_digits - len(keys)]

    # ------------------------------------------------------------------ recorded answers (speech.turn)

    def record_answer(
        self,
        source: str,
        path: str,
        *,
        max_s: int = 10,
        silence_s: int = 2,
        threshold: int = 200,
        slot: str = "",
        max_digits: int = 1,
    ) -> tuple[Optional[str], str]:
        """As ``channel.esl``: a waiting key answers at once; else the prompt (a key
        ends it and answers), then ``record PATH MAX_S THRESHOLD SILENCE_S``; a key
        that ended the recording is in ``playback_terminator_used`` (mod_dptools
        ``on_dtmf``), more keys follow with ``getDigits``."""
        if not _SLOT_RE.match(slot or ""):
            raise ValidationError("slot", f"not a slot name: {slot!r}")
        arg = record_arg(path, max_s, threshold, silence_s)
        src = check_source(source)
        limit = max(1, max_digits)
        self._check()
        if self._pending:
            return None, self._more_keys("", limit, "#", 0.0, self.digit_timeout_s)
        self._set_slot(slot)
        first = self._playback(src)
        if first:
            self._set_slot("")
            return None, self._more_keys(first, limit, "#", 0.0, self.digit_timeout_s)
        self._set_terminators("any")
        self.session.execute("record", arg)
        self._check()
        key = clean_digits(_get(self.session, "playback_terminator_used"))[:1]
        self._set_slot("")
        if key:
            return None, self._more_keys(key, limit, "#", 0.0, self.digit_timeout_s)
        samples = (_get(self.session, "record_samples") or "0").strip()
        return (path, "") if samples.isdigit() and int(samples) > 0 else (None, "")


__all__ = ["ASR_INIT_ERROR", "ModPythonChannel", "SessionData"]
