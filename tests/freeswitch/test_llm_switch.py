"""The optional LLM path on the real switch: a caller heard by the kit's test ASR,
an OpenAI-compatible endpoint (a local HTTP server) deciding the open turn with a
question between two destinations, the caller's answer, the transfer and bridge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flows.llm_server import Server, tool_reply
from freeswitch.harness import Deployment, Switchboard, deployed
from freeswitch.test_socket_keyed import DIRECTORY
from freeswitch.test_socket_speech import answer

pytestmark = pytest.mark.timeout(180)

DID = "8120"


def _model(body: dict[str, Any]) -> tuple[int, bytes, float]:
    """A model that asks between Financeiro and Compras about a payment and does not
    understand anything else."""
    said = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if "pagamento" in said:
        reply = tool_reply("ask_which", {"options": ["Financeiro", "Compras"], "reason": "um pagamento"})
    else:
        reply = tool_reply("not_understood", {})
    return 200, json.dumps(reply).encode(), 0.0


@pytest.fixture(scope="module")
def model() -> Iterator[Server]:
    server = Server(_model)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               model: Server) -> Iterator[Deployment]:
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID])])
    config = {"speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
                         "asr_engine": "test", "listen_timeout": 5.0, "reprompts": 1},
              "llm": {"enabled": True, "url": model.url, "model": "test-model", "timeout": 2.0}}
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("llm")), directory=directory,
                  did=DID, config=config) as dep:
        yield dep


def test_the_model_asks_which_and_the_caller_is_put_through(switchboard: Switchboard, deployment: Deployment,
                                                            model: Server) -> None:
    call = switchboard.call(DID)
    answer(call, "intent", "e sobre um pagamento")
    prompt = call.wait_prompt(r"Financeiro.*Compras|Compras.*Financeiro", 30)
    assert prompt is not None, call.prompts()
    answer(call, "clarify", "o financeiro")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 45,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    row = deployment.call_row(call.b)
    assert row["outcome"] == "transferred"
    assert [(r["destination_name"], r["status"]) for r in deployment.attempts(call.b)] == [("Financeiro", "accepted")]
    first = row["intents"][0]
    assert (first["intent"], first["source"]) == ("ambiguous", "llm"), row["intents"]
    # the open turn went to the model once, with the listing as the model reads it;
    # the answer to the question was the rules' (a closed turn)
    asked = [r for r in model.requests if "pagamento" in r["messages"][1]["content"]]
    assert len(asked) == 1
    assert "- Financeiro (financeiro, boleto) [key 1]" in asked[0]["messages"][0]["content"]
    call.hangup()
    call.wait_gone(10)
