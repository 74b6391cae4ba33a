"""Round 14 of issue 18: negation scope through "not trying to" / "not here to" /
"não estou querendo" (see benchmarks/README.md, "Round 14")."""

from __future__ import annotations

import pytest

from tests.domain.test_understanding_rules import D
from voiceai_ivr.domain.intent import classify
from voiceai_ivr.domain.resolve import Resolver

R = Resolver([D("Box Office", ("ticket office",), "sales", ("buy tickets",)), D("Hall Rentals", (), None,
              ("rent the hall",)), D("Billing", (), "billing"), D("Front Desk", (), "reception")])


@pytest.mark.parametrize("said", [
    "i'm not trying to buy tickets i want to rent the hall for a corporate event",
    "i'm not here to buy tickets we want to rent the hall",
])
def test_a_request_negated_through_trying_or_here_is_taken_back(said: str) -> None:
    intent = classify(said, resolver=R)
    offered = [intent.destination] if intent.destination else [n for n, _ in intent.resolution.alternatives]
    assert offered == ["Hall Rentals"], intent


def test_only_a_negated_request_is_nothing_to_transfer_on() -> None:
    assert classify("i'm not trying to buy anything", resolver=R).kind == "unknown"


@pytest.mark.parametrize("said", [
    "i don't wanna leave a message i wanna talk to billing",
    "i'm not waiting around for a callback get me billing",
    "i was promised a call back from billing last week and never got one put me through",
    "me prometeram um retorno do billing e nada me passa agora",
])
def test_a_callback_declined_or_already_promised_is_a_transfer(said: str) -> None:
    intent = classify(said, resolver=R)
    assert (intent.kind, intent.destination) == ("transfer", "Billing"), intent


def test_a_message_the_caller_wants_to_leave_is_still_a_callback() -> None:
    intent = classify("i wanna leave a message for billing", resolver=R)
    assert (intent.kind, intent.destination) == ("callback", "Billing"), intent
