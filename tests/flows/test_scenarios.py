"""Scenario tests: tests/scenarios/*.yaml run through ``voiceai-ivr simulate``'s real
stack — the simulator (a FreeSWITCH stand-in on real sockets), the outbound server,
the inbound ESL client, the conversation and transfer flows, and PostgreSQL —
asserted on the ``--json`` object and on the database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from voiceai_ivr.stores import calls
from voiceai_sim.scenario import load_scenario, parse_scenario
from voiceai_sim.stack import simulate

from .llm_server import tool_reply

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass
class Stack:
    config: Any
    db: Any

    def run(self, name: str) -> dict[str, Any]:
        """The ``voiceai-ivr simulate --json`` object of one scenario file."""
        return simulate(self.config, load_scenario(SCENARIOS / name), scale=0.05, timeout=60).to_json()

    def run_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        sc = parse_scenario(doc, name="inline", source_dir=SCENARIOS)
        return simulate(self.config, sc, scale=0.05, timeout=60).to_json()

    def attempts(self, call_uuid: str) -> list[dict[str, Any]]:
        with self.db.cursor() as cur:
            return calls.list_transfer_attempts(cur, call_uuid)

    def call(self, call_uuid: str) -> dict[str, Any]:
        with self.db.cursor() as cur:
            row = calls.get_call(cur, call_uuid)
        assert row is not None, f"no call log row for {call_uuid}"
        return row

    def outbox(self, call_uuid: str) -> list[tuple[str, dict]]:
        with self.db.cursor() as cur:
            cur.execute("SELECT kind, payload FROM helpdesk_outbox WHERE call_uuid = %s ORDER BY id", (call_uuid,))
            return [(r[0], r[1]) for r in cur.fetchall()]


@pytest.fixture
def stack(db, config) -> Stack:
    """``voiceai-ivr simulate``'s stack (simulator, inbound ESL, call server, the
    application) on the test's database; each scenario imports tests/scenarios/directory.yaml."""
    return Stack(config, db)


def _slots(result: dict[str, Any]) -> list[str]:
    return [e["slot"] for e in result["transcript"] if e.get("from") == "ivr" and e.get("slot")]


def _ivr_text(result: dict[str, Any]) -> str:
    return " | ".join(str(e.get("text", "")) for e in result["transcript"] if e.get("from") == "ivr")


def _check_out_of_hours(stack: Stack, result: dict[str, Any]) -> None:
    assert [o for o in result["originates"] if o["kind"] == "agent"] == []
    assert "yes_no" in _slots(result)
    text = _ivr_text(result)
    assert "O atendimento volta hoje às 14:00" in text
    assert "vou transferir" not in text  # nothing promised that cannot happen
    assert result["holds"] == []


