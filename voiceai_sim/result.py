"""The result of one simulated call: the ``voiceai-ivr simulate --json`` object.

``outcome``, ``transfers`` and ``callback`` come from two places:

* the wire (``source: "wire"``): what the application did on the simulated
  switch (originates and their results, bridges, who hung up);
* the database, when an ``enrich`` function is given (``voiceai-ivr simulate``
  passes one that reads the call log, transfer attempts and callbacks the
  application wrote): it replaces the wire-derived values and sets
  ``source: "database"``.

The simulator never maps hangup causes to statuses (that table lives in
``voiceai_ivr.domain.causes``): a wire-derived transfer ``status`` is only
``bridged``, ``answered`` or ``failed``, with the FreeSWITCH ``hangup_cause``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from voiceai_sim.record import CallRecord


@dataclass
class CallResult:
    """One scripted call, as the simulator saw it."""

    call_uuid: str
    outcome: str
    transcript: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    callback: Optional[dict[str, Any]]
    legs_left_up: int
    live_legs: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    originates: list[dict[str, Any]]
    hangup_cause: Optional[str]
    hangup_by: str
    socket_end: str
    duration_s: float
    errors: list[str] = field(default_factory=list)
    source: str = "wire"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def connected(self) -> bool:
        return self.socket_end not in ("connect_failed", "never_connected")

    def to_json(self) -> dict[str, Any]:
        data = {
            "outcome": self.outcome,
            "transcript": self.transcript,
            "transfers": self.transfers,
            "callback": self.callback,
            "call_uuid": self.call_uuid,
            "legs_left_up": self.legs_left_up,
            "live_legs": self.live_legs,
            "holds": self.holds,
            "originates": self.originates,
            "hangup_cause": self.hangup_cause,
            "hangup_by": self.hangup_by,
            "socket_end": self.socket_end,
            "duration_s": round(self.duration_s, 3),
            "errors": self.errors,
            "source": self.source,
        }
        data.update(self.extra)
        return data


def wire_transfers(call: CallRecord) -> list[dict[str, Any]]:
    transfers = []
    for entry in call.originates:
        if entry.kind == "customer":
            continue
        if entry.bridged:
            status = "bridged"
        elif entry.answered:
            status = "answered"
        else:
            status = "failed"
        transfers.append(
            {
                "destination": entry.targets[0] if entry.targets else "",
                "dial_string": entry.dial_string,
                "status": status,
                "hangup_cause": entry.cause or entry.leg_hangup_cause,
                "leg_uuid": entry.leg_uuid,
            }
        )
    return transfers


def wire_outcome(call: CallRecord, caller_uuid: str) -> str:
    for a, b in call.bridges:
        if caller_uuid in (a, b):
            return "transferred"
    if call.caller_hungup:
        return "caller_hangup"
    return "ended"


def build_result(
    call: CallRecord,
    caller_uuid: str,
    live_legs: list[dict[str, Any]],
) -> CallResult:
    ended = call.ended_mono if call.ended_mono is not None else None
    duration = ((ended or call.started_mono) - call.started_mono) / call.scale if ended else call.now()
    return CallResult(
        call_uuid=call.call_uuid,
        outcome=wire_outcome(call, caller_uuid),
        transcript=list(call.transcript),
        transfers=wire_transfers(call),
        callback=None,
        legs_left_up=len(live_legs),
        live_legs=live_legs,
        holds=[h.to_json() for h in call.holds],
        originates=[o.to_json() for o in call.originates],
        hangup_cause=call.hangup_cause,
        hangup_by=call.hangup_by,
        socket_end=call.socket_end or "open",
        duration_s=duration,
        errors=list(call.errors),
    )


def render_transcript(result: CallResult) -> str:
    """A readable transcript for a terminal."""
    lines = []
    for entry in result.transcript:
        t = entry.get("t", 0.0)
        who = entry.get("from", "?")
        leg = entry.get("leg")
        if leg and leg != who:
            who = f"{who}({leg})"
        target = entry.get("target")
        if target:
            who = f"{who} {target}"
        kind = entry.get("kind", "")
        text = entry.get("text", "")
        slot = f" [{entry['slot']}]" if entry.get("slot") else ""
        lines.append(f"{t:8.1f}s  {who:<16} {kind:<9}{slot} {text}".rstrip())
    lines.append("")
    lines.append(f"outcome: {result.outcome}    call: {result.call_uuid}")
    for tr in result.transfers:
        lines.append(
            f"transfer: {tr.get('destination')} -> {tr.get('status')}"
            + (f" ({tr.get('hangup_cause')})" if tr.get("hangup_cause") else "")
        )
    if result.callback:
        cb = result.callback
        lines.append(
            f"callback: {cb.get('number')} {cb.get('window_start')} .. {cb.get('window_end')} [{cb.get('status')}]"
        )
    lines.append(f"legs left up: {result.legs_left_up}    socket: {result.socket_end}    source: {result.source}")
    for err in result.errors:
        lines.append(f"error: {err}")
    return "\n".join(lines)
