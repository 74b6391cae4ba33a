"""A FreeSWITCH stand-in that speaks real Event Socket: it dials scripted calls
into the application's outbound server as the ``socket`` application does,
answers inbound ESL (api, bgapi, originate, uuid_*) with scripted agents and
customers, and reports what happened. A peer of the production code, never a
shortcut into it. See docs/simulator.md.
"""

from __future__ import annotations

from voiceai_sim.result import CallResult, render_transcript
from voiceai_sim.scenario import (
    CallerInput,
    EndpointBehavior,
    Scenario,
    check_expect,
    load_scenario,
    parse_scenario,
)
from voiceai_sim.simulator import Simulator, run_scenario

__all__ = [
    "CallResult",
    "CallerInput",
    "EndpointBehavior",
    "Scenario",
    "Simulator",
    "check_expect",
    "load_scenario",
    "parse_scenario",
    "render_transcript",
    "run_scenario",
]
