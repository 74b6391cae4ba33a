"""One call leg as verbs. Flows are written against ``Channel`` only, so the same
flow runs under the outbound Event Socket, mod_python3 and the simulator.

Contract for every adapter:

* every method may raise ``CallGone`` once the leg has hung up; a hangup that
  happens while a method waits makes it raise within a few hundred ms;
* every wait is bounded (the adapter adds a margin to the FreeSWITCH-side
  timeout and raises ``ESLTimeout`` past it);
* ``source`` arguments are FreeSWITCH-playable strings: a file path,
  ``tone_stream://...``, ``silence_stream://...``, ``local_stream://...`` or
  ``say:TEXT`` (spoken with the channel's ``tts_engine``/``tts_voice``, which
  ``set_tts`` sets). Text is sanitised by the adapter, never pasted raw into
  an application argument.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional

from voiceai_ivr.channel.apps import APP_RE, ENGINE_RE, GRAMMAR_RE, SLOT_RE, check_digit_request, detect_speech_arg, ms
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.switch import check_sched_transfer

SPEECH = "speech"
DTMF = "dtmf"
SILENCE = "silence"


@dataclass(frozen=True)
class ListenResult:
    """What the caller did during one listen turn."""

    kind: str  # SPEECH | DTMF | SILENCE
    text: str = ""  # recognised words, or the digits keyed; "" for silence
    confidence: Optional[float] = None

    @property
    def heard(self) -> bool:
        return self.kind != SILENCE and bool(self.text.strip())


@dataclass(frozen=True)
class HoldBound:
    """FreeSWITCH's own end of a hold: ``seconds`` after it is armed, FreeSWITCH
    transfers the leg into ``extension`` of ``context`` (``sched_transfer``), whatever
    became of the handler meanwhile. Checked when made."""

    seconds: int
    extension: str
    context: str

    def __post_init__(self) -> None:
        check_sched_transfer(self.seconds, self.extension, self.context)


def record_arg(path: str, max_s: int, threshold: int, silence_s: int) -> str:
    """``PATH MAX_S THRESHOLD SILENCE_S`` for mod_dptools ``record`` (``<path>
    [<time_limit_secs>] [<silence_thresh>] [<silence_hits>]``: FreeSWITCH splits it on
    blanks and reads whole seconds), every part checked."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024 or any(
            c in path for c in " \t\r\n'\"${}\\;|&<>`"):
        raise ValidationError("path", f"not an absolute path FreeSWITCH can record to: {str(path)[:80]!r}")
    for name, value, low, high in (("max_s", max_s, 1, 3600), ("threshold", threshold, 1, 100000),
                                   ("silence_s", silence_s, 1, 60)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(name, f"must be a whole number {low}-{high}: {value!r}")
    return f"{path} {max_s} {threshold} {silence_s}"


class Channel(abc.ABC):
    """One call leg. Not thread-safe: one handler thread drives one channel."""

    uuid: str
    #: ``start_hold`` arms a ``HoldBound`` itself, on the leg's own control path ahead
    #: of the music, and ``stop_hold`` removes it. False: the flow arms it through
    #: the PBX API before the music starts.
    arms_hold_bound: bool = False

    @property
    @abc.abstractmethod
    def data(self) -> Mapping[str, str]:
        """Channel data known at start (``Caller-Caller-ID-Number``, ``variable_*``...)."""

    @abc.abstractmethod
    def answer(self) -> None: ...

    @abc.abstractmethod
    def set_tts(self, engine: str, voice: str) -> None:
        """Select the TTS engine and voice used for ``say:`` sources."""

    @abc.abstractmethod
    def play(self, source: str, *, interruptible: bool = False) -> str:
        """Play one source to the end. With ``interruptible`` a DTMF key stops it and is
        returned (``""`` otherwise)."""

    @abc.abstractmethod
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
        """Play ``source`` and collect keys (``play_and_get_digits``). ``""`` on no input."""

    @abc.abstractmethod
    def listen(
        self,
        source: str,
        *,
        timeout_s: float = 6.0,
        max_digits: int = 1,
        grammar: str = "",
        slot: str = "",
        speech: bool = True,
    ) -> ListenResult:
        """Play ``source`` and listen for speech and DTMF at once
        (``play_and_detect_speech``). ``slot`` names what was asked for (logs and
        the simulator's transcript read it from the ``voiceai_slot`` variable).

        With ``speech=False`` (the PBX has no speech recognition) the turn is keyed:
        the prompt plays, a key stops it, and up to ``max_digits`` keys are
        collected (the first within ``timeout_s`` of the prompt's end).

        Keys the caller pressed before the turn (during an earlier prompt, while
        nothing played) are never thrown away: they are this turn's first keys
        (type-ahead), and the prompt is not played when keys are already waiting.
        Raises ``SpeechUnavailable`` when the PBX refuses to start recognition
        (``ASR INIT ERROR``); the caller then runs the turn again keyed."""

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
        """Play ``source``, then record the caller's answer into ``path`` on the
        FreeSWITCH host (``record PATH MAX_S THRESHOLD SILENCE_S``: it ends after
        ``silence_s`` whole seconds under ``threshold``, after ``max_s``, on a key, or
        on the hangup). Returns ``(path, "")`` once recorded, or ``(None, keys)`` when
        the caller keyed instead (during the prompt or the recording: up to
        ``max_digits`` keys, as a keyed ``listen`` collects them; type-ahead keys
        already waiting answer at once, nothing is played), or ``(None, "")`` when
        nothing could be recorded. ``slot`` is set as ``voiceai_slot`` meanwhile.

        This default records nothing (an adapter without ``record``): the caller
        then runs the turn keyed."""
        return None, ""

    @abc.abstractmethod
    def get_var(self, name: str) -> Optional[str]:
        """A channel variable, or ``None`` when unset (FreeSWITCH's ``_undef_``)."""

    @abc.abstractmethod
    def set_var(self, name: str, value: str) -> None: ...

    @abc.abstractmethod
    def execute(self, app: str, arg: str = "") -> str:
        """Run a dialplan application to completion; returns its Application-Response."""

    @abc.abstractmethod
    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang the leg up. Never raises ``CallGone``."""

    @abc.abstractmethod
    def is_up(self) -> bool: ...

    @abc.abstractmethod
    def on_hangup(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) as soon as the leg hangs up; at once if
        it already has. Lets flows wait on other things (an originate) and still
        react to the caller leaving without polling."""

    def wait_event(self, event: threading.Event, timeout: float, *, music: str = "") -> bool:
        """Wait up to ``timeout`` seconds for ``event`` (set by other threads) while the
        leg keeps servicing its media, so a ``uuid_broadcast`` queued for it (music on
        hold) is really heard meanwhile; returns ``event.is_set()``. ``music`` names the
        hold source the caller should be hearing, for adapters that must interrupt
        it to hand control back (and start it again on the next wait).

        This default suits the Event Socket: FreeSWITCH parks the channel and its own
        session thread plays broadcasts while the handler thread just waits. An
        adapter whose handler runs on the session thread (mod_python3) overrides it
        and may raise ``CallGone`` when the leg hangs up during the wait."""
        return event.wait(max(0.0, timeout))

    def start_hold(self, source: str, bound: Optional[HoldBound] = None) -> bool:
        """Start music on hold (``source``, e.g. ``local_stream://moh``) on this leg
        through the leg's own control path. Returns False when this adapter has
        none; the flow then uses the PBX API (``uuid_broadcast``) and ``wait_event``
        with ``music``. Keys pressed while on hold are not type-ahead: they are
        dropped when the hold stops (nobody asked the caller anything).

        ``bound`` (only given to an adapter that ``arms_hold_bound``): armed before
        the music starts, without waiting for FreeSWITCH's answer (a refusal is
        logged), and removed by ``stop_hold``."""
        return False

    def stop_hold(self) -> bool:
        """Stop the music ``start_hold`` started, verified: returns only once the
        music has really ended (True) or a bound of about 1 s has passed (False,
        logged). The hold's ``bound`` is removed first (a failure is logged). A
        no-op returning True when no hold is playing."""
        return True

    def set_var_nowait(self, name: str, value: str) -> bool:
        """Set a channel variable at once, whatever the leg is running (a bridge too),
        through the leg's own control path, without waiting for FreeSWITCH's answer
        (a refusal is logged). False when this adapter has no such path: the flow
        then sets it through the PBX API (``uuid_setvar``)."""
        return False

    def break_media(self) -> bool:
        """Stop whatever is playing to this leg (``uuid_break UUID all``) through the
        leg's own control path, not the PBX API connection: flows use it when that
        connection is gone (music on hold must never outlive a failed transfer).
        Returns True when FreeSWITCH accepted it; False when this adapter has no
        such path or it failed."""
        return False


def check_listen_settings(listen_engine: str, grammar: str) -> None:
    """The ASR engine and default grammar an adapter is built with (``speech.*``)."""
    if not ENGINE_RE.match(listen_engine or ""):
        raise ValidationError("speech.asr_engine", f"not an engine name: {listen_engine!r}")
    if not GRAMMAR_RE.match(grammar or ""):
        raise ValidationError("speech.asr_grammar", f"not a grammar reference: {grammar!r}")


class TurnChannel(Channel):
    """The turn logic the two PBX adapters (outbound Event Socket, mod_python3) share:
    checking every argument, the keyed turn, the choice between a keyed and a
    spoken ``listen``. Each adapter implements how a turn runs on its session:
    ``_keyed_turn`` (the prompt unless keys wait, then the keys), ``_speech_turn``
    (``play_and_detect_speech`` with a checked argument), ``_set_tts`` and
    ``_execute``."""

    listen_engine: str
    grammar: str
    recognition_timeout_s: float
    digit_timeout_s: float

    def set_tts(self, engine: str, voice: str) -> None:
        if not ENGINE_RE.match(engine or ""):
            raise ValidationError("tts_engine", f"not an engine name: {engine!r}")
        if not ENGINE_RE.match(voice or ""):
            raise ValidationError("tts_voice", f"not a voice name: {voice!r}")
        self._set_tts(engine, voice)

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
        ms(timeout_s, "timeout_s")
        ms(digit_timeout_s, "digit_timeout_s")
        keys = self._keyed_turn(source, "digits", max_digits=max_digits, first_timeout=timeout_s,
                                digit_timeout=digit_timeout_s, terminators=terminators or "")
        return keys if len(keys) >= min_digits else ""

    def listen(
        self,
        source: str,
        *,
        timeout_s: float = 6.0,
        max_digits: int = 1,
        grammar: str = "",
        slot: str = "",
        speech: bool = True,
    ) -> ListenResult:
        if not SLOT_RE.match(slot or ""):
            raise ValidationError("slot", f"not a slot name: {slot!r}")
        limit = max(1, max_digits)
        if not speech:
            ms(timeout_s, "timeout_s")
            keys = self._keyed_turn(source, slot, max_digits=limit, first_timeout=timeout_s,
                                    digit_timeout=self.digit_timeout_s, terminators="#")
            return ListenResult(DTMF, keys) if keys else ListenResult(SILENCE)
        arg = detect_speech_arg(source, engine=self.listen_engine, grammar=grammar or self.grammar, slot=slot,
                                timeout_s=timeout_s, recognition_timeout_s=self.recognition_timeout_s)
        return self._speech_turn(arg, slot, limit=limit, timeout_s=timeout_s)

    def execute(self, app: str, arg: str = "") -> str:
        """Run any dialplan application (``arg`` is passed as given: FreeSWITCH expands
        ``${...}`` in it, so never put caller input here unsanitised)."""
        if not APP_RE.match(app or ""):
            raise ValidationError("app", f"not an application name: {app!r}")
        return self._execute(app, arg)

    @abc.abstractmethod
    def _set_tts(self, engine: str, voice: str) -> None:
        """Set ``tts_engine`` and ``tts_voice`` (both checked) on the leg."""

    @abc.abstractmethod
    def _execute(self, app: str, arg: str) -> str:
        """Run the (checked) application; its Application-Response."""

    @abc.abstractmethod
    def _keyed_turn(self, source: str, slot: str, *, max_digits: int, first_timeout: float,
                    digit_timeout: float, terminators: str) -> str:
        """Play the prompt unless keys are already waiting, then collect keys."""

    @abc.abstractmethod
    def _speech_turn(self, arg: str, slot: str, *, limit: int, timeout_s: float) -> ListenResult:
        """``play_and_detect_speech ARG`` (checked by ``detect_speech_arg``) with
        ``voiceai_slot=SLOT``; keys already waiting (type-ahead) answer at once."""
