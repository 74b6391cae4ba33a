"""Business hours and holidays: parsed from the YAML forms, evaluated in a timezone.

Spec forms (as in the import document)::

    hours: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: ["08:00-12:00"]}
    hours: {mon-sun: ["00:00-24:00"]}
    holidays: {calendar: BR, dates: ["2026-12-24", "12-31"]}      # "MM-DD" recurs yearly
    holidays: {calendar: BR-SP}                                   # national + subdivision

Day keys are a day (``mon``) or a range (``mon-fri``, wrapping ``fri-mon`` allowed);
Portuguese abbreviations (``seg``..``dom``) are accepted too. Several keys may name
the same day: their ranges are merged. ``24:00`` ends a day. A day absent from the
spec is closed. ``hours`` absent altogether (``None`` where it is optional) means
always open.

Naive datetimes are taken to be wall-clock time in the hours' timezone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Optional

# zoneinfo is in the standard library from 3.9; ``tzdata`` supplies the database
# where the OS has none.
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voiceai_ivr.errors import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6,
    "seg": 0, "ter": 1, "qua": 2, "qui": 3, "sex": 4, "sab": 5, "sáb": 5, "dom": 6,
}
_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CAL_RE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z0-9]{1,5}))?$")
_MMDD_RE = re.compile(r"^(\d{2})-(\d{2})$")

#: How far ``next_opening`` looks ahead before giving up.
SEARCH_DAYS = 370

Range = tuple[int, int]  # minutes since midnight, [start, end), end <= 1440


# --------------------------------------------------------------------------- weekly hours


@dataclass(frozen=True)
class WeeklyHours:
    """Opening ranges per weekday (0=Monday), merged and sorted, in minutes."""

    days: tuple[tuple[Range, ...], ...]

    def ranges(self, weekday: int) -> tuple[Range, ...]:
        return self.days[weekday]

    def to_spec(self) -> dict[str, list[str]]:
        """Canonical spec: consecutive days with equal ranges grouped (``mon-fri``)."""
        out: dict[str, list[str]] = {}
        i = 0
        while i < 7:
            j = i
            while j + 1 < 7 and self.days[j + 1] == self.days[i]:
                j += 1
            if self.days[i]:
                key = DAYS[i] if i == j else f"{DAYS[i]}-{DAYS[j]}"
                out[key] = [f"{_fmt_min(a)}-{_fmt_min(b)}" for a, b in self.days[i]]
            i = j + 1
        return out

    @property
    def always_open(self) -> bool:
        return all(r == ((0, 1440),) for r in self.days)


def _fmt_min(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def _parse_day_key(key: Any, field: str) -> list[int]:
    if not isinstance(key, str) or not key.strip():
        raise ValidationError(field, f"bad day {key!r} (use mon..sun or a range such as mon-fri)")
    k = key.strip().lower()
    if "-" in k:
        a, _, b = k.partition("-")
        if a not in _DAY_ALIASES or b not in _DAY_ALIASES:
            raise ValidationError(field, f"bad day range {key!r} (use mon..sun, e.g. mon-fri)")
        start, end = _DAY_ALIASES[a], _DAY_ALIASES[b]
        out = [start]
        while out[-1] != end:
            out.append((out[-1] + 1) % 7)
        return out
    if k not in _DAY_ALIASES:
        raise ValidationError(field, f"bad day {key!r} (use mon..sun or a range such as mon-fri)")
    return [_DAY_ALIASES[k]]


def _parse_range(text: Any, field: str) -> Range:
    if not isinstance(text, str):
        raise ValidationError(field, f"bad range {text!r} (expected \"HH:MM-HH:MM\")")
    m = _RANGE_RE.match(text)
    if not m:
        raise ValidationError(field, f"bad range \"{text}\" (expected \"HH:MM-HH:MM\")")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValidationError(field, f"bad range \"{text}\" (time out of 00:00-24:00)")
    a, b = h1 * 60 + m1, h2 * 60 + m2
    if b <= a:
        raise ValidationError(field, f"bad range \"{text}\" (end must be after start)")
    return (a, b)


def _merge(ranges: Iterable[Range]) -> tuple[Range, ...]:
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def parse_weekly(spec: Any, field: str = "hours") -> WeeklyHours:
    """Parse ``{mon-fri: ["08:00-12:00", ...], ...}``; raises ``ValidationError`` naming
    the exact element (``hours.mon-fri[1]: bad range "18:00-13:00" ...``)."""
    if isinstance(spec, WeeklyHours):
        return spec
    if not isinstance(spec, Mapping):
        raise ValidationError(field, "must be a mapping of days to ranges, e.g. {mon-fri: [\"08:00-18:00\"]}")
    per_day: list[list[Range]] = [[] for _ in range(7)]
    for key, ranges in spec.items():
        kfield = f"{field}.{key}"
        days = _parse_day_key(key, kfield)
        if isinstance(ranges, str):
            ranges = [ranges]
        if not isinstance(ranges, (list, tuple)):
            raise ValidationError(kfield, "must be a list of \"HH:MM-HH:MM\" ranges")
        parsed = [_parse_range(r, f"{kfield}[{i}]") for i, r in enumerate(ranges)]
        for d in days:
            per_day[d].extend(parsed)
    return WeeklyHours(tuple(_merge(r) for r in per_day))


ALWAYS = WeeklyHours(tuple(((0, 1440),) for _ in range(7)))


# --------------------------------------------------------------------------- holidays


@dataclass(frozen=True)
class HolidaySpec:
    """A national calendar (``BR``, optional subdivision ``SP``) plus explicit dates.

    ``dates`` holds full ISO dates; ``annual`` holds (month, day) pairs that recur.
    An empty spec (no calendar, no dates) means "no holidays"."""

    calendar: Optional[str] = None
    subdivision: Optional[str] = None
    dates: tuple[date, ...] = ()
    annual: tuple[tuple[int, int], ...] = ()

    def is_holiday(self, d: date) -> bool:
        if d in self.dates or (d.month, d.day) in self.annual:
            return True
        if self.calendar:
            return d in _calendar_dates(self.calendar, self.subdivision, d.year)
        return False

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.calendar:
            out["calendar"] = self.calendar + (f"-{self.subdivision}" if self.subdivision else "")
        ds = [d.isoformat() for d in self.dates] + [f"{m:02d}-{d:02d}" for m, d in self.annual]
        if ds:
            out["dates"] = ds
        return out


@functools.lru_cache(maxsize=64)
def _calendar_dates(country: str, subdiv: Optional[str], year: int) -> frozenset[date]:
    import holidays as holidays_lib  # imported lazily: it is slow to import

    return frozenset(holidays_lib.country_holidays(country, subdiv=subdiv, years=[year]).keys())


def _check_calendar(country: str, subdiv: Optional[str], field: str) -> None:
    import holidays as holidays_lib

    try:
        holidays_lib.country_holidays(country, subdiv=subdiv, years=[])
    except NotImplementedError as exc:
        name = country + (f"-{subdiv}" if subdiv else "")
        raise ValidationError(field, f"unknown holiday calendar {name}: {exc}") from exc


def parse_holidays(spec: Any, field: str = "holidays") -> HolidaySpec:
    """Parse ``{calendar: BR|BR-SP, subdivision: SP, dates: ["2026-12-24", "12-31"]}``."""
    if isinstance(spec, HolidaySpec):
        return spec
    if spec is None:
        return HolidaySpec()
    if not isinstance(spec, Mapping):
        raise ValidationError(field, "must be a mapping {calendar: BR, dates: [...]}")
    unknown = set(spec) - {"calendar", "subdivision", "dates"}
    if unknown:
        raise ValidationError(
            f"{field}.{sorted(map(str, unknown))[0]}", "unknown key (allowed: calendar, subdivision, dates)"
        )
    country: Optional[str] = None
    subdiv: Optional[str] = None
    cal = spec.get("calendar")
    if cal is not None:
        m = _CAL_RE.match(cal) if isinstance(cal, str) else None
        if not m:
            raise ValidationError(f"{field}.calendar", f"bad calendar {cal!r} (e.g. BR or BR-SP)")
        country, subdiv = m.group(1).upper(), m.group(2).upper() if m.group(2) else None
    sub = spec.get("subdivision")
    if sub is not None:
        if not isinstance(sub, str) or not sub.strip() or country is None:
            raise ValidationError(f"{field}.subdivision", "needs a calendar and a code such as SP")
        if subdiv and subdiv != sub.strip().upper():
            raise ValidationError(f"{field}.subdivision", f"conflicts with calendar {cal!r}")
        subdiv = sub.strip().upper()
    if country:
        _check_calendar(country, subdiv, f"{field}.calendar")
    raw_dates = spec.get("dates", [])
    if raw_dates is None:
        raw_dates = []
    if not isinstance(raw_dates, (list, tuple)):
        raise ValidationError(f"{field}.dates", "must be a list of dates (YYYY-MM-DD or MM-DD)")
    full: list[date] = []
    annual: list[tuple[int, int]] = []
    for i, raw in enumerate(raw_dates):
        dfield = f"{field}.dates[{i}]"
        if isinstance(raw, datetime):
            raise ValidationError(dfield, f"a date, not a timestamp: {raw!r}")
        if isinstance(raw, date):  # YAML loads unquoted 2026-12-24 as a date
            full.append(raw)
            continue
        if not isinstance(raw, str):
            raise ValidationError(dfield, f"bad date {raw!r} (YYYY-MM-DD or MM-DD)")
        mm = _MMDD_RE.match(raw.strip())
        try:
            if mm:
                date(2000, int(mm.group(1)), int(mm.group(2)))  # 2000 is a leap year: 02-29 ok
                annual.append((int(mm.group(1)), int(mm.group(2))))
            else:
                full.append(date.fromisoformat(raw.strip()))
        except ValueError as exc:
            raise ValidationError(dfield, f"bad date {raw!r} (YYYY-MM-DD or MM-DD)") from exc
    return HolidaySpec(country, subdiv, tuple(sorted(set(full))), tuple(sorted(set(annual))))


# --------------------------------------------------------------------------- timezone


def parse_timezone(name: Any, field: str = "timezone") -> str:
    """Validate an IANA timezone name; returns it."""
    if not isinstance(name, str) or not name.strip() or ".." in name or name.startswith("/"):
        raise ValidationError(field, f"not an IANA timezone name: {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(field, f"unknown timezone {name!r}") from exc
    return name


@functools.lru_cache(maxsize=128)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


# --------------------------------------------------------------------------- business hours


@dataclass(frozen=True)
class BusinessHours:
    """Weekly hours in a timezone, minus holidays. All answers are aware datetimes."""

    weekly: WeeklyHours
    timezone: str = "America/Sao_Paulo"
    holidays: HolidaySpec = HolidaySpec()

    @classmethod
    def from_spec(
        cls,
        hours: Any = None,
        *,
        timezone: str = "America/Sao_Paulo",
        holidays: Any = None,
        field: str = "hours",
    ) -> BusinessHours:
        """Build from YAML-shaped parts; ``hours=None`` means open around the clock."""
        weekly = ALWAYS if hours is None else parse_weekly(hours, field)
        return cls(weekly, parse_timezone(timezone), parse_holidays(holidays))

    @property
    def tz(self) -> tzinfo:
        return _zone(self.timezone)

    def local(self, at: datetime) -> datetime:
        """``at`` in this timezone (naive values are taken as already local)."""
        if at.tzinfo is None:
            return at.replace(tzinfo=self.tz)
        return at.astimezone(self.tz)

    def is_holiday(self, d: date) -> bool:
        return self.holidays.is_holiday(d)

    def ranges_on(self, d: date) -> tuple[Range, ...]:
        """Opening ranges (minutes) for a local date: empty on holidays."""
        if self.is_holiday(d):
            return ()
        return self.weekly.ranges(d.weekday())

    def _at(self, d: date, minute: int) -> datetime:
        if minute >= 1440:
            return datetime.combine(d + timedelta(days=1), time(0), tzinfo=self.tz)
        return datetime.combine(d, time(minute // 60, minute % 60), tzinfo=self.tz)

    def windows_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """Opening windows on a local date, as aware datetimes in this timezone."""
        return [(self._at(d, a), self._at(d, b)) for a, b in self.ranges_on(d)]

    def is_open(self, at: datetime) -> bool:
        loc = self.local(at)
        minute = loc.hour * 60 + loc.minute + (loc.second + loc.microsecond / 1e6) / 60.0
        return any(a <= minute < b for a, b in self.ranges_on(loc.date()))

    def _intervals_from(self, start: datetime, days: int) -> Iterable[tuple[datetime, datetime]]:
        """Open intervals ending after ``start``, in order; a window that runs to
        24:00 is joined with one starting at 00:00 the next day (so "22:00-24:00" +
        "00:00-06:00" is one interval), across one midnight at most: an interval
        never spans more than two local dates. Scans at most ``days`` local dates."""
        loc = self.local(start)
        d = loc.date()
        pending: Optional[list[datetime]] = None
        for _ in range(days + 1):
            for a, b in self.windows_on(d):
                if (
                    pending is not None
                    and a <= pending[1]
                    and (a.date() - pending[0].date()).days <= 1
                ):
                    pending[1] = max(pending[1], b)
                    continue
                if pending is not None:
                    yield pending[0], pending[1]
                pending = [a, b] if b > loc else None
            d += timedelta(days=1)
        if pending is not None:
            yield pending[0], pending[1]

    def current_or_next_window(
        self, at: datetime, *, search_days: int = SEARCH_DAYS
    ) -> Optional[tuple[datetime, datetime]]:
        """The open window containing ``at`` (starting at ``at``), else the next one."""
        loc = self.local(at)
        for a, b in self._intervals_from(loc, search_days):
            if b > loc:
                return (max(a, loc), b)
        return None

    def next_opening(self, at: datetime, *, search_days: int = SEARCH_DAYS) -> Optional[datetime]:
        """The earliest instant >= ``at`` when open (``at`` itself when open now);
        ``None`` when nothing opens within ``search_days``."""
        w = self.current_or_next_window(at, search_days=search_days)
        return w[0] if w else None

    def open_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Open intervals intersected with [start, end)."""
        s, e = self.local(start), self.local(end)
        if e <= s:
            return []
        days = (e.date() - s.date()).days + 1
        out = []
        for a, b in self._intervals_from(s, days):
            if a >= e:
                break
            out.append((max(a, s), min(b, e)))
        return out

    def clamp(self, start: datetime, end: datetime) -> Optional[tuple[datetime, datetime]]:
        """Narrow [start, end) to business time: from the first open instant to the
        end of the last open interval inside it (closed gaps such as lunch may
        remain inside). ``None`` when no business time falls in [start, end)."""
        iv = self.open_intervals(start, end)
        if not iv:
            return None
        return (iv[0][0], iv[-1][1])

    def to_spec(self) -> dict[str, Any]:
        return {
            "hours": self.weekly.to_spec(),
            "timezone": self.timezone,
            "holidays": self.holidays.to_spec(),
        }


__all__ = [
    "ALWAYS",
    "DAYS",
    "SEARCH_DAYS",
    "BusinessHours",
    "HolidaySpec",
    "WeeklyHours",
    "parse_holidays",
    "parse_timezone",
    "parse_weekly",
]
