"""Parity: one scenario set, run on the simulator and on the real switch, must end
the same way (call outcome and every transfer attempt's status).

Each scenario is a caller keying a destination whose agent behaves as one of the
kit's phones; the simulator's agents are scripted to behave like those phones.
A difference that must remain is listed in docs/simulator.md with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freeswitch.harness import Deployment, Switchboard, deployed
from freeswitch.test_socket_keyed import CONFIG, DIRECTORY


def _simulator_harness() -> Any:
    """tests/harness.py (the simulator's scenario stack); this folder has a module of
    the same name on sys.path, so it is loaded by its path."""
    import importlib.util
    import sys

    name = "voiceai_tests_sim_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "harness.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


scenario_stack = _simulator_harness().scenario_stack

pytestmark = pytest.mark.timeout(240)

DID = "8130"
DIRECTORY_PARITY = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID])])

# name: (key the caller presses, the simulator's agent, what the kit's phone does)
SCENARIOS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "accepted": ("1", "1001", {"behavior": "answer", "answer_after": 1, "accept": True}),
    "busy": ("2", "1003", {"behavior": "busy"}),
    "no_answer": ("3", "1004", {"behavior": "no_answer"}),
    "declined": ("4", "1002", {"behavior": "answer", "answer_after": 1, "accept": False}),
    "offline": ("5", "1005", {"behavior": "offline"}),
    "agent_never_keys": ("6", "1006", {"behavior": "answer", "answer_after": 1, "accept": None}),
    "agent_hangs_up": ("7", "1007", {"behavior": "answer", "answer_after": 1, "accept": None, "hangup_after": 2}),
    "rejected": ("8", "1008", {"behavior": "reject"}),
}


def summary(outcome: str, statuses: list[str]) -> tuple[str, tuple[str, ...]]:
    return outcome, tuple(statuses)


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("parity")), directory=DIRECTORY_PARITY,
                  did=DID, config=CONFIG) as dep:
        yield dep

def on_the_switch(board: Switchboard, dep: Deployment, key: str) -> tuple[str, tuple[str, ...]]:
    call = board.call(DID)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press(key)
    if key == "1":
        assert board.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                                since=call.mark) is not None, call.prompts()
        row = dep.call_row(call.b)
        call.hangup()
    else:
        call.wait_listen("after_failure", 60)
        call.wait_prompt_started()
        call.press("9")  # end the call
        call.wait_gone(30)
        row = dep.call_row(call.b)
    return summary(row["outcome"], [a["status"] for a in dep.attempts(call.b)])


def on_the_simulator(db: Any, config: Any, key: str, ext: str, agent: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    scenario = {
        "domain": DIRECTORY_PARITY["domain"], "did": DID, "caller": "+5511987654321",
        "caller_inputs": [{"dtmf": key}] + ([] if key == "1" else [{"dtmf": "9"}]),
        "agents": {ext: agent},
    }
    with scenario_stack(db, config, DIRECTORY_PARITY, asr_engines=()) as stack:  # a stock PBX: no ASR
        result = stack.run(scenario, timeout=120)
    return summary(result["outcome"], [t["status"] for t in result["transfers"]])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_outcome_on_the_simulator_and_the_switch(name: str, switchboard: Switchboard, deployment: Deployment,
                                                     db: Any, config: Any) -> None:
    key, ext, agent = SCENARIOS[name]
    config.speech.asr_engine = CONFIG["speech"]["asr_engine"]
    simulated = on_the_simulator(db, config, key, ext, agent)
    real = on_the_switch(switchboard, deployment, key)
    assert simulated == real, f"{name}: simulator {simulated} != FreeSWITCH {real}"
