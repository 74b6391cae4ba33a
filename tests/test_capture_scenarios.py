"""Callback capture scenarios (tests/scenarios/callback/*.yaml) through the real stack:
the Simulator as FreeSWITCH over real sockets, the outbound server running
``app.call_handler``, the inbound ESL client, and PostgreSQL. Each test asserts on
the ``voiceai-ivr simulate --json`` object (read back from the database as
``simulate`` does) AND on the rows the application wrote.

The call clock is the scenario's ``at`` (Tuesday 2026-11-24 10:30, São Paulo,
unless a test says otherwise); the directory is tests/scenarios/directory.yaml
(Mon-Fri 08-12 and 13-18, Sat 08-12).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Optional
from zoneinfo import ZoneInfo

import pytest
import yaml
from harness import Stack, scenario_stack

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
CAPTURE = SCENARIOS / "callback"
TZ = ZoneInfo("America/Sao_Paulo")
SCALE = 0.01  # real seconds per simulated second: a two-minute call takes ~1.3 s


@pytest.fixture
def stack(db: Any, config: Any) -> Iterator[Stack]:
    with scenario_stack(db, config, SCENARIOS / "directory.yaml", scale=SCALE) as running:
        yield running


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def context(result: dict[str, Any]) -> str:
    keep = ("outcome", "callback", "transfers", "transcript", "errors", "expect_failures")
    return yaml.safe_dump({k: result.get(k) for k in keep}, allow_unicode=True, default_flow_style=False)


def run(stack: Stack, source: Any) -> dict[str, Any]:
    """One call that must end cleanly on the wire: every leg down, the socket closed
    by the application, no simulator error."""
    result = stack.run(CAPTURE / source if isinstance(source, str) else source)
    info = context(result)
    assert result["errors"] == [], info
    assert result.get("expect_failures", []) == [], info
    assert result["legs_left_up"] == 0 and result["live_legs"] == [], info
    assert result["socket_end"] not in ("open", "connect_failed"), info
    return result


def slots(result: dict[str, Any]) -> list[str]:
    return [e["slot"] for e in result["transcript"] if e.get("from") == "ivr" and e.get("slot")]


def ivr_lines(result: dict[str, Any]) -> list[str]:
    return [str(e.get("text", "")) for e in result["transcript"] if e.get("from") == "ivr"]


def steps(stack: Stack, result: dict[str, Any]) -> list[dict[str, Any]]:
    events = stack.call(result["call_uuid"])["details"].get("events", [])
    return [e for e in events if e.get("event") == "callback_step"]


def saved(
    stack: Stack,
    result: dict[str, Any],
    *,
    number: str,
    start: datetime,
    end: datetime,
    reason: str,
    language: str = "pt-BR",
    destination: Optional[str] = None,
) -> dict[str, Any]:
    """The call captured exactly one callback with these values, its ticket is in the
    outbox (same transaction), the call log says ``callback_created``, the caller
    heard "confirmed" last, and the --json object reports the same callback."""
    info = context(result)
    rows = stack.callbacks(call_uuid=result["call_uuid"])
    assert len(rows) == 1, (rows, info)
    row = rows[0]
    assert row["status"] == "pending" and row["source"] == "ivr", row
    assert row["domain"] == "demo.local"
    assert row["number_e164"] == number, info
    assert row["window_start"] == start and row["window_end"] == end, (row["window_start"], row["window_end"], info)
    assert row["next_attempt_at"] == start
    assert row["reason"] == reason and row["transcript"] == reason  # verbatim
    assert row["language"] == language
    assert row["destination_name"] == destination
    assert row["caller_name"] is None  # the caller-id name was only the number, or "Anonymous"
    tickets = [o for o in stack.outbox(call_uuid=result["call_uuid"]) if o["kind"] == "callback.created"]
    assert len(tickets) == 1 and tickets[0]["callback_id"] == row["id"], stack.outbox(call_uuid=result["call_uuid"])
    assert stack.call(result["call_uuid"])["outcome"] == "callback_created"
    assert result["outcome"] == "callback_created" and result["source"] == "database", info
    assert result["callback"] == {
        "id": str(row["public_id"]),
        "number": number,
        "window_start": start.astimezone(row["window_start"].tzinfo).isoformat(),
        "window_end": end.astimezone(row["window_end"].tzinfo).isoformat(),
        "reason": reason,
        "status": "pending",
        "request": "created",  # a new request, not folded into an open one
    }, info
    confirmed = "seu retorno está confirmado" if language == "pt-BR" else "your call back is confirmed"
    assert confirmed in ivr_lines(result)[-1], info
    assert result["hangup_by"] != "caller", info  # the caller did not have to hang up on us
    assert [s["step"] for s in steps(stack, result)][-1] == "stored"
    return row


# --------------------------------------------------------------------------- number


def test_caller_id_accepted_on_a_direct_request(stack: Stack) -> None:
    """ "me liga depois" goes straight to the capture; the caller id is offered by its
    last four digits and accepted; nothing is keyed or read back before the final
    confirmation."""
    result = run(stack, "caller_id_accepted.yaml")
    saved(
        stack,
        result,
        number="+5511998765432",
        start=local("2026-11-25T08:00"),
        end=local("2026-11-25T12:00"),
        reason="quero a segunda via do boleto",
    )
    assert slots(result) == ["intent", "confirm_caller_id", "when", "reason", "confirm_callback"]
    assert any("terminado em 5432" in line for line in ivr_lines(result))
    assert "um um, nove nove oito sete seis, cinco quatro três dois" in ivr_lines(result)[-2]
    assert [i["intent"] for i in stack.call(result["call_uuid"])["intents"]] == ["callback"]
    assert steps(stack, result)[0] == {**steps(stack, result)[0], "step": "number", "source": "caller_id"}
    assert result["transfers"] == [] and stack.attempts(result["call_uuid"]) == []


def test_withheld_caller_keys_the_number(stack: Stack) -> None:
    """ "anonymous" is never offered: the number is keyed with #, read back digit by
    digit, and "as soon as possible" (key 1) is the rest of the open morning."""
    result = run(stack, "withheld_keypad.yaml")
    rows = stack.callbacks(call_uuid=result["call_uuid"])
    assert len(rows) == 1, context(result)
    row = rows[0]
    assert "confirm_caller_id" not in slots(result)
    assert slots(result)[1:3] == ["number", "confirm_number"]
    assert any(
        line.startswith("Anotei o número um um, nove oito sete seis cinco, quatro três dois um.")
        for line in ivr_lines(result)
    ), context(result)
    # ASAP starts now (the call's clock), not at the top of the hour
    at = local("2026-11-24T10:30")
    assert at <= row["window_start"] < at + timedelta(minutes=1), row["window_start"]
    saved(
        stack,
        result,
        number="+5511987654321",
        start=row["window_start"],
        end=local("2026-11-24T12:00"),
        reason="problema com a fatura",
    )
    assert stack.call(result["call_uuid"])["caller_number"] == "anonymous"
    assert steps(stack, result)[0]["source"] == "dtmf"


def test_spoken_number_in_portuguese(stack: Stack) -> None:
    """The caller declines the caller id and says the number in words."""
    result = run(stack, "spoken_number.yaml")
    rows = stack.callbacks(call_uuid=result["call_uuid"])
    assert len(rows) == 1, context(result)
    saved(
        stack,
        result,
        number="+5511987654321",
        start=rows[0]["window_start"],
        end=local("2026-11-24T12:00"),
        reason="orçamento de instalação",
    )
    assert slots(result)[1:4] == ["confirm_caller_id", "number", "confirm_number"]
    assert steps(stack, result)[0]["source"] == "speech"


def test_invalid_number_then_a_valid_landline(stack: Stack) -> None:
    result = run(stack, "invalid_then_valid.yaml")
    saved(
        stack,
        result,
        number="+551132654321",
        start=local("2026-11-24T15:00"),
        end=local("2026-11-24T18:00"),
        reason="renovação do contrato",
    )
    assert slots(result)[1:4] == ["number", "number", "confirm_number"]
    assert ivr_lines(result).count("Desculpe, esse número não parece válido.") == 1


def test_correction_of_a_wrong_number_after_no(stack: Stack) -> None:
    """ "não" at the final confirmation, "o número", a new number: one request, with
    the corrected number and the other answers kept."""
    result = run(stack, "correct_number.yaml")
    saved(
        stack,
        result,
        number="+5511987654321",
        start=local("2026-11-24T13:00"),
        end=local("2026-11-24T18:00"),
        reason="segunda via do boleto",
    )
    assert slots(result)[-5:] == ["confirm_callback", "correct_part", "number", "confirm_number", "confirm_callback"]
    assert [s for s in steps(stack, result) if s["step"] == "correct"] == [
        {**steps(stack, result)[-3], "step": "correct", "part": "number"}
    ]
    assert "quatro três dois zero" in ivr_lines(result)[-6]  # the wrong one was read back ...
    assert "quatro três dois um" in ivr_lines(result)[-2]  # ... and the right one confirmed
    assert len(stack.callbacks()) == 1  # the wrong number never reached the database


# --------------------------------------------------------------------------- when

# (scenario, answer to "when?", window start, window end, what the caller hears back)
PHRASINGS = [
    ("when_phrasing.yaml", "amanhã de manhã", "2026-11-25T08:00", "2026-11-25T12:00", "amanhã entre 8h e 12h"),
    ("when_phrasing.yaml", "hoje à tarde", "2026-11-24T13:00", "2026-11-24T18:00", "hoje entre 13h e 18h"),
    ("when_phrasing.yaml", "depois das três", "2026-11-24T15:00", "2026-11-24T18:00", "hoje entre 15h e 18h"),
    ("when_phrasing.yaml", "às 16h30", "2026-11-24T16:30", "2026-11-24T17:30", "hoje entre 16h30 e 17h30"),
    ("when_phrasing.yaml", "key 3", "2026-11-24T13:00", "2026-11-24T18:00", "hoje entre 13h e 18h"),  # keyed menu
    (
        "english_when.yaml", "tomorrow morning", "2026-11-25T08:00", "2026-11-25T12:00",
        "tomorrow between 8 AM and 12 PM",
    ),
    ("english_when.yaml", "after 2 pm", "2026-11-24T14:00", "2026-11-24T18:00", "today between 2 PM and 6 PM"),
]


@pytest.mark.parametrize(("base", "said", "start", "end", "heard"), PHRASINGS, ids=[p[1] for p in PHRASINGS])
def test_time_phrasing_lands_in_the_right_window(
    stack: Stack, base: str, said: str, start: str, end: str, heard: str
) -> None:
    doc = yaml.safe_load((CAPTURE / base).read_text(encoding="utf-8"))
    assert "say" in doc["caller_inputs"][2]  # the answer to "when?"
    doc["caller_inputs"][2] = {"dtmf": said[4:]} if said.startswith("key ") else {"say": said}
    doc["directory"] = str(SCENARIOS / "directory.yaml")
    result = run(stack, doc)
    language = "en-US" if base.startswith("english") else "pt-BR"
    saved(
        stack,
        result,
        number="+5511998765432",
        start=local(start),
        end=local(end),
        reason=str(doc["caller_inputs"][3]["say"]),
        language=language,
    )
    assert slots(result).count("when") == 1  # understood the first time
    said_back = "Vamos ligar " if language == "pt-BR" else "We will call you "
    assert f"{said_back}{heard}." in ivr_lines(result), context(result)
    assert heard in ivr_lines(result)[-2]  # and again in the one-sentence confirmation


@pytest.mark.parametrize(
    ("at", "opens", "heard"),
    [
        ("2026-11-27T19:00:00-03:00", "2026-11-28T08:00", "O atendimento volta amanhã às 08:00"),  # Fri -> Sat
        ("2026-11-28T12:30:00-03:00", "2026-11-30T08:00", "O atendimento volta no dia 30/11 às 08:00"),  # Sat -> Mon
    ],
    ids=["friday-evening", "saturday-afternoon"],
)
def test_out_of_hours_asap_lands_at_the_next_opening(stack: Stack, at: str, opens: str, heard: str) -> None:
    """Financeiro is closed: nothing is dialled, the caller accepts the callback
    offer, and "o quanto antes" is the next opening's first window."""
    doc = yaml.safe_load((CAPTURE / "out_of_hours_asap.yaml").read_text(encoding="utf-8"))
    doc["at"] = at
    doc["directory"] = str(SCENARIOS / "directory.yaml")
    result = run(stack, doc)
    start = local(opens)
    saved(
        stack,
        result,
        number="+5511998765432",
        start=start,
        end=start.replace(hour=12),
        reason="nota fiscal errada",
        destination="Financeiro",
    )
    assert any(heard in line for line in ivr_lines(result)), context(result)
    assert [o for o in result["originates"] if o["kind"] == "agent"] == []
    assert [(t["destination"], t["status"]) for t in result["transfers"]] == [("Financeiro", "out_of_hours")]