def _check_hold_hangup(stack: Stack, result: dict[str, Any]) -> None:
    assert result["live_legs"] == []
    (agent,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert agent["answered"] is False and agent["bridged"] is False
    assert agent["ended_s"] is not None
    # the agent leg went down within 1 s (real) of the caller's hangup: 20 simulated s at scale 0.05
    hangup_t = max(e["t"] for e in result["transcript"] if e.get("from") == "caller")
    assert agent["ended_s"] - hangup_t < 20.0, (agent, hangup_t)
    assert result["holds"] and result["holds"][0]["stop_s"] is not None


def _check_no_input(stack: Stack, result: dict[str, Any]) -> None:
    assert _slots(result)[:3] == ["intent", "intent", "intent"]
    assert "Vou transferir você para Financeiro" in _ivr_text(result)
    row = stack.call(result["call_uuid"])
    assert any("no_input -> fallback" in s for s in row["details"]["states"])


def _check_ambiguous(stack: Stack, result: dict[str, Any]) -> None:
    assert _slots(result)[:2] == ["intent", "clarify"]
    text = _ivr_text(result)
    assert "Ana Lima" in text and "Ana Souza" in text


def _check_none_of_them(stack: Stack, result: dict[str, Any]) -> None:
    assert _slots(result)[:2] == ["intent", "clarify"]
    text = _ivr_text(result)
    assert "Ana Lima" in text and "Ana Souza" in text  # offered, then "nenhuma das duas"
    intents = stack.call(result["call_uuid"])["intents"]
    assert [i["intent"] for i in intents][-1] == "operator"


def _check_announcement(stack: Stack, result: dict[str, Any]) -> None:
    agent_lines = [e["text"] for e in result["transcript"] if e.get("leg") == "agent" and e.get("from") == "ivr"]
    # the number as people say it (issue 13): national format, the DDD as a number, grouped digits
    spoken = "Ligação de onze, nove nove oito sete meia, cinco quatro três dois"
    assert agent_lines and agent_lines[0].startswith(spoken)
    assert "Tecle 1 para aceitar ou 2 para recusar" in agent_lines[0]
    assert "sobre" not in agent_lines[0]  # the caller only named the destination


def _check_menu(stack: Stack, result: dict[str, Any]) -> None:
    assert [i["source"] for i in stack.call(result["call_uuid"])["intents"]] == ["dtmf"]


def _check_english(stack: Stack, result: dict[str, Any]) -> None:
    assert "One moment, I am transferring your call to Financeiro." in _ivr_text(result)
    assert stack.call(result["call_uuid"])["language"] == "en-US"


Check = Optional[Callable[[Stack, dict[str, Any]], None]]

# name -> (call outcome, [(destination, status, hangup cause)], text the caller must hear, extra check)
CASES: dict[str, tuple[str, list[tuple[str, str, Optional[str]]], str, Check]] = {
    "transfer_accepted.yaml": (
        "transferred", [("Financeiro", "accepted", None)], "transferir sua ligação", _check_announcement,
    ),
    "transfer_declined.yaml": ("ended", [("Financeiro", "rejected", None)], "Financeiro não pode atender agora", None),
    "transfer_agent_hangup.yaml": (
        "ended", [("Financeiro", "rejected", "AGENT_HANGUP")], "Financeiro não pode atender agora", None,
    ),
    "transfer_busy.yaml": ("ended", [("Financeiro", "busy", "USER_BUSY")], "Financeiro está em outra ligação", None),
    "transfer_no_answer.yaml": ("ended", [("Financeiro", "no_answer", "NO_ANSWER")], "Financeiro não atendeu", None),
    "transfer_offline.yaml": (
        "ended", [("Financeiro", "offline", "USER_NOT_REGISTERED")], "Financeiro não está disponível", None,
    ),
    "transfer_rejected.yaml": (
        "ended", [("Financeiro", "rejected", "CALL_REJECTED")], "não pode atender agora", None,
    ),
    "transfer_invalid_destination.yaml": (
        "ended", [("Arquivo", "invalid_destination", "UNALLOCATED_NUMBER")], "Não foi possível completar", None,
    ),
    "out_of_hours.yaml": (
        "ended", [("Jurídico", "out_of_hours", None)], "não está atendendo neste horário", _check_out_of_hours,
    ),
    "caller_hangup_on_hold.yaml": (
        "caller_hangup", [("Diretoria", "caller_hangup", None)], "Diretoria", _check_hold_hangup,
    ),
    "no_input_fallback.yaml": (
        "transferred", [("Financeiro", "accepted", None)], "Desculpe, não ouvi nada", _check_no_input,
    ),
    "ambiguous_name.yaml": ("transferred", [("Ana Lima", "accepted", None)], "Você quis dizer Ana", _check_ambiguous),
    "unknown_full_name.yaml": ("transferred", [("Financeiro", "accepted", None)], "Ana Lima", _check_none_of_them),
    "menu_key.yaml": ("transferred", [("Comercial", "accepted", None)], "3 para Comercial", _check_menu),
    "english_secretary.yaml": (
        "transferred", [("Financeiro", "accepted", None)], "Who would you like to speak to", _check_english,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scenario(stack: Stack, name: str) -> None:
    outcome, expected, heard, check = CASES[name]
    result = stack.run(name)
    context = yaml.safe_dump({k: result[k] for k in ("transcript", "originates", "errors")}, allow_unicode=True)
    assert result["legs_left_up"] == 0, context
    assert result["expect_failures"] == [], context
    assert result["errors"] == [], context
    assert result["source"] == "database" and result["outcome"] == outcome, context
    assert [(t["destination"], t["status"], t["hangup_cause"]) for t in result["transfers"]] == expected
    assert heard in _ivr_text(result), context
    row = stack.call(result["call_uuid"])
    assert row["outcome"] == outcome, context
    assert row["ended_at"] is not None and row["domain"] == "demo.local" and row["mode"] == "sim"
    attempts = stack.attempts(result["call_uuid"])
    got = [(a["destination_name"], a["status"], a["hangup_cause"]) for a in attempts]
    assert got == expected, context
    originated = [o for o in result["originates"] if o["kind"] == "agent"]
    for attempt in attempts:
        if attempt["status"] == "out_of_hours":
            assert attempt["dial_string"] is None
            continue
        assert attempt["dial_string"], attempt
        assert attempt["wait_seconds"] is not None
        # the dial string we recorded is the one FreeSWITCH got, with our origination uuid
        assert any(
            attempt["dial_string"] in o["dial_string"] and attempt["agent_uuid"] in o["dial_string"]
            for o in originated
        ), (attempt, originated)
    kinds = [k for k, _ in stack.outbox(result["call_uuid"])]
    if outcome == "transferred":
        assert kinds == ["transfer.completed"]
        assert any(h["stopped_by"] in ("bridge", "uuid_break") for h in result["holds"]), result["holds"]
    else:
        assert "transfer.completed" not in kinds
    for hold in result["holds"]:
        assert hold["stop_s"] is not None, result["holds"]  # the music always stops
    if check is not None:
        check(stack, result)


# --------------------------------------------------------------------------- hostile caller-ID names


@pytest.mark.parametrize(("caller_name", "agent_sees"), [
    ("!!!", "+5511998765432"),  # no letter or digit: the number instead
    ("☎☎", "+5511998765432"),
    ("Maria & Filhos, Ltda", "Maria & Filhos, Ltda"),
    ("D'Ávila ${evil} {x}", "D'Ávila evil x"),
    ("a:_:user/1003@demo.local", "a _ user 1003 demo.local"),
])
def test_any_caller_id_name_is_transferred(stack: Stack, caller_name: str, agent_sees: str) -> None:
    """The caller's name comes from the caller: whatever it holds, the transfer
    goes through and the agent's phone shows it cleaned (or the number)."""
    doc = yaml.safe_load((SCENARIOS / "transfer_accepted.yaml").read_text(encoding="utf-8"))
    doc["caller_name"] = caller_name
    result = stack.run_doc(doc)
    context = yaml.safe_dump({k: result[k] for k in ("transcript", "originates", "errors")}, allow_unicode=True)
    assert result["outcome"] == "transferred", context
    assert [(t["destination"], t["status"]) for t in result["transfers"]] == [("Financeiro", "accepted")]
    (agent,) = [o for o in result["originates"] if o["kind"] == "agent"]
    assert agent["caller_id_name"] == agent_sees


# --------------------------------------------------------------------------- LLM intent in a call

LLM_CALLER = {
    "domain": "demo.local",
    "did": "8000",
    "caller": "+5511998765432",
    "at": "2026-11-24T10:30:00-03:00",
    "directory": "directory.yaml",
    "asr_engines": ["unimrcp"],  # the PBX recognises speech (the simulator's default: none)
    "caller_inputs": [{"say": "quero falar com o financeiro sobre um pedido grande"}],
    "agents": {
        "1001": {"behavior": "answer", "answer_after": 1, "accept": True},
        "1003": {"behavior": "answer", "answer_after": 1, "accept": True},
    },
}


@pytest.mark.parametrize(
    ("reply", "destination", "source"),
    [
        # the model hands off to Comercial: the LLM decides this turn
        ((200, tool_reply("request_handoff", {"destination": "Comercial", "reason": "pedido grande"}), 0.0),
         "Comercial", "llm"),
        # the model is slow, broken, or names a destination that does not exist: the rules decide
        ((200, tool_reply("end_call", {}), 5.0), "Financeiro", "rules"),
        ((500, {"error": "overloaded"}, 0.0), "Financeiro", "rules"),
        ((200, tool_reply("request_handoff", {"destination": "Diretoria Geral"}), 0.0), "Financeiro", "rules"),
    ],
)
def test_llm_intent_with_fallback_to_rules(stack: Stack, serve, reply, destination: str, source: str) -> None:
    status, body, delay = reply
    srv = serve(lambda _req: (status, json.dumps(body).encode(), delay))
    stack.config.llm.enabled = True
    stack.config.llm.url = srv.url
    stack.config.llm.model = "test-model"
    stack.config.llm.timeout = 0.5
    result = stack.run_doc(dict(LLM_CALLER))
    assert result["legs_left_up"] == 0
    assert [(t["destination"], t["status"]) for t in result["transfers"]] == [(destination, "accepted")]
    intents = stack.call(result["call_uuid"])["intents"]
    assert [(i["intent"], i["source"]) for i in intents] == [("transfer", source)]
    if source == "llm":
        agent = [e["text"] for e in result["transcript"] if e.get("leg") == "agent" and e.get("from") == "ivr"]
        assert "sobre pedido grande" in agent[0]
    assert len(srv.requests) == 1


def test_simulate_command_json(cli_env) -> None:
    """The CLI itself: ``voiceai-ivr simulate SCENARIO --json`` prints the contract object."""
    from click.testing import CliRunner

    from voiceai_ivr.cli import cli

    out = CliRunner().invoke(
        cli, ["simulate", str(SCENARIOS / "transfer_busy.yaml"), "--json"], env=cli_env, catch_exceptions=False
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert data["outcome"] == "ended" and data["legs_left_up"] == 0 and data["source"] == "database"
    assert data["transfers"][0]["status"] == "busy" and data["transfers"][0]["hangup_cause"] == "USER_BUSY"
    assert data["transfers"][0]["dial_string"] == "user/1001@demo.local"
    slots = [e.get("slot") for e in data["transcript"] if e["from"] == "ivr" and e.get("slot")]
    assert slots == ["intent", "after_failure"]
