"""``Channel`` over mod_python3's ``session`` (FreeSWITCH's SWIG ``PYTHON::Session``,
a ``CoreSession``), for the dialplan action ``python voiceai_ivr.modpython``.

The session API as FreeSWITCH defines it (``src/include/switch_cpp.h``,
``src/mod/languages/mod_python3/freeswitch_python.h``)::

    answer() -> int                      ready() -> bool
    streamFile(file, starting_sample_count=0) -> int
    playAndGetDigits(min_digits, max_digits, max_tries, timeout_ms, terminators,
                     audio_files, bad_input_audio_files, digits_regex,
                     var_name=None, digit_timeout_ms=0, transfer_on_failure=None) -> str
    execute(app, data=None)              getVariable(name) -> str | None
    setVariable(name, value)             hangup(cause="normal_clearing")
    setHangupHook(func, arg=None)        set_tts_parms(engine, voice); speak(text)

plus ``freeswitch.API().executeString("cmd args")`` for api commands. Notes:

* blocking calls (streamFile, playAndGetDigits, execute) return when the caller
  hangs up; afterwards ``ready()`` is False and every method here raises
  ``CallGone`` (``hangup``, ``is_up``, ``on_hangup`` and ``data`` never do);
* mod_python3 runs the hangup hook (``func(session, "hangup"|"transfer"[, arg])``)
  on the script's own thread the next time it calls into the session (``ready()``
  and the end of every blocking call). So that ``on_hangup`` callbacks also fire
  while a flow waits on something else (an originate), a watcher thread calls
  ``ready()`` every ``watch_interval`` seconds while callbacks are registered;
* ``listen`` is ``play_and_detect_speech`` and reads ``detect_speech_result``
  (NLSML). Keys pressed during a listen count only when the recogniser reports
  them (``<input mode="dtmf">``): unlike the Event Socket adapter, mod_python3
  gets no DTMF events while an application runs.
* ``execute`` returns ``current_application_response`` (FreeSWITCH sets it after
  each application).
* ``wait_event`` keeps servicing media while a flow waits (music on hold); see
  ``ModPythonChannel.wait_event`` for the FreeSWITCH facts behind it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional

from voiceai_ivr.channel.apps import APP_RE as _APP_RE
from voiceai_ivr.channel.apps import DIGITS_VAR as _DIGITS_VAR
from voiceai_ivr.channel.apps import ENGINE_RE as _ENGINE_RE
from voiceai_ivr.channel.apps import GRAMMAR_RE as _GRAMMAR_RE
from voiceai_ivr.channel.apps import check_digit_request, clean_digits, detect_speech_arg
from voiceai_ivr.channel.apps import ms as _ms
from voiceai_ivr.channel.base import DTMF, SILENCE, Channel, ListenResult
from voiceai_ivr.errors import CallGone, ValidationError, VoiceAIError
from voiceai_ivr.switch import check_cause, check_source, check_uuid, check_var_name, quote_arg, sanitize_text

log = logging.getLogger("voiceai_ivr.channel.modpython")

_UNDEF = "_undef_"
# What a SWIG call on a destroyed or broken session raises.
_SWIG_ERRORS = (RuntimeError, TypeError, AttributeError, ValueError, SystemError)
# Longest ``session.sleep`` slice of a wait: bounds how long a wake whose
# uuid_break raced with the end of a slice can go unnoticed.
_SLEEP_SLICE_MS = 200

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


def _get(session: Any, name: str) -> Optional[str]:
    value = session.getVariable(name)
    if value is None:
        return None
    text = str(value)
    return None if text == _UNDEF else text


class ModPythonChannel(Channel):
    """One call leg driven through mod_python3's ``session``."""

    def __init__(
        self,
        session: Any,
        api: Any = None,
        *,
        listen_engine: str = "unimrcp",
        grammar: str = "builtin:grammar/boolean",
        recognition_timeout_s: float = 15.0,
        watch_interval: float = 0.25,
    ) -> None:
        if not _ENGINE_RE.match(listen_engine or ""):
            raise ValidationError("speech.asr_engine", f"not an engine name: {listen_engine!r}")
        if not _GRAMMAR_RE.match(grammar or ""):
            raise ValidationError("speech.asr_grammar", f"not a grammar reference: {grammar!r}")
        self.session = session
        self._api = api
        self.listen_engine = listen_engine
        self.grammar = grammar
        self.recognition_timeout_s = recognition_timeout_s
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
        # A uuid_break that found nothing playing leaves CF_BREAK set, and the next
        # streamFile/playAndGetDigits would stop at its first frame: after a wait,
        # the next prompt first lets a short sleep consume it.
        self._stale_break = False
        # The hold music our last wait interrupted to hand control back: the next
        # wait of the same hold starts it again.
        self._music_broken = ""
        session.setHangupHook(self._hangup_hook)

    # ------------------------------------------------------------------ hangup plumbing

    def _hangup_hook(self, session: Any = None, what: str = "hangup", *args: Any) -> None:
        # FreeSWITCH says "transfer" when the channel left for the dialplan: this
        # handler has lost it either way.
        self._went_away()

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
            return _get(self.session, "hangup_cause")
        except _SWIG_ERRORS:
            return None

    def _watch(self) -> None:
        while not self._closed.is_set() and not self._gone.is_set():
            if not self._ready():
                return
            self._closed.wait(self.watch_interval)

    def close(self) -> None:
        """Stop the hangup watcher (the shim calls this when the handler returns)."""
        self._closed.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(self.watch_interval * 4 + 1.0)

    # ------------------------------------------------------------------ Channel

    @property
    def data(self) -> Mapping[str, str]:
        return self._data

    def answer(self) -> None:
        self._check()
        self.session.answer()
        self._check()

    def set_tts(self, engine: str, voice: str) -> None:
        if not _ENGINE_RE.match(engine or ""):
            raise ValidationError("tts_engine", f"not an engine name: {engine!r}")
        if not _ENGINE_RE.match(voice or ""):
            raise ValidationError("tts_voice", f"not a voice name: {voice!r}")
        self._check()
        # "say:" sources read these variables; speak() reads the session's tts params.
        self.session.setVariable("tts_engine", engine)
        self.session.setVariable("tts_voice", voice)
        self.session.set_tts_parms(engine, voice)

    def play(self, source: str, *, interruptible: bool = False) -> str:
        src = check_source(source)
        self._check()
        self._settle()
        if not interruptible:
            self.session.streamFile(src)
            self._check()
            return ""
        # play_and_get_digits stops the prompt at the first key and hands it back.
        key = self.session.playAndGetDigits(1, 1, 1, 1, "", src, "", r"^[0-9*#]$")
        self._check()
        return str(key or "")[:1]

    def collect_digits(
        self,
        source: str,
        *,
        min_digits: int = 1,
        max_digits: int = 1,
        timeout_s: float = 5.0,
        terminators: str = "#",
        digit_timeout_s: float = 3.0,
    ) -> str:
        check_digit_request(min_digits, max_digits, terminators)
        src = check_source(source)
        timeout_ms = _ms(timeout_s, "timeout_s")
        digit_ms = _ms(digit_timeout_s, "digit_timeout_s")
        self._check()
        self._settle()
        digits = self.session.playAndGetDigits(
            min_digits,
            max_digits,
            1,
            timeout_ms,
            terminators or "",
            src,
            "silence_stream://250",
            r"\d+",
            _DIGITS_VAR,
            digit_ms,
        )
        self._check()
        return clean_digits(digits)

    def listen(
        self,
        source: str,
        *,
        timeout_s: float = 6.0,
        max_digits: int = 1,
        grammar: str = "",
        slot: str = "",
    ) -> ListenResult:
        from voiceai_ivr.channel.esl import parse_nlsml

        arg = detect_speech_arg(source, engine=self.listen_engine, grammar=grammar or self.grammar, slot=slot,
                                timeout_s=timeout_s, recognition_timeout_s=self.recognition_timeout_s)
        self._check()
        self._settle()
        self.session.setVariable("voiceai_slot", slot)
        self.session.setVariable("detect_speech_result", "")  # never read a previous turn's result
        self.session.execute("play_and_detect_speech", arg)
        self._check()
        result = parse_nlsml(_get(self.session, "detect_speech_result"))
        if result is None:
            return ListenResult(SILENCE)
        if result.kind == DTMF and max_digits:
            return ListenResult(DTMF, result.text[:max_digits], result.confidence)
        return result

    def get_var(self, name: str) -> Optional[str]:
        check_var_name("name", name)
        self._check()
        return _get(self.session, name)

    def set_var(self, name: str, value: str) -> None:
        check_var_name("name", name)
        self._check()
        self.session.setVariable(name, sanitize_text(value, 4000))

    def execute(self, app: str, arg: str = "") -> str:
        """Run any dialplan application (``arg`` is passed as given: FreeSWITCH expands
        ``${...}`` in it, so never put caller input here unsanitised)."""
        if not _APP_RE.match(app or ""):
            raise ValidationError("app", f"not an application name: {app!r}")
        self._check()
        self._settle()
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
            reply = self.api(f"uuid_break {self.uuid} all")
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

    # ------------------------------------------------------------------ waiting on hold

    def wait_event(self, event: threading.Event, timeout: float, *, music: str = "") -> bool:
        """Wait for ``event`` while FreeSWITCH keeps servicing this leg's media.

        Why (signalwire/freeswitch sources): ``uuid_broadcast UUID SRC aleg`` does not
        play anything itself. ``switch_ivr_broadcast`` (src/switch_ivr_async.c) only
        queues a private ``execute playback`` event on the session
        (``switch_core_session_queue_private_event``); the event runs when the
        session thread next calls ``switch_ivr_parse_all_events`` /
        ``switch_ivr_parse_next_event`` (src/switch_ivr.c), as ``switch_ivr_park``,
        ``switch_ivr_sleep`` and ``switch_ivr_play_file`` do while they run. Under the
        Event Socket the channel is parked, so music plays at once; under mod_python3
        this handler IS the session thread, and while it waits in pure Python
        (``Event.wait``) nothing parses the queue: the caller hears silence.

        So the wait loops on ``session.sleep`` (``CoreSession::sleep`` in
        src/switch_cpp.cpp calls ``switch_ivr_sleep`` between
        ``begin_allow_threads``/``end_allow_threads``, which release the GIL, see
        mod_python3/freeswitch_python.cpp): the queued music starts and plays INSIDE
        the sleep. A playing ``local_stream`` never ends, so that sleep only returns
        when the music is broken: a watcher thread sends ``uuid_break UUID all``
        (mod_commands ``break_function``: flush the queue, stop the broadcast; the
        broadcast's end sets ``CF_BREAK``, which ``switch_ivr_sleep`` turns into its
        return) as soon as ``event`` is set or the timeout passes. A hangup makes
        ``switch_ivr_sleep`` return by itself (``switch_channel_ready`` is false) and
        raises ``CallGone`` here.

        A wake does not always end the hold (the agent answered and is hearing the
        announcement): ``music`` names the hold source, and when this wait broke
        it, the next wait broadcasts it again so the caller keeps hearing it."""
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout == timeout:
            raise ValidationError("timeout", f"not a number of seconds: {timeout!r}")
        if event.is_set():
            return True
        self._check()
        deadline = time.monotonic() + min(max(0.0, float(timeout)), 3600.0)
        if music and self._music_broken == music:
            self._broadcast(music)
        self._music_broken = ""
        over = threading.Event()
        broke = threading.Event()
        watcher = threading.Thread(
            target=self._hand_back,
            args=(event, deadline, over, broke),
            name=f"modpython-hold-{self.uuid[:8]}",
            daemon=True,
        )
        self._stale_break = True
        watcher.start()
        try:
            while not event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.session.sleep(max(1, min(_SLEEP_SLICE_MS, int(left * 1000))))
                self._check()
        finally:
            over.set()
            watcher.join(self.watch_interval + 1.0)
        if broke.is_set() and music:
            self._music_broken = music
        return event.is_set()

    def _hand_back(
        self, event: threading.Event, deadline: float, over: threading.Event, broke: threading.Event
    ) -> None:
        """Watcher of one wait: break the session's media once the wait is over, so
        the sleep blocked in the music returns control to the flow."""
        while not over.is_set():
            if self._gone.is_set():
                return  # FreeSWITCH stops the media of a hung-up leg itself
            left = deadline - time.monotonic()
            # in slices, so a wait that ended on its own (hangup) stops this thread soon
            if event.wait(max(0.0, min(left, self.watch_interval))) or left <= 0:
                break
        if over.is_set() or self._gone.is_set():
            return
        broke.set()
        try:
            reply = self.api(f"uuid_break {check_uuid('uuid', self.uuid)} all")
        except (VoiceAIError, ImportError, *_SWIG_ERRORS) as exc:
            log.error("call %s: hold music not broken, the wait may overrun: %s", self.uuid, exc)
            return
        if not reply.startswith("+OK"):
            log.info("call %s: uuid_break: %s", self.uuid, reply.strip())

    def _broadcast(self, music: str) -> None:
        src = check_source(music, "music")
        if " " in src:
            src = quote_arg(src)
        try:
            reply = self.api(f"uuid_broadcast {check_uuid('uuid', self.uuid)} {src} aleg")
        except (ImportError, *_SWIG_ERRORS) as exc:
            reply = f"-ERR {exc}"
        if not reply.startswith("+OK"):  # no music is bad; the wait itself still works
            log.warning("call %s: hold music not restarted: %s", self.uuid, reply.strip())

    def _settle(self) -> None:
        """Before a prompt: the hold (if any) is over; consume a stale CF_BREAK
        (``switch_ivr_sleep`` clears it and returns at once; without one it lasts
        one frame)."""
        self._music_broken = ""
        if self._stale_break:
            self._stale_break = False
            self.session.sleep(1)
            self._check()



__all__ = ["ModPythonChannel", "SessionData"]
