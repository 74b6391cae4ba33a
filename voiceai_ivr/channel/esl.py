"""``Channel`` over an outbound Event Socket session (``socket ... async full``).

Conventions shared with the simulator (it implements the FreeSWITCH side):

* ``play``: ``playback SOURCE``; ``say:TEXT`` sources are sanitised
  (``switch.check_source``) and single-quoted where they are one argument of a
  multi-argument application;
* ``set_tts``: ``set tts_engine=X`` and ``set tts_voice=Y`` (pipelined);
* ``set_var``: ``set name=value`` (value sanitised); ``get_var``:
  ``api uuid_getvar UUID NAME`` on the session (``_undef_`` -> ``None``);
* ``collect_digits``: ``play_and_get_digits MIN MAX 1 TIMEOUT_MS TERMINATORS 'FILE'
  silence_stream://250 voiceai_digits \\d+ DIGIT_TIMEOUT_MS``; the digits are
  ``variable_voiceai_digits`` of the EXECUTE_COMPLETE (absent, or
  ``variable_read_result`` other than ``success``: no input);
* ``listen``: ``set voiceai_slot=SLOT``, then ``play_and_detect_speech 'SOURCE'
  detect:ENGINE {no-input-timeout=MS,recognition-timeout=MS}GRAMMAR``; the result is
  the NLSML in ``variable_detect_speech_result``. A DTMF key during the listen
  sends ``api uuid_break UUID all`` and keys are collected from DTMF events.
* ``hangup``: ``sendmsg call-command: hangup`` with ``hangup-cause``.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Callable, Optional

from voiceai_ivr.channel.apps import APP_RE as _APP_RE
from voiceai_ivr.channel.apps import DIGITS_VAR as _DIGITS_VAR
from voiceai_ivr.channel.apps import ENGINE_RE as _ENGINE_RE
from voiceai_ivr.channel.apps import GRAMMAR_RE as _GRAMMAR_RE
from voiceai_ivr.channel.apps import check_digit_request, clean_digits, detect_speech_arg
from voiceai_ivr.channel.apps import ms as _ms
from voiceai_ivr.channel.base import DTMF, SILENCE, SPEECH, Channel, ListenResult
from voiceai_ivr.errors import ESLError, ESLTimeout, ValidationError
from voiceai_ivr.esl.outbound import Execution, OutboundSession
from voiceai_ivr.switch import check_cause, check_source, check_var_name, quote_arg, sanitize_text

log = logging.getLogger("voiceai_ivr.channel.esl")

MAX_NLSML_BYTES = 64 * 1024
_NO_RESULT = ("", "_undef_", "ERROR", "NO_MATCH", "NO_INPUT")


def parse_nlsml(text: Optional[str]) -> Optional[ListenResult]:
    """Read an NLSML result defensively: ``None`` for no result, no match, no input,
    anything unparseable or oversized."""
    if text is None or text.strip() in _NO_RESULT:
        return None
    if len(text.encode("utf-8", errors="replace")) > MAX_NLSML_BYTES:
        log.warning("speech result of %d bytes ignored (limit %d)", len(text), MAX_NLSML_BYTES)
        return None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        log.warning("speech result with a DOCTYPE ignored")
        return None
    try:
        root = ET.fromstring(text.strip())  # noqa: S314 - DOCTYPE/entities refused above
    except ET.ParseError:
        log.warning("speech result is not XML: %r", text[:80])
        return None
    for interp in root.iter():
        if _local(interp.tag) != "interpretation":
            continue
        confidence = _confidence(interp.get("confidence"))
        for node in interp.iter():
            if _local(node.tag) != "input":
                continue
            if any(_local(child.tag) in ("nomatch", "noinput") for child in node):
                continue
            words = " ".join("".join(node.itertext()).split())
            if not words:
                continue
            node_conf = _confidence(node.get("confidence"))
            kind = DTMF if (node.get("mode") or "").lower() == "dtmf" else SPEECH
            return ListenResult(kind, words[:1000], node_conf if node_conf is not None else confidence)
    return None


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def _confidence(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number or number < 0:  # NaN or negative
        return None
    if number > 1.0:  # MRCPv1 engines report 0-100
        number = number / 100.0
    return min(number, 1.0)


class ESLChannel(Channel):
    """One call leg driven over its outbound socket."""

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
        if not _ENGINE_RE.match(listen_engine or ""):
            raise ValidationError("speech.asr_engine", f"not an engine name: {listen_engine!r}")
        if not _GRAMMAR_RE.match(grammar or ""):
            raise ValidationError("speech.asr_grammar", f"not a grammar reference: {grammar!r}")
        self.session = session
        self.uuid = session.uuid
        self.listen_engine = listen_engine
        self.grammar = grammar
        self.recognition_timeout_s = recognition_timeout_s
        self.digit_timeout_s = digit_timeout_s
        self.command_timeout = command_timeout
        self.media_max_s = media_max_s

    # ------------------------------------------------------------------ Channel

    @property
    def data(self) -> Mapping[str, str]:
        return self.session.data

    def answer(self) -> None:
        self.session.execute("answer", timeout=self.command_timeout)

    def set_tts(self, engine: str, voice: str) -> None:
        if not _ENGINE_RE.match(engine or ""):
            raise ValidationError("tts_engine", f"not an engine name: {engine!r}")
        if not _ENGINE_RE.match(voice or ""):
            raise ValidationError("tts_voice", f"not a voice name: {voice!r}")
        first = self.session.execute_async("set", f"tts_engine={engine}")
        second = self.session.execute_async("set", f"tts_voice={voice}")
        self.session.wait(first, self.command_timeout)
        self.session.wait(second, self.command_timeout)

    def play(self, source: str, *, interruptible: bool = False) -> str:
        src = check_source(source)
        if not interruptible:
            self.session.execute("playback", src, timeout=self.media_max_s)
            return ""
        self.session.flush_dtmf()
        ex = self.session.execute_async("playback", src)
        outcome = self.session.wait_execution_or_dtmf(ex, self.media_max_s)
        if outcome == "timeout":
            raise ESLTimeout(f"call {self.uuid}: playback did not complete within {self.media_max_s:.0f}s")
        if outcome == "dtmf":
            key = self.session.next_dtmf(0) or ""
            self.session.api_nowait(f"uuid_break {self.uuid}")
            self._settle(ex)
            return key
        return ""

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
        src = quote_arg(check_source(source))
        timeout_ms = _ms(timeout_s, "timeout_s")
        digit_ms = _ms(digit_timeout_s, "digit_timeout_s")
        arg = (f"{min_digits} {max_digits} 1 {timeout_ms} {terminators or 'none'} {src} "
               f"silence_stream://250 {_DIGITS_VAR} \\d+ {digit_ms}")
        self.session.flush_dtmf()
        event = self.session.execute("play_and_get_digits", arg,
                                     timeout=self.media_max_s + timeout_s + digit_timeout_s * max(1, max_digits))
        result = event.get("variable_read_result")
        digits = event.get(f"variable_{_DIGITS_VAR}") or ""
        if result is not None and result != "success":
            return ""
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
        arg = detect_speech_arg(source, engine=self.listen_engine, grammar=grammar or self.grammar, slot=slot,
                                timeout_s=timeout_s, recognition_timeout_s=self.recognition_timeout_s)
        self.session.flush_dtmf()
        self.session.execute_async("set", f"voiceai_slot={slot}")
        ex = self.session.execute_async("play_and_detect_speech", arg)
        bound = self.media_max_s + timeout_s + self.recognition_timeout_s
        outcome = self.session.wait_execution_or_dtmf(ex, bound)
        if outcome == "timeout":
            raise ESLTimeout(f"call {self.uuid}: play_and_detect_speech did not complete within {bound:.0f}s")
        if outcome == "dtmf":
            self.session.api_nowait(f"uuid_break {self.uuid} all")
            keys = self._collect_keys(max(1, max_digits))
            self._settle(ex)
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        assert ex.event is not None
        result = parse_nlsml(ex.event.get("variable_detect_speech_result"))
        if result is None:
            # A key may have landed together with the completion.
            keys = self._collect_keys(max(1, max_digits), first_timeout=0.0)
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        return result

    def get_var(self, name: str) -> Optional[str]:
        check_var_name("name", name)
        reply = self.session.api(f"uuid_getvar {self.uuid} {name}", self.command_timeout).strip()
        if reply in ("_undef_", "") or reply.startswith("-ERR"):
            return None
        return reply

    def set_var(self, name: str, value: str) -> None:
        check_var_name("name", name)
        self.session.execute("set", f"{name}={sanitize_text(value, 4000)}", timeout=self.command_timeout)

    def execute(self, app: str, arg: str = "") -> str:
        """Run any dialplan application (``arg`` is passed as given: FreeSWITCH expands
        ``${...}`` in it, so never put caller input here unsanitised)."""
        if not _APP_RE.match(app or ""):
            raise ValidationError("app", f"not an application name: {app!r}")
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

    def _collect_keys(self, max_digits: int, first_timeout: Optional[float] = None) -> str:
        keys = ""
        timeout = self.digit_timeout_s if first_timeout is None else first_timeout
        while len(keys) < max_digits:
            key = self.session.next_dtmf(timeout)
            if key is None:
                break
            if key == "#" and keys:
                break
            keys += key
            timeout = self.digit_timeout_s
        return keys

    def _settle(self, ex: Execution) -> None:
        """Give a broken application a moment to report completion, so the next
        command does not race it; a missing completion is not an error."""
        try:
            self.session.wait(ex, 2.0)
        except ESLTimeout:
            log.info("call %s: %s did not report completion after uuid_break", self.uuid, ex.app)



__all__ = ["ESLChannel", "parse_nlsml"]
