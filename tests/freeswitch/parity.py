"""Parity: the keyed transfer scenarios of ``test_socket_keyed`` also run on the
simulator, which must end each call the way the real switch did (call outcome and
every transfer attempt's status).

Each scenario is a caller keying a destination whose agent behaves as one of the
kit's phones; the simulator's agents are scripted to behave like those phones.
A difference that must remain is listed in docs/simulator.md with its reason."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


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


def on_the_simulator(db: Any, config: Any, directory: Mapping[str, Any], did: str, key: str, ext: str,
                     agent: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    scenario = {
        "domain": directory["domain"], "did": did, "caller": "+5511987654321",
        "caller_inputs": [{"dtmf": key}] + ([] if key == "1" else [{"dtmf": "9"}]),
        "agents": {ext: agent},
    }
    with scenario_stack(db, config, directory, asr_engines=()) as stack:  # a stock PBX: no ASR
        result = stack.run(scenario, timeout=120)
    return summary(result["outcome"], [t["status"] for t in result["transfers"]])


def assert_same_on_the_simulator(db: Any, config: Any, directory: Mapping[str, Any], did: str, key: str,
                                 real: tuple[str, tuple[str, ...]]) -> None:
    """The simulator, scripted like the kit's phone behind ``key``, must end the call
    the way the real switch just did (outcome and every attempt's status)."""
    name, (ext, agent) = next((n, (e, a)) for n, (k, e, a) in SCENARIOS.items() if k == key)
    config.speech.asr_engine = "unimrcp"  # as the keyed deployment: the simulated PBX has no ASR either
    simulated = on_the_simulator(db, config, directory, did, key, ext, agent)
    assert simulated == real, f"{name}: simulator {simulated} != FreeSWITCH {real}"
