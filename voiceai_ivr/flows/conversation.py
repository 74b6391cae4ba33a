"""The conversation: greet, understand, transfer or capture a callback, never strand.

One ``Conversation`` runs per call on the handler's thread. It is a small state
machine whose transitions are logged ``A -> event -> B`` and saved with the call
log (``calls.details.states``)::

    start -> answered -> greeting
    greeting|asking -> heard(transfer)  -> transferring
                    -> heard(ambiguous) -> clarifying -> picked -> transferring
                    -> heard(operator)  -> transferring (the secretary's fallback)
                    -> heard(repeat)    -> greeting
                    -> heard(callback)  -> callback
                    -> heard(goodbye)   -> ended
                    -> no_input|no_match (reprompted speech.reprompts times) -> fallback
    transferring -> accepted -> transferred (handler returns, the bridge lives on)
                 -> out_of_hours -> offering_callback -> yes -> callback | no -> asking
                 -> failed -> after_failure -> (another name | 1 callback | 2 voicemail | 9 end)
                 -> caller_hangup -> caller_gone

Each listen turn hears speech and DTMF at once (``Channel.listen``) and names its
slot (``intent``, ``clarify``, ``yes_no``, ``after_failure``). Keys in the main
turn: 1-9 a destination's ``menu_key``, 0 the operator (fallback destination),
``*`` repeat.

Understanding a turn: the optional LLM first (``integrations.llm``; any failure,
timeout or invalid tool call falls back), then DOMAIN's offline intent rules and
the fuzzy ``Resolver``. The rules may overrule the LLM's decision when the
sentence says otherwise (a callback asked for, a destination taken back, a guess
between namesakes: ``overrule``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from voiceai_ivr.channel.base import DTMF, SILENCE, ListenResult
from voiceai_ivr.domain import intent as intent_rules
from voiceai_ivr.domain.causes import prompt_key
from voiceai_ivr.domain.lexicon import lexicon
from voiceai_ivr.domain.resolve import Resolver, topics_of, words_of
from voiceai_ivr.errors import CallGone, StoreError, ValidationError, VoiceAIError
from voiceai_ivr.flows import callback as callback_flow
from voiceai_ivr.flows.context import CallContext
from voiceai_ivr.flows.transfer import (
    ACCEPTED_STATUS,
    CALLER_HANGUP,
    IN_PROGRESS,
    OUT_OF_HOURS,
    Attempt,
    AttendedTransfer,
    TransferTarget,
    target_from,
)
from voiceai_ivr.stores import calllog, calls
from voiceai_ivr.stores.directory import get_destination_id

log = logging.getLogger("voiceai_ivr.conversation")

#: Call outcome when the caller hangs up before confirming a callback request.
ABANDONED = "abandoned"

#: Transfers one call may attempt before the conversation stops offering more.
MAX_TRANSFERS = 4
#: Listen turns one call may take at most (a loop guard, far above real calls).
MAX_TURNS = 40



# --------------------------------------------------------------------------- directory view


@dataclass
class CallDirectory:
    """What one secretary's conversation needs to know about its domain."""

    secretary: Any
    destinations: Mapping[str, Any]  # name -> destination object
    resolver: Any  # domain.resolve.Resolver
    hours_for: Callable[[str], Any]  # name -> BusinessHours or None (always open)
    region: str = "BR"  # default phone region of the domain
    secretary_hours: Callable[[], Any] = lambda: None  # the secretary's/domain's BusinessHours

    @classmethod
    def from_directory(cls, directory: Any, secretary: Any, resolver: Any = None) -> CallDirectory:
        """From DOMAIN's ``destinations.Directory`` and one of its secretaries."""
        return cls(
            secretary=secretary,
            destinations={d.name: d for d in directory.destinations if getattr(d, "enabled", True)},
            resolver=resolver if resolver is not None else directory.resolver(),
            hours_for=directory.hours_lookup(secretary),
            region=str(getattr(directory, "region", "") or "BR"),
            secretary_hours=lambda: directory.business_hours(secretary),
        )

    def by_name(self, name: str) -> Optional[Any]:
        return self.destinations.get(name)

    def by_menu_key(self, key: str) -> Optional[Any]:
        for dest in self.destinations.values():
            value = _attr(dest, "menu_key")
            if value is not None and str(value) == key:
                return dest
        return None

    def menu(self) -> list[dict[str, Any]]:
        items = []
        for dest in self.destinations.values():
            key = _attr(dest, "menu_key")
            if key is not None:
                items.append({"key": int(key), "name": _attr(dest, "name")})
        return sorted(items, key=lambda i: i["key"])

    def menu_map(self) -> dict[str, str]:
        """Key -> destination name, as the intent rules want it."""
        return {str(item["key"]): str(item["name"]) for item in self.menu()}

    @property
    def fallback(self) -> Optional[str]:
        name = _attr(self.secretary, "fallback_destination") or _attr(self.secretary, "fallback")
        return str(name) if name else None


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        value = obj.get(name, default)
    else:
        value = getattr(obj, name, default)
    return default if value is None else value


