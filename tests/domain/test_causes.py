"""The one hangup-cause table: every cause the transfer flow can meet, SIP refinements."""

from __future__ import annotations

import pytest

from voiceai_ivr.domain.causes import (
    CALLBACK_OUTCOMES,
    CAUSE_STATUS,
    STATUSES,
    callback_outcome,
    normalize_cause,
    prompt_key,
    transfer_status,
)

CAUSES = [
    ("USER_BUSY", "busy"),
    ("NO_ANSWER", "no_answer"),
    ("NO_USER_RESPONSE", "offline"),
    ("ALLOTTED_TIMEOUT", "no_answer"),
    ("ORIGINATOR_CANCEL", "caller_hangup"),
    ("USER_NOT_REGISTERED", "offline"),
    ("SUBSCRIBER_ABSENT", "offline"),
    ("RECOVERY_ON_TIMER_EXPIRE", "offline"),
    ("DESTINATION_OUT_OF_ORDER", "offline"),
    ("CALL_REJECTED", "rejected"),
    ("NORMAL_CLEARING", "rejected"),
    ("UNALLOCATED_NUMBER", "invalid_destination"),
    ("INVALID_NUMBER_FORMAT", "invalid_destination"),
    ("NO_ROUTE_DESTINATION", "invalid_destination"),
    ("NUMBER_CHANGED", "invalid_destination"),
    ("INVALID_GATEWAY", "invalid_destination"),
    ("NORMAL_TEMPORARY_FAILURE", "network_failure"),
    ("NETWORK_OUT_OF_ORDER", "network_failure"),
    ("SWITCH_CONGESTION", "network_failure"),
    ("NORMAL_CIRCUIT_CONGESTION", "network_failure"),
    ("GATEWAY_DOWN", "network_failure"),
    ("MEDIA_TIMEOUT", "network_failure"),
    ("EXCHANGE_ROUTING_ERROR", "network_failure"),
    ("INTERWORKING", "network_failure"),
    ("INCOMPATIBLE_DESTINATION", "unavailable"),
    ("BEARERCAPABILITY_NOTAVAIL", "unavailable"),
    ("FACILITY_REJECTED", "unavailable"),
    ("SERVICE_UNAVAILABLE", "unavailable"),
    ("CHAN_NOT_IMPLEMENTED", "unavailable"),
    ("LOSE_RACE", "unavailable"),
    ("PICKED_OFF", "unavailable"),
    ("OUTGOING_CALL_BARRED", "unavailable"),
    ("MANAGER_REQUEST", "failed"),
    ("NORMAL_UNSPECIFIED", "failed"),
    ("SYSTEM_SHUTDOWN", "failed"),
    ("DO_NOT_DISTURB", "dnd"),
    ("SOMETHING_NEW", "failed"),
    (None, "failed"),
    ("", "failed"),
]


@pytest.mark.parametrize(("cause", "status"), CAUSES)
def test_cause_status(cause: str, status: str) -> None:
    assert transfer_status(cause) == status


def test_table_size_and_values() -> None:
    assert len(CAUSE_STATUS) >= 25
    assert set(CAUSE_STATUS.values()) <= set(STATUSES)
    assert set(CAUSE_STATUS.values()) == set(STATUSES)  # every status is reachable


@pytest.mark.parametrize(
    ("raw", "name"),
    [("-ERR USER_BUSY", "USER_BUSY"), ("user_busy", "USER_BUSY"), ("error/user_busy", "USER_BUSY"),
     ("-ERR NO_ANSWER\n", "NO_ANSWER"), ("-ERR", "UNKNOWN"), (None, "UNKNOWN")],
)
def test_normalize_cause(raw: str, name: str) -> None:
    assert normalize_cause(raw) == name


@pytest.mark.parametrize(
    ("cause", "sip", "phrase", "dnd", "status"),
    [
        ("USER_BUSY", "486", None, False, "busy"),
        ("USER_BUSY", 486, "Busy Here", False, "busy"),
        ("USER_BUSY", None, None, True, "dnd"),  # FusionPBX DND dials error/user_busy
        ("USER_BUSY", "486", "Do Not Disturb", False, "dnd"),
        ("NO_USER_RESPONSE", "480", "Do Not Disturb", False, "dnd"),
        ("NO_USER_RESPONSE", "480", "Temporarily Unavailable", False, "offline"),
        ("CALL_REJECTED", "603", "Decline", False, "rejected"),
        ("CALL_REJECTED", "603", "DND", False, "dnd"),
        ("NO_ANSWER", "487", "Request Terminated", False, "no_answer"),  # we cancelled at timeout
        ("UNALLOCATED_NUMBER", "404", None, False, "invalid_destination"),
        ("NORMAL_TEMPORARY_FAILURE", "503", None, False, "network_failure"),
        ("RECOVERY_ON_TIMER_EXPIRE", "408", None, False, "offline"),
        ("NORMAL_CLEARING", "603", None, False, "rejected"),
        ("ORIGINATOR_CANCEL", "486", None, False, "caller_hangup"),  # the caller left first
        ("ORIGINATOR_CANCEL", None, None, True, "caller_hangup"),
        ("NO_ANSWER", "abc", None, False, "no_answer"),
        ("NO_ANSWER", None, None, True, "no_answer"),  # DND hint does not turn ringing into DND
    ],
)
def test_sip_refinement(cause: str, sip, phrase, dnd: bool, status: str) -> None:
    assert transfer_status(cause, sip, sip_phrase=phrase, dnd=dnd) == status


def test_prompt_keys() -> None:
    for status in STATUSES:
        assert prompt_key(status) == f"transfer.status.{status}"
    assert prompt_key("nonsense") == "transfer.status.failed"
    assert prompt_key("accepted") == "transfer.status.accepted"


@pytest.mark.parametrize(
    ("leg", "cause", "sip", "outcome"),
    [
        ("agent", "USER_BUSY", None, "agent_unavailable"),
        ("agent", "USER_NOT_REGISTERED", None, "agent_unavailable"),
        ("agent", "NORMAL_TEMPORARY_FAILURE", None, "agent_unavailable"),
        ("agent", "NO_ANSWER", None, "agent_no_answer"),
        ("agent", "CALL_REJECTED", "603", "agent_declined"),
        ("agent", "NORMAL_CLEARING", None, "agent_declined"),
        ("agent", "MANAGER_REQUEST", None, "failed"),
        ("customer", "NO_ANSWER", None, "customer_no_answer"),
        ("customer", "USER_BUSY", "486", "customer_busy"),
        ("customer", "CALL_REJECTED", "603", "customer_busy"),
        ("customer", "SUBSCRIBER_ABSENT", None, "customer_no_answer"),
        ("customer", "UNALLOCATED_NUMBER", "404", "invalid_number"),
        ("customer", "INVALID_NUMBER_FORMAT", "484", "invalid_number"),
        ("customer", "GATEWAY_DOWN", None, "failed"),
    ],
)
def test_callback_outcome(leg: str, cause: str, sip, outcome: str) -> None:
    assert callback_outcome(leg, cause, sip) == outcome
    assert outcome in CALLBACK_OUTCOMES


def test_callback_outcome_bad_leg() -> None:
    with pytest.raises(ValueError, match="leg"):
        callback_outcome("robot", "USER_BUSY")
