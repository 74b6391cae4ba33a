"""What the simulator saw of one call: transcript, originates, legs, holds.

Filled in by the channels and actors as the call runs; turned into the
``--json`` object by ``voiceai_sim.result``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass
class OriginateLog:
    """One ``originate`` the application asked for, and how it ended."""

    command: str
    dial_string: str
    targets: list[str]
    kind: str  # agent | customer | other
    started: float  # simulated seconds since the call started
    via: str  # api | bgapi (and the socket it came on: inbound | outbound)
    result: str = ""  # "+OK uuid" / "-ERR CAUSE"
    leg_uuid: Optional[str] = None
    cause: Optional[str] = None
    answered: bool = False
    bridged: bool = False
    leg_hangup_cause: Optional[str] = None
    ended: Optional[float] = None
    caller_id_name: str = ""  # origination_caller_id_name as FreeSWITCH would read it

    def to_json(self) -> dict[str, Any]:
        return {
            "dial_string": self.dial_string,
            "caller_id_name": self.caller_id_name,
            "targets": list(self.targets),
            "kind": self.kind,
            "result": self.result.strip(),
            "leg_uuid": self.leg_uuid,
            "cause": self.cause,
            "answered": self.answered,
            "bridged": self.bridged,
            "leg_hangup_cause": self.leg_hangup_cause,
            "started_s": round(self.started, 3),
            "ended_s": None if self.ended is None else round(self.ended, 3),
        }


@dataclass
class HoldLog:
    leg: str  # caller | agent | customer
    uuid: str
    source: str
    start: float
    stop: Optional[float] = None
    stopped_by: str = ""  # uuid_break | bridge | hangup | end

    def to_json(self) -> dict[str, Any]:
        return {
            "leg": self.leg,
            "uuid": self.uuid,
            "source": self.source,
            "start_s": round(self.start, 3),
            "stop_s": None if self.stop is None else round(self.stop, 3),
            "stopped_by": self.stopped_by,
        }


@dataclass
class CallRecord:
    """Everything attributed to one scripted call (or one dispatcher attempt)."""

    call_uuid: str
    scale: float
    origin: Optional[datetime] = None  # the scenario's ``at``
    started_mono: float = field(default_factory=time.monotonic)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    originates: list[OriginateLog] = field(default_factory=list)
    holds: list[HoldLog] = field(default_factory=list)
    leg_uuids: list[str] = field(default_factory=list)  # agent/customer legs attributed to this call
    bridges: list[tuple[str, str]] = field(default_factory=list)
    caller_hungup: bool = False  # the scripted caller hung up (not the application)
    hangup_cause: Optional[str] = None
    hangup_by: str = ""  # caller | application | bridge-peer | switch
    socket_end: str = ""  # exit | peer_close | linger_timeout | never_connected | open
    errors: list[str] = field(default_factory=list)
    finished: Optional[asyncio.Event] = None  # set when the caller leg is gone
    agents: dict[str, Any] = field(default_factory=dict)  # target -> EndpointBehavior
    customers: dict[str, Any] = field(default_factory=dict)
    ended_mono: Optional[float] = None
    asr_engines: Optional[tuple[str, ...]] = None  # the scenario's (None: the switch's)
    asr_format: str = ""  # the scenario's (empty: the switch's)

    def now(self) -> float:
        """Simulated seconds since the call started."""
        return (time.monotonic() - self.started_mono) / self.scale

    def say(self, entry: dict[str, Any]) -> None:
        entry.setdefault("t", round(self.now(), 3))
        self.transcript.append(entry)