# --------------------------------------------------------------------------- understanding


@dataclass
class Understanding:
    """What one caller turn meant."""

    kind: str  # transfer | ambiguous | operator | repeat | callback | goodbye | yes | no | no_match
    destination: Optional[str] = None
    options: list[str] = field(default_factory=list)
    reason: str = ""
    source: str = "rules"  # rules | dtmf | llm
    #: ambiguous only: the caller said they do not know which one (or the surname),
    #: so the choices are offered with their departments instead of "X or Y?".
    describe: bool = False


def understand_with_rules(
    text: str, directory: CallDirectory, *, keys: str = "", expect: str = "open", at: Any = None
) -> Understanding:
    """DOMAIN's intent rules (goodbye, callback, repeat, yes/no, transfer through the
    resolver, operator; keys: menu, 0, *) turned into one ``Understanding``."""

    found = intent_rules.classify(
        text, keys=keys, resolver=directory.resolver, menu=directory.menu_map(), expect=expect, at=at,
        language=str(_attr(directory.secretary, "language", "") or "") or None,
    )
    source = "dtmf" if keys else "rules"
    reason = text if not keys else ""
    if found.kind == "transfer":
        if found.destination:
            return Understanding("transfer", destination=found.destination, reason=reason, source=source)
        if found.ambiguous:
            return Understanding("ambiguous", options=found.alternatives[:3], reason=reason, source=source,
                                 describe=found.unsure_which)
        return Understanding("no_match", reason=reason, source=source)
    if found.kind in ("yes", "no") and expect != "yes_no":
        if found.destination:  # "não, o suporte"
            return Understanding("transfer", destination=found.destination, reason=reason, source=source)
        return Understanding("no_match", reason=reason, source=source)
    if found.kind == "unknown":
        return Understanding("no_match", reason=reason, source=source)
    return Understanding(found.kind, destination=found.destination, reason=reason, source=source)


