"""When to call back: a caller's words (or a key) -> a window in the domain's timezone.

``parse_window(text, now=..., hours=..., language=...)`` understands, in pt-BR and
en-US: "o quanto antes" / "as soon as possible" / "agora" (the next business window
from now), parts of the day ("amanhã de manhã", "hoje à tarde", "this afternoon",
"tomorrow morning", "à noite"), "mais tarde" / "later", times ("às 16h30", "16:30",
"at 4:30 pm", "às três e meia"), "depois das três" / "after 2 pm" / "depois do
almoço", "antes das 10" / "before 10 am", weekdays ("segunda de manhã", "on monday",
"next week"), and the keyed menu ``KEYED_OPTIONS``.

Every window is clamped to business hours and never starts in the past. When what
was asked cannot be honoured (the part of the day has passed, the day is closed, the
time is outside business hours) the window moves to the next business day that has
it; ``moved`` is set and the label says so ("today:morning -> 2026-05-18 (passed)").
Hours said without am/pm between 1 and 7 mean the afternoon ("depois das três" is
15:00): nobody asks for a callback at 3 a.m.

``describe_window(window, language, now)`` reads a window back: "amanhã entre 8h e
12h", "today between 1 pm and 6 pm".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional

from voiceai_ivr.domain.hours import BusinessHours
from voiceai_ivr.domain.text import fold

#: DTMF menu for "when shall we call you back?" (prompts read these).
KEYED_OPTIONS: dict[str, str] = {
    "1": "asap",  # as soon as possible / o quanto antes
    "2": "morning",  # this morning if still possible, else the next business morning
    "3": "afternoon",  # this afternoon if still possible, else the next business afternoon
    "4": "next_business_day",  # any time on the next business day
}

PARTS: dict[str, tuple[int, int]] = {  # minutes since midnight, before clamping to hours
    "morning": (6 * 60, 12 * 60),
    "afternoon": (12 * 60, 18 * 60),
    "evening": (18 * 60, 22 * 60),
    "day": (0, 24 * 60),
}
AT_DURATION = timedelta(hours=1)  # "às 16h30" -> 16:30-17:30
LATER_DELAY = timedelta(hours=1)  # "mais tarde" -> from an hour from now
MIN_WINDOW = timedelta(minutes=15)  # a shorter remainder moves to the next day
# "As soon as possible" is the opening under way (or the next one) to its end; an
# opening that runs on past midnight (open round the clock: no hours anywhere, a
# 24-hour day, a night shift) would be days long, so it gives the next 4 hours.
ASAP_WINDOW = timedelta(hours=4)
SEARCH_DAYS = 31


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    label: str  # what was understood ("tomorrow:morning", "asap", "today:after-15:00 -> ...")
    moved: bool = False  # the request could not be honoured as asked (see label)
    requested: str = ""  # the label as asked, before any move


# --------------------------------------------------------------------------- lexicon

_WEEKDAYS = {
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
}
_HOUR_WORDS = {
    "uma": 1, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5, "seis": 6, "sete": 7, "oito": 8,
    "nove": 9, "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14, "quatorze": 14,
    "quinze": 15, "dezesseis": 16, "dezessete": 17, "dezoito": 18, "dezenove": 19, "vinte": 20,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}
_MINUTE_WORDS = {
    "meia": 30, "trinta": 30, "quinze": 15, "dez": 10, "vinte": 20, "cinco": 5,
    "quarenta": 40, "quarenta e cinco": 45, "cinquenta": 50,
    "thirty": 30, "fifteen": 15, "forty five": 45, "forty": 40, "twenty": 20, "ten": 10, "fifty": 50,
    "oh five": 5,
}
_HOUR_ALT = "|".join(sorted(_HOUR_WORDS, key=len, reverse=True))
_MIN_ALT = "|".join(sorted(_MINUTE_WORDS, key=len, reverse=True))

_ASAP = re.compile(
    r"\b(o quanto antes|quanto antes|o mais rapido|mais rapido possivel|assim que (?:der|possivel|puder)|"
    r"agora|ja|imediatamente|urgente|qualquer hora(?:rio)?|tanto faz|o mais cedo possivel|"
    r"as soon as possible|asap|right away|right now|now|immediately|anytime|any time|whenever|soon)\b"
)
_LATER = re.compile(r"\b(mais tarde|daqui a pouco|later(?: today| on)?|in a while|in an hour)\b")
_PART = [
    ("morning", re.compile(r"\b(de manha|da manha|pela manha|a manha|manha|cedo|morning|early)\b")),
    ("afternoon", re.compile(r"\b(a tarde|de tarde|da tarde|pela tarde|pra tarde|pela parte da tarde|afternoon)\b")),
    ("evening", re.compile(r"\b(a noite|de noite|da noite|noite|evening|tonight)\b")),
]
_AFTER_LUNCH = re.compile(r"\b(depois do almoco|apos o almoco|after lunch)\b")
_DAY_AFTER = re.compile(r"\b(depois de amanha|day after tomorrow)\b")
_TOMORROW = re.compile(r"\b(amanha|tomorrow)\b")
_TODAY = re.compile(r"\b(hoje|today|this (?:morning|afternoon|evening)|tonight)\b")
_NEXT_WEEK = re.compile(r"\b(semana que vem|proxima semana|next week)\b")
_WEEKDAY = re.compile(r"\b(" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")(?: feira)?\b")

_PREP_AFTER = r"depois das|depois da|depois de|depois|apos as|apos|a partir das|a partir da|after|from"
_PREP_BEFORE = r"antes das|antes da|antes de|ate as|ate|before|by|until|till"
_PREP_AT = r"as|a|at|around|por volta das|por volta de|la pelas|pelas"
_PREP = rf"(?P<prep>{_PREP_AFTER}|{_PREP_BEFORE}|{_PREP_AT})"
_AMPM = r"(?P<ampm>am|pm|a m|p m|da manha|da tarde|da noite|in the morning|in the afternoon|in the evening)"
# numeric: 16:30, 16h30, 16h, 4 pm, 4:30pm, "16 horas"
_TIME_NUM = re.compile(
    rf"(?:\b{_PREP}\s+)?\b(?P<h>\d{{1,2}})(?:\s*(?::|h)\s*(?P<m>\d{{2}})|\s*(?P<hmark>h|hs|hrs|horas?|o ?clock)\b)?"
    rf"(?:\s+e\s+(?P<mw>{_MIN_ALT}))?(?:\s*{_AMPM})?\b"
)
# words: "às três e meia", "depois das duas", "at three thirty", "half past three"
_TIME_WORD = re.compile(
    rf"\b{_PREP}\s+(?:(?P<half>half past|quarter past|quarter to)\s+)?"
    rf"(?P<hw>{_HOUR_ALT}|meio dia|meia noite|noon|midday)"
    rf"(?:\s+e\s+(?P<mw>{_MIN_ALT})|\s+(?P<mwe>{_MIN_ALT}))?(?:\s+(?:horas?|o ?clock))?(?:\s*{_AMPM})?\b"
)
# "half past three" needs no preposition
_TIME_HALF = re.compile(
    rf"\b(?P<prep>)(?P<half>half past|quarter past|quarter to)\s+(?P<hw>{_HOUR_ALT})(?P<mw>)(?P<mwe>)"
    rf"(?:\s*{_AMPM})?\b"
)
_NOON = re.compile(r"\b(meio dia|noon|midday)\b")


def _norm(text: str) -> str:
    t = fold(text)
    t = re.sub(r"(?<=\d)\s*:\s*(?=\d)", ":", t)
    t = re.sub(r"[^a-z0-9:]+", " ", t)
    return re.sub(r"\s+", " ", t).strip()


@dataclass(frozen=True)
class _Time:
    minute: int  # since midnight
    mode: str  # at | after | before


def _prep_mode(prep: Optional[str]) -> str:
    if not prep:
        return "at"
    if re.fullmatch(_PREP_AFTER, prep):
        return "after"
    if re.fullmatch(_PREP_BEFORE, prep):
        return "before"
    return "at"


def _hour24(h: int, ampm: Optional[str], explicit_24h: bool) -> Optional[int]:
    if h > 24:
        return None
    if ampm:
        pm = ampm in ("pm", "p m", "da tarde", "da noite", "in the afternoon", "in the evening")
        if h > 12:
            return h
        if pm:
            return h % 12 + 12
        return h % 12
    if explicit_24h or h >= 8:
        return h % 24
    return h + 12 if 1 <= h <= 7 else h


def _find_time(t: str) -> Optional[_Time]:
    m = _TIME_WORD.search(t) or _TIME_HALF.search(t)
    if m:
        hw = m.group("hw")
        if hw in ("meio dia", "noon", "midday"):
            h, explicit = 12, True
        elif hw == "meia noite":
            return None  # nobody is called back at midnight; let the rest decide
        else:
            h, explicit = _HOUR_WORDS[hw], False
        minute = 0
        half = m.group("half")
        if half == "half past":
            minute = 30
        elif half == "quarter past":
            minute = 15
        elif half == "quarter to":
            h, minute = h - 1, 45
        mw = m.group("mw") or m.group("mwe")
        if mw:
            minute = _MINUTE_WORDS[mw]
        hh = _hour24(h, m.group("ampm"), explicit)
        if hh is not None:
            return _Time(hh * 60 + minute, _prep_mode(m.group("prep")))
    for m in _TIME_NUM.finditer(t):
        # a bare number is a time only with a preposition, minutes, "h"/"horas" or am/pm
        if not (m.group("prep") or m.group("m") or m.group("hmark") or m.group("ampm") or m.group("mw")):
            continue
        h = int(m.group("h"))
        minute = int(m.group("m") or 0) or (_MINUTE_WORDS[m.group("mw")] if m.group("mw") else 0)
        if minute > 59:
            continue
        explicit = (bool(m.group("m")) and h >= 10) or h >= 13 or h == 0
        hh = _hour24(h, m.group("ampm"), explicit)
        if hh is None or hh * 60 + minute > 24 * 60:
            continue
        return _Time(hh * 60 + minute, _prep_mode(m.group("prep")))
    if _NOON.search(t):
        return _Time(12 * 60, "at")
    if _AFTER_LUNCH.search(t):
        return _Time(13 * 60, "after")
    return None


def _find_day(t: str, today: date) -> tuple[Optional[date], str]:
    if _DAY_AFTER.search(t):
        return today + timedelta(days=2), "day_after_tomorrow"
    if _TOMORROW.search(t):
        return today + timedelta(days=1), "tomorrow"
    if _NEXT_WEEK.search(t):
        return today + timedelta(days=7 - today.weekday()), "next_week"
    m = _WEEKDAY.search(t)
    if m:
        wd = _WEEKDAYS[m.group(1)]
        return today + timedelta(days=(wd - today.weekday()) % 7), _ENGLISH_DAY[wd]
    if _TODAY.search(t):
        return today, "today"
    return None, ""


_ENGLISH_DAY = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# --------------------------------------------------------------------------- windows


def _at(hours: BusinessHours, d: date, minute: int) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(d + timedelta(days=1), time(0), tzinfo=hours.tz)
    return datetime.combine(d, time(minute // 60, minute % 60), tzinfo=hours.tz)


def _span_on(
    hours: BusinessHours, d: date, a: int, b: int, not_before: datetime
) -> Optional[tuple[datetime, datetime]]:
    """[a, b) on local date ``d`` clamped to business hours and to ``not_before``."""
    start = max(_at(hours, d, a), not_before)
    end = _at(hours, d, b)
    if end - start < MIN_WINDOW:
        return None
    got = hours.clamp(start, end)
    if got is None or got[1] - got[0] < MIN_WINDOW:
        return None
    return got


def _first_span(
    hours: BusinessHours, first: date, a: int, b: int, now: datetime
) -> Optional[tuple[date, tuple[datetime, datetime]]]:
    for i in range(SEARCH_DAYS):
        d = first + timedelta(days=i)
        got = _span_on(hours, d, a, b, now)
        if got is not None:
            return d, got
    return None


def _make(
    hours: BusinessHours, now: datetime, day: Optional[date], dayref: str, what: str, a: int, b: int
) -> Optional[Window]:
    today = now.date()
    requested = f"{dayref or 'today'}:{what}"
    first = day if day is not None else today
    found = _first_span(hours, first, a, b, now)
    if found is None:
        # that part of the day is never open ("à noite"): the next opening after it
        nxt = hours.current_or_next_window(max(_at(hours, first, a), now), search_days=SEARCH_DAYS)
        if nxt is None:
            return None
        s, e = _bounded(nxt[0], nxt[1])
        return Window(s, e, f"{requested} -> {s.date().isoformat()} {s.strftime('%H:%M')} (closed)", True, requested)
    d, (s, e) = found
    if d == first:
        return Window(s, e, requested, False, requested)
    # "passed": it was open on that day but is over now; "closed": not open that day
    day_start = _at(hours, first, 0)
    why = "passed" if first <= today and _span_on(hours, first, a, b, day_start) is not None else "closed"
    label = f"{requested} -> {d.isoformat()} ({why})"
    return Window(s, e, label, True, requested)


def _bounded(s: datetime, e: datetime) -> tuple[datetime, datetime]:
    """An opening that runs on past the midnight after ``s`` is cut to ``ASAP_WINDOW``."""
    midnight = datetime.combine(s.date() + timedelta(days=1), time(0), tzinfo=s.tzinfo)
    return (s, min(e, s + ASAP_WINDOW)) if e > midnight else (s, e)


def asap_window(now: datetime, hours: Optional[BusinessHours]) -> Optional[Window]:
    """ "As soon as possible": from ``now`` (or the next opening) to the end of that
    opening, at most ``ASAP_WINDOW`` when it runs on past midnight (``hours`` None:
    always open, the next 4 hours). ``None`` when nothing opens within
    ``SEARCH_DAYS``. This one window is what the caller hears and what is stored."""
    if hours is None:
        return Window(now, now + ASAP_WINDOW, "asap", False, "asap")
    now = hours.local(now)
    cur = now
    for _ in range(SEARCH_DAYS * 4):
        w = hours.current_or_next_window(cur, search_days=SEARCH_DAYS)
        if w is None:
            return None
        s, e = w
        if e - s >= MIN_WINDOW:
            s, e = _bounded(s, e)
            label = "asap" if s <= now else f"asap -> {s.date().isoformat()} {s.strftime('%H:%M')} (closed now)"
            return Window(s, e, label, False, "asap")
        cur = e
    return None


def _asap(hours: BusinessHours, now: datetime) -> Optional[Window]:
    return asap_window(now, hours)


def parse_window(
    text: str, *, now: datetime, hours: BusinessHours, language: str = "pt-BR"
) -> Optional[Window]:
    """A callback window for what the caller said (or keyed, see ``KEYED_OPTIONS``);
    ``None`` when nothing in ``text`` says when. ``now`` must be timezone-aware (a
    naive value is taken as local time in ``hours.timezone``). ``language`` is
    accepted for symmetry with ``describe_window``: both languages are understood."""
    del language  # pt-BR and en-US phrasings are recognised whatever the caller's language
    now = hours.local(now)
    raw = (text or "").strip()
    keys = raw.rstrip("#").strip()
    if keys in KEYED_OPTIONS:
        return _keyed(KEYED_OPTIONS[keys], now, hours)
    t = _norm(raw)
    if not t:
        return None
    tm = _find_time(t)
    day, dayref = _find_day(t, now.date())
    w = _parse(t, tm, day, dayref, now, hours)
    if w is not None and w.moved and dayref in _ENGLISH_DAY and day == now.date():
        # "sexta" said on a Friday evening: next Friday, not Saturday
        nxt = _parse(t, tm, day + timedelta(days=7), dayref, now, hours)
        if nxt is not None and not nxt.moved:
            return nxt
    return w


def _parse(
    t: str, tm: Optional[_Time], day: Optional[date], dayref: str, now: datetime, hours: BusinessHours
) -> Optional[Window]:
    part = next((name for name, rx in _PART if rx.search(t)), None)
    if part == "morning" and re.search(r"\bcedo\b|\bearly\b", t) and tm is not None:
        part = None  # "amanhã cedo às 9" -> the time wins
    if tm is not None:
        if tm.mode == "after":
            return _make(hours, now, day, dayref, f"after-{_hm(tm.minute)}", tm.minute, 24 * 60)
        if tm.mode == "before":
            start = PARTS["morning"][0] if part is None else PARTS[part][0]
            return _make(hours, now, day, dayref, f"before-{_hm(tm.minute)}", min(start, tm.minute), tm.minute)
        return _at_time(hours, now, day, dayref, tm.minute)
    if part is not None:
        a, b = PARTS[part]
        return _make(hours, now, day, dayref, part, a, b)
    if _LATER.search(t):
        later = now + LATER_DELAY
        return _make(hours, later, day, dayref or "today", "later", later.hour * 60 + later.minute, 24 * 60)
    if day is not None:
        return _make(hours, now, day, dayref, "day", *PARTS["day"])
    if _ASAP.search(t):
        return _asap(hours, now)
    return None


def _at_time(hours: BusinessHours, now: datetime, day: Optional[date], dayref: str, minute: int) -> Optional[Window]:
    """"às 16h30": an hour from that time on that day (today when no day was said),
    else on the next day open at that time; a time never open -> the next opening
    after it."""
    requested = f"{dayref or 'today'}:at-{_hm(minute)}"
    first = day if day is not None else now.date()
    why = ""
    first_future: Optional[datetime] = None
    for i in range(SEARCH_DAYS):
        d = first + timedelta(days=i)
        start = _at(hours, d, minute)
        if start < now:
            why = why or "passed"
            continue
        if first_future is None:
            first_future = start
        got = hours.clamp(start, start + AT_DURATION)
        if got is not None and got[0] == start and got[1] - got[0] >= MIN_WINDOW:
            if i == 0:
                return Window(got[0], got[1], requested, False, requested)
            return Window(got[0], got[1], f"{requested} -> {d.isoformat()} ({why or 'closed'})", True, requested)
        why = why or "closed"
    if first_future is None:
        return None
    nxt = hours.current_or_next_window(first_future, search_days=SEARCH_DAYS)
    if nxt is None:
        return None
    s, e = nxt[0], min(nxt[1], nxt[0] + AT_DURATION)
    return Window(s, e, f"{requested} -> {s.date().isoformat()} {s.strftime('%H:%M')} (closed)", True, requested)


def _keyed(option: str, now: datetime, hours: BusinessHours) -> Optional[Window]:
    if option == "asap":
        return _asap(hours, now)
    if option in ("morning", "afternoon"):
        a, b = PARTS[option]
        return _make(hours, now, None, "", option, a, b)
    # next business day: the first day after today with any opening (not a "move")
    found = _first_span(hours, now.date() + timedelta(days=1), *PARTS["day"], now)
    if found is None:
        return None
    d, (s, e) = found
    return Window(s, e, f"next_business_day:{d.isoformat()}", False, "next_business_day")


def _hm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --------------------------------------------------------------------------- read-back

_PT_WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)


def _pt_time(dt: datetime) -> str:
    return f"{dt.hour}h" if dt.minute == 0 else f"{dt.hour}h{dt.minute:02d}"


def _en_time(dt: datetime) -> str:
    h = dt.hour % 12 or 12
    suffix = "am" if dt.hour < 12 else "pm"
    if dt.hour == 12 and dt.minute == 0:
        return "noon"
    return f"{h} {suffix}" if dt.minute == 0 else f"{h}:{dt.minute:02d} {suffix}"


def describe_window(window: Window, language: str = "pt-BR", now: Optional[datetime] = None) -> str:
    """Say a window back: "hoje entre 13h e 18h", "amanhã entre 8h e 12h",
    "segunda-feira, dia 18, entre 8h e 12h"; "today between 1 pm and 6 pm"."""
    tz = window.start.tzinfo
    start = window.start
    end = window.end
    ref = (now.astimezone(tz) if (now is not None and now.tzinfo is not None and tz is not None) else now) or start
    days = (start.date() - ref.date()).days
    english = (language or "").lower().startswith("en")
    same_day = end.date() == start.date() or (end - start <= timedelta(days=1) and end.time() == time(0))
    if english:
        if days == 0:
            day = "today"
        elif days == 1:
            day = "tomorrow"
        elif 1 < days < 7:
            day = f"on {_EN_WEEKDAYS[start.weekday()]}"
        else:
            day = f"on {_EN_WEEKDAYS[start.weekday()]}, {_EN_MONTHS[start.month - 1]} {start.day},"
        if not same_day:
            return f"{day} from {_en_time(start)}"
        end_txt = "midnight" if end.time() == time(0) else _en_time(end)
        return f"{day} between {_en_time(start)} and {end_txt}"
    if days == 0:
        day = "hoje"
    elif days == 1:
        day = "amanhã"
    elif 1 < days < 7:
        day = _PT_WEEKDAYS[start.weekday()]
    else:
        day = f"{_PT_WEEKDAYS[start.weekday()]}, dia {start.day},"
    if not same_day:
        return f"{day} a partir das {_pt_time(start)}"
    end_txt = "meia-noite" if end.time() == time(0) else _pt_time(end)
    return f"{day} entre {_pt_time(start)} e {end_txt}"


__all__ = ["ASAP_WINDOW", "KEYED_OPTIONS", "PARTS", "Window", "asap_window", "describe_window", "parse_window"]