# --------------------------------------------------------------------------- after a transfer, hangup


def test_callback_offered_after_a_busy_transfer(stack: Stack) -> None:
    """Financeiro is busy; key 1 of the after-failure menu captures a callback tied to
    Financeiro and its agent's extension."""
    result = run(stack, "after_busy.yaml")
    row = saved(
        stack,
        result,
        number="+5511998765432",
        start=local("2026-11-24T16:30"),
        end=local("2026-11-24T17:30"),
        reason="boleto vencido",
        destination="Financeiro",
    )
    assert [(t["destination"], t["status"], t["hangup_cause"]) for t in result["transfers"]] == [
        ("Financeiro", "busy", "USER_BUSY")
    ]
    assert row["agent_extension"] == "1001"
    ids = stack.query("SELECT id FROM destinations WHERE name = %s", ("Financeiro",))
    assert row["destination_id"] == ids[0]["id"]
    ticket = next(o for o in stack.outbox(call_uuid=result["call_uuid"]) if o["kind"] == "callback.created")
    assert ticket["payload"]["destination"]["name"] == "Financeiro", ticket["payload"]
    assert "call.missed" not in [o["kind"] for o in stack.outbox(call_uuid=result["call_uuid"])]


def test_caller_hangs_up_before_confirming_stores_nothing(stack: Stack) -> None:
    result = run(stack, "hangup_before_confirm.yaml")
    info = context(result)
    assert slots(result)[-1] == "confirm_callback", info
    assert result["hangup_by"] == "caller", info
    assert stack.callbacks() == [], info
    assert stack.outbox() == [], info
    assert result["callback"] is None
    assert [s["step"] for s in steps(stack, result)] == ["number", "when", "why", "abandoned"]
    assert stack.call(result["call_uuid"])["outcome"] != "callback_created"
    assert not any("confirmado" in line for line in ivr_lines(result))


