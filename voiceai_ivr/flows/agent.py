"""The agent side of an attended transfer, and the rendezvous with the waiting caller.

When a transfer announces the caller, the agent leg is originated with
``&socket(<agent socket address> async full)`` (under mod_python3:
``&python('voiceai_ivr.modpython config=FILE')``, in the same FreeSWITCH) and the
channel variables ``voiceai_role=agent`` and ``voiceai_transfer_id=<id>``: once the
agent answers, FreeSWITCH dials back into our outbound server (or runs the shim)
and ``run_agent`` runs on that leg.
It finds the caller's ``Rendezvous`` in the process-wide ``AgentRegistry`` by the
transfer id, plays "call from ... about ..., press 1 to accept, 2 to decline",
and reports one decision back through the rendezvous. The agent hears the caller's
name when known, else the number as people say it in the call's language
(national format, grouped: "onze, nove nove oito sete meia, ..."), and a short
reason (the topic words, "asking for the front desk"), never the caller's whole
sentence nor an internal code (``spoken_number``, ``spoken_reason``):

* ``accepted``      the agent pressed 1;
* ``declined``      the agent pressed 2 (or any other key twice);
* ``no_key``        nothing was pressed (an answering machine or voicemail);
* ``agent_hangup``  the agent hung up during the announcement (FreeSWITCH issue
  2830: group_confirm left the caller stuck in exactly this case; here the caller
  side is woken at once).

After ``accepted`` the agent handler waits (bounded) for the caller side to say
the legs are bridged, then returns without hanging up: the bridge carries on in
FreeSWITCH. In every other case the agent leg is hung up (by this handler and by
the caller side's ``uuid_kill``, whichever comes first).

Every wait is bounded; the registry is keyed by transfer id and entries are
removed by the caller side when its transfer ends.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from voiceai_ivr.channel.base import Channel
from voiceai_ivr.domain.resolve import topics_of
from voiceai_ivr.errors import CallGone, VoiceAIError

log = logging.getLogger("voiceai_ivr.agent")

ACCEPTED = "accepted"
DECLINED = "declined"
NO_KEY = "no_key"
AGENT_HANGUP = "agent_hangup"
DECISIONS = (ACCEPTED, DECLINED, NO_KEY, AGENT_HANGUP)

#: Seconds the agent has to press a key after each announcement.
KEY_TIMEOUT = 6.0
#: The announcement is played once, then a short reminder (the caller is on hold
#: meanwhile: an agent who does not answer must not keep them there for long).
ANNOUNCE_TIMES = 2
#: Bound on the whole announcement phase, as the caller side budgets it.
ANNOUNCE_BUDGET = 2 * (KEY_TIMEOUT + 12.0)
#: How long an accepting agent's handler waits for the caller side to bridge.
BRIDGE_WAIT = 10.0


@dataclass
class Rendezvous:
    """What one transfer's two handler threads share. The caller side creates it."""

    transfer_id: str
    caller: str  # what the agent hears as "call from ..."
    destination: str
    reason: str = ""
    language: str = "pt-BR"
    agent_connected: threading.Event = field(default_factory=threading.Event)
    decided: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)  # caller side is done
    decision: Optional[str] = None
    agent_uuid: str = ""
    bridged: bool = False
    # How long an accepting agent waits for the other side to bridge: a callback
    # dispatch rings the customer only after the agent accepted, so it needs the
    # customer's ring time, not just a bridge command's.
    bridge_wait: float = BRIDGE_WAIT
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    def on_change(self, fn: Callable[[], None]) -> None:
        """``fn`` runs whenever the agent connects or decides, or the caller side
        finishes (from the thread that caused it)."""
        with self._lock:
            self._listeners.append(fn)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn()
            except Exception:  # a listener's bug must not block the agent thread
                log.exception("rendezvous listener failed for transfer %s", self.transfer_id)

    def connect(self, agent_uuid: str) -> None:
        self.agent_uuid = agent_uuid
        self.agent_connected.set()
        self._notify()

    def decide(self, decision: str) -> bool:
        """Record the agent's decision once; later calls are ignored (returns False)."""
        if decision not in DECISIONS:
            raise ValueError(f"unknown decision {decision!r}")
        with self._lock:
            if self.decision is not None:
                return False
            self.decision = decision
        self.decided.set()
        self._notify()
        return True

    def finish(self, *, bridged: bool) -> None:
        """The caller side is done with this transfer (bridged, or gave up)."""
        self.bridged = bridged
        self.finished.set()
        self._notify()


