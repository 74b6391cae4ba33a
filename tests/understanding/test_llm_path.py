"""The optional LLM path of understanding, measured like the rules: the corpus
through ``understanding_bench.with_llm`` (the conversation's order: the LLM's
decision when usable, the rules otherwise) against a local OpenAI-compatible
stand-in over real HTTP (``llm_stub.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .test_floor import BENCH


@pytest.fixture()
def stub(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    mode, timeout = request.param
    client, server = BENCH.llm_stub_client(mode, timeout=timeout, delay=1.0)
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["languages"] == b["languages"] and [e["text"] for e in a["errors"]] == [e["text"] for e in b["errors"]]


@pytest.mark.parametrize("stub", [("down", 2.5)], indirect=True)
def test_an_llm_that_fails_leaves_the_rules_figures(stub: tuple[Any, Any]) -> None:
    client, server = stub
    items = BENCH.load_items(["dev"])
    rules = BENCH.evaluate(items)
    with_llm = BENCH.evaluate(items, BENCH.with_llm(client))
    assert len(server.requests) == sum(1 for i in items if i.text.strip())  # every turn asked it
    assert with_llm["decided_by_llm"] == 0
    assert _same(rules, with_llm)


@pytest.mark.parametrize("stub", [("names", 2.5)], indirect=True)
def test_llm_decisions_are_used_and_validated(stub: tuple[Any, Any]) -> None:
    client, server = stub
    items = BENCH.load_items(["dev"])
    result = BENCH.evaluate(items, BENCH.with_llm(client))
    assert result["decided_by_llm"] > 50  # the stand-in hands off whenever a name is said
    body = server.requests[0]
    assert body["tool_choice"] == "required" and {t["function"]["name"] for t in body["tools"]} >= {
        "request_handoff", "ask_which", "transfer_to_operator", "schedule_callback", "not_understood", "end_call"}
    # measured 2026-12-06 (benchmarks/README.md): 97.1 % en-US, 95.4 % pt-BR on the dev split
    for lang in ("pt-BR", "en-US"):
        assert result["languages"][lang]["accuracy"] >= 0.93, result["languages"]


@pytest.mark.parametrize("stub", [("slow", 0.3)], indirect=True)
def test_a_slow_llm_is_not_waited_for(stub: tuple[Any, Any]) -> None:
    client, _ = stub
    items = BENCH.load_items(["dev"])[:6]
    dirs = BENCH.load_directories()
    understand = BENCH.with_llm(client)
    for item in items:
        t0 = time.monotonic()
        what = understand(item, dirs[item.lang])
        assert time.monotonic() - t0 < 0.3 + 0.5, item.text
        assert what.source == "rules"


def test_the_rules_overrule_a_decision_against_the_sentence() -> None:
    """``flows.conversation.overrule``: a model's transfer to a destination the caller
    took back, a transfer where a callback was asked for, a guess between namesakes
    and a callback the caller declined give way to the rules; otherwise the model's
    decision stands (it may route where the rules ask)."""
    from voiceai_ivr.flows.conversation import Understanding, overrule

    dirs = BENCH.load_directories()
    pt = dirs["pt-BR"]

    def llm(dest: str) -> Understanding:
        return Understanding("transfer", destination=dest, source="llm")

    taken_back = overrule(llm("Financeiro"), "financeiro nao desculpa o comercial", pt, at=BENCH.AT)
    assert (taken_back.kind, taken_back.destination, taken_back.source) == ("transfer", "Comercial", "rules")
    negated = overrule(llm("Financeiro"), "nao e o financeiro que eu quero e o comercial", pt, at=BENCH.AT)
    assert negated.destination == "Comercial"
    callback = overrule(llm("Financeiro"), "pede pro financeiro me ligar de volta por favor", pt, at=BENCH.AT)
    assert (callback.kind, callback.destination) == ("callback", "Financeiro")
    namesake = overrule(llm("Maria Silva"), "quero falar com a maria", pt, at=BENCH.AT)
    assert namesake.kind == "ambiguous" and "Maria Silva" in namesake.options
    declined = overrule(Understanding("callback", source="llm"),
                        "nao precisa me ligar quero falar agora com o financeiro", pt, at=BENCH.AT)
    assert (declined.kind, declined.destination) == ("transfer", "Financeiro")
    # no contrary evidence: the model's decision stands
    kept = overrule(llm("Comercial"), "quero falar com o comercial", pt, at=BENCH.AT)
    assert (kept.destination, kept.source) == ("Comercial", "llm")
    topic = overrule(llm("Recursos Humanos"), "e sobre um processo", pt, at=BENCH.AT)
    assert (topic.destination, topic.source) == ("Recursos Humanos", "llm")
    # an operator nobody asked for: ask again; one asked for stands
    unasked = overrule(Understanding("operator", source="llm"), "quero pedir uma pizza", pt, at=BENCH.AT)
    assert (unasked.kind, unasked.source) == ("no_match", "rules")
    asked = overrule(Understanding("operator", source="llm"), "quero falar com uma atendente", pt, at=BENCH.AT)
    assert (asked.kind, asked.source) == ("operator", "llm")
    # a message to leave handed to the operator: the callback the rules heard
    message = overrule(Understanding("operator", source="llm"), "i'd just like to leave a message", dirs["en-US"],
                       at=BENCH.AT)
    assert (message.kind, message.source) == ("callback", "rules")
    # a full name nobody here has, whose first name two people have: they are offered
    namesakes = overrule(Understanding("operator", source="llm"), "a maria fernandes por favor", pt, at=BENCH.AT)
    assert (namesakes.kind, set(namesakes.options)) == ("ambiguous", {"Maria Silva", "Maria Souza"})
    # "not understood" stands, even where the rules would guess (the model sees the keys)
    unclear = overrule(Understanding("no_match", source="llm"), "qual a previsao do tempo", pt, at=BENCH.AT)
    assert (unclear.kind, unclear.source) == ("no_match", "llm")


@pytest.mark.parametrize("stub", [("names", 2.5)], indirect=True)
def test_the_veto_lowers_wrong_actions_of_a_model_that_hands_off_on_names(stub: tuple[Any, Any]) -> None:
    """A stand-in that hands off whenever a name is said, on every blind dev half:
    with the rules' veto it takes fewer wrong actions than without (measured
    2026-12-06 on rounds 1-7: 97 against 151, benchmarks/README.md)."""
    client, _ = stub
    wrong = {True: 0, False: 0}
    for batch in BENCH.batches()[1:]:
        items = BENCH.load_items(["dev"], batch)
        dirs = BENCH.load_directories(batch)
        for veto in (True, False):
            wrong[veto] += BENCH.evaluate(items, BENCH.with_llm(client, veto=veto), dirs)["wrong_actions"]["items"]
    assert wrong[True] < wrong[False] * 0.7, wrong


def test_each_model_decision_becomes_an_understanding() -> None:
    """``flows.conversation.from_llm``, shared by the conversation and this benchmark:
    a question between listed names, the operator, a re-ask; a name the directory
    does not have leaves the turn to the rules."""
    from voiceai_ivr.flows.conversation import from_llm
    from voiceai_ivr.integrations.llm import LLMDecision

    pt = BENCH.load_directories()["pt-BR"]
    what, _ = from_llm(LLMDecision("ask", options=("Maria Silva", "Maria Souza")), "a maria", pt)
    assert what is not None and (what.kind, what.options, what.source) == (
        "ambiguous", ["Maria Silva", "Maria Souza"], "llm")
    for kind, understood in (("operator", "operator"), ("unclear", "no_match"), ("repeat", "repeat"),
                             ("end_call", "goodbye"), ("callback", "callback")):
        what, _ = from_llm(LLMDecision(kind), "x", pt)
        assert what is not None and what.kind == understood, kind
    assert from_llm(LLMDecision("handoff", destination="Xyzzy Qwerty"), "x", pt) == (
        None, "unknown_destination")
    assert from_llm(LLMDecision("ask", options=("Maria Silva", "Xyzzy Qwerty")), "x", pt)[0] is None


def test_recorded_answers_are_replayed_by_request(tmp_path) -> None:
    """``--llm-stub replay``: the answer recorded for a request (its caller's words and
    the names listed) is the model's answer; a request with none falls back to the
    rules; a malformed answers file is refused with its line number."""
    from voiceai_ivr.flows.conversation import llm_destinations
    from voiceai_ivr.integrations.llm import chat_request

    stub_module = BENCH._stub_module()
    dirs = BENCH.load_directories()
    items = [i for i in BENCH.load_items(["dev"]) if i.lang == "pt-BR"][:3]

    def key(text: str) -> str:
        body = chat_request("m", text, "pt-BR", llm_destinations(dirs["pt-BR"]))
        return stub_module.request_key(body["messages"][0]["content"], body["messages"][1]["content"])

    answers = tmp_path / "answers.jsonl"
    answers.write_text(
        f'{{"key": "{key(items[0].text)}", "tool": "request_handoff", "arguments": {{"destination": "Jurídico"}}}}\n'
        f'{{"key": "{key(items[1].text)}", "tool": "ask_which", "arguments": {{"options": ["Maria Silva", '
        f'"Maria Souza"]}}}}\n', encoding="utf-8")
    client, server = BENCH.llm_stub_client("replay", answers=answers)
    try:
        understand = BENCH.with_llm(client, veto=False)
        first, second, third = (understand(i, dirs["pt-BR"]) for i in items)
    finally:
        client.close()
        server.close()
    assert (first.kind, first.destination, first.source) == ("transfer", "Jurídico", "llm")
    assert (second.kind, second.options) == ("ambiguous", ["Maria Silva", "Maria Souza"])
    assert third.source == "rules"
    answers.write_text('{"key": "a", "tool": "end_call"}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"answers\.jsonl:2"):
        stub_module.load_answers(answers)


# The LLM path with a strong model's answers (tests/understanding/llm_answers.jsonl:
# answers recorded in round 14 from Claude-class model instances acting as the
# endpoint, each given only the request the product sends; benchmarks/README.md),
# replayed over real HTTP: (batch, half) -> (least right per language, most wrong
# actions), a little under what was measured (corpus dev 100 / 100 %, 0; r15 test
# 96.4 / 93.4 %, 1.1 %; r16 test 97.5 / 93.5 %, 2.3 %; r17 test 95.6 / 96.5 %, 2.2 %).
REPLAY_FLOORS = {
    # round 21: an operator hand-off for a full name nobody here has, whose first name
    # people here have, is overruled by the rules' question offering them (r18 dev and
    # r22 test lost points where their writers labelled the reception)
    ("corpus", "dev"): (0.99, 0.005),
    ("corpus", "test"): (0.98, 0.01),
    # round 15: every answer recorded again with the round's prompt (ask between two
    # departments that could each handle the need), r18 included
    ("r15", "dev"): (0.96, 0.015),
    ("r15", "test"): (0.95, 0.015),
    ("r16", "dev"): (0.95, 0.02),
    ("r16", "test"): (0.93, 0.03),
    ("r17", "dev"): (0.94, 0.025),
    ("r17", "test"): (0.94, 0.025),
    ("r18", "dev"): (0.93, 0.02),
    ("r18", "test"): (0.95, 0.015),
    # round 16: r19 and r20 answered by four more instances at the round's start
    # (blind-before on 2b6f709: r19 test 97.8 / 97.6 %, 1.2 %; r20 test 100 / 97.6 %,
    # 1.2 %)
    ("r19", "dev"): (0.96, 0.015),
    ("r19", "test"): (0.96, 0.015),
    ("r20", "dev"): (0.96, 0.01),
    ("r20", "test"): (0.96, 0.015),
    # round 17: r21 and r22 answered by four more instances at the round's start
    # (blind-before on 97f24bc: r21 test 95.2 / 97.1 %, 1.1 %; r22 test 94.0 / 95.4 %,
    # 5.3 %)
    ("r21", "dev"): (0.95, 0.01),
    ("r21", "test"): (0.94, 0.015),
    ("r22", "dev"): (0.95, 0.03),
    ("r22", "test"): (0.91, 0.055),
    # round 18: r23 and r24 by four more instances (blind-before on c667a1c: r23 test
    # 95.7 / 97.8 %, 2.7 %; r24 test 96.0 / 92.1 %, 3.6 %)
    ("r23", "dev"): (0.97, 0.01),
    ("r23", "test"): (0.94, 0.03),
    ("r24", "dev"): (0.94, 0.02),
    ("r24", "test"): (0.91, 0.04),
    # round 19: r25 and r26 by four more instances (blind-before on 94f5477: r25 test
    # 96.5 / 92.5 %, 1.8 %; r26 test 94.2 / 90.1 %, 2.7 %)
    ("r25", "dev"): (0.91, 0.03),
    ("r25", "test"): (0.92, 0.02),
    ("r26", "dev"): (0.89, 0.05),
    ("r26", "test"): (0.90, 0.03),
    # r27 and r28 by four more instances (blind-before on ea1e1cf: r27 test 90.9 /
    # 93.8 %, 3.4 %; r28 test 91.7 / 93.5 %, 3.7 %)
    ("r27", "dev"): (0.93, 0.02),
    ("r27", "test"): (0.90, 0.035),
    ("r28", "dev"): (0.90, 0.025),
    ("r28", "test"): (0.91, 0.04),
    # r29 and r30 by four more instances (blind-before on 0b1209e: r29 test 95.3 /
    # 96.8 %, 1.7 %; r30 test 94.2 / 91.9 %, 2.2 %)
    ("r29", "dev"): (0.90, 0.02),
    ("r29", "test"): (0.95, 0.02),
    ("r30", "dev"): (0.94, 0.02),
    ("r30", "test"): (0.91, 0.025),
    # r31 and r32 by four more instances (on 9057025: r31 test 96.2 / 93.1 %, 0.6 %;
    # r32 test 94.7 / 95.2 %, 1.1 %)
    ("r31", "dev"): (0.94, 0.025),
    ("r31", "test"): (0.93, 0.01),
    ("r32", "dev"): (0.91, 0.025),
    ("r32", "test"): (0.94, 0.015),
    # r33-r36 by eight more instances (on 4c8bcc7: r33 test 94.8 / 96.8 %, 1.0 %; r34
    # test 94.1 / 93.0 %, 1.2 %; r35 test 94.3 / 93.1 %, 2.7 %; r36 test 91.0 / 93.6 %, 1.2 %)
    ("r33", "dev"): (0.91, 0.035),
    ("r33", "test"): (0.94, 0.015),
    ("r34", "dev"): (0.89, 0.03),
    ("r34", "test"): (0.93, 0.015),
    ("r35", "dev"): (0.92, 0.015),
    ("r35", "test"): (0.93, 0.03),
    ("r36", "dev"): (0.94, 0.01),
    ("r36", "test"): (0.91, 0.015),
    # r37-r40 by eight more instances (on ca1159b: r37 test 93.5 / 94.5 %, 2.2 %; r38
    # test 93.9 / 93.8 %, 2.2 %; r39 test 94.7 / 92.4 %, 0.5 %; r40 test 91.0 / 97.2 %, 1.7 %)
    ("r37", "dev"): (0.92, 0.020),
    ("r37", "test"): (0.93, 0.025),
    ("r38", "dev"): (0.95, 0.015),
    ("r38", "test"): (0.93, 0.025),
    ("r39", "dev"): (0.93, 0.005),
    ("r39", "test"): (0.92, 0.010),
    ("r40", "dev"): (0.94, 0.010),
    ("r40", "test"): (0.91, 0.020),
    # r41-r44 by eight more instances (on ef0c6f1: r41 test 95.8 / 95.6 %, 1.1 %; r42
    # test 90.1 / 91.5 %, 2.9 %; r43 test 95.5 / 95.0 %, 1.2 %; r44 test 95.0 / 92.0 %, 3.2 %)
    ("r41", "dev"): (0.92, 0.005),
    ("r41", "test"): (0.95, 0.015),
    ("r42", "dev"): (0.94, 0.005),
    ("r42", "test"): (0.90, 0.035),
    ("r43", "dev"): (0.94, 0.015),
    ("r43", "test"): (0.95, 0.015),
    ("r44", "dev"): (0.90, 0.035),
    ("r44", "test"): (0.92, 0.035),
    # r45-r48 by eight more instances (on 33bf643: r45 test 94.6 / 94.3 %, 1.7 %; r46
    # test 95.7 / 94.1 %, 1.5 %; r47 test 90.7 / 93.4 %, 3.4 %; r48 test 93.2 / 94.2 %, 2.3 %)
    ("r45", "dev"): (0.93, 0.010),
    ("r45", "test"): (0.94, 0.020),
    ("r46", "dev"): (0.93, 0.02),  # round 26: "recado pro seu wellington" has two Wellingtons now
    ("r46", "test"): (0.94, 0.020),
    ("r47", "dev"): (0.93, 0.040),
    ("r47", "test"): (0.90, 0.040),
    ("r48", "dev"): (0.93, 0.020),
    ("r48", "test"): (0.93, 0.030),
    # r49-r52 by eight more instances (on f266539: r49 test 95.3 / 92.1 %, 1.1 %; r50
    # test 92.5 / 97.5 %, 2.3 %; r51 test 94.0 / 88.8 %, 3.1 %; r52 test 90.4 / 95.1 %, 3.4 %)
    ("r49", "dev"): (0.93, 0.010),
    ("r49", "test"): (0.92, 0.015),
    ("r50", "dev"): (0.92, 0.020),
    ("r50", "test"): (0.92, 0.030),
    ("r51", "dev"): (0.92, 0.020),
    ("r51", "test"): (0.88, 0.035),
    ("r52", "dev"): (0.94, 0.005),
    ("r52", "test"): (0.90, 0.040),
}


def test_a_strong_model_s_answers_through_the_product_s_path() -> None:
    """The request the product builds, the tool calls it parses, the mapping and the
    rules' veto, with a strong model's recorded answers: a change to any of them that
    loses right answers or adds wrong actions fails here."""
    client, server = BENCH.llm_stub_client("replay", answers=BENCH.CORPUS / "llm_answers.jsonl")
    try:
        for (batch, split), (least, most_wrong) in REPLAY_FLOORS.items():
            result = BENCH.evaluate(BENCH.load_items([split], batch), BENCH.with_llm(client),
                                    BENCH.load_directories(batch))
            assert result["decided_by_llm"] > 0.8 * sum(c["items"] for c in result["languages"].values())
            for lang, cell in result["languages"].items():
                assert cell["accuracy"] >= least, (batch, split, lang, cell)
            assert result["wrong_actions"]["rate"] <= most_wrong, (batch, split, result["wrong_actions"])
    finally:
        client.close()
        server.close()
