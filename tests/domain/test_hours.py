"""Business hours: the YAML forms, timezone, holidays, next opening, clamping."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from voiceai_ivr.domain.hours import BusinessHours, parse_holidays, parse_weekly
from voiceai_ivr.errors import ValidationError

SP = ZoneInfo("America/Sao_Paulo")
HOURS = {"mon-fri": ["08:00-12:00", "13:00-18:00"], "sat": ["08:00-12:00"]}


@pytest.fixture(scope="module")
def bh() -> BusinessHours:
    return BusinessHours.from_spec(
        HOURS, timezone="America/Sao_Paulo", holidays={"calendar": "BR", "dates": ["2026-12-24"]}
    )


def sp(*args: int) -> datetime:
    return datetime(*args, tzinfo=SP)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (sp(2026, 5, 13, 7, 59), False),  # Wednesday before opening
        (sp(2026, 5, 13, 8, 0), True),
        (sp(2026, 5, 13, 11, 59, 59), True),
        (sp(2026, 5, 13, 12, 0), False),  # lunch
        (sp(2026, 5, 13, 13, 0), True),
        (sp(2026, 5, 13, 17, 59), True),
        (sp(2026, 5, 13, 18, 0), False),
        (sp(2026, 5, 16, 9, 0), True),  # Saturday morning
        (sp(2026, 5, 16, 14, 0), False),  # Saturday afternoon
        (sp(2026, 5, 17, 10, 0), False),  # Sunday
        (sp(2026, 12, 24, 10, 0), False),  # explicit date
        (sp(2026, 12, 25, 10, 0), False),  # national calendar: Christmas
        (sp(2026, 4, 21, 10, 0), False),  # Tiradentes (Tuesday)
        (sp(2026, 9, 7, 10, 0), False),  # Independence day (Monday)
        (datetime(2026, 5, 13, 11, 30, tzinfo=timezone.utc), True),  # 08:30 in São Paulo
        (datetime(2026, 5, 13, 21, 30, tzinfo=timezone.utc), False),  # 18:30 in São Paulo
        (datetime(2026, 5, 13, 10, 0), True),  # naive = local wall clock
    ],
)
def test_is_open(bh: BusinessHours, at: datetime, is_open: bool) -> None:
    assert bh.is_open(at) is is_open


def test_next_opening(bh: BusinessHours) -> None:
    assert bh.next_opening(sp(2026, 5, 13, 10, 0)) == sp(2026, 5, 13, 10, 0)  # open now
    assert bh.next_opening(sp(2026, 5, 13, 12, 30)) == sp(2026, 5, 13, 13, 0)
    assert bh.next_opening(sp(2026, 5, 15, 19, 0)) == sp(2026, 5, 16, 8, 0)  # Fri -> Sat
    assert bh.next_opening(sp(2026, 5, 16, 12, 0)) == sp(2026, 5, 18, 8, 0)  # Sat noon -> Mon
    assert bh.next_opening(sp(2026, 12, 23, 18, 30)) == sp(2026, 12, 26, 8, 0)  # 24th, 25th closed


def test_next_opening_never() -> None:
    closed = BusinessHours.from_spec({}, timezone="UTC")
    assert closed.next_opening(datetime(2026, 1, 1, tzinfo=timezone.utc)) is None


def test_windows_on(bh: BusinessHours) -> None:
    assert bh.windows_on(date(2026, 5, 13)) == [
        (sp(2026, 5, 13, 8), sp(2026, 5, 13, 12)),
        (sp(2026, 5, 13, 13), sp(2026, 5, 13, 18)),
    ]
    assert bh.windows_on(date(2026, 5, 17)) == []
    assert bh.windows_on(date(2026, 12, 25)) == []


def test_clamp(bh: BusinessHours) -> None:
    assert bh.clamp(sp(2026, 5, 13, 6), sp(2026, 5, 13, 23)) == (sp(2026, 5, 13, 8), sp(2026, 5, 13, 18))
    assert bh.clamp(sp(2026, 5, 13, 12), sp(2026, 5, 13, 18)) == (sp(2026, 5, 13, 13), sp(2026, 5, 13, 18))
    assert bh.clamp(sp(2026, 5, 13, 18), sp(2026, 5, 13, 23)) is None
    assert bh.clamp(sp(2026, 5, 13, 10), sp(2026, 5, 13, 9)) is None
    assert bh.open_intervals(sp(2026, 5, 13, 10), sp(2026, 5, 13, 14)) == [
        (sp(2026, 5, 13, 10), sp(2026, 5, 13, 12)),
        (sp(2026, 5, 13, 13), sp(2026, 5, 13, 14)),
    ]


def test_24_hours_and_overnight() -> None:
    always = BusinessHours.from_spec({"mon-sun": ["00:00-24:00"]}, timezone="America/Sao_Paulo")
    assert always.weekly.always_open
    assert always.is_open(sp(2026, 5, 17, 3, 0))
    night = BusinessHours.from_spec({"fri": ["22:00-24:00"], "sat": ["00:00-06:00"]}, timezone="America/Sao_Paulo")
    assert night.current_or_next_window(sp(2026, 5, 15, 23, 0)) == (sp(2026, 5, 15, 23, 0), sp(2026, 5, 16, 6, 0))
    assert night.is_open(sp(2026, 5, 16, 5, 59))
    assert not night.is_open(sp(2026, 5, 16, 6, 0))


def test_overlapping_keys_merge_and_canonical_spec() -> None:
    w = parse_weekly(
        {"mon-fri": ["08:00-12:00"], "mon": ["11:00-14:00"], "seg": "13:30-15:00", "sun-mon": ["20:00-21:00"]}
    )
    assert w.ranges(0) == ((480, 900), (1200, 1260))
    assert w.ranges(6) == ((1200, 1260),)
    assert parse_weekly(w.to_spec()) == w
    assert parse_weekly(HOURS).to_spec() == HOURS


def test_dst_timezone() -> None:
    ny = BusinessHours.from_spec({"mon-fri": ["09:00-17:00"]}, timezone="America/New_York")
    # 2026-03-09 is the Monday after the spring change: 09:00 EDT = 13:00 UTC
    assert ny.is_open(datetime(2026, 3, 9, 13, 0, tzinfo=timezone.utc))
    assert not ny.is_open(datetime(2026, 3, 9, 12, 59, tzinfo=timezone.utc))
    monday = datetime(2026, 3, 9, 13, tzinfo=timezone.utc)
    assert ny.next_opening(datetime(2026, 3, 7, 12, tzinfo=timezone.utc)) == monday


def test_subdivision_and_annual_dates() -> None:
    sp_city = BusinessHours.from_spec(
        HOURS, timezone="America/Sao_Paulo", holidays={"calendar": "BR-SP", "dates": ["12-31"]}
    )
    assert not sp_city.is_open(sp(2026, 7, 9, 10))  # Revolução Constitucionalista (SP only)
    national = BusinessHours.from_spec(HOURS, timezone="America/Sao_Paulo", holidays={"calendar": "BR"})
    assert national.is_open(sp(2026, 7, 9, 10))
    assert not sp_city.is_open(sp(2027, 12, 31, 10))  # "12-31" recurs every year
    assert parse_holidays({"calendar": "BR", "subdivision": "sp"}) == parse_holidays({"calendar": "BR-SP"})


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({"mon-fri": ["08:00-12:00", "18:00-13:00"]}, "hours.mon-fri[1]", 'bad range "18:00-13:00"'),
        ({"mon-fri": ["8-12"]}, "hours.mon-fri[0]", "bad range"),
        ({"mon-fri": ["08:00-24:30"]}, "hours.mon-fri[0]", "out of"),
        ({"mon-fri": ["25:00-26:00"]}, "hours.mon-fri[0]", "out of"),
        ({"mon-fri": ["08:00-08:00"]}, "hours.mon-fri[0]", "end must be after start"),
        ({"funday": ["08:00-12:00"]}, "hours.funday", "bad day"),
        ({"mon-xyz": ["08:00-12:00"]}, "hours.mon-xyz", "bad day range"),
        ({"mon": 8}, "hours.mon", "list"),
        (["08:00-12:00"], "hours", "mapping"),
    ],
)
def test_bad_hours(spec: object, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_weekly(spec)
    assert info.value.field == field
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"calendar": "XX"}, "holidays.calendar"),
        ({"calendar": "BR-ZZ"}, "holidays.calendar"),
        ({"calendar": "B R"}, "holidays.calendar"),
        ({"dates": ["2026-02-30"]}, "holidays.dates[0]"),
        ({"dates": ["next tuesday"]}, "holidays.dates[0]"),
        ({"dates": "2026-12-24"}, "holidays.dates"),
        ({"calendar": "BR", "colour": "red"}, "holidays.colour"),
    ],
)
def test_bad_holidays(spec: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_holidays(spec)
    assert info.value.field == field


def test_bad_timezone() -> None:
    with pytest.raises(ValidationError) as info:
        BusinessHours.from_spec(HOURS, timezone="America/Atlantis")
    assert info.value.field == "timezone"


def test_next_opening_is_bounded() -> None:
    # open only on a date 2 years away: the search gives up after SEARCH_DAYS
    far = BusinessHours.from_spec({"mon-sun": ["08:00-09:00"]}, timezone="UTC", holidays={"dates": [
        (date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(400)
    ]})
    assert far.next_opening(datetime(2026, 1, 1, tzinfo=timezone.utc)) is None
    assert far.next_opening(datetime(2026, 1, 1, tzinfo=timezone.utc), search_days=500) == datetime(
        2027, 2, 5, 8, tzinfo=timezone.utc
    )