class AgentRegistry:
    """Process-wide map transfer id -> ``Rendezvous``. Thread-safe."""

    def __init__(self) -> None:
        self._items: dict[str, Rendezvous] = {}
        self._lock = threading.Lock()

    def register(self, rendezvous: Rendezvous) -> Rendezvous:
        with self._lock:
            if rendezvous.transfer_id in self._items:
                raise VoiceAIError(f"transfer {rendezvous.transfer_id} is already registered")
            self._items[rendezvous.transfer_id] = rendezvous
        return rendezvous

    def get(self, transfer_id: str) -> Optional[Rendezvous]:
        with self._lock:
            return self._items.get(transfer_id)

    def unregister(self, transfer_id: str) -> None:
        with self._lock:
            self._items.pop(transfer_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def run_agent(channel: Channel, services: Any) -> str:
    """Handle one agent leg (``voiceai_role=agent``). Returns the decision, or
    ``"orphan"`` when no transfer waits for this leg (it is hung up)."""
    transfer_id = channel.get_var("voiceai_transfer_id") or channel.data.get(
        "variable_voiceai_transfer_id", ""
    )
    registry: Optional[AgentRegistry] = getattr(services, "agents", None)
    rv = registry.get(transfer_id) if registry is not None and transfer_id else None
    if rv is None:
        log.warning("agent leg %s: no transfer %r waiting; hanging up", channel.uuid, transfer_id)
        channel.hangup("NORMAL_CLEARING")
        return "orphan"
    prompts = services.prompts
    lang = rv.language

    def src(key: str, **variables: Any) -> str:
        return str(prompts.source(lang, key, **variables))

    rv.connect(channel.uuid)
    log.info("transfer %s: agent leg %s connected", transfer_id, channel.uuid)
    decision = NO_KEY
    try:
        channel.answer()
        tts_voice = services.config.speech.tts_voice.get(lang, "kal")
        channel.set_tts(services.config.speech.tts_engine, tts_voice)
        caller = spoken_caller_for(rv.caller, lang) or prompts.render(lang, "agent.unknown_caller")
        reason = spoken_reason(prompts, lang, rv.reason)
        for turn in range(ANNOUNCE_TIMES):
            if rv.finished.is_set():  # the caller left while we were announcing
                break
            prompt = (src("agent.announce", caller=caller, reason=reason, destination=rv.destination) if turn == 0
                      else src("agent.remind", destination=rv.destination))
            key = channel.collect_digits(
                prompt,
                min_digits=1,
                max_digits=1,
                timeout_s=KEY_TIMEOUT,
                terminators="",
                digit_timeout_s=KEY_TIMEOUT,
            )
            if key == "1":
                decision = ACCEPTED
                break
            if key == "2":
                decision = DECLINED
                break
            if key:
                decision = DECLINED  # a wrong key: replay once, then it is a no
    except CallGone:
        decision = AGENT_HANGUP
    log.info("transfer %s: agent %s -> %s", transfer_id, channel.uuid, decision)
    if rv.finished.is_set() and decision == ACCEPTED:
        # The caller already left: nothing to bridge.
        rv.decide(decision)
        _say_and_hangup(channel, src("agent.gone"))
        return decision
    rv.decide(decision)
    if decision == AGENT_HANGUP:
        return decision
    if decision != ACCEPTED:
        # The caller side kills this leg at once as well; nothing more to say to it.
        channel.hangup("CALL_REJECTED" if decision == DECLINED else "NO_USER_RESPONSE")
        return decision
    # Accepted: the caller side bridges the legs; the bridge ends this socket app.
    wake = threading.Event()
    rv.on_change(wake.set)
    channel.on_hangup(wake.set)
    deadline = time.monotonic() + rv.bridge_wait
    while not rv.finished.is_set() and channel.is_up():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wake.wait(remaining)
        wake.clear()
    if not rv.bridged:
        _say_and_hangup(channel, src("agent.gone"))
    return decision


# --------------------------------------------------------------------------- what the agent hears

_HOME_REGION = {"pt-BR": "BR", "en-US": "US"}
_PT_DIGITS = ("zero", "um", "dois", "três", "quatro", "cinco", "meia", "sete", "oito", "nove")
_PT_TEENS = ("dez", "onze", "doze", "treze", "catorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove")
_PT_TENS = ("", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa")
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Reasons that are the conversation's own codes, not something the caller said.
_REASON_CODES = ("operator", "fallback")
#: A reason longer than this many words is a sentence: only its topic words are said.
_REASON_WORDS = 6


def _pt_number(n: int) -> str:
    """0-99 in Portuguese words ("onze", "vinte e um"): how a DDD is said."""
    if n < 10:
        return ("zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove")[n]
    if n < 20:
        return _PT_TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _PT_TENS[tens] + (f" e {_pt_number(unit)}" if unit else "")


def spoken_number(number: str, language: str) -> str:
    """A phone number as people say it: national format when the number is from the
    language's country, else international; groups of digits said digit by digit,
    separated by commas; in pt-BR the area code as a number and 6 as "meia"
    ("+5511998765432" -> "onze, nove nove oito sete meia, cinco quatro três dois").
    Not a phone number: its digits, in groups of four."""
    import phonenumbers

    digits = "".join(c for c in number if c.isdigit())
    if not digits:
        return ""
    home = _HOME_REGION.get(language, "BR")
    parsed = None
    for text, region in (("+" + digits, None), (digits, home)):
        try:
            candidate = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(candidate):
            parsed = candidate
            break
    words = _PT_DIGITS if language == "pt-BR" else _EN_DIGITS
    if parsed is None:
        groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
        return ", ".join(" ".join(words[int(d)] for d in g) for g in groups)
    national = phonenumbers.region_code_for_number(parsed) == home
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    groups = re.findall(r"\d+", phonenumbers.format_number(parsed, fmt))
    if not national:
        groups[0] = "+" + groups[0]
    said: list[str] = []
    for i, g in enumerate(groups):
        if g.startswith("+"):
            plus = "mais" if language == "pt-BR" else "plus"
            said.append(plus + " " + " ".join(words[int(d)] for d in g[1:]))
        elif i == 0 and national and language == "pt-BR" and len(g) == 2 and g[0] != "0":
            said.append(_pt_number(int(g)))  # the DDD: "onze", "vinte e um"
        else:
            said.append(" ".join(words[int(d)] for d in g))
    return ", ".join(said)


def spoken_caller_for(caller: str, language: str) -> str:
    """The caller as the agent hears them: a name as it is; a number (as the
    transfer gives it, digits possibly spaced) through ``spoken_number``."""
    text = (caller or "").strip()
    if text and re.fullmatch(r"[+\d\s().-]+", text):
        return spoken_number(text, language)
    return text


def spoken_reason(prompts: Any, language: str, reason: str) -> str:
    """The short "about ..." part of the announcement: the conversation's codes in
    words ("operator" -> "asking for the front desk"), a short reason as given, a
    long one (a caller's sentence) cut down to its topic words, else nothing."""
    text = " ".join((reason or "").split())
    if not text or text == "voicemail":
        return ""
    if text in _REASON_CODES:
        return str(prompts.render(language, f"agent.reason.{text}"))
    if len(text.split()) > _REASON_WORDS:
        text = ", ".join(topics_of(text)[:2])
        if not text:
            return ""
    return str(prompts.render(language, "agent.reason.topic", topic=text))


def _say_and_hangup(channel: Channel, source: str) -> None:
    try:
        if channel.is_up():
            channel.play(source)
    except (CallGone, VoiceAIError) as exc:
        log.debug("agent leg %s: closing message not played (%s)", channel.uuid, exc)
    channel.hangup("NORMAL_CLEARING")


__all__ = [
    "ACCEPTED",
    "AGENT_HANGUP",
    "ANNOUNCE_BUDGET",
    "ANNOUNCE_TIMES",
    "DECISIONS",
    "DECLINED",
    "KEY_TIMEOUT",
    "NO_KEY",
    "AgentRegistry",
    "Rendezvous",
    "run_agent",
    "spoken_caller_for",
    "spoken_number",
    "spoken_reason",
]
