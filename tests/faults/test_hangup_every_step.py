"""The caller hangs up at every step of every flow: greeting, each listen of the
conversation, hold, the agent's announcement, the after-failure menu, the callback
offer, each callback question, and while hearing the confirmation.

Each case asserts the caller's side (every leg down on the simulator, the handler
returned within 1 s of the hangup, nothing escaped the handler, no error logged)
and the database (a closed call-log row; no callback or outbox row unless the
caller had confirmed, and then exactly one).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import FaultStack, Ledger, assert_clean_end, scenario, slots

H = {"hangup": True}
ASK_CALLBACK = {"say": "me liga depois por favor"}
YES = {"say": "sim"}
WHEN = {"say": "amanhã de manhã"}
REASON = {"say": "quero a segunda via do boleto"}
WITHHELD_ASK = {"say": "quero que vocês me retornem"}
KEYED_NUMBER = {"dtmf": "11987654321#"}
SLOW_AGENT = {"1001": {"behavior": "answer", "answer_after": 60, "accept": True}}
SILENT_AGENT = {"1001": {"behavior": "answer", "answer_after": 1, "accept": None}}
BUSY_AGENT = {"1001": {"behavior": "busy"}}

# name -> (scenario, the slot the IVR last listened for (None: hangup not at a listen),
#          callbacks stored afterwards)
CASES: dict[str, tuple[dict[str, Any], Any, int]] = {
    "greeting": (scenario([{"hangup": {"after": 0.5}}]), None, 0),
    "listen_intent": (scenario([H]), "intent", 0),
    "listen_clarify": (scenario([{"say": "quero falar com a ana"}, H]), "clarify", 0),
    "hold": (scenario([{"say": "financeiro"}, {"hangup": {"after": 6}}], agents=SLOW_AGENT), "intent", 0),
    "announcement": (scenario([{"say": "financeiro"}, {"hangup": {"after": 8}}], agents=SILENT_AGENT),
                     "intent", 0),
    "after_failure_menu": (scenario([{"say": "financeiro"}, H], agents=BUSY_AGENT), None, 0),
    "offer_callback_out_of_hours": (scenario([{"say": "jurídico"}, H]), "yes_no", 0),
    "callback_confirm_caller_id": (scenario([ASK_CALLBACK, H]), "confirm_caller_id", 0),
    "callback_number": (scenario([WITHHELD_ASK, H], caller="anonymous"), "number", 0),
    "callback_confirm_number": (scenario([WITHHELD_ASK, KEYED_NUMBER, H], caller="anonymous"), "confirm_number", 0),
    "callback_when": (scenario([ASK_CALLBACK, YES, H]), "when", 0),
    "callback_reason": (scenario([ASK_CALLBACK, YES, WHEN, H]), "reason", 0),
    "callback_confirm": (scenario([ASK_CALLBACK, YES, WHEN, REASON, H]), "confirm_callback", 0),
    "callback_correct_part": (scenario([ASK_CALLBACK, YES, WHEN, REASON, {"say": "não"}, H]), "correct_part", 0),
    "during_confirmation": (scenario([ASK_CALLBACK, YES, WHEN, REASON, YES, {"hangup": {"after": 0.3}}]),
                            "confirm_callback", 1),
}


@pytest.mark.parametrize("step", sorted(CASES))
def test_caller_hangs_up_at(step: str, fault_stack: FaultStack, ledger: Ledger,
                            caplog: pytest.LogCaptureFixture) -> None:
    sc, last_slot, stored = CASES[step]
    if step == "offer_callback_out_of_hours":
        pass  # Jurídico keeps 14:00-17:00: at 10:30 it is out of hours
    result = fault_stack.run(sc)
    ledger.fault(f"caller_hangup:{step}")
    info = {k: result.get(k) for k in ("transcript", "originates", "errors", "socket_end")}
    assert result["errors"] == [], info
    assert result["hangup_by"] == "caller", info
    if last_slot is not None:
        assert slots(result)[-1] == last_slot, info
    assert_clean_end(fault_stack, result, ledger, caplog)
    call_uuid = result["call_uuid"]
    callbacks = fault_stack.stack.callbacks()
    outbox = fault_stack.stack.outbox()
    assert len(callbacks) == stored, (callbacks, info)
    ledger.callbacks(stored, len(callbacks), f"hangup {step}")
    created = [o for o in outbox if o["kind"] == "callback.created"]
    assert len(created) == stored, outbox
    if stored:
        assert callbacks[0]["call_uuid"] == call_uuid and callbacks[0]["number_e164"] == "+5511998765432"
        assert created[0]["callback_id"] == callbacks[0]["id"]
    # every agent leg this call dialled is down, and none was bridged to a caller who had left
    for leg in result["originates"]:
        assert leg["ended_s"] is not None, leg
        assert not leg["bridged"], leg
    if step in ("hold", "announcement"):
        (leg,) = [o for o in result["originates"] if o["kind"] == "agent"]
        attempts = fault_stack.stack.attempts(call_uuid)
        assert [a["status"] for a in attempts] == ["caller_hangup"], attempts
        assert leg["answered"] is (step == "announcement"), leg
        if step == "hold":
            assert result["holds"] and result["holds"][0]["stop_s"] is not None, result["holds"]
