"""Callback capture: number, when, why, one confirmation, then the durable write.

Steps (each logged on the call as ``callback_step``)::

    number --ok--> when --ok--> why --> confirm --yes--> store --> "confirmed"
                                           |--no--> which part? -> that step -> confirm
    any step --bounded retries exhausted--> give_up (nothing stored)
    caller hangs up before "yes"  --> abandoned (nothing stored)

The write happens BEFORE the caller hears "confirmed": the callback row and its
helpdesk outbox rows in one transaction (``save_confirmed_callback``); when
PostgreSQL is unreachable the request is appended to the fsync'd local spool
instead and the caller is still confirmed (the dispatcher replays the spool).
If even the spool cannot be written the caller hears an apology, never a
false confirmation.

``queue_missed_call`` queues a missed-call ticket (and a WhatsApp invitation)
for a caller who hung up after a failed transfer without leaving a request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any, Callable, Optional

from voiceai_ivr.channel.base import DTMF, SPEECH, ListenResult
from voiceai_ivr.domain import phone, timewindow
from voiceai_ivr.domain.text import fold
from voiceai_ivr.errors import CallGone, DatabaseUnavailable, StoreError, ValidationError
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages, missed_call_messages
from voiceai_ivr.ports import Database
from voiceai_ivr.stores import outbox
from voiceai_ivr.stores.callbacks import Callback, CallbackRequest, domain_settings, save_confirmed_callback
from voiceai_ivr.stores.spool import SpoolEntry, append_to_spool, spool_path

if TYPE_CHECKING:
    from voiceai_ivr.config import Config
    from voiceai_ivr.flows.context import CallContext

log = logging.getLogger(__name__)

# outcomes
SAVED = "saved"
SPOOLED = "spooled"
ABANDONED = "abandoned"
GAVE_UP = "gave_up"
STORE_FAILED = "store_failed"

WindowParser = Callable[[str, datetime, str, Any], Optional[tuple[datetime, datetime]]]


@dataclass
class CaptureOptions:
    """What the conversation knows when it offers a callback."""

    hours: Any = None  # domain.hours.BusinessHours for the window; None: always open
    region: str = "BR"  # default phone region (domains.region)
    destination_id: Optional[int] = None
    destination_name: Optional[str] = None
    agent_extension: Optional[str] = None
    recording_path: Optional[str] = None
    categories: Mapping[str, str] = field(default_factory=dict)  # "1" -> "billing" (optional)
    tries: int = 3  # per question, before giving up (number) or falling back (time)
    corrections: int = 3  # "no" at the final confirmation, at most this often
    max_attempts: int = 3  # dispatcher attempts (config.retry_policy(domain).max_attempts)
    parse_window: Optional[WindowParser] = None  # default: voiceai_ivr.domain.timewindow


@dataclass
class CaptureResult:
    outcome: str  # saved | spooled | abandoned | gave_up | store_failed
    request: Optional[CallbackRequest] = None
    callback: Optional[Callback] = None  # when saved
    created: bool = False  # a new row (False: merged into the open request)
    spool_entry: Optional[SpoolEntry] = None

    @property
    def confirmed(self) -> bool:
        return self.outcome in (SAVED, SPOOLED)


# --------------------------------------------------------------------------- words

_YES = {
    "sim",
    "isso",
    "correto",
    "certo",
    "exato",
    "pode",
    "claro",
    "positivo",
    "confirmo",
    "esta",
    "ta",
    "yes",
    "yeah",
    "yep",
    "correct",
    "right",
    "sure",
    "ok",
    "okay",
    "confirm",
    "affirmative",
}
_NO = {"nao", "errado", "negativo", "incorreto", "no", "nope", "wrong", "incorrect"}
_PARTS = {
    "number": {"numero", "telefone", "number", "phone"},
    "when": {"horario", "hora", "quando", "dia", "time", "when", "day"},
    "why": {"motivo", "assunto", "razao", "reason", "subject", "why"},
}
_PART_KEYS = {"1": "number", "2": "when", "3": "why"}
_ASAP_WORDS = (
    "o quanto antes",
    "quanto antes",
    "assim que possivel",
    "o mais rapido",
    "agora",
    "ja",
    "as soon as possible",
    "asap",
    "soon as",
    "right away",
    "now",
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", fold(text))


def yes_no(result: ListenResult) -> Optional[bool]:
    """1/2 on the keypad, or a yes/no word in Portuguese or English; None if unclear."""
    if result.kind == DTMF:
        key = result.text.strip()[:1]
        return True if key == "1" else False if key == "2" else None
    if result.kind != SPEECH:
        return None
    words = _words(result.text)
    if any(w in _NO for w in words):
        return False
    if any(w in _YES for w in words):
        return True
    return None


def _which_part(result: ListenResult) -> Optional[str]:
    if result.kind == DTMF:
        return _PART_KEYS.get(result.text.strip()[:1])
    for w in _words(result.text):
        for part, names in _PARTS.items():
            if w in names:
                return part
    return None


def _is_asap(text: str) -> bool:
    folded = " ".join(_words(text))
    return any(re.search(rf"\b{re.escape(p)}\b", folded) for p in _ASAP_WORDS)


# --------------------------------------------------------------------------- time


def _default_parse_window(text: str, at: datetime, language: str, hours: Any) -> Optional[tuple[datetime, datetime]]:
    """Delegate to ``voiceai_ivr.domain.timewindow.parse_window`` (the DOMAIN
    helper's pure parser)."""
    if hours is None:
        return None
    window = timewindow.parse_window(text, now=at, hours=hours, language=language)
    if window is None:
        return None
    return window.start, window.end


def asap_window(at: datetime, hours: Any) -> tuple[datetime, datetime]:
    """ "As soon as possible": ``timewindow.asap_window`` (the opening under way or
    the next, at most 4 hours when it runs on past midnight); ``at`` + 4 h when
    nothing opens within the search."""

    window = timewindow.asap_window(at, hours)
    if window is None:
        return at, at + timewindow.ASAP_WINDOW
    return window.start, window.end


def _hhmm(value: datetime, language: str) -> str:
    if language == "en-US":
        hour = value.hour % 12 or 12
        suffix = "AM" if value.hour < 12 else "PM"
        return f"{hour}:{value.minute:02d} {suffix}" if value.minute else f"{hour} {suffix}"
    return f"{value.hour}h{value.minute:02d}" if value.minute else f"{value.hour}h"


def _day_word(ctx: CallContext, d: date, today: date) -> str:
    if d == today:
        return ctx.render("callback.day_today")
    if d == today + timedelta(days=1):
        return ctx.render("callback.day_tomorrow")
    date_text = d.strftime("%m/%d") if ctx.language == "en-US" else d.strftime("%d/%m")
    return ctx.render("callback.day_other", date=date_text)


def describe_window(ctx: CallContext, start: datetime, end: datetime) -> str:
    """ "amanhã entre 9h e 12h" / "tomorrow between 9 AM and 12 PM"; a window that
    ends on a later day says that day ("hoje a partir das 22h até amanhã às 2h"),
    so what the caller hears is the window stored."""
    tz = ctx.timezone
    s, e = start.astimezone(tz), end.astimezone(tz)
    today = ctx.now().astimezone(tz).date()
    day = _day_word(ctx, s.date(), today)
    start_text, end_text = _hhmm(s, ctx.language), _hhmm(e, ctx.language)
    ends_same_day = e.date() == s.date() or (e.date() == s.date() + timedelta(days=1) and e.time() == dtime(0))
    if ends_same_day:
        return ctx.render("callback.window_text", day=day, start=start_text, end=end_text)
    end_day = _day_word(ctx, e.date(), today)
    return ctx.render("callback.window_text_days", day=day, start=start_text, end_day=end_day, end=end_text)


# --------------------------------------------------------------------------- flow


class _GiveUp(Exception):
    """A step ran out of tries (internal control flow)."""


class CallbackCapture:
    """One capture on one call. ``run()`` returns a ``CaptureResult``."""

    def __init__(self, ctx: CallContext, options: Optional[CaptureOptions] = None) -> None:
        self.ctx = ctx
        self.opt = options or CaptureOptions()
        self.number: Optional[str] = None
        self.window: Optional[tuple[datetime, datetime]] = None
        self.reason = ""
        self.category: Optional[str] = None

    # -- steps

    def _step(self, name: str, **data: Any) -> None:
        self.ctx.log_event("callback_step", step=name, **data)

    def ask_number(self, *, offer_caller_id: bool = True) -> str:
        """The caller id when the caller accepts it, else a number keyed (``#`` ends)
        or spoken, read back digit by digit and confirmed."""
        ctx, opt = self.ctx, self.opt
        caller = ctx.caller_number
        if offer_caller_id and caller and not phone.is_withheld(caller):
            try:
                offered = phone.normalize_phone(caller, opt.region, field="caller_id")
            except ValidationError:
                offered = None
            if offered is not None:
                for _ in range(opt.tries):
                    answer = yes_no(
                        ctx.listen(
                            "callback.offer_caller_id", slot="confirm_caller_id", last4=phone.last_digits(offered)
                        )
                    )
                    if answer is True:
                        self._step("number", source="caller_id")
                        return offered
                    if answer is False:
                        break
        for _ in range(opt.tries):
            heard = ctx.listen("callback.ask_number", slot="number", max_digits=20, timeout_s=15.0)
            if heard.kind == DTMF:
                raw = heard.text.replace("#", "").replace("*", "")
            elif heard.kind == SPEECH:
                raw = phone.digits_from_speech(heard.text, ctx.language)
            else:
                continue
            try:
                number = phone.normalize_phone(raw, opt.region)
            except ValidationError:
                ctx.say("callback.number_invalid")
                continue
            digits = phone.readback(number, ctx.language, region=opt.region)
            if yes_no(ctx.listen("callback.number_readback", slot="confirm_number", digits=digits)) is True:
                self._step("number", source=heard.kind)
                return number
        raise _GiveUp("number")

    def ask_when(self) -> tuple[datetime, datetime]:
        ctx, opt = self.ctx, self.opt
        parse = opt.parse_window or _default_parse_window
        for _ in range(opt.tries):
            heard = ctx.listen("callback.ask_when", slot="when", max_digits=1, timeout_s=8.0)
            now = ctx.now()
            window: Optional[tuple[datetime, datetime]] = None
            if (heard.kind == DTMF and heard.text.strip()[:1] == "1") or (
                heard.kind == SPEECH and _is_asap(heard.text)
            ):
                window = asap_window(now, opt.hours)
            elif heard.heard:
                # Speech, or a key of the documented menu (timewindow.KEYED_OPTIONS).
                try:
                    window = parse(heard.text, now, ctx.language, opt.hours)
                except ValidationError:
                    window = None
            if window is not None and window[1] > window[0]:
                start = max(window[0], now)
                if window[1] > start:
                    self._step("when", text=heard.text)
                    return start, window[1]
            ctx.say("callback.when_not_understood")
        ctx.say("callback.when_asap_fallback")
        self._step("when", text="", fallback="asap")
        return asap_window(ctx.now(), opt.hours)

    def ask_why(self) -> tuple[str, Optional[str]]:
        ctx, opt = self.ctx, self.opt
        reason = ""
        # Keys only (the PBX cannot recognise speech): a spoken reason cannot be
        # heard, so the caller is not asked for one; the category menu below is
        # the keyed way to say what the call is about.
        for attempt in range(2 if ctx.services.speech_available else 0):
            heard = ctx.listen(
                "callback.ask_reason" if attempt == 0 else "callback.reason_empty",
                slot="reason",
                timeout_s=12.0,
                max_digits=1,
            )
            if heard.kind == SPEECH and heard.text.strip():
                reason = heard.text.strip()  # verbatim: this is the transcript
                break
        category = None
        if opt.categories:
            items = [{"key": k, "name": v} for k, v in sorted(opt.categories.items())]
            key = ctx.collect_digits("callback.ask_category", min_digits=1, max_digits=1, categories=items)
            category = opt.categories.get(key)
        self._step("why", reason=reason, category=category)
        return reason, category

    def confirm(self) -> bool:
        assert self.number is not None and self.window is not None
        ctx = self.ctx
        for _ in range(self.opt.tries):
            answer = yes_no(
                ctx.listen(
                    "callback.confirm_all",
                    slot="confirm_callback",
                    digits=phone.readback(self.number, ctx.language, region=self.opt.region),
                    window=describe_window(ctx, *self.window),
                    reason=self.reason[:200],
                )
            )
            if answer is not None:
                return answer
        raise _GiveUp("confirm")

    def which_part(self) -> str:
        for _ in range(self.opt.tries):
            part = _which_part(self.ctx.listen("callback.which_part", slot="correct_part", max_digits=1))
            if part:
                return part
        raise _GiveUp("correction")

    # -- run

    def run(self) -> CaptureResult:
        ctx = self.ctx
        try:
            ctx.say("callback.intro")
            self.number = self.ask_number()
            self.window = self.ask_when()
            ctx.say("callback.window_is", window=describe_window(ctx, *self.window))
            self.reason, self.category = self.ask_why()
            for _ in range(self.opt.corrections + 1):
                if self.confirm():
                    break
                part = self.which_part()
                self._step("correct", part=part)
                if part == "number":
                    self.number = self.ask_number(offer_caller_id=False)
                elif part == "when":
                    self.window = self.ask_when()
                else:
                    self.reason, self.category = self.ask_why()
            else:
                raise _GiveUp("corrections")
        except CallGone:
            self._step("abandoned")
            ctx.services.emit("callback", outcome=ABANDONED)
            return CaptureResult(ABANDONED)
        except _GiveUp as exc:
            self._step("give_up", at=str(exc))
            ctx.services.emit("callback", outcome=GAVE_UP)
            try:
                ctx.say("callback.give_up")
            except CallGone:
                pass
            return CaptureResult(GAVE_UP)
        request = self.build_request()
        result = store_confirmed(ctx.services.db, request, ctx.config)
        self._step("stored", outcome=result.outcome, spool=bool(result.spool_entry))
        ctx.services.emit("callback", outcome=result.outcome)
        try:
            ctx.say(confirmation_prompt(result))
        except CallGone:
            pass  # already stored: the promise stands
        if result.confirmed:
            ctx.outcome = "callback_created"
        return result

    def build_request(self) -> CallbackRequest:
        assert self.number is not None and self.window is not None
        ctx, opt = self.ctx, self.opt
        tz = getattr(ctx.timezone, "key", "") or ""
        return CallbackRequest(
            domain=ctx.domain,
            number_e164=self.number,
            window_start=self.window[0],
            window_end=self.window[1],
            reason=self.reason,
            transcript=self.reason,
            category=self.category,
            language=ctx.language,
            caller_name=contact_name(ctx.caller_name),
            destination_id=opt.destination_id,
            destination_name=opt.destination_name,
            agent_extension=opt.agent_extension,
            call_uuid=ctx.call_uuid or None,
            recording_path=opt.recording_path,
            max_attempts=opt.max_attempts,
            timezone=tz,
        )


def contact_name(caller_id_name: Optional[str]) -> Optional[str]:
    """The caller-id name as the ticket's contact name, or None when it names no one:
    withheld ("Anonymous", "unknown"), or only the number again (switches copy the
    number into the name when there is none)."""
    name = (caller_id_name or "").strip()
    if not name or phone.is_withheld(name) or not any(c.isalpha() for c in name):
        return None
    return name


def confirmation_prompt(result: CaptureResult) -> str:
    """What the caller hears once the request is stored: "confirmed", or, when it
    was folded into the request this number already had open (one open request
    per number), that the existing request was updated."""
    if not result.confirmed:
        return "callback.store_failed"
    return "callback.updated" if result.outcome == SAVED and not result.created else "callback.confirmed"


def capture_callback(ctx: CallContext, options: Optional[CaptureOptions] = None) -> CaptureResult:
    """Run the capture on this call (see the module docstring)."""
    return CallbackCapture(ctx, options).run()


# --------------------------------------------------------------------------- durable write


def store_confirmed(db: Optional[Database], request: CallbackRequest, config: Config) -> CaptureResult:
    """Save the confirmed request, or spool it when PostgreSQL is unreachable.
    ``STORE_FAILED`` only when both fail (the caller must not hear "confirmed")."""
    if db is not None:
        try:
            saved = save_confirmed_callback(db, request, confirmed_messages(config))
            return CaptureResult(SAVED, request, saved.callback, saved.created)
        except DatabaseUnavailable as exc:
            log.warning("callback %s: database unavailable (%s); spooling", request.request_id, exc)
        except StoreError:
            log.exception("callback %s: database error; spooling", request.request_id)
    try:
        entry = append_to_spool(spool_path(config), request)
    except (OSError, StoreError):
        log.exception("callback %s: could not spool either; request lost", request.request_id)
        return CaptureResult(STORE_FAILED, request)
    return CaptureResult(SPOOLED, entry.request, spool_entry=entry)


# --------------------------------------------------------------------------- missed calls


def queue_missed_call(
    db: Database,
    config: Config,
    *,
    domain: str,
    call_uuid: str,
    caller_number: Optional[str],
    caller_name: Optional[str] = None,
    destination_name: Optional[str] = None,
    status: str = "no_answer",
    language: str = "pt-BR",
    region: str = "BR",
    started_at: Optional[datetime] = None,
    ended_at: Optional[datetime] = None,
) -> bool:
    """Queue a missed-call ticket (and a WhatsApp invitation when enabled and the
    number is usable) for a caller who hung up after a failed transfer without
    leaving a callback. Per domain: ``domains.settings.missed_call_tickets``, else
    ``callbacks.missed_call_tickets``. Idempotent per ``call_uuid``. Returns True
    when queued; False when disabled or the database is unreachable (logged)."""
    number: Optional[str] = None
    if caller_number and not phone.is_withheld(caller_number):
        try:
            number = phone.normalize_phone(caller_number, region)
        except ValidationError:
            number = None
    try:
        with db.transaction() as cur:
            settings = domain_settings(cur, domain)
            enabled = settings.get("missed_call_tickets")
            if not (enabled if isinstance(enabled, bool) else config.callbacks.missed_call_tickets):
                return False
            messages = missed_call_messages(
                settings,
                config,
                call_uuid=call_uuid,
                domain=domain,
                number_e164=number,
                caller_name=caller_name,
                destination_name=destination_name,
                status=status,
                language=language,
                started_at=started_at,
                ended_at=ended_at,
            )
            for m in messages:
                outbox.enqueue(cur, domain, m.kind, m.payload, m.idempotency_key, call_uuid=call_uuid)
    except StoreError:
        log.exception("call %s: missed-call ticket not queued", call_uuid)
        return False
    return True


__all__ = [
    "ABANDONED",
    "GAVE_UP",
    "SAVED",
    "SPOOLED",
    "STORE_FAILED",
    "CallbackCapture",
    "CaptureOptions",
    "CaptureResult",
    "asap_window",
    "capture_callback",
    "confirmation_prompt",
    "contact_name",
    "describe_window",
    "queue_missed_call",
    "store_confirmed",
    "yes_no",
]