def test_abandoned_capture_is_counted_as_abandoned_in_the_call_log(stack: Stack) -> None:
    result = run(stack, "hangup_before_confirm.yaml")
    assert stack.call(result["call_uuid"])["outcome"] == "abandoned"
    assert result["outcome"] == "abandoned"


# --------------------------------------------------------------------------- "as soon as possible", always open


@pytest.fixture
def open_stack(db: Any, config: Any) -> Iterator[Stack]:
    """The scenarios' directory with no business hours anywhere: always open."""
    doc = yaml.safe_load((SCENARIOS / "directory.yaml").read_text(encoding="utf-8"))
    doc.pop("hours")
    for destination in doc["destinations"]:
        destination.pop("hours", None)
    with scenario_stack(db, config, doc, scale=SCALE) as running:
        yield running


@pytest.mark.parametrize("asked", [{"say": "o quanto antes"}, {"dtmf": "1"}], ids=["spoken", "key-1"])
@pytest.mark.parametrize(
    ("at", "start", "end", "heard"),
    [
        ("2026-11-24T12:59:00-03:00", "2026-11-24T12:59", "2026-11-24T16:59", "hoje entre 12h59 e 16h59"),
        ("2026-11-24T22:30:00-03:00", "2026-11-24T22:30", "2026-11-25T02:30",
         "hoje a partir das 22h30 até amanhã às 2h30"),
    ],
    ids=["afternoon", "late-evening"],
)
def test_asap_when_always_open_is_heard_as_stored(
    open_stack: Stack, asked: dict, at: str, start: str, end: str, heard: str
) -> None:
    """No business hours anywhere: "o quanto antes" is the next 4 hours (the
    always-open calendar's merged opening used to be stored, ending two days
    later, while the caller heard "hoje entre 12h59 e 0h"). What the caller hears
    twice is exactly the window stored."""
    doc = yaml.safe_load((CAPTURE / "after_busy.yaml").read_text(encoding="utf-8"))
    doc["at"] = at
    doc["directory"] = str(SCENARIOS / "directory.yaml")
    doc["caller_inputs"][3] = asked
    result = run(open_stack, doc)
    (row,) = open_stack.callbacks(call_uuid=result["call_uuid"])
    # the call's clock runs on while the caller talks: "now" is a few seconds past ``at``
    got_start, got_end = row["window_start"].astimezone(TZ), row["window_end"].astimezone(TZ)
    assert got_start.replace(second=0, microsecond=0) == local(start), context(result)
    assert got_end - got_start == timedelta(hours=4) and got_end.replace(second=0, microsecond=0) == local(end)
    assert row["next_attempt_at"] == row["window_start"]
    said = [line for line in ivr_lines(result) if heard in line]
    assert len(said) == 2, context(result)  # "Vamos ligar ..." and the confirmation
