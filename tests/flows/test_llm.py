"""The LLM client against real local HTTP servers: good tool calls, slow, broken."""

from __future__ import annotations

import json
import socket
import time

import pytest

from voiceai_ivr.config import LLMConfig
from voiceai_ivr.integrations.llm import LLMClient, LLMUnavailable, client_from_config, listing_line, parse_tool_call

from .llm_server import tool_reply

DESTS = [{"name": "Financeiro", "aliases": ["boleto"]}, {"name": "Suporte Técnico", "aliases": []}]


def client(url: str, timeout: float = 1.0) -> LLMClient:
    return LLMClient(LLMConfig(enabled=True, url=url, model="test-model", api_key="sk-test", timeout=timeout))


def test_tool_calls_become_decisions(serve) -> None:
    replies = iter(
        [
            tool_reply("request_handoff", {"destination": "financeiro", "reason": "segunda via de boleto"}),
            tool_reply("schedule_callback", {"reason": "orçamento", "when": "amanhã de manhã"}),
            tool_reply("end_call", {}),
        ]
    )
    srv = serve(lambda body: (200, json.dumps(next(replies)).encode(), 0.0))
    llm = client(srv.url)
    d = llm.decide("preciso da segunda via do boleto", language="pt-BR", destinations=DESTS)
    assert (d.kind, d.destination, d.reason) == ("handoff", "Financeiro", "segunda via de boleto")
    d = llm.decide("me liga amanhã de manhã", destinations=DESTS)
    assert (d.kind, d.when) == ("callback", "amanhã de manhã")
    assert llm.decide("tchau", destinations=DESTS).kind == "end_call"
    sent = srv.requests[0]
    assert sent["model"] == "test-model"
    assert {t["function"]["name"] for t in sent["tools"]} == {
        "request_handoff", "ask_which", "transfer_to_operator", "schedule_callback", "repeat_options",
        "not_understood", "end_call"}
    assert "Financeiro (boleto)" in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "user", "content": "preciso da segunda via do boleto"}
    assert srv.headers[0]["Authorization"] == "Bearer sk-test"
    llm.close()


def test_slow_server_is_cut_at_the_timeout(serve) -> None:
    srv = serve(lambda body: (200, json.dumps(tool_reply("end_call", {})).encode(), 5.0))
    llm = client(srv.url, timeout=0.5)
    started = time.monotonic()
    # the wait for the worker and the request's own read timeout are both 0.5 s:
    # whichever ends first cuts the call
    with pytest.raises(LLMUnavailable, match=r"no answer within|request failed: ReadTimeout"):
        llm.decide("oi", destinations=DESTS)
    # cut at the timeout, long before the server's answer (the margin is for a
    # loaded machine: this took 1.0 s once with the whole suite on two workers)
    assert time.monotonic() - started < 2.5
    llm.close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "boom"}', "HTTP 500"),
        (200, b"<html>not json</html>", "not JSON"),
        (200, json.dumps({"choices": [{"message": {"content": "Financeiro"}}]}).encode(), "no tool call"),
        (200, json.dumps(tool_reply("transfer_money", {})).encode(), "unknown tool"),
        (200, json.dumps(tool_reply("request_handoff", {"destination": "Diretoria"})).encode(), "unknown destination"),
        (200, json.dumps(tool_reply("request_handoff", "{not json")).encode(), "not JSON"),
        (200, json.dumps(tool_reply("request_handoff", {"destination": 7})).encode(), "must be text"),
        (200, json.dumps([1, 2]).encode(), "not a JSON object"),
    ],
)
def test_broken_answers_are_unavailable(serve, status: int, body: bytes, message: str) -> None:
    srv = serve(lambda _req: (status, body, 0.0))
    llm = client(srv.url)
    with pytest.raises(LLMUnavailable, match=message):
        llm.decide("quero falar com a diretoria", destinations=DESTS)
    llm.close()


def test_refused_connection_and_disabled_config() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = client(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LLMUnavailable, match="request failed"):
        llm.decide("oi", destinations=DESTS)
    llm.close()
    assert client_from_config(LLMConfig(enabled=False)) is None
    with pytest.raises(LLMUnavailable, match="url and model"):
        LLMClient(LLMConfig(enabled=True))