def llm_listing(destinations: Iterable[Any], is_person: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Destinations as the LLM is shown them: per destination its name, aliases,
    keywords, keypad digit, the kind the administrator declared (an inferred kind can
    be wrong, and the model reads the name better than the rules do) and whether it
    is a person."""
    return [
        {"name": _attr(d, "name"), "aliases": list(_attr(d, "aliases", []) or []),
         "keywords": list(_attr(d, "keywords", []) or []), "category": str(_attr(d, "category", "") or ""),
         "person": is_person(_attr(d, "name")), "menu_key": _attr(d, "menu_key", None)}
        for d in destinations
    ]


def llm_destinations(directory: CallDirectory) -> list[dict[str, Any]]:
    """The call's directory as the LLM is shown it (``llm_listing``)."""
    return llm_listing(directory.destinations.values(), directory.resolver.is_person)


def known_destination(directory: CallDirectory, name: str) -> Optional[str]:
    """``name`` as one of the directory's destinations (exactly, else as the resolver
    reads it), or None."""
    if name in directory.destinations:
        return name
    resolution = directory.resolver.resolve(name)
    return resolution.match if resolution.match else None


def from_llm(decision: Any, text: str, directory: CallDirectory) -> tuple[Optional[Understanding], str]:
    """The LLM's decision (``integrations.llm.LLMDecision``) as an ``Understanding``,
    or ``(None, why)`` when it names no destination of this directory (the rules then
    decide the turn)."""
    kind = getattr(decision, "kind", "")
    reason = getattr(decision, "reason", "") or text
    if kind == "handoff":
        name = known_destination(directory, getattr(decision, "destination", "") or "")
        if name is None:
            return None, "unknown_destination"
        return Understanding("transfer", destination=name, reason=reason, source="llm"), ""
    if kind == "ask":
        options: list[str] = []
        for option in getattr(decision, "options", ()) or ():
            name = known_destination(directory, option)
            if name is None:
                return None, "unknown_destination"
            if name not in options:
                options.append(name)
        if len(options) < 2:
            return None, "too_few_options"
        return Understanding("ambiguous", options=options, reason=reason, source="llm"), ""
    simple = {"operator": "operator", "callback": "callback", "repeat": "repeat", "unclear": "no_match",
              "end_call": "goodbye"}
    if kind in simple:
        return Understanding(simple[kind], reason=reason, source="llm"), ""
    return None, "unknown_decision"


def overrule(decided: Understanding, text: str, directory: CallDirectory, *, at: Any = None) -> Understanding:
    """The rules' veto over the LLM's decision: a model's decision stands unless
    the rules have strong contrary evidence in the sentence, then the rules' own
    understanding is taken:

    * a transfer the caller did not ask for: they asked for a callback or said
      goodbye, named that destination only to take it back ("não é o X", "X, no
      wait, Y"), or named a first name several people share (the model guessed);
    * a callback where the caller declined one ("não precisa me ligar, quero falar
      agora com ...") and named someone;
    * a callback the rules also heard keeps the destination the rules found;
    * a hand-off to the operator where the rules heard no request at all (no
      operator words, no unknown name): the caller is asked again, the cheaper
      mistake (they can still ask for a person);
    * a hand-off to the operator where the rules heard a callback asked for ("i'd
      just like to leave a message"): the callback;
    * a hand-off to the operator for a full name nobody here has, whose first name
      people here have ("a maria oliveira"): they are offered (the rules' question).
    """

    rules = understand_with_rules(text, directory, at=at)
    if decided.kind == "transfer":
        if rules.kind in ("callback", "goodbye"):
            return rules
        if decided.destination in directory.resolver.taken_back(text):
            return rules
        if rules.kind == "ambiguous" and decided.destination in rules.options and len(rules.options) > 1 \
                and all(directory.resolver.is_person(n) for n in rules.options):
            return rules
    elif decided.kind == "callback":
        _, declined = intent_rules.callback_request(" ".join(words_of(text)))
        if declined and rules.kind in ("transfer", "ambiguous"):
            return rules
        if rules.kind == "callback" and rules.destination:
            return Understanding("callback", destination=rules.destination, reason=decided.reason, source="llm")
    elif decided.kind == "operator" and (rules.kind in ("no_match", "callback") or (
            rules.kind == "ambiguous" and rules.describe
            and all(directory.resolver.is_person(n) for n in rules.options))):
        return rules
    return decided


# --------------------------------------------------------------------------- conversation


class Conversation:
    """Drives one caller from greeting to an outcome. ``run`` returns the outcome:
    ``transferred``, ``callback_created``, ``caller_hangup``, ``ended``, ``voicemail``
    or ``error``."""

    def __init__(self, ctx: CallContext, directory: CallDirectory) -> None:
        self.ctx = ctx
        self.directory = directory
        self.state = "start"
        self.states: list[str] = []
        self.attempts: list[Attempt] = []
        self.misses = 0
        self.turns = 0
        self.failed_destinations: set[str] = set()
        self.callback_result: Any = None
        self._last_failed = ""

    # ------------------------------------------------------------------ plumbing

    def go(self, event: str, nxt: str) -> None:
        line = f"{self.state} -> {event} -> {nxt}"
        log.info("call %s: %s", self.ctx.call_uuid, line)
        self.states.append(line)
        self.ctx.log_event("state", transition=line)
        self.state = nxt

    @property
    def max_misses(self) -> int:
        return int(self.ctx.config.speech.reprompts)

    def _listen(self, key: str, slot: str, **variables: Any) -> ListenResult:
        self.turns += 1
        if self.turns > MAX_TURNS:
            raise _EndCall("ended", "too many turns")
        return self.ctx.listen(key, slot=slot, **variables)

    # ------------------------------------------------------------------ run

    def run(self) -> str:
        ctx = self.ctx
        try:
            ctx.channel.answer()
            voice = ctx.services.prompts.voice(ctx.language)
            ctx.channel.set_tts(ctx.config.speech.tts_engine, voice)
            self._start_recording()
            self.go("answered", "greeting")
            outcome = self._main_loop()
        except CallGone:
            outcome = CALLER_HANGUP
            self.go("caller_hangup", "caller_gone")
        except _EndCall as end:
            outcome = end.outcome
            self._goodbye_and_hangup(say=end.goodbye)
        ctx.outcome = outcome
        return outcome

    def _start_recording(self) -> None:
        """Record the call when the dialplan (``voiceai_recording``) or, failing that,
        the secretary asks for it. The path goes with any callback ticket."""
        ctx = self.ctx
        wanted = str(ctx.channel.data.get("variable_voiceai_recording") or "").lower()
        enabled = wanted == "true" if wanted in ("true", "false") else bool(getattr(ctx.secretary, "recording", False))
        if not enabled:
            return
        try:
            path = recording_path(ctx.config.server.call_recordings_dir, ctx.domain, ctx.now(), ctx.call_uuid)
            ctx.channel.execute("record_session", path)
        except CallGone:
            raise
        except VoiceAIError as exc:  # no recording is bad; a dropped call would be worse
            log.error("call %s: recording not started: %s", ctx.call_uuid, exc)
            return
        ctx.recording_path = path
        ctx.log_event("recording", path=path)

    def _goodbye_and_hangup(self, *, say: bool = True) -> None:
        try:
            if say and self.ctx.channel.is_up():
                self.ctx.say("goodbye")
        except (CallGone, VoiceAIError) as exc:
            log.debug("call %s: goodbye not played: %s", self.ctx.call_uuid, exc)
        self.ctx.channel.hangup("NORMAL_CLEARING")

    def _main_loop(self) -> str:
        prompt = "greeting"
        while True:
            variables: dict[str, Any] = {}
            if prompt == "greeting":
                variables["menu"] = self.directory.menu()
            result = self._listen(prompt, "intent", **variables)
            what = self._understand_main(result)
            if what is None:  # no input / no match
                outcome = self._miss(result)
                if outcome is not None:
                    return outcome
                prompt = "ask_again"
                continue
            self.misses = 0
            outcome = self._act(what)
            if outcome is not None:
                return outcome
            prompt = "greeting" if what.kind == "repeat" else "ask_again"

    def _miss(self, result: ListenResult) -> Optional[str]:
        """Count a no-input/no-match turn; past the limit take the fallback."""
        event = "no_input" if result.kind == SILENCE or not result.heard else "no_match"
        self.misses += 1
        if self.misses <= self.max_misses:
            self.go(event, "asking")
            self.ctx.say(event)
            return None
        self.go(event, "fallback")
        self.misses = 0
        return self._fallback("fallback")

    def _fallback(self, prompt: str) -> str:
        name = self.directory.fallback
        if not name or name in self.failed_destinations or self.directory.by_name(name) is None:
            self.ctx.say("no_fallback")
            raise _EndCall("ended", "no fallback")
        outcome = self._transfer(name, reason="fallback", prompt=prompt)
        return self._after_transfer(outcome) or self._main_loop()

    # ------------------------------------------------------------------ understanding

    def _understand_main(self, result: ListenResult) -> Optional[Understanding]:
        """One main-turn answer; ``None`` for no input or no match."""
        if not result.heard:
            return None
        what = self._understand(result)
        return None if what.kind == "no_match" else what

    def _understand(self, result: ListenResult, *, expect: str = "open") -> Understanding:
        if result.kind == DTMF:
            keys = result.text.strip()
            what = understand_with_rules("", self.directory, keys=keys, expect=expect)
            self.ctx.note_intent(what.kind, source="dtmf", text=keys, destination=what.destination)
            return what
        if expect == "open" and self.ctx.services.llm is not None:
            decided = self._ask_llm(self.ctx.services.llm, result.text)
            if decided is not None:
                decided = overrule(decided, result.text, self.directory, at=self.ctx.now())
                self.ctx.note_intent(decided.kind, source=decided.source, text=result.text,
                                     destination=decided.destination, options=decided.options or None)
                return decided
        what = understand_with_rules(result.text, self.directory, expect=expect, at=self.ctx.now())
        self.ctx.note_intent(
            what.kind, source="rules", text=result.text, destination=what.destination, options=what.options or None
        )
        return what

    def _ask_llm(self, llm: Any, text: str) -> Optional[Understanding]:
        try:
            decision = llm.decide(text, language=self.ctx.language, destinations=llm_destinations(self.directory))
        except VoiceAIError as exc:
            log.info("call %s: LLM not used this turn: %s", self.ctx.call_uuid, exc)
            self.ctx.services.emit("llm_fallback", reason=type(exc).__name__)
            return None
        if decision is None:
            self.ctx.services.emit("llm_fallback", reason="no_decision")
            return None
        what, why = from_llm(decision, text, self.directory)
        if what is None:
            self.ctx.services.emit("llm_fallback", reason=why)
        return what

    def _reason_for(self, text: str, destination: str) -> str:
        """The short "about ..." the agent hears: the topic words the caller used
        ("segunda via, boleto"), never their whole sentence; empty when they only
        named the destination ("quero falar com o financeiro" says nothing more)."""

        return ", ".join(topics_of(text)[:2])

    # ------------------------------------------------------------------ acting

    def _act(self, what: Understanding) -> Optional[str]:
        """Carry out one understood request; an outcome ends the call."""
        if what.kind == "repeat":
            self.go("heard(repeat)", "greeting")
            return None
        if what.kind == "goodbye":
            self.go("heard(goodbye)", "ended")
            raise _EndCall("ended", "caller said goodbye")
        if what.kind == "callback":
            self.go("heard(callback)", "callback")
            return self._callback(destination=what.destination, reason=what.reason)
        if what.kind == "operator":
            self.go("heard(operator)", "transferring")
            name = self.directory.fallback
            if not name or self.directory.by_name(name) is None:
                self.ctx.say("no_fallback")
                return self._after_failure_loop()
            outcome = self._transfer(name, reason="operator", prompt="operator")
            return self._after_transfer(outcome)
        if what.kind == "ambiguous":
            self.go("heard(ambiguous)", "clarifying")
            picked = self._clarify(what.options, describe=what.describe)
            if picked == "":  # none of them: the reception
                return self._act(Understanding("operator", reason=what.reason, source=what.source))
            if picked is None:
                self.go("unclear", "asking")
                self.ctx.say("clarify_failed")
                return None
            self.go("picked", "transferring")
            what = Understanding("transfer", destination=picked, reason=what.reason, source=what.source)
        if what.kind == "transfer" and what.destination:
            if self.state != "transferring":
                self.go("heard(transfer)", "transferring")
            reason = what.reason if what.source == "llm" else self._reason_for(what.reason, what.destination)
            outcome = self._transfer(what.destination, reason=reason, prompt="connecting")
            return self._after_transfer(outcome)
        if what.kind in ("yes", "no"):  # a yes/no with nothing pending means nothing here
            return None
        return None

    def _clarify(self, options: Sequence[str], *, describe: bool = False) -> Optional[str]:
        """"X ou Y?": a key (1..n) or words that resolve among the options only;
        "" when the caller says none of them ("nenhuma das duas", "neither").
        ``describe`` (the caller does not know which one): the choices are offered
        with their departments, and naming the department picks one."""
        opts = list(options)
        details = self._departments(opts) if describe else {}
        key = "clarify_people" if describe else "clarify"
        for _ in range(self.max_misses + 1):
            result = self._listen(key, "clarify", options=opts, details=details)
            if not result.heard:
                continue
            if result.kind == DTMF:
                key = result.text.strip()[:1]
                if key.isdigit() and 1 <= int(key) <= len(opts):
                    self.ctx.note_intent("transfer", source="dtmf", text=result.text, destination=opts[int(key) - 1])
                    return opts[int(key) - 1]
                continue

            if intent_rules.none_of_them(result.text):
                self.ctx.note_intent("operator", source="rules", text=result.text)
                return ""
            subset = [self.directory.destinations[n] for n in opts if n in self.directory.destinations]
            resolution = Resolver(subset).resolve(result.text)
            picked = resolution.match or self.directory.resolver.pick_by_category(opts, result.text)
            if picked:
                self.ctx.note_intent("transfer", source="rules", text=result.text, destination=picked)
                return str(picked)
            # "the first one" / "a primeira" are not worth a rule set of their own: ask again.
        return None

    def _departments(self, names: Sequence[str]) -> dict[str, str]:
        """Name -> the department a person works in, as said in the call's language."""

        cats = lexicon().categories
        out: dict[str, str] = {}
        for name in names:
            cat = self.directory.resolver.category_of(name)
            if cat in cats:
                out[name] = cats[cat].label_for(self.ctx.language)
        return out

    def _ask_yes_no(self, key: str, **variables: Any) -> Optional[bool]:
        """A yes/no turn (keys 1/2 or words); None when nothing usable was heard."""
        for _ in range(self.max_misses + 1):
            result = self._listen(key, "yes_no", **variables)
            if not result.heard:
                continue
            what = self._understand(result, expect="yes_no")
            if what.kind in ("yes", "no"):
                return what.kind == "yes"
        return None

    # ------------------------------------------------------------------ transfer

    def _target(self, name: str, *, kind: Optional[str] = None) -> Optional[TransferTarget]:
        dest = self.directory.by_name(name)
        if dest is None:
            return None
        default_timeout = int(_attr(self.ctx.secretary, "ring_timeout", 25) or 25)
        target = target_from(dest, domain=self.ctx.domain, default_timeout=default_timeout,
                             hours=self.directory.hours_for(name))
        from dataclasses import replace

        if target.destination_id is None and self.ctx.services.db is not None:
            target = replace(target, destination_id=self._destination_id(name))
        if kind is not None:
            target = replace(target, kind=kind, hours=None)
        return target

    def _destination_id(self, name: str) -> Optional[int]:

        try:
            return get_destination_id(self.ctx.services.db, self.ctx.domain, name)
        except StoreError as exc:
            log.warning("call %s: id of destination %s unknown: %s", self.ctx.call_uuid, name, exc)
            return None

    def _after_transfer(self, outcome: Optional[str]) -> Optional[str]:
        """A decided call ends here; after a failure the caller chooses what next;
        after a declined callback offer (state ``asking``) the main menu resumes."""
        if outcome is not None:
            return outcome
        if self.state == "asking":
            return None
        return self._after_failure_loop()

    def _transfer(self, name: str, *, reason: str, voicemail: bool = False, prompt: str = "") -> Optional[str]:
        """Run one transfer; returns an outcome when the call is decided, else None
        (the caller has been told what happened and what else they can do).
        ``prompt`` ("connecting") is said once the destination is open and dialable."""
        target = self._target(name, kind="voicemail" if voicemail else None)
        if target is None:
            self.ctx.say("transfer.status.invalid_destination", destination=name)
            self.failed_destinations.add(name)
            return None
        if len(self.attempts) >= MAX_TRANSFERS:
            raise _EndCall("ended", "too many transfers")
        on_open = (lambda: self.ctx.say(prompt, destination=name)) if prompt else None
        transfer = AttendedTransfer(
            self.ctx, target, reason=reason, announce=False if voicemail else None, on_open=on_open
        )
        attempt = transfer.run()
        self.attempts.append(attempt)
        if attempt.status == IN_PROGRESS:
            self.ctx.say("transfer_in_progress")
            return None
        if attempt.status == ACCEPTED_STATUS:
            self.go("accepted", "transferred")
            return "voicemail" if voicemail else "transferred"
        if attempt.status == CALLER_HANGUP:
            self.go("caller_hangup", "caller_gone")
            return CALLER_HANGUP
        self.failed_destinations.add(name)
        if attempt.status == OUT_OF_HOURS:
            self.go("out_of_hours", "offering_callback")
            opens = self._when(attempt)
            self.ctx.say("out_of_hours", destination=name, opens=opens)
            return self._offer_callback(name, reason)
        self.go(f"failed({attempt.status})", "after_failure")

        self.ctx.say(prompt_key(attempt.status), destination=name)
        self._last_failed = name
        return None

    def _when(self, attempt: Attempt) -> str:
        if attempt.opens_at is None:
            return ""
        local = attempt.opens_at.astimezone(self.ctx.timezone)
        today = self.ctx.now().date()
        hhmm = local.strftime("%H:%M")
        if self.ctx.language == "pt-BR":
            if local.date() == today:
                return f"hoje às {hhmm}"
            days = (local.date() - today).days
            if days == 1:
                return f"amanhã às {hhmm}"
            return f"no dia {local.day:02d}/{local.month:02d} às {hhmm}"
        if local.date() == today:
            return f"today at {hhmm}"
        if (local.date() - today).days == 1:
            return f"tomorrow at {hhmm}"
        return f"on {local.strftime('%B')} {local.day} at {hhmm}"

    def _offer_callback(self, destination: Optional[str], reason: str) -> Optional[str]:
        if not self._callback_enabled:
            self.ctx.say("callback_unavailable")
            self.go("no_callback", "asking")
            return None
        answer = self._ask_yes_no("offer_callback")
        if answer:
            self.go("yes", "callback")
            return self._callback(destination=destination, reason=reason)
        self.go("no" if answer is False else "no_input", "asking")
        if answer is None:
            raise _EndCall("ended", "no answer to the callback offer")
        return None

    @property
    def _callback_enabled(self) -> bool:
        value = _attr(self.ctx.secretary, "callback_enabled", None)
        if value is None:
            value = _attr(self.ctx.secretary, "callback", True)
        return bool(value)

    def _voicemail_for(self, name: str) -> bool:
        dest = self.directory.by_name(name)
        return dest is not None and str(_attr(dest, "type", "")) == "extension"

    def _after_failure_loop(self) -> str:
        """After a failed transfer: another name, 1 callback, 2 voicemail, 9 end."""
        misses = 0
        while True:
            last = self._last_failed
            voicemail = bool(last) and self._voicemail_for(last)
            result = self._listen(
                "transfer.next_options", "after_failure",
                callback=self._callback_enabled, voicemail=voicemail,
            )
            if not result.heard:
                misses += 1
                if misses > self.max_misses:
                    self.go("no_input", "ended")
                    raise _EndCall("ended", "no choice after a failed transfer")
                self.ctx.say("no_input")
                continue
            if result.kind == DTMF:
                key = result.text.strip()[:1]
                if key == "1" and self._callback_enabled:
                    self.ctx.note_intent("callback", source="dtmf", text=result.text)
                    self.go("pressed(1)", "callback")
                    return self._callback(destination=last or None, reason="")
                if key == "2" and voicemail:
                    self.ctx.note_intent("voicemail", source="dtmf", text=result.text)
                    self.go("pressed(2)", "voicemail")
                    outcome = self._transfer(last, reason="voicemail", voicemail=True, prompt="voicemail")
                    if outcome is not None:
                        return outcome
                    continue
                if key == "9":
                    self.go("pressed(9)", "ended")
                    raise _EndCall("ended", "caller ended after a failed transfer")
            what: Optional[Understanding] = self._understand(result)
            if what is not None and what.kind == "no_match":
                what = None
            if what is None:
                misses += 1
                if misses > self.max_misses:
                    self.go("no_match", "ended")
                    raise _EndCall("ended", "no usable choice after a failed transfer")
                self.ctx.say("no_match")
                continue
            misses = 0
            if what.kind == "repeat":
                continue
            outcome = self._act(what)
            if outcome is not None:
                return outcome
            if self.state == "asking":
                return self._main_loop()

    # ------------------------------------------------------------------ callback

    def _callback(self, *, destination: Optional[str], reason: str) -> str:
        """CALLBACK's capture flow; its prompts tell the caller the result."""
        if not self._callback_enabled:
            self.ctx.say("callback_unavailable")
            raise _EndCall("ended", "callbacks disabled")

        dest = self.directory.by_name(destination) if destination else None
        options = callback_flow.CaptureOptions(
            hours=self.directory.hours_for(destination) if destination else self.directory.secretary_hours(),
            region=self.directory.region,
            destination_id=self._destination_id(destination) if destination and self.ctx.services.db else None,
            destination_name=destination,
            agent_extension=str(_attr(dest, "target")) if dest is not None and _attr(dest, "type") == "extension"
            else None,
            max_attempts=int(self.ctx.config.retry_policy(self.ctx.domain).max_attempts),
            recording_path=self.ctx.recording_path,
        )
        result = callback_flow.capture_callback(self.ctx, options)
        self.callback_result = result
        if result.confirmed:
            self.go(f"callback_{result.outcome}", "ended")
            raise _EndCall("callback_created", "callback captured", goodbye=False)
        if result.outcome == callback_flow.ABANDONED or self.ctx.hungup.is_set():
            # The caller left in the middle of the capture: nothing was stored.
            self.go("callback_abandoned", "caller_gone")
            return ABANDONED
        self.go(f"callback_{result.outcome}", "ended")
        raise _EndCall("ended", "callback not captured", goodbye=False)


def recording_path(base: str, domain: str, day: datetime, call_uuid: str) -> str:
    """``<base>/<domain>/<YYYY-MM-DD>/<call uuid>.wav``; every part is checked, as
    the path is an application argument FreeSWITCH expands."""
    if not re.fullmatch(r"/[A-Za-z0-9._/-]*", base or "") or ".." in base:
        raise ValidationError("server.call_recordings_dir", f"not a safe absolute path: {base!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", domain or "") or ".." in domain:
        raise ValidationError("domain", f"not a domain name: {domain!r}")
    if not re.fullmatch(r"[0-9A-Fa-f-]{8,64}", call_uuid or ""):
        raise ValidationError("call_uuid", f"not a call uuid: {call_uuid!r}")
    return f"{base.rstrip('/')}/{domain}/{day.date().isoformat()}/{call_uuid}.wav"


class _EndCall(Exception):
    """Internal: the conversation decided to say goodbye and hang up."""

    def __init__(self, outcome: str, why: str, *, goodbye: bool = True) -> None:
        self.outcome = outcome
        self.why = why
        self.goodbye = goodbye
        super().__init__(why)


# --------------------------------------------------------------------------- call log


def open_call_log(ctx: CallContext) -> None:
    db = ctx.services.db
    if db is None:
        return

    row: dict[str, Any] = {
        "call_uuid": ctx.call_uuid,
        "domain": ctx.domain,
        "secretary_id": ctx.secretary_id,
        "did": ctx.did or None,
        "caller_number": ctx.caller_number or None,
        "caller_name": ctx.caller_name or None,
        "language": ctx.language,
        "mode": ctx.mode,
        "details": {"clock": ctx.now().isoformat()} if ctx.config.server.allow_clock_override else {},
    }
    try:
        writer = calllog.writer_for(db)  # serve: journaled, written in the background
        if writer is not None:
            writer.open_call(**row)
            return
        with db.transaction() as cur:
            calls.start_call(cur, **row)
    except StoreError as exc:
        log.error("call %s: call log not opened: %s", ctx.call_uuid, exc)


def close_call_log(
    ctx: CallContext, outcome: str, *, states: Sequence[str] = (), attempts: Sequence[Attempt] = (),
    hangup_cause: Optional[str] = None,
) -> None:
    db = ctx.services.db
    if db is None:
        return

    details = {
        "states": list(states),
        "transfers": [a.to_json() for a in attempts],
        "events": ctx.events[-200:],
    }
    try:
        writer = calllog.writer_for(db)
        if writer is not None:
            writer.close_call(call_uuid=ctx.call_uuid, domain=ctx.domain, mode=ctx.mode, outcome=outcome,
                              hangup_cause=hangup_cause, intents=ctx.intents, details=details)
            return
        with db.transaction() as cur:
            calls.start_call(cur, call_uuid=ctx.call_uuid, domain=ctx.domain, mode=ctx.mode)
            calls.finish_call(
                cur, ctx.call_uuid, outcome=outcome, hangup_cause=hangup_cause, intents=ctx.intents,
                details=details,
            )
    except StoreError as exc:
        log.error("call %s: call log not closed (%s): %s", ctx.call_uuid, outcome, exc)


__all__ = [
    "MAX_TRANSFERS",
    "CallDirectory",
    "Conversation",
    "Understanding",
    "close_call_log",
    "open_call_log",
    "understand_with_rules",
]
