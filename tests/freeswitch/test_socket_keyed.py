"""Socket mode on a stock switch with NO speech recognition for the configured
engine (``speech.asr_engine: unimrcp``, which the kit does not have, as on a stock
FreeSWITCH or FusionPBX): every turn is keyed, and every transfer outcome is seen
with real SIP phones (the kit's agent phones, each with a scripted behaviour)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freeswitch.harness import DOMAIN, Call, Deployment, Switchboard, deployed
from freeswitch.parity import assert_same_on_the_simulator

pytestmark = pytest.mark.timeout(180)

DID = "8100"
# One destination per kit phone behaviour, each reachable by its menu key.
DIRECTORY: dict[str, Any] = {
    "domain": DOMAIN,
    "timezone": "America/Sao_Paulo",
    "hours": {"mon-sun": ["00:00-24:00"]},
    "secretaries": [{
        "name": "Recepção", "dids": [DID], "language": "pt-BR", "announce": True,
        "music_on_hold": "local_stream://moh", "fallback": "Financeiro", "callback": True, "ring_timeout": 8,
    }],
    "destinations": [
        {"name": "Financeiro", "aliases": ["financeiro", "boleto"], "type": "extension", "target": "1001",
         "menu_key": 1},
        {"name": "Comercial", "aliases": ["vendas"], "type": "extension", "target": "1003", "menu_key": 2},
        {"name": "Suporte", "aliases": ["suporte"], "type": "extension", "target": "1004", "menu_key": 3,
         "timeout": 5},
        {"name": "Compras", "type": "extension", "target": "1002", "menu_key": 4},
        {"name": "Plantão", "type": "extension", "target": "1005", "menu_key": 5},
        {"name": "Jurídico", "type": "extension", "target": "1006", "menu_key": 6},
        {"name": "Diretoria", "type": "extension", "target": "1007", "menu_key": 7},
        {"name": "Logística", "type": "extension", "target": "1008", "menu_key": 8},
    ],
}
CONFIG = {"speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
                     "asr_engine": "unimrcp", "listen_timeout": 5.0, "reprompts": 1}}


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("keyed")), directory=DIRECTORY,
                  did=DID, config=CONFIG) as dep:
        yield dep

def choose(board: Switchboard, key: str) -> Call:
    """Call the DID and key a destination during the greeting (it interrupts it)."""
    call = board.call(DID)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press(key)
    return call


def finish(call: Call) -> None:
    call.hangup()
    call.wait_gone(10)


def attempt(dep: Deployment, call: Call) -> dict[str, Any]:
    rows = dep.attempts(call.b)
    assert len(rows) == 1, rows
    return rows[0]


def after_failure_prompt(call: Call, since: int) -> Any:
    return call.wait_prompt(r"Tecle 9 para encerrar", 30, since=since)


def end_with_9(call: Call) -> None:
    """After a failed transfer the caller keys 9 (end the call) in the menu."""
    call.wait_listen("after_failure", 30)
    call.wait_prompt_started()
    call.press("9")
    call.wait_gone(30)


def parity(dep: Deployment, call: Call, key: str, db: Any, config: Any) -> None:
    """The same scenario on the simulator ends the same way (docs/simulator.md)."""
    real = (dep.call_row(call.b)["outcome"], tuple(a["status"] for a in dep.attempts(call.b)))
    assert_same_on_the_simulator(db, config, DIRECTORY, DID, key, real)


def test_no_asr_module_greeting_is_keyed_and_says_the_menu(switchboard: Switchboard, deployment: Deployment) -> None:
    call = switchboard.call(DID)
    call.wait_listen("intent")
    greeting = call.wait_prompt_started()
    assert greeting.app == "playback", "without an ASR module the turn must not use play_and_detect_speech"
    assert "Tecle 1 para Financeiro" in greeting.data and "Diga" not in greeting.data, greeting.data
    finish(call)
    assert deployment.call_row(call.b)["outcome"] == "caller_hangup"


def test_transfer_accepted_by_key_and_bridged(switchboard: Switchboard, deployment: Deployment, db: Any,
                                              config: Any) -> None:
    call = choose(switchboard, "1")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    row = deployment.call_row(call.b)
    assert row["outcome"] == "transferred"
    a = attempt(deployment, call)
    assert a["status"] == "accepted" and a["destination_name"] == "Financeiro"
    spans = call.hold_music()
    assert spans and all(end is not None and end <= bridged.t for _, end in spans), spans
    finish(call)
    parity(deployment, call, "1", db, config)


def test_busy_prompt_within_2s_of_the_486(switchboard: Switchboard, deployment: Deployment, db: Any,
                                          config: Any) -> None:
    call = choose(switchboard, "2")
    busy = call.wait_prompt(r"em outra ligação", 30)
    a = attempt(deployment, call)
    assert a["status"] == "busy" and a["hangup_cause"] == "USER_BUSY"
    agent_gone = call.hangup_of(a["agent_uuid"])
    assert agent_gone is not None and agent_gone.h.get("Hangup-Cause") == "USER_BUSY"
    assert busy.t - agent_gone.t < 2.0, f"busy prompt {busy.t - agent_gone.t:.2f}s after the 486"
    spans = call.hold_music()
    assert spans and all(end is not None and end <= busy.t for _, end in spans), f"music outlived the 486: {spans}"
    after_failure_prompt(call, busy.i)
    end_with_9(call)
    parity(deployment, call, "2", db, config)


@pytest.mark.parametrize(("key", "status", "cause", "pattern"), [
    ("3", "no_answer", None, r"Suporte não atendeu"),
    ("5", "offline", "USER_NOT_REGISTERED", r"Plantão não está disponível"),
    ("8", "rejected", "CALL_REJECTED", r"Logística não pode atender"),
], ids=["no_answer", "unregistered", "rejected"])
def test_failed_transfers_are_reported_and_bounded(switchboard: Switchboard, deployment: Deployment, key: str,
                                                  status: str, cause: str, pattern: str, db: Any,
                                                  config: Any) -> None:
    call = choose(switchboard, key)
    told = call.wait_prompt(pattern, 40)
    a = attempt(deployment, call)
    assert a["status"] == status, a
    if cause:
        assert a["hangup_cause"] == cause, a
    spans = call.hold_music()
    assert all(end is not None and end <= told.t for _, end in spans), f"music outlived the failure: {spans}"
    if status == "no_answer":  # 5 s ring timeout + margin, never the 300 s handler bound
        assert a["wait_seconds"] < 5 + 6, a
    after_failure_prompt(call, told.i)
    end_with_9(call)
    parity(deployment, call, key, db, config)


@pytest.mark.parametrize(("key", "decision", "pattern"), [
    ("4", "declined", r"Compras não pode atender"),
    ("6", "no_key", r"Jurídico não pode atender"),
    ("7", "agent_hangup", r"Diretoria não pode atender"),
], ids=["declined", "agent_never_keys", "agent_hangs_up_during_announcement"])
def test_agent_answers_but_does_not_accept(switchboard: Switchboard, deployment: Deployment, key: str,
                                          decision: str, pattern: str, db: Any, config: Any) -> None:
    call = choose(switchboard, key)
    told = call.wait_prompt(pattern, 60)
    a = attempt(deployment, call)
    assert a["status"] == "rejected", a
    assert (a["details"] or {}).get("decision") == decision, a
    assert call.bridged() is None
    spans = call.hold_music()
    assert spans and all(end is not None and end <= told.t for _, end in spans), spans
    # The agent's leg is gone once the caller is told.
    agent_gone = call.hangup_of(a["agent_uuid"], timeout=5)
    assert agent_gone is not None
    end_with_9(call)
    parity(deployment, call, key, db, config)


def test_caller_hangs_up_on_hold_agent_leg_gone_within_1s(switchboard: Switchboard, deployment: Deployment) -> None:
    call = choose(switchboard, "3")  # 1004 rings and never answers
    started = switchboard.wait_event(lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == call.b
                                     and e.data.startswith("local_stream://"), 30, since=call.mark)
    assert started is not None, f"no hold music; prompts: {call.prompts()}"
    agent = switchboard.wait_event(lambda e: e.name == "CHANNEL_CREATE" and "1004" in e.h.get("Channel-Name", ""),
                                   10, since=call.mark)
    assert agent is not None, "the agent leg was never created"
    hung = switchboard.mark()
    call.hangup()
    caller_gone = switchboard.wait_event(lambda e: e.name == "CHANNEL_HANGUP" and e.uuid == call.b, 5, since=hung)
    agent_gone = call.hangup_of(agent.uuid, timeout=5)
    assert caller_gone is not None and agent_gone is not None
    assert agent_gone.t - caller_gone.t < 1.0, f"agent leg outlived the caller by {agent_gone.t - caller_gone.t:.2f}s"
    row = deployment.call_row(call.b)
    assert row["outcome"] == "caller_hangup"
    assert attempt(deployment, call)["status"] == "caller_hangup"


def test_keys_pressed_during_a_prompt_are_not_lost(switchboard: Switchboard, deployment: Deployment) -> None:
    """Type-ahead: the caller keys a whole choice while the IVR is still talking;
    the keys count (in the first version they were thrown away)."""
    call = switchboard.call(DID)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press("2")  # Comercial: busy
    told = call.wait_prompt(r"em outra ligação", 30)
    # Key 1 (callback) pressed during the busy announcement itself: the next
    # question is answered at once, its prompt is never played.
    call.press("1")
    call.wait_prompt(r"Podemos ligar de volta|número", 30, since=told.i)
    finish(call)
    played = call.prompts()
    assert not any("Tecle 9 para encerrar" in p for p in played), played


def test_callback_captured_with_keys_only(switchboard: Switchboard, deployment: Deployment) -> None:
    call = choose(switchboard, "2")  # busy -> after-failure menu
    call.wait_listen("after_failure")
    call.press("1")  # callback
    call.wait_listen("confirm_caller_id")
    call.press("1")  # yes, call me back on this number
    call.wait_listen("when")
    call.press("1")  # as soon as possible
    call.wait_listen("confirm_callback")
    call.press("1")  # confirmed
    call.wait_prompt(r"retorno está confirmado", 30)
    call.wait_gone(30)
    rows = deployment.callbacks(call.b)
    assert len(rows) == 1, rows
    cb = rows[0]
    assert cb["status"] == "pending" and cb["number_e164"] == "+5511987654321"
    assert deployment.call_row(call.b)["outcome"] == "callback_created"
