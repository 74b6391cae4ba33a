"""Per-call context shared by every flow (conversation, transfer, callback capture).

``Services`` is built once per process (``voiceai_ivr.app.build_services``) and shared
by every call thread: configuration, database, switch, prompts, the resolver cache,
the agent rendezvous registry and metrics hooks.

``CallContext`` is built once per call and is only ever used by that call's handler
thread. Its API is deliberately small and stable:

* identity: ``channel``, ``services``, ``secretary``, ``language``, ``domain``, ``did``,
  ``call_uuid``, ``caller_number``, ``caller_name``, ``caller_withheld``, ``mode``;
* speech: ``say(key, **vars)``, ``listen(key, slot=..., **vars) -> ListenResult``,
  ``collect_digits(key, ...) -> str``, ``render(key, **vars) -> str``,
  ``source(key, **vars) -> str``, ``spoken(key, **vars)`` (the prompt's audio:
  a cached or just-synthesized WAV, or ``say:``; ``voiceai_ivr.speech``); with the
  ``http`` recognizer ``listen`` records the answer and has it transcribed
  (``speech.turn``), keyed when that fails; every prompt after an answer logs its
  turn latency (``mark_answered``);
* time: ``now()`` (timezone-aware; the ``voiceai_clock`` channel variable is honoured
  only when ``config.server.allow_clock_override`` is on), ``timezone``;
* record: ``log_event(event, **data)``, ``note_intent(...)``, ``events``, ``intents``,
  ``outcome``;
* hangup: ``hungup`` is a ``threading.Event`` set the moment the caller leaves;
  ``add_hangup_listener(fn) -> remove`` runs ``fn`` from the channel's thread then.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Optional

from voiceai_ivr.channel.base import DTMF, SILENCE, Channel, ListenResult
from voiceai_ivr.config import LANGUAGES, Config
from voiceai_ivr.errors import SpeechUnavailable, ValidationError
from voiceai_ivr.flows.asr_support import SpeechSupport
from voiceai_ivr.flows.prompts import PromptBook
from voiceai_ivr.ports import PBX, Speech
from voiceai_ivr.speech.turn import recorded_turn

log = logging.getLogger("voiceai_ivr.call")

DEFAULT_LANGUAGE = "pt-BR"
WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "0000000000", "_undef_"})

MetricsHook = Callable[..., None]


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class CallIdentity:
    """Who called which number in which domain, from the channel data."""

    call_uuid: str
    domain: str
    did: str
    caller_number: str
    caller_name: str

    @property
    def caller_withheld(self) -> bool:
        return self.caller_number.strip().lower() in WITHHELD


def _first(data: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = data.get(name)
        if value and value != "_undef_":
            return str(value).strip()
    return ""


def call_identity(data: Mapping[str, str], uuid: str = "") -> CallIdentity:
    """Read domain, dialled number and caller from FreeSWITCH channel data
    (``variable_voiceai_domain`` wins over ``variable_domain_name``; the dialled
    number is ``variable_voiceai_did`` or ``Caller-Destination-Number``)."""
    return CallIdentity(
        call_uuid=uuid or _first(data, "Unique-ID", "Channel-Call-UUID", "variable_uuid"),
        domain=_first(
            data, "variable_voiceai_domain", "variable_domain_name", "variable_sip_to_host"
        ).lower(),
        did=_first(data, "variable_voiceai_did", "Caller-Destination-Number", "variable_destination_number"),
        caller_number=_first(data, "Caller-Caller-ID-Number", "variable_caller_id_number"),
        caller_name=_first(data, "Caller-Caller-ID-Name", "variable_caller_id_name"),
    )


def parse_clock(value: str) -> datetime:
    """An ISO 8601 timestamp with an offset (``2026-11-24T10:30:00-03:00``)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError("voiceai_clock", f"not an ISO 8601 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValidationError("voiceai_clock", f"needs a UTC offset: {value!r}")
    return parsed


# --------------------------------------------------------------------------- services


@dataclass
class Services:
    """Process-wide dependencies shared by every call (thread-safe objects only)."""

    config: Config
    prompts: PromptBook
    db: Any = None  # voiceai_ivr.stores.db.Database (ports.Database: waits for conversation.py, issue 20 item 5)
    switch: Optional[PBX] = None  # voiceai_ivr.switch.Switch
    agents: Any = None  # voiceai_ivr.flows.agent.AgentRegistry
    llm: Any = None  # voiceai_ivr.integrations.llm.LLMClient, when enabled
    mode: str = "socket"  # socket | python | sim (goes to calls.mode)
    metrics_hooks: list[MetricsHook] = field(default_factory=list)
    asr: Optional[SpeechSupport] = None  # can the PBX recognise speech? (None: assume it can)
    speech: Optional[Speech] = None  # voiceai_ivr.speech.service.SpeechServices (prompt audio, recorded answers)

    @property
    def speech_available(self) -> bool:
        if self.speech is not None and self.speech.records_answers:
            return bool(self.speech.recognizer_available)  # the transcription service's health
        return self.asr is None or self.asr.available

    def add_metrics_hook(self, hook: MetricsHook) -> None:
        """``hook(name, **labels)`` is called for call_started(domain, known),
        call_ended(domain, outcome, duration), transfer_attempt(status, wait, domain),
        intent(source, intent), llm_fallback(reason), handler_error(error), and
        callback(outcome) from the capture flow."""
        self.metrics_hooks.append(hook)

    def emit(self, name: str, **labels: Any) -> None:
        for hook in list(self.metrics_hooks):
            try:
                hook(name, **labels)
            except Exception:  # a metrics bug must never break a call
                log.exception("metrics hook failed for %s", name)


# --------------------------------------------------------------------------- context


class TransferSlot:
    """At most one transfer in flight per call: ``try_enter`` never blocks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Optional[str] = None

    def try_enter(self, transfer_id: str) -> bool:
        if not self._lock.acquire(blocking=False):
            return False
        self.current = transfer_id
        return True

    def leave(self) -> None:
        self.current = None
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self._lock.locked()


class CallContext:
    """Everything one call's flows need. Used by one handler thread only."""

    def __init__(
        self,
        channel: Channel,
        services: Services,
        *,
        secretary: Any = None,
        identity: Optional[CallIdentity] = None,
        language: str = "",
        tz: Optional[tzinfo] = None,
    ) -> None:
        self.channel = channel
        self.services = services
        self.secretary = secretary
        self.secretary_id: Optional[int] = None  # secretaries.id, when stored
        ident = identity or call_identity(channel.data, getattr(channel, "uuid", ""))
        self.identity = ident
        lang = language or str(getattr(secretary, "language", "") or "") or DEFAULT_LANGUAGE
        if lang not in LANGUAGES:
            raise ValidationError("language", f"unsupported language {lang!r} (use {', '.join(LANGUAGES)})")
        self.language = lang
        self._tz = tz
        self.events: list[dict[str, Any]] = []
        self.intents: list[dict[str, Any]] = []
        self.outcome: Optional[str] = None
        self.recording_path: Optional[str] = None  # set once record_session started
        self._answered: Optional[tuple[float, str]] = None  # end of the last answer, for turn latency
        self.hungup = threading.Event()
        self._started_mono = time.monotonic()
        self._clock_base: Optional[datetime] = None
        self._clock_lock = threading.Lock()
        self.prompt_defaults: dict[str, Any] = {}
        self._clock_checked = False
        self.transfer_slot = TransferSlot()
        self._hangup_listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        channel.on_hangup(self._on_hangup)

    # ------------------------------------------------------------------ identity

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def mode(self) -> str:
        return self.services.mode

    @property
    def call_uuid(self) -> str:
        return self.identity.call_uuid or getattr(self.channel, "uuid", "")

    @property
    def domain(self) -> str:
        return self.identity.domain

    @property
    def did(self) -> str:
        return self.identity.did

    @property
    def caller_number(self) -> str:
        """The caller id number as FreeSWITCH gave it ("" when absent)."""
        return self.identity.caller_number

    @property
    def caller_name(self) -> str:
        return self.identity.caller_name

    @property
    def caller_withheld(self) -> bool:
        return self.identity.caller_withheld

    # ------------------------------------------------------------------ hangup

    def _on_hangup(self) -> None:
        self.hungup.set()
        with self._listeners_lock:
            listeners = list(self._hangup_listeners)
        for fn in listeners:
            try:
                fn()
            except Exception:  # one listener's bug must not hide the hangup from others
                log.exception("hangup listener failed on call %s", self.call_uuid)

    def add_hangup_listener(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` (from any thread) when the caller hangs up; at once if they
        already have. Returns a function that removes the listener."""
        with self._listeners_lock:
            self._hangup_listeners.append(fn)
        if self.hungup.is_set():
            fn()

        def remove() -> None:
            with self._listeners_lock:
                if fn in self._hangup_listeners:
                    self._hangup_listeners.remove(fn)

        return remove

    # ------------------------------------------------------------------ time

    @property
    def timezone(self) -> tzinfo:
        return self._tz or timezone.utc

    def set_timezone(self, tz: tzinfo) -> None:
        self._tz = tz

    def _clock(self) -> Optional[datetime]:
        with self._clock_lock:
            if self._clock_checked:
                return self._clock_base
            self._clock_checked = True
            if not self.config.server.allow_clock_override:
                return None
            raw = self.channel.data.get("variable_voiceai_clock") or ""
            if not raw or raw == "_undef_":
                return None
            self._clock_base = parse_clock(raw)
            return self._clock_base

    def now(self) -> datetime:
        """Wall clock for business rules, aware, in the call's timezone. Under the
        simulator (override allowed and ``voiceai_clock`` set) it starts at that
        instant and advances with real elapsed time."""
        base = self._clock()
        if base is not None:
            current = base + timedelta(seconds=time.monotonic() - self._started_mono)
        else:
            current = datetime.now(timezone.utc)
        return current.astimezone(self.timezone)

    def elapsed(self) -> float:
        return time.monotonic() - self._started_mono

    # ------------------------------------------------------------------ prompts

    def _vars(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {
            "company": str(getattr(self.secretary, "name", "") or self.domain),
            "greeting": str(getattr(self.secretary, "greeting", "") or ""),
            # No speech recognition: prompts say only what can be keyed.
            "keyed": not self.services.speech_available,
        }
        merged.update(self.prompt_defaults)
        merged.update(variables)
        return merged

    def render(self, key: str, **variables: Any) -> str:
        return self.services.prompts.render(self.language, key, **self._vars(variables))

    def source(self, key: str, **variables: Any) -> str:
        return self.services.prompts.source(self.language, key, **self._vars(variables))

    def spoken(self, key: str, **variables: Any) -> Any:
        """The prompt's audio (``speech.speaker.Spoken``: ``source``, ``how``, ``engine``)."""
        spoken = self.services.prompts.prompt(self.language, key, **self._vars(variables))
        self.services.emit("prompt_audio", engine=spoken.engine, how=spoken.how)
        return spoken

    def say(self, key: str, **variables: Any) -> None:
        """Play one prompt to the end (raises ``CallGone`` if the caller leaves)."""
        spoken = self.spoken(key, **variables)
        src = spoken.source
        self.log_event("say", key=key, text=_text_of(src, self, key, variables), audio=spoken.how)
        self._prompt_starting(spoken)
        self.channel.play(src)

    def listen(
        self,
        key: str,
        *,
        slot: str,
        timeout_s: Optional[float] = None,
        max_digits: int = 1,
        grammar: Optional[str] = None,
        **variables: Any,
    ) -> ListenResult:
        """Play a prompt while listening for speech and DTMF at once; a keyed turn
        when the PBX cannot recognise speech (found out at start, or by this very
        turn's ``ASR INIT ERROR``: the turn is then played again, keyed)."""
        speech = self.services.speech_available
        spoken = self.spoken(key, **variables)
        src = spoken.source
        self.log_event("listen", key=key, slot=slot, text=_text_of(src, self, key, variables),
                       keyed=None if speech else True, audio=spoken.how)
        self._prompt_starting(spoken)
        recorded = self.services.speech is not None and self.services.speech.records_answers
        if speech and recorded:
            heard = recorded_turn(self, src, slot=slot, max_digits=max_digits)
            if heard is not None:
                self.log_event("heard", slot=slot, kind=heard.kind, text=heard.text)
                return heard
            src = self.source(key, **variables)  # the service failed: this turn is keyed
            self.log_event("listen", key=key, slot=slot, text=_text_of(src, self, key, variables), keyed=True)
        if recorded:
            speech = False  # never play_and_detect_speech when answers are transcribed
        kwargs: dict[str, Any] = {
            "timeout_s": timeout_s if timeout_s is not None else self.config.speech.listen_timeout,
            "max_digits": max_digits,
            "grammar": self.config.speech.asr_grammar if grammar is None else grammar,
            "slot": slot,
        }
        try:
            result = self.channel.listen(src, speech=speech, **kwargs)
        except SpeechUnavailable as exc:
            if self.services.asr is None:
                self.services.asr = SpeechSupport(exc.engine)
            self.services.asr.mark_unavailable(f"{exc.detail or exc} on call {self.call_uuid}")
            src = self.source(key, **variables)
            self.log_event("listen", key=key, slot=slot, text=_text_of(src, self, key, variables), keyed=True)
            result = self.channel.listen(src, speech=False, **kwargs)
        if result.kind != SILENCE:
            self.mark_answered(time.monotonic(), "keys" if result.kind == DTMF else "freeswitch")
        self.log_event("heard", slot=slot, kind=result.kind, text=result.text, confidence=result.confidence)
        return result

    def collect_digits(
        self,
        key: str,
        *,
        min_digits: int = 1,
        max_digits: int = 1,
        timeout_s: Optional[float] = None,
        terminators: str = "#",
        **variables: Any,
    ) -> str:
        spoken = self.spoken(key, **variables)
        src = spoken.source
        self.log_event("collect", key=key, audio=spoken.how)
        self._prompt_starting(spoken)
        digits = self.channel.collect_digits(
            src,
            min_digits=min_digits,
            max_digits=max_digits,
            timeout_s=timeout_s if timeout_s is not None else self.config.speech.listen_timeout,
            terminators=terminators,
            digit_timeout_s=self.config.speech.digit_timeout,
        )
        if digits:
            self.mark_answered(time.monotonic(), "keys")
        self.log_event("heard", slot=key, kind="dtmf" if digits else "silence", text=digits)
        return digits

    # ------------------------------------------------------------------ turn latency

    def mark_answered(self, at: float, how: str) -> None:
        """The caller's answer ended at ``at`` (``time.monotonic``): their last key, or
        the end of their speech; ``how``: keys | freeswitch | http."""
        self._answered = (at, how)

    def _prompt_starting(self, spoken: Any) -> None:
        """The next prompt starts now: the turn latency since the answer ended goes to
        the call log (``latency``) and to the metrics (``turn_latency``)."""
        if self._answered is None:
            return
        at, how = self._answered
        self._answered = None
        seconds = max(0.0, time.monotonic() - at)
        synthesizer = "recorded" if spoken.how == "recorded" else str(spoken.engine)
        self.log_event("latency", seconds=round(seconds, 3), answer=how, audio=spoken.how)
        self.services.emit("turn_latency", seconds=seconds, recognizer=how, synthesizer=synthesizer)

    # ------------------------------------------------------------------ record

    def log_event(self, event: str, **data: Any) -> None:
        """Append to this call's event list (saved with the call log) and log it."""
        details = {k: v for k, v in data.items() if v is not None}
        entry: dict[str, Any] = {"t": round(self.elapsed(), 3), "event": event}
        entry.update(details)
        self.events.append(entry)
        log.debug("call %s %s %s", self.call_uuid, event, details)

    def note_intent(self, name: str, *, source: str, text: str = "", **data: Any) -> None:
        item = {"intent": name, "source": source, "text": text}
        item.update({k: v for k, v in data.items() if v is not None})
        self.intents.append(item)
        self.services.emit("intent", source=source, intent=name)


def _text_of(src: str, ctx: CallContext, key: str, variables: Mapping[str, Any]) -> str:
    if src.startswith("say:"):
        return src[4:]
    return ctx.render(key, **variables)


__all__ = [
    "DEFAULT_LANGUAGE",
    "CallContext",
    "CallIdentity",
    "MetricsHook",
    "Services",
    "TransferSlot",
    "call_identity",
    "parse_clock",
]
