"""Callback windows from what callers say, at a fixed ``now``, in São Paulo time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

import pytest

from voiceai_ivr.domain.hours import BusinessHours
from voiceai_ivr.domain.timewindow import (
    ASAP_WINDOW,
    KEYED_OPTIONS,
    Window,
    asap_window,
    describe_window,
    parse_window,
)

SP = ZoneInfo("America/Sao_Paulo")
HOURS = BusinessHours.from_spec(
    {"mon-fri": ["08:00-12:00", "13:00-18:00"], "sat": ["08:00-12:00"]},
    timezone="America/Sao_Paulo",
    holidays={"calendar": "BR", "dates": ["2026-12-24"]},
)
WED_1020 = datetime(2026, 5, 13, 10, 20, tzinfo=SP)  # a Wednesday morning
FRI_1900 = datetime(2026, 5, 15, 19, 0, tzinfo=SP)  # Friday after closing
SUN_1000 = datetime(2026, 5, 17, 10, 0, tzinfo=SP)  # Sunday
XMAS_EVE = datetime(2026, 12, 23, 17, 55, tzinfo=SP)  # before two closed days


def sp(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SP)


CASES: list[tuple[str, datetime, Optional[tuple[datetime, datetime]], bool]] = [
    # as soon as possible: the rest of the current window
    ("o quanto antes", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("as soon as possible", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("agora", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("pode ser agora mesmo", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("qualquer horário", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("whenever", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    # out of hours: the next opening
    ("o quanto antes", FRI_1900, (sp(5, 16, 8), sp(5, 16, 12)), False),
    ("as soon as possible", SUN_1000, (sp(5, 18, 8), sp(5, 18, 12)), False),
    ("agora", XMAS_EVE, (sp(12, 26, 8), sp(12, 26, 12)), False),  # 5 min left, then 24th and 25th
    ("o quanto antes", sp(5, 13, 12, 30), (sp(5, 13, 13), sp(5, 13, 18)), False),  # lunch
    # parts of the day
    ("amanhã de manhã", WED_1020, (sp(5, 14, 8), sp(5, 14, 12)), False),
    ("amanha de manha", WED_1020, (sp(5, 14, 8), sp(5, 14, 12)), False),
    ("amanhã cedo", WED_1020, (sp(5, 14, 8), sp(5, 14, 12)), False),
    ("tomorrow morning", WED_1020, (sp(5, 14, 8), sp(5, 14, 12)), False),
    ("hoje à tarde", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("pode ser hoje a tarde", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("this afternoon", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("à tarde", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("hoje de manhã", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),  # the rest of it
    ("tomorrow afternoon", WED_1020, (sp(5, 14, 13), sp(5, 14, 18)), False),
    ("depois de amanhã à tarde", WED_1020, (sp(5, 15, 13), sp(5, 15, 18)), False),
    # the part has passed or is closed: next business day, and the label says so
    ("hoje de manhã", sp(5, 13, 14), (sp(5, 14, 8), sp(5, 14, 12)), True),
    ("this morning", sp(5, 13, 14), (sp(5, 14, 8), sp(5, 14, 12)), True),
    ("hoje à tarde", FRI_1900, (sp(5, 18, 13), sp(5, 18, 18)), True),  # Saturday has no afternoon
    ("amanhã à tarde", sp(5, 15, 10), (sp(5, 18, 13), sp(5, 18, 18)), True),
    ("amanhã de manhã", sp(5, 16, 9), (sp(5, 18, 8), sp(5, 18, 12)), True),  # Sunday closed
    ("amanhã de manhã", XMAS_EVE, (sp(12, 26, 8), sp(12, 26, 12)), True),  # the 24th is a holiday
    ("à noite", WED_1020, (sp(5, 14, 8), sp(5, 14, 12)), True),  # never open at night
    # after / before a time
    ("depois das três", WED_1020, (sp(5, 13, 15), sp(5, 13, 18)), False),
    ("depois das 3", WED_1020, (sp(5, 13, 15), sp(5, 13, 18)), False),
    ("depois das 15h", WED_1020, (sp(5, 13, 15), sp(5, 13, 18)), False),
    ("a partir das duas da tarde", WED_1020, (sp(5, 13, 14), sp(5, 13, 18)), False),
    ("after 2 pm", WED_1020, (sp(5, 13, 14), sp(5, 13, 18)), False),
    ("after two", WED_1020, (sp(5, 13, 14), sp(5, 13, 18)), False),
    ("depois do almoço", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("after lunch", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("depois das três", sp(5, 13, 16), (sp(5, 13, 16), sp(5, 13, 18)), False),  # already after three
    ("depois das três", FRI_1900, (sp(5, 18, 15), sp(5, 18, 18)), True),
    ("amanhã depois das 10", WED_1020, (sp(5, 14, 10), sp(5, 14, 18)), False),
    ("antes das 10", sp(5, 13, 7), (sp(5, 13, 8), sp(5, 13, 10)), False),
    ("before 10 am", WED_1020, (sp(5, 14, 8), sp(5, 14, 10)), True),
    # at a time: an hour from it
    ("às 16h30", WED_1020, (sp(5, 13, 16, 30), sp(5, 13, 17, 30)), False),
    ("as 16h30", WED_1020, (sp(5, 13, 16, 30), sp(5, 13, 17, 30)), False),
    ("16:30", WED_1020, (sp(5, 13, 16, 30), sp(5, 13, 17, 30)), False),
    ("16h", WED_1020, (sp(5, 13, 16), sp(5, 13, 17)), False),
    ("às 4 e meia da tarde", WED_1020, (sp(5, 13, 16, 30), sp(5, 13, 17, 30)), False),
    ("às três e meia", WED_1020, (sp(5, 13, 15, 30), sp(5, 13, 16, 30)), False),
    ("at 4:30 pm", WED_1020, (sp(5, 13, 16, 30), sp(5, 13, 17, 30)), False),
    ("at 4 pm", WED_1020, (sp(5, 13, 16), sp(5, 13, 17)), False),
    ("half past three", WED_1020, (sp(5, 13, 15, 30), sp(5, 13, 16, 30)), False),
    ("amanhã às 9", WED_1020, (sp(5, 14, 9), sp(5, 14, 10)), False),
    ("tomorrow at 9 am", WED_1020, (sp(5, 14, 9), sp(5, 14, 10)), False),
    ("às 17h30", WED_1020, (sp(5, 13, 17, 30), sp(5, 13, 18)), False),  # clamped at closing
    ("às 16h30", sp(5, 13, 17), (sp(5, 14, 16, 30), sp(5, 14, 17, 30)), True),  # passed: tomorrow
    ("às 16h30", FRI_1900, (sp(5, 18, 16, 30), sp(5, 18, 17, 30)), True),  # Saturday closes at noon
    ("às 19h", WED_1020, (sp(5, 14, 8), sp(5, 14, 9)), True),  # never open then: next opening
    ("ao meio dia", WED_1020, (sp(5, 13, 13), sp(5, 13, 14)), True),  # lunch
    # weekdays and weeks
    ("segunda de manhã", WED_1020, (sp(5, 18, 8), sp(5, 18, 12)), False),
    ("segunda-feira à tarde", WED_1020, (sp(5, 18, 13), sp(5, 18, 18)), False),
    ("on monday", WED_1020, (sp(5, 18, 8), sp(5, 18, 18)), False),
    ("monday morning", WED_1020, (sp(5, 18, 8), sp(5, 18, 12)), False),
    ("sexta às 14h", WED_1020, (sp(5, 15, 14), sp(5, 15, 15)), False),
    ("quinta-feira", WED_1020, (sp(5, 14, 8), sp(5, 14, 18)), False),
    ("sábado", WED_1020, (sp(5, 16, 8), sp(5, 16, 12)), False),
    ("domingo", WED_1020, (sp(5, 18, 8), sp(5, 18, 18)), True),  # closed on Sundays
    ("sexta", FRI_1900, (sp(5, 22, 8), sp(5, 22, 18)), False),  # Friday evening: next Friday
    ("semana que vem", WED_1020, (sp(5, 18, 8), sp(5, 18, 18)), False),
    ("next week", WED_1020, (sp(5, 18, 8), sp(5, 18, 18)), False),
    # later today
    ("me liga mais tarde", WED_1020, (sp(5, 13, 11, 20), sp(5, 13, 18)), False),
    ("later", sp(5, 13, 17, 30), (sp(5, 14, 8), sp(5, 14, 12)), True),  # nothing left today
    # keyed options
    ("1", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("2", WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12)), False),
    ("3", WED_1020, (sp(5, 13, 13), sp(5, 13, 18)), False),
    ("4", WED_1020, (sp(5, 14, 8), sp(5, 14, 18)), False),
    ("2#", sp(5, 13, 14), (sp(5, 14, 8), sp(5, 14, 12)), True),
    ("1", FRI_1900, (sp(5, 16, 8), sp(5, 16, 12)), False),
    ("4", FRI_1900, (sp(5, 16, 8), sp(5, 16, 12)), False),
    # nothing about time
    ("quero pizza", WED_1020, None, False),
    ("", WED_1020, None, False),
    ("9", WED_1020, None, False),
    ("o boleto veio errado", WED_1020, None, False),
]


@pytest.mark.parametrize(("text", "now", "expected", "moved"), CASES)
def test_parse_window(text: str, now: datetime, expected: Optional[tuple[datetime, datetime]], moved: bool) -> None:
    w = parse_window(text, now=now, hours=HOURS, language="pt-BR")
    if expected is None:
        assert w is None
        return
    assert w is not None, text
    assert (w.start, w.end) == expected, (w.start.isoformat(), w.end.isoformat(), w.label)
    assert w.moved is moved, w.label
    assert w.start >= now.replace(second=0, microsecond=0) or w.start >= now
    assert w.end > w.start
    assert HOURS.is_open(w.start)
    if moved:
        assert "->" in w.label and w.requested and w.requested in w.label


def test_never_in_the_past_over_a_week() -> None:
    phrasings = ["o quanto antes", "hoje à tarde", "amanhã de manhã", "às 16h30", "depois das três", "1", "2", "3"]
    now = datetime(2026, 5, 11, 0, 0, tzinfo=SP)
    while now < datetime(2026, 5, 18, tzinfo=SP):
        for text in phrasings:
            w = parse_window(text, now=now, hours=HOURS, language="pt-BR")
            assert w is not None
            assert w.start >= now and w.end > w.start
            assert HOURS.is_open(w.start), (text, now, w)
            assert w.end - w.start >= timedelta(minutes=15) or w.end == HOURS.current_or_next_window(w.start)[1]
        now += timedelta(minutes=37)


def test_naive_now_is_local() -> None:
    w = parse_window("agora", now=datetime(2026, 5, 13, 10, 20), hours=HOURS, language="pt-BR")
    assert w is not None and w.start == sp(5, 13, 10, 20)


def test_keyed_options_documented() -> None:
    assert set(KEYED_OPTIONS) == {"1", "2", "3", "4"}


@pytest.mark.parametrize(
    ("window", "now", "pt", "en"),
    [
        (Window(sp(5, 14, 8), sp(5, 14, 12), "x"), WED_1020, "amanhã entre 8h e 12h", "tomorrow between 8 am and noon"),
        (Window(sp(5, 13, 13), sp(5, 13, 18), "x"), WED_1020, "hoje entre 13h e 18h", "today between 1 pm and 6 pm"),
        (Window(sp(5, 13, 16, 30), sp(5, 13, 17, 30), "x"), WED_1020, "hoje entre 16h30 e 17h30",
         "today between 4:30 pm and 5:30 pm"),
        (Window(sp(5, 18, 8), sp(5, 18, 12), "x"), WED_1020, "segunda-feira entre 8h e 12h",
         "on Monday between 8 am and noon"),
        (Window(sp(5, 28, 9), sp(5, 28, 10), "x"), WED_1020, "quinta-feira, dia 28, entre 9h e 10h",
         "on Thursday, May 28, between 9 am and 10 am"),
        (Window(sp(5, 13, 22), sp(5, 14, 0), "x"), WED_1020, "hoje entre 22h e meia-noite",
         "today between 10 pm and midnight"),
        (Window(sp(5, 13, 22), sp(5, 14, 6), "x"), WED_1020, "hoje a partir das 22h", "today from 10 pm"),
    ],
)
def test_describe_window(window: Window, now: datetime, pt: str, en: str) -> None:
    assert describe_window(window, "pt-BR", now) == pt
    assert describe_window(window, "en-US", now) == en


def test_describe_parsed() -> None:
    w = parse_window("amanhã de manhã", now=WED_1020, hours=HOURS, language="pt-BR")
    assert w is not None
    assert describe_window(w, "pt-BR", WED_1020) == "amanhã entre 8h e 12h"


ALWAYS = BusinessHours.from_spec(None, timezone="America/Sao_Paulo")
NIGHTS = BusinessHours.from_spec({"mon-sun": ["00:00-06:00", "22:00-24:00"]}, timezone="America/Sao_Paulo")


@pytest.mark.parametrize(("hours", "now", "expected"), [
    (ALWAYS, sp(11, 24, 12, 59), (sp(11, 24, 12, 59), sp(11, 24, 16, 59))),  # not two days long
    (ALWAYS, sp(11, 24, 22, 30), (sp(11, 24, 22, 30), sp(11, 25, 2, 30))),
    (None, sp(11, 24, 12, 59), (sp(11, 24, 12, 59), sp(11, 24, 16, 59))),
    (NIGHTS, sp(11, 24, 21, 0), (sp(11, 24, 22), sp(11, 25, 2))),  # a night shift runs past midnight
    (NIGHTS, sp(11, 24, 3, 0), (sp(11, 24, 3), sp(11, 24, 6))),  # ends the day it started: whole
    (HOURS, WED_1020, (sp(5, 13, 10, 20), sp(5, 13, 12))),  # ordinary hours: the rest of the opening
    (HOURS, sp(5, 13, 12, 30), (sp(5, 13, 13), sp(5, 13, 18))),  # five hours, not cut
])
def test_asap_window(hours: Optional[BusinessHours], now: datetime, expected: tuple[datetime, datetime]) -> None:
    w = asap_window(now, hours)
    assert w is not None and (w.start, w.end) == expected
    if hours is not None:
        for said in ("o quanto antes", "as soon as possible", "1"):  # spoken or keyed: one window
            parsed = parse_window(said, now=now, hours=hours)
            assert parsed is not None and (parsed.start, parsed.end) == expected


def test_asap_is_never_days_long_over_a_week() -> None:
    for hours in (ALWAYS, NIGHTS, HOURS):
        now = sp(11, 23, 0, 7)
        for _ in range(7 * 24 * 4):
            w = asap_window(now, hours)
            assert w is not None and now <= w.start < w.end
            ends_day = datetime.combine(w.start.date() + timedelta(days=1), datetime.min.time(), tzinfo=SP)
            assert w.end <= ends_day or w.end - w.start <= ASAP_WINDOW, (now, w)
            now += timedelta(minutes=17)