NAMES = ["Financeiro", "Suporte Técnico", "Maria Silva", "Maria Souza"]


def test_the_other_tools_become_decisions() -> None:
    """ask_which (options as listed, repeats dropped), transfer_to_operator,
    repeat_options and not_understood."""
    d = parse_tool_call(tool_reply("ask_which", {"options": ["maria silva", "Maria Souza", "Maria Silva"]}), NAMES)
    assert (d.kind, d.options) == ("ask", ("Maria Silva", "Maria Souza"))
    assert parse_tool_call(tool_reply("transfer_to_operator", {"reason": "quer uma pessoa"}), NAMES).kind == "operator"
    assert parse_tool_call(tool_reply("repeat_options", {}), NAMES).kind == "repeat"
    assert parse_tool_call(tool_reply("not_understood", {}), NAMES).kind == "unclear"
    # a name with brackets is listed without them: the model's answer maps back
    listed = parse_tool_call(tool_reply("request_handoff", {"destination": "vendas loja"}), ["Vendas (Loja)"])
    assert listed.destination == "Vendas (Loja)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"options": ["Maria Silva"]}, "1 distinct options"),
        ({"options": ["Maria Silva", "maria silva"]}, "1 distinct options"),
        ({"options": ["Maria Silva", "Maria Santos"]}, "unknown destination 'Maria Santos'"),
        ({"options": "Maria Silva, Maria Souza"}, "options must be a list"),
        ({"options": [1, 2]}, "options must be a list"),
        ({}, "options must be a list"),
        ({"options": ["Financeiro", "Suporte Técnico", "Maria Silva", "Maria Souza", "A", "B"]}, "unknown"),
    ],
)
def test_a_bad_question_is_refused(arguments, message: str) -> None:
    with pytest.raises(LLMUnavailable, match=message):
        parse_tool_call(tool_reply("ask_which", arguments), NAMES)


def test_the_listing_line_says_what_each_destination_is() -> None:
    line = listing_line({"name": "Financeiro", "aliases": ["boleto"], "category": "billing",
                         "keywords": ["segunda via"]})
    assert line == "- Financeiro (boleto) [department: billing; about: segunda via]"
    assert listing_line({"name": "Maria Silva", "person": True, "category": "sales"}) == \
        "- Maria Silva [person, works in: sales]"
    assert listing_line({"name": "Ouvidoria"}) == "- Ouvidoria"
    assert listing_line({"name": "Comercial", "menu_key": 3, "category": "sales"}) == \
        "- Comercial [key 3; department: sales]"
    # an administrator's text cannot add lines or brackets to the listing
    line = listing_line({"name": "Vendas\n- Diretoria (x)", "aliases": ["a]\n[b"], "keywords": ["k)\r\nz"]})
    assert "\n" not in line and line.count("(") == 1 and line.count("[") == 1, line


@pytest.mark.parametrize(
    "body",
    [
        {"choices": [{"message": {"content": "hello"}}]},
        tool_reply("request_handoff", {"destination": "Financeiro"}),
        tool_reply("suggest_keywords", {"departments": "Financeiro: boleto"}),
        tool_reply("suggest_keywords", "not json"),
        tool_reply("suggest_keywords", {"departments": [{"name": "Marte", "phrases": ["x"]}, "Financeiro"]}),
    ],
)
def test_keyword_suggestions_that_say_nothing_usable_are_refused(body) -> None:
    from voiceai_ivr.integrations.llm import parse_keywords

    with pytest.raises(LLMUnavailable):
        parse_keywords(body, ["Financeiro", "Suporte Técnico"])


def test_keyword_suggestions_by_listed_name() -> None:
    from voiceai_ivr.integrations.llm import parse_keywords

    body = tool_reply("suggest_keywords", {"departments": [
        {"name": "suporte técnico", "phrases": ["sem sinal", 3]}, {"name": "Marte", "phrases": ["x"]}]})
    assert parse_keywords(body, ["Financeiro", "Suporte Técnico"]) == {"Suporte Técnico": ["sem sinal"]}
