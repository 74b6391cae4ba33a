"""THE one mapping from FreeSWITCH hangup causes (and SIP status) to transfer
statuses, callback-dispatch outcomes and the prompt that tells the caller.

Transfer statuses (failures; a bridged transfer is recorded as ``accepted`` by the
flow, not here): ``busy``, ``no_answer``, ``offline``, ``rejected``, ``unavailable``,
``invalid_destination``, ``network_failure``, ``dnd``, ``caller_hangup``, ``failed``.

Sources: FreeSWITCH's cause names (switch_types.h / Q.850), and sofia's SIP to cause
mapping (``sofia_glue_sip_cause_to_freeswitch``: 486/600 USER_BUSY, 480
NO_USER_RESPONSE, 404 UNALLOCATED_NUMBER, 408/504 RECOVERY_ON_TIMER_EXPIRE, 603
CALL_REJECTED, 484 INVALID_NUMBER_FORMAT, 488/606 INCOMPATIBLE_DESTINATION, 502
NETWORK_OUT_OF_ORDER, 400/481/500/503 NORMAL_TEMPORARY_FAILURE, 485/604
NO_ROUTE_DESTINATION, 410 NUMBER_CHANGED).

Do not disturb: FreeSWITCH has no DND cause. FusionPBX implements an extension's
DND by dialling ``error/user_busy`` (so: USER_BUSY with no SIP status at all); a
phone in DND answers 480 or 486, often with the reason phrase "Do Not Disturb".
``transfer_status`` therefore reports ``dnd`` when told so (``dnd=True``, e.g. from
the extension's ``do_not_disturb`` setting) or when the SIP reason phrase says so;
plain USER_BUSY stays ``busy``.
"""

from __future__ import annotations

import re
from typing import Optional, Union

STATUSES = (
    "busy", "no_answer", "offline", "rejected", "unavailable", "invalid_destination",
    "network_failure", "dnd", "caller_hangup", "failed",
)

CAUSE_STATUS: dict[str, str] = {
    # the person is there but cannot take it
    "USER_BUSY": "busy",
    "NORMAL_CIRCUIT_CONGESTION": "network_failure",
    # rang, nobody answered
    "NO_ANSWER": "no_answer",
    "ALLOTTED_TIMEOUT": "no_answer",
    "PROGRESS_TIMEOUT": "no_answer",
    # the phone is not there
    "USER_NOT_REGISTERED": "offline",
    "SUBSCRIBER_ABSENT": "offline",
    "RECOVERY_ON_TIMER_EXPIRE": "offline",  # SIP 408/504: the INVITE went unanswered
    "DESTINATION_OUT_OF_ORDER": "offline",
    # Q.850 18, and what sofia makes of SIP 480 Temporarily Unavailable: the phone
    # did not respond at all (unplugged, unreachable, or DND without saying so).
    "NO_USER_RESPONSE": "offline",
    "MEDIA_TIMEOUT": "network_failure",
    # someone said no
    "CALL_REJECTED": "rejected",
    "USER_CHALLENGE": "rejected",
    # before bridging, an agent leg that clears normally has hung up on us (e.g.
    # during the announcement / group_confirm): treat it as declined.
    "NORMAL_CLEARING": "rejected",
    # the destination cannot take calls of this kind, or someone else got it
    "SERVICE_UNAVAILABLE": "unavailable",
    "SERVICE_NOT_IMPLEMENTED": "unavailable",
    "FACILITY_REJECTED": "unavailable",
    "FACILITY_NOT_SUBSCRIBED": "unavailable",
    "FACILITY_NOT_IMPLEMENTED": "unavailable",
    "BEARERCAPABILITY_NOTAUTH": "unavailable",
    "BEARERCAPABILITY_NOTAVAIL": "unavailable",
    "BEARERCAPABILITY_NOTIMPL": "unavailable",
    "CHAN_NOT_IMPLEMENTED": "unavailable",
    "INCOMPATIBLE_DESTINATION": "unavailable",
    "OUTGOING_CALL_BARRED": "unavailable",
    "INCOMING_CALL_BARRED": "unavailable",
    "REQUESTED_CHAN_UNAVAIL": "unavailable",
    "LOSE_RACE": "unavailable",  # another leg of the group answered
    "PICKED_OFF": "unavailable",  # intercepted by someone else
    "CALL_AWARDED_DELIVERED": "unavailable",
    # the number/extension/route does not exist
    "UNALLOCATED_NUMBER": "invalid_destination",
    "INVALID_NUMBER_FORMAT": "invalid_destination",
    "NO_ROUTE_DESTINATION": "invalid_destination",
    "NO_ROUTE_TRANSIT_NET": "invalid_destination",
    "NUMBER_CHANGED": "invalid_destination",
    "INVALID_GATEWAY": "invalid_destination",
    "INVALID_URL": "invalid_destination",
    "INVALID_PROFILE": "invalid_destination",
    "REDIRECTION_TO_NEW_DESTINATION": "invalid_destination",
    # the path to it is broken
    "NORMAL_TEMPORARY_FAILURE": "network_failure",
    "NETWORK_OUT_OF_ORDER": "network_failure",
    "SWITCH_CONGESTION": "network_failure",
    "GATEWAY_DOWN": "network_failure",
    "EXCHANGE_ROUTING_ERROR": "network_failure",
    "INTERWORKING": "network_failure",
    "RECOVERY_ON_TIMER_EXPIRE_NET": "network_failure",
    "SRTP_READ_ERROR": "network_failure",
    "MANDATORY_IE_MISSING": "network_failure",
    "PROTOCOL_ERROR": "network_failure",
    # the caller went away
    "ORIGINATOR_CANCEL": "caller_hangup",
    # no useful meaning for the caller
    "MANAGER_REQUEST": "failed",
    "NORMAL_UNSPECIFIED": "failed",
    "SYSTEM_SHUTDOWN": "failed",
    "CRASH": "failed",
    "UNKNOWN": "failed",
    "NONE": "failed",
    # pseudo-cause for sources that state DND explicitly
    "DO_NOT_DISTURB": "dnd",
}

