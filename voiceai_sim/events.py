"""FreeSWITCH event headers, in the order and shape the 1.11 capture shows.

An event is ``Event-Name``, the core block (``Core-UUID`` ... ``Event-Sequence``),
optional event-specific leading headers (``Bridge-A-Unique-ID``, the first
``Hangup-Cause`` of CHANNEL_HANGUP_COMPLETE), the channel block
(``Channel-State`` ... ``Answer-State``, ``Hangup-Cause`` once hung up, codecs),
the caller profile (``Caller-*``), the other leg (``Other-Type``,
``Other-Leg-*``) when there is one, the channel variables (``variable_*``) for
the events that carry them, then event-specific trailing headers
(``Application``..., ``DTMF-Digit``...).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

Pairs = list[tuple[str, str]]

# name -> (calling file, calling function, line, carries variables)
EVENT_ORIGINS: dict[str, tuple[str, str, int, bool]] = {
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", 2018, True),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 627, True),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002, True),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1213, True),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2949, True),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2972, True),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3848, True),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3479, True),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 678, False),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2409, False),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3447, True),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c", "switch_core_session_reporting_state", 943, True),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689, True),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1743, True),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1680, False),
    "DETECTED_SPEECH": ("switch_ivr_async.c", "speech_thread", 4563, True),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1569, False),
}

STATE_NUMBERS = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
}

# Q.850 codes of the causes the simulator produces (switch_channel.c CAUSE_CHART).
Q850 = {
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_DESTINATION": 3,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "ORIGINATOR_CANCEL": 487,
    "USER_NOT_REGISTERED": 606,
    "GATEWAY_DOWN": 609,
    "MANAGER_REQUEST": 503,
    "LOSE_RACE": 502,
    "ALLOTTED_TIMEOUT": 602,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "NORMAL_UNSPECIFIED": 31,
}

KNOWN_CAUSES = frozenset(Q850)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


@dataclass
class CoreIdentity:
    """What every event says about the switch itself (values as in the capture)."""

    core_uuid: str
    hostname: str = "sim"
    ipv4: str = "192.0.2.2"
    ipv6: str = "fd00::2"


def date_headers(when: datetime) -> Pairs:
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    gmt = aware.astimezone(timezone.utc)
    micros = int(aware.timestamp() * 1_000_000)
    return [
        ("Event-Date-Local", aware.strftime("%Y-%m-%d %H:%M:%S")),
        ("Event-Date-GMT", gmt.strftime("%a, %d %b %Y %H:%M:%S GMT")),
        ("Event-Date-Timestamp", str(micros)),
    ]


def epoch_us(when: datetime) -> int:
    aware = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return int(aware.timestamp() * 1_000_000)


def core_headers(
    core: CoreIdentity, name: str, when: datetime, sequence: int, origin: Optional[tuple[str, str, int]] = None
) -> Pairs:
    file, func, line, _ = EVENT_ORIGINS.get(name, ("switch_event.c", "switch_event_fire_detailed", 2016, True))
    if origin is not None:
        file, func, line = origin
    pairs: Pairs = [
        ("Event-Name", name),
        ("Core-UUID", core.core_uuid),
        ("FreeSWITCH-Hostname", core.hostname),
        ("FreeSWITCH-Switchname", core.hostname),
        ("FreeSWITCH-IPv4", core.ipv4),
        ("FreeSWITCH-IPv6", core.ipv6),
    ]
    pairs.extend(date_headers(when))
    pairs.extend(
        [
            ("Event-Calling-File", file),
            ("Event-Calling-Function", func),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(sequence)),
        ]
    )
    return pairs


def carries_variables(name: str) -> bool:
    return EVENT_ORIGINS.get(name, ("", "", 0, True))[3]


def background_job_pairs(
    core: CoreIdentity,
    when: datetime,
    sequence: int,
    job_uuid: str,
    command: str,
    arg: Optional[str],
    owner_uuid: Optional[str] = None,
) -> Pairs:
    pairs = core_headers(core, "BACKGROUND_JOB", when, sequence)
    pairs.append(("Job-UUID", job_uuid))
    if owner_uuid:
        pairs.append(("Job-Owner-UUID", owner_uuid))
    pairs.append(("Job-Command", command))
    if arg:
        pairs.append(("Job-Command-Arg", arg))
    return pairs
