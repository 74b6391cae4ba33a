"""First sentences through a whole call (``voiceai-ivr simulate``'s stack: the
simulator as FreeSWITCH on real sockets, the call server, PostgreSQL) with the
corpus directories: what the caller hears next, where the call goes, and what the
agent hears in the announcement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import Stack, scenario_stack

HERE = Path(__file__).resolve().parent
SCALE = 0.02


def call(stack: Stack, did: str, caller: str, inputs: list[dict[str, Any]], agents: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "domain": stack.domain, "did": did, "caller": caller, "at": "2026-11-24T10:30:00-03:00",
        "caller_inputs": inputs, "agents": agents,
    }
    result = stack.run(doc)
    info = yaml.safe_dump({k: result.get(k) for k in ("outcome", "transfers", "transcript", "errors")},
                          allow_unicode=True)
    assert result["errors"] == [] and result["legs_left_up"] == 0, info
    return result


def ivr_lines(result: dict[str, Any], leg: str = "caller") -> list[str]:
    return [str(e.get("text", "")) for e in result["transcript"]
            if e.get("from") == "ivr" and e.get("leg", "caller") == leg]


def agent_lines(result: dict[str, Any]) -> list[str]:
    return [str(e.get("text", "")) for e in result["transcript"] if e.get("leg") == "agent" and e.get("from") == "ivr"]


@pytest.fixture
def pt(db: Any, config: Any) -> Iterator[Stack]:
    with scenario_stack(db, config, HERE / "directory.pt-BR.yaml", scale=SCALE) as running:
        running.domain = "corpus-pt.local"  # type: ignore[attr-defined]
        yield running


@pytest.fixture
def en(db: Any, config: Any) -> Iterator[Stack]:
    with scenario_stack(db, config, HERE / "directory.en-US.yaml", scale=SCALE) as running:
        running.domain = "corpus-en.local"  # type: ignore[attr-defined]
        yield running


ACCEPT = {"behavior": "answer", "answer_after": 1, "accept": True}


def test_unknown_surname_offers_the_people_with_their_departments(pt: Stack) -> None:
    result = call(pt, "8000", "+5511998765432", [
        {"say": "é uma tal de ana não sei o sobrenome dela"},
        {"say": "a do jurídico"},
    ], {"1108": ACCEPT})
    offer = ivr_lines(result)[1]
    assert "Ana Paula Costa, recursos humanos ou Ana Beatriz Rocha, jurídico" in offer, offer
    assert "Ou diga o setor" in offer
    assert [(t["destination"], t["status"]) for t in result["transfers"]] == [("Ana Beatriz Rocha", "accepted")]
    # the agent hears the number as people say it, and no reason (the caller named no topic)
    (announce,) = agent_lines(result)[:1]
    assert announce.startswith("Ligação de onze, nove nove oito sete meia, cinco quatro três dois, para Ana Beatriz")


def test_a_shared_first_name_is_asked_plainly(pt: Stack) -> None:
    result = call(pt, "8000", "+5511998765432", [{"say": "quero falar com a maria"}, {"dtmf": "2"}],
                  {"1102": ACCEPT})
    assert "Você quis dizer Maria Silva ou Maria Souza?" in ivr_lines(result)[1]
    assert [t["destination"] for t in result["transfers"]] == ["Maria Souza"]


def test_a_subjunctive_callback_request_starts_the_capture(pt: Stack) -> None:
    result = call(pt, "8000", "+5511998765432", [{"say": "queria que alguém me retornasse amanhã"},
                                                 {"hangup": True}], {})
    assert result["transfers"] == []
    intents = pt.call(result["call_uuid"])["intents"]
    assert [i["intent"] for i in intents] == ["callback"]


def test_a_negated_callback_is_a_transfer(pt: Stack) -> None:
    result = call(pt, "8000", "+5511998765432", [{"say": "não precisa me ligar quero falar agora com o suporte"}],
                  {"2000": ACCEPT})
    assert [t["destination"] for t in result["transfers"]] == ["Suporte Técnico"]


def test_a_person_asked_for_reaches_reception_and_the_agent_is_told_why(pt: Stack) -> None:
    result = call(pt, "8000", "+551130000000", [{"say": "quero falar com uma pessoa de verdade"}], {"1000": ACCEPT})
    assert [t["destination"] for t in result["transfers"]] == ["Recepção"]
    announce = agent_lines(result)[0]
    assert announce.startswith("Ligação de onze, três zero zero zero, zero zero zero zero, pediu a recepção, "
                               "para Recepção."), announce
    assert "operator" not in announce and "fallback" not in announce


def test_a_described_problem_goes_to_its_department_with_a_short_reason(en: Stack) -> None:
    result = call(en, "8001", "+12125550123", [{"say": "hi um yeah i was double charged on my credit card"}],
                  {"1001": ACCEPT})
    assert [t["destination"] for t in result["transfers"]] == ["Billing"]
    announce = agent_lines(result)[0]
    assert announce.startswith(
        "Call from two one two, five five five, zero one two three, about double charged, credit card, for Billing."
    ), announce
    assert "hi um yeah" not in announce  # never the caller's sentence


def test_front_desk_and_spoken_menu_keys(en: Stack) -> None:
    result = call(en, "8001", "+12125550123", [{"say": "front desk please"}], {"1000": ACCEPT})
    assert [t["destination"] for t in result["transfers"]] == ["Front Desk"]
    result = call(en, "8001", "+12125550123", [{"say": "option two"}], {"2000": ACCEPT})
    assert [t["destination"] for t in result["transfers"]] == ["Technical Support"]
