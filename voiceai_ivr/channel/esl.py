"""``Channel`` over an outbound Event Socket session (``socket ... async full``).

Conventions shared with the simulator (it implements the FreeSWITCH side):

* ``answer``: ``answer``, then ``set playback_terminators=any``: FreeSWITCH itself
  ends a prompt (``playback``, ``play_and_detect_speech``) on the caller's first key,
  so no ``uuid_break`` races the prompt's end;
* keys: every key reaches us as a DTMF event and waits in the session's queue until
  a turn reads it. Keys pressed during a prompt or between prompts are the next
  turn's input (type-ahead): a turn that finds keys waiting plays nothing. Only
  keys pressed while the caller was on hold music are dropped (nobody asked);
* ``play``: ``playback SOURCE``; ``say:TEXT`` sources are sanitised
  (``switch.check_source``);
* ``set_tts``: ``set tts_engine=X`` and ``set tts_voice=Y`` (pipelined);
* ``set_var``: ``set name=value`` (value sanitised); ``set_var_nowait``: ``api
  uuid_setvar UUID name value``, not awaited (set as FreeSWITCH reads it, bridged
  or not); ``get_var``:
  ``api uuid_getvar UUID NAME`` on the session (``_undef_`` -> ``None``);
* ``collect_digits`` and keyed ``listen``: ``set voiceai_slot=SLOT``,
  ``playback SOURCE``, ``set voiceai_slot=`` (pipelined), then keys from the DTMF
  events (first key within the timeout after the prompt, then the inter-digit
  timeout; ``#`` ends);
* ``listen`` with speech: ``set voiceai_slot=SLOT``, then ``play_and_detect_speech
  SOURCE detect:ENGINE {start-input-timers=false,no-input-timeout=MS,…}GRAMMAR`` (the
  source unquoted, as FreeSWITCH parses it); the result is
  ``variable_detect_speech_result`` (NLSML or JSON, ``channel.asr_result``);
  Application-Response ``ASR INIT ERROR`` raises ``SpeechUnavailable``;
* ``record_answer``: keys waiting answer at once; else ``set voiceai_slot=SLOT``,
  ``playback SOURCE`` (a key ends it and answers the turn), then ``record PATH MAX_S
  THRESHOLD SILENCE_S`` (``channel.base.record_arg``; FreeSWITCH's ``on_dtmf`` ends it
  on a key through ``playback_terminators``, whose DTMF event reaches the queue as
  any other), then ``set voiceai_slot=``; recorded when the completion's
  ``variable_record_samples`` is above 0;
* hold music: ``set playback_terminators=none`` + ``playback local_stream://…`` on
  the caller's own leg (pipelined), after ``api sched_transfer +S UUID EXT XML CTX``
  when the hold has a bound (in the same write, not awaited: FreeSWITCH runs an
  ``api`` as it reads it, so the bound is armed before the music is even queued;
  a refusal is logged); stopped with ``api sched_del UUID`` (bound only, not
  awaited: its answer precedes the break's) then ``api uuid_break UUID`` until that
  playback's EXECUTE_COMPLETE arrives (re-sent every 250 ms, 1 s at most), then
  ``set playback_terminators=any``: a stop can never be lost, and nothing we send
  later can queue behind the music. A ``sched_del`` refused or unanswered by then
  is sent once more and awaited; still not done, it is logged;
* ``hangup``: ``sendmsg call-command: hangup`` with ``hangup-cause``.

Commands said above to be pipelined are written to the socket together, in one
write (``OutboundSession.pipeline``): the same bytes, in the same order.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import Callable, Optional

from voiceai_ivr.channel.apps import SLOT_RE as _SLOT_RE
from voiceai_ivr.channel.asr_result import parse_asr_result, parse_nlsml
from voiceai_ivr.channel.base import (
    DTMF,
    SILENCE,
    HoldBound,
    ListenResult,
    TurnChannel,
    check_listen_settings,
    record_arg,
)
from voiceai_ivr.errors import CallGone, ESLError, ESLTimeout, SpeechUnavailable, ValidationError
from voiceai_ivr.esl.session import Execution, OutboundSession
from voiceai_ivr.switch import (
    check_cause,
    check_source,
    check_var_name,
    sanitize_text,
    sched_deleted,
    sched_transfer_command,
)

log = logging.getLogger("voiceai_ivr.channel.esl")

#: How long a stopped hold playback may take to report its end before the break is re-sent.
HOLD_BREAK_RETRY_S = 0.25
#: The hold music must be gone within this long after ``stop_hold``.
HOLD_STOP_BOUND_S = 1.0
#: After a key ended a prompt, how long FreeSWITCH may take to report the prompt's end.
PROMPT_END_AFTER_KEY_S = 2.0
ASR_INIT_ERROR = "ASR INIT ERROR"


class ESLChannel(TurnChannel):
    """One call leg driven over its outbound socket."""

    arms_hold_bound = True

    def __init__(
        self,
        session: OutboundSession,
        *,
        listen_engine: str = "unimrcp",
        grammar: str = "builtin:grammar/boolean",
        recognition_timeout_s: float = 15.0,
        digit_timeout_s: float = 3.0,
        command_timeout: float = 10.0,
        media_max_s: float = 300.0,
    ) -> None:
        check_listen_settings(listen_engine, grammar)
        self.session = session
        self.uuid = session.uuid
        self.listen_engine = listen_engine
        self.grammar = grammar
        self.recognition_timeout_s = recognition_timeout_s
        self.digit_timeout_s = digit_timeout_s
        self.command_timeout = command_timeout
        self.media_max_s = media_max_s
        self._hold: Optional[Execution] = None
        self._bound: Optional[HoldBound] = None  # armed with the hold playing

    # ------------------------------------------------------------------ Channel

    @property
    def data(self) -> Mapping[str, str]:
        return self.session.data

    def answer(self) -> None:
        with self.session.pipeline():  # one write for both
            first = self.session.execute_async("answer")
            second = self.session.execute_async("set", "playback_terminators=any")
        self.session.wait(first, self.command_timeout)
        self.session.wait(second, self.command_timeout)

    def _set_tts(self, engine: str, voice: str) -> None:
        with self.session.pipeline():
            first = self.session.execute_async("set", f"tts_engine={engine}")
            second = self.session.execute_async("set", f"tts_voice={voice}")
        self.session.wait(first, self.command_timeout)
        self.session.wait(second, self.command_timeout)

    def play(self, source: str, *, interruptible: bool = False) -> str:
        """Play to the end, or until the caller presses a key (FreeSWITCH's
        ``playback_terminators``). The key stays queued for the next turn; with
        ``interruptible`` it is also taken and returned."""
        src = check_source(source)
        ex = self.session.execute_async("playback", src)
        self._wait_prompt(ex, "playback")
        if interruptible:
            return self.session.next_dtmf(0) or ""
        return ""

    def _speech_turn(self, arg: str, slot: str, *, limit: int, timeout_s: float) -> ListenResult:
        if self.session.has_dtmf():  # type-ahead: the caller already answered
            return ListenResult(DTMF, self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0))
        with self.session.pipeline():
            self.session.execute_async("set", f"voiceai_slot={slot}")
            ex = self.session.execute_async("play_and_detect_speech", arg)
        bound = self.media_max_s + timeout_s + self.recognition_timeout_s
        outcome = self.session.wait_execution_or_dtmf(ex, bound)
        if outcome == "timeout":
            raise ESLTimeout(f"call {self.uuid}: play_and_detect_speech did not complete within {bound:.0f}s")
        if outcome == "dtmf":
            # FreeSWITCH ends the application on the key itself (playback_terminators).
            self._settle(ex)
            keys = self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0)
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        assert ex.event is not None
        if (ex.event.get("Application-Response") or "").strip().upper() == ASR_INIT_ERROR:
            raise SpeechUnavailable(self.listen_engine, ASR_INIT_ERROR)
        result = parse_asr_result(ex.event.get("variable_detect_speech_result"))
        if result is None or result.kind == DTMF:
            # No speech; a key may have landed together with the completion.
            keys = self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0)
            if result is not None and not keys:
                keys = result.text
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        return result

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
        if not _SLOT_RE.match(slot or ""):
            raise ValidationError("slot", f"not a slot name: {slot!r}")
        arg = record_arg(path, max_s, threshold, silence_s)
        limit = max(1, max_digits)
        if self.session.has_dtmf():  # type-ahead: the caller already answered
            return None, self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0)
        src = check_source(source)
        with self.session.pipeline():
            self.session.execute_async("set", f"voiceai_slot={slot}")
            prompt = self.session.execute_async("playback", src)
        self._wait_prompt(prompt, "playback")
        if self.session.has_dtmf():  # a key ended the prompt: a keyed answer
            self.session.execute_async("set", "voiceai_slot=")
            return None, self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0)
        rec = self.session.execute_async("record", arg)
        bound = max_s + silence_s + self.command_timeout
        outcome = self.session.wait_execution_or_dtmf(rec, bound)
        unset = self.session.execute_async("set", "voiceai_slot=")
        if outcome == "timeout":
            raise ESLTimeout(f"call {self.uuid}: record did not complete within {bound:.0f}s")
        if outcome == "dtmf":  # FreeSWITCH ends the recording on the key itself
            self._settle(rec)
        self._settle(unset)
        if self.session.has_dtmf():
            return None, self._collect_keys(limit, "#", self.digit_timeout_s, first_timeout=0.0)
        samples = (rec.event.get("variable_record_samples") if rec.event is not None else None) or "0"
        return (path, "") if samples.strip().isdigit() and int(samples) > 0 else (None, "")

    # ------------------------------------------------------------------ hold music

    def start_hold(self, source: str, bound: Optional[HoldBound] = None) -> bool:
        src = check_source(source)
        if self._hold is None:
            arm = ""
            if bound is not None:
                try:
                    arm = sched_transfer_command(self.uuid, bound.seconds, bound.extension, bound.context)
                except ValidationError as exc:  # the music plays anyway
                    log.warning("call %s: hold not bounded by FreeSWITCH: %s", self.uuid, exc)
                    bound = None
            with self.session.pipeline():  # one write: the bound first, then the music
                if arm:
                    self._api_nowait(arm, self._bound_armed)
                self.session.execute_async("set", "playback_terminators=none")
                self._hold = self.session.execute_async("playback", src)
            self._bound = bound
        return True

    def _api_nowait(self, command: str, on_reply: Callable[[str], None]) -> None:
        """``api`` not awaited; a socket already closed is the call gone, as for an execute."""
        try:
            self.session.api_nowait(command, on_reply)
        except ESLError as exc:
            raise CallGone(self.uuid, self.session.hangup_cause or "ESL_DISCONNECTED") from exc

    def _bound_armed(self, reply: str) -> None:
        # Reactor thread: the music plays anyway (no music is bad, a dead transfer worse).
        if not reply.startswith("+OK"):
            log.warning("call %s: hold not bounded by FreeSWITCH: %s", self.uuid, reply.strip())

    def stop_hold(self) -> bool:
        ex, self._hold = self._hold, None
        bound, self._bound = self._bound, None
        if ex is None:
            return True
        deadline = time.monotonic() + HOLD_STOP_BOUND_S
        stopped = False
        removed: list[str] = []  # the pipelined sched_del's answer, once it came
        try:
            if bound is not None:
                # Ahead of the break on the same socket: the bound is gone before the music.
                self._api_nowait(f"sched_del {self.uuid}", removed.append)
            while not stopped:
                if not self.session.api_ok(f"uuid_break {self.uuid}", timeout=HOLD_BREAK_RETRY_S * 2):
                    log.info("call %s: uuid_break for hold music refused", self.uuid)
                try:
                    self.session.wait(ex, min(HOLD_BREAK_RETRY_S, max(0.01, deadline - time.monotonic())))
                    stopped = True
                except ESLTimeout:
                    if time.monotonic() >= deadline:
                        break
            if not stopped:
                log.error("call %s: hold music still playing %.1fs after the stop", self.uuid, HOLD_STOP_BOUND_S)
            if bound is not None:
                self._check_bound_removed(bound, removed)
            self.session.execute("set", "playback_terminators=any", timeout=self.command_timeout)
        except CallGone:
            return True
        finally:
            dropped = self.session.flush_dtmf()
            if dropped:
                log.info("call %s: keys pressed on hold ignored: %s", self.uuid, dropped)
        return stopped

    def _check_bound_removed(self, bound: HoldBound, removed: list[str]) -> None:
        """The pipelined ``sched_del`` answered ``+OK Deleted: N`` (N 0: nothing was
        armed, or it already fired); else once more, awaited; still not, logged."""
        if removed and sched_deleted(removed[0]) is not None:
            return
        why = removed[0].strip() if removed else "no answer"
        try:
            reply = self.session.api(f"sched_del {self.uuid}", timeout=self.command_timeout)
            if sched_deleted(reply) is not None:
                return
            why = reply.strip()
        except ESLError as exc:
            if not self.session.is_up():
                raise CallGone(self.uuid, self.session.hangup_cause) from exc
            why = str(exc)
        log.error("call %s: hold bound not removed (the caller may be moved in %ds): %s", self.uuid,
                  bound.seconds, why)

    # ------------------------------------------------------------------ others

    def get_var(self, name: str) -> Optional[str]:
        check_var_name("name", name)
        reply = self.session.api(f"uuid_getvar {self.uuid} {name}", self.command_timeout).strip()
        if reply in ("_undef_", "") or reply.startswith("-ERR"):
            return None
        return reply

    def set_var(self, name: str, value: str) -> None:
        check_var_name("name", name)
        self.session.execute("set", f"{name}={sanitize_text(value, 4000)}", timeout=self.command_timeout)

    def set_var_nowait(self, name: str, value: str) -> bool:
        # ``api`` on the call's socket: FreeSWITCH sets it as it reads the command,
        # bridged or not (a queued ``set`` would wait for the leg's applications).
        check_var_name("name", name)
        try:
            self.session.api_nowait(f"uuid_setvar {self.uuid} {name} {sanitize_text(value, 4000)}",
                                    functools.partial(self._var_set, name))
        except ESLError as exc:
            log.warning("call %s: %s not set: %s", self.uuid, name, exc)
        return True

    def _var_set(self, name: str, reply: str) -> None:
        if not reply.startswith("+OK"):
            log.warning("call %s: %s not set: %s", self.uuid, name, reply.strip())

    def _execute(self, app: str, arg: str) -> str:
        event = self.session.execute(app, arg, timeout=self.media_max_s)
        return event.get("Application-Response") or ""

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        check_cause("cause", cause)
        try:
            self.session.hangup(cause)
        except ESLError as exc:
            log.info("call %s: hangup not sent: %s", self.uuid, exc)

    def is_up(self) -> bool:
        return self.session.is_up()

    def break_media(self) -> bool:
        # ``api`` works on the call's own outbound socket in ``async full`` mode.
        try:
            reply = self.session.api(f"uuid_break {self.uuid} all", timeout=2.0)
        except ESLError as exc:
            log.info("call %s: uuid_break on the call socket failed: %s", self.uuid, exc)
            return False
        return reply.strip().startswith("+OK")

    def on_hangup(self, callback: Callable[[], None]) -> None:
        self.session.on_hangup(callback)

    # ------------------------------------------------------------------ helpers

    def _keyed_turn(self, source: str, slot: str, *, max_digits: int, first_timeout: float,
                    digit_timeout: float, terminators: str) -> str:
        """Play the prompt unless keys are already waiting, then collect keys."""
        if not self.session.has_dtmf():
            src = check_source(source)
            with self.session.pipeline():
                self.session.execute_async("set", f"voiceai_slot={slot}")
                ex = self.session.execute_async("playback", src)
                unset = self.session.execute_async("set", "voiceai_slot=")
            self._wait_prompt(ex, "playback")
            self._settle(unset)
        return self._collect_keys(max_digits, terminators, digit_timeout, first_timeout=first_timeout)

    def _wait_prompt(self, ex: Execution, what: str) -> None:
        """Until the prompt ends (by itself, or on a key through playback_terminators)."""
        outcome = self.session.wait_execution_or_dtmf(ex, self.media_max_s)
        if outcome == "timeout":
            raise ESLTimeout(f"call {self.uuid}: {what} did not complete within {self.media_max_s:.0f}s")
        if outcome == "dtmf":
            self._settle(ex)

    def _collect_keys(self, max_digits: int, terminators: str, digit_timeout: float,
                      first_timeout: Optional[float] = None) -> str:
        keys = ""
        timeout = digit_timeout if first_timeout is None else first_timeout
        while len(keys) < max_digits:
            key = self.session.next_dtmf(timeout)
            if key is None:
                break
            if key in terminators and (keys or max_digits > 1):
                break
            keys += key
            timeout = digit_timeout
        return keys

    def _settle(self, ex: Execution) -> None:
        """Give an application ended by a key a moment to report completion, so the
        next command does not race it; a missing completion is not an error."""
        try:
            self.session.wait(ex, PROMPT_END_AFTER_KEY_S)
        except ESLTimeout:
            log.info("call %s: %s did not report completion after a key; breaking it", self.uuid, ex.app)
            self.session.api_nowait(f"uuid_break {self.uuid}")


__all__ = ["ESLChannel", "parse_asr_result", "parse_nlsml"]