#: SIP final responses that say more than the cause FreeSWITCH derived from them.
SIP_REFINE: dict[int, str] = {
    486: "busy",
    600: "busy",
    480: "offline",  # Temporarily Unavailable: not reachable right now
    404: "invalid_destination",
    484: "invalid_destination",
    410: "invalid_destination",
    603: "rejected",  # Decline: the person pressed reject
    403: "rejected",
    408: "offline",
    # 487 Request Terminated is deliberately absent: FreeSWITCH cancels the INVITE
    # both when the caller leaves and when originate_timeout expires (NO_ANSWER).
    502: "network_failure",
    503: "network_failure",
    504: "network_failure",
}

_DND_RE = re.compile(r"do[\s_-]*not[\s_-]*disturb|\bdnd\b|nao perturbe|não perturbe", re.IGNORECASE)

#: Prompt key (in conf/prompts/<lang>.yaml) telling the caller what happened.
STATUS_PROMPT: dict[str, str] = {s: f"transfer.status.{s}" for s in STATUSES}
STATUS_PROMPT["accepted"] = "transfer.status.accepted"

CALLBACK_OUTCOMES = (
    "agent_unavailable", "agent_no_answer", "agent_declined", "customer_no_answer",
    "customer_busy", "invalid_number", "failed",
)

# Outcomes an attempt can end with (the ``callback_attempts.outcome`` column).
ATTEMPT_OUTCOMES = (
    "completed",
    "agent_unavailable",
    "agent_no_answer",
    "agent_declined",
    "customer_no_answer",
    "customer_busy",
    "invalid_number",
    "no_destination",
    "failed",
)


def normalize_cause(cause: Optional[str]) -> str:
    """``-ERR USER_BUSY``, ``user_busy``, ``error/user_busy`` -> ``USER_BUSY``."""
    if not cause:
        return "UNKNOWN"
    text = cause.strip()
    if text.upper().startswith("-ERR"):
        text = text[4:].strip()
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    text = re.sub(r"[^A-Za-z0-9_]", "", text.split()[0] if text.split() else "").upper()
    return text or "UNKNOWN"


def _sip_code(sip_status: Union[int, str, None]) -> Optional[int]:
    if sip_status is None or isinstance(sip_status, bool):
        return None
    if isinstance(sip_status, int):
        return sip_status
    m = re.match(r"\s*(\d{3})", str(sip_status))
    return int(m.group(1)) if m else None


def transfer_status(
    cause: Optional[str],
    sip_status: Union[int, str, None] = None,
    *,
    sip_phrase: Optional[str] = None,
    dnd: bool = False,
) -> str:
    """One status for a failed agent leg. ``sip_status`` (``sip_term_status``, e.g.
    ``"486"``) refines the cause; ``sip_phrase`` (``sip_term_phrase``) or ``dnd``
    reveal do-not-disturb. An unknown cause is ``failed``."""
    name = normalize_cause(cause)
    if name == "ORIGINATOR_CANCEL":
        return "caller_hangup"  # whatever the far end said, the caller left first
    code = _sip_code(sip_status)
    if dnd or (sip_phrase and _DND_RE.search(sip_phrase)):
        if name in ("USER_BUSY", "NO_USER_RESPONSE", "CALL_REJECTED", "DO_NOT_DISTURB", "UNKNOWN") or code in (
            480, 486, 603,
        ):
            return "dnd"
    if code is not None and code in SIP_REFINE:
        return SIP_REFINE[code]
    return CAUSE_STATUS.get(name, "failed")


def prompt_key(status: str) -> str:
    """The prompt to play for a status (``transfer.status.busy``)."""
    return STATUS_PROMPT.get(status, STATUS_PROMPT["failed"])


def callback_outcome(
    leg: str,
    cause: Optional[str],
    sip_status: Union[int, str, None] = None,
    *,
    sip_phrase: Optional[str] = None,
) -> str:
    """Outcome of one dispatcher attempt from the leg that failed.

    ``leg`` is ``"agent"`` (dialled first) or ``"customer"``. Agent: busy / offline /
    dnd / unavailable / network -> ``agent_unavailable``; no answer ->
    ``agent_no_answer``; rejected -> ``agent_declined``. Customer: busy or rejected
    -> ``customer_busy``; no answer or offline -> ``customer_no_answer``; invalid
    destination -> ``invalid_number``. Anything else -> ``failed``."""
    status = transfer_status(cause, sip_status, sip_phrase=sip_phrase)
    if leg == "agent":
        if status in ("busy", "offline", "dnd", "unavailable", "network_failure", "invalid_destination"):
            return "agent_unavailable"
        if status == "no_answer":
            return "agent_no_answer"
        if status == "rejected":
            return "agent_declined"
        return "failed"
    if leg == "customer":
        if status in ("busy", "rejected", "dnd"):
            return "customer_busy"
        if status in ("no_answer", "offline", "unavailable"):
            return "customer_no_answer"
        if status == "invalid_destination":
            return "invalid_number"
        return "failed"
    raise ValueError(f"leg must be 'agent' or 'customer', got {leg!r}")


__all__ = [
    "ATTEMPT_OUTCOMES",
    "CALLBACK_OUTCOMES",
    "CAUSE_STATUS",
    "SIP_REFINE",
    "STATUSES",
    "STATUS_PROMPT",
    "callback_outcome",
    "normalize_cause",
    "prompt_key",
    "transfer_status",
]
