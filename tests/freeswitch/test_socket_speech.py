"""Socket mode with a speech-recognition module (the kit's scriptable test ASR,
engine ``test``): callers are heard, in both result formats FreeSWITCH's ASR
modules hand over (JSON as mod_test and the cloud modules, NLSML as mod_unimrcp)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from freeswitch.harness import Call, Deployment, Switchboard, deployed
from freeswitch.test_socket_keyed import DIRECTORY

pytestmark = pytest.mark.timeout(180)

DID = "8110"
CONFIG = {"speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
                     "asr_engine": "test", "listen_timeout": 5.0, "reprompts": 1}}


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    # two people of one first name, for a full name nobody here has
    people = [{"name": "Maria Silva", "type": "extension", "target": "1006"},
              {"name": "Maria Souza", "type": "extension", "target": "1007"}]
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID])],
                     destinations=[*DIRECTORY["destinations"], *people])
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("speech")), directory=directory,
                  did=DID, config=CONFIG) as dep:
        yield dep


def answer(call: Call, slot: str, text: str, fmt: str = "json") -> None:
    """Wait until the IVR listens for ``slot``, then say ``text`` during its prompt."""
    call.wait_listen(slot)
    started = call.wait_prompt_started()
    assert started.app == "play_and_detect_speech", started
    assert "'" not in started.data.split(" detect:")[0], "the file part must not be quoted"
    call.say(text, fmt=fmt)


@pytest.mark.parametrize("fmt", ["json", "nlsml"])
def test_spoken_request_is_transferred(switchboard: Switchboard, deployment: Deployment, fmt: str) -> None:
    call = switchboard.call(DID)
    greeting = call.wait_prompt_started(20)
    assert "Diga o nome" in greeting.data, greeting.data  # speech is available: the greeting asks for it
    answer(call, "intent", "eu queria falar com o pessoal do financeiro", fmt)
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 45,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    row = deployment.call_row(call.b)
    assert row["outcome"] == "transferred"
    rows = deployment.attempts(call.b)
    assert [(r["destination_name"], r["status"]) for r in rows] == [("Financeiro", "accepted")]
    intents = row["intents"]
    assert intents and intents[0]["source"] == "rules" and "financeiro" in intents[0]["text"], intents
    call.hangup()
    call.wait_gone(10)


def test_silence_is_reprompted_then_keys_still_work(switchboard: Switchboard, deployment: Deployment) -> None:
    call = switchboard.call(DID)
    call.wait_listen("intent")
    call.wait_prompt(r"não ouvi nada", 40)  # no input after the greeting ended (no-input timer after the prompt)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press("2")  # Comercial (busy), keyed while speech is possible
    call.wait_prompt(r"em outra ligação", 30)
    assert [r["status"] for r in deployment.attempts(call.b)] == ["busy"]
    call.hangup()
    call.wait_gone(10)


def test_callback_captured_by_speech(switchboard: Switchboard, deployment: Deployment) -> None:
    call = switchboard.call(DID)
    answer(call, "intent", "pode me ligar de volta mais tarde", "nlsml")
    answer(call, "confirm_caller_id", "sim")
    answer(call, "when", "amanhã de manhã")
    answer(call, "reason", "a minha fatura veio errada", "nlsml")
    answer(call, "confirm_callback", "sim pode ser")
    call.wait_prompt(r"retorno está confirmado", 40)
    call.wait_gone(30)
    rows = deployment.callbacks(call.b)
    assert len(rows) == 1, rows
    cb = rows[0]
    assert cb["number_e164"] == "+5511987654321" and cb["reason"] == "a minha fatura veio errada", cb
    start = cb["window_start"].astimezone(ZoneInfo("America/Sao_Paulo"))
    assert start.hour < 12 and start.date() > cb["created_at"].astimezone(ZoneInfo("America/Sao_Paulo")).date(), cb
    assert deployment.call_row(call.b)["outcome"] == "callback_created"


def test_a_full_name_nobody_has_offers_the_namesakes_then_the_reception(switchboard: Switchboard,
                                                                        deployment: Deployment) -> None:
    """"A Maria Oliveira": nobody by that name, two Marias: they are offered with the
    question for people, and "nenhuma das duas" puts the caller through to the
    reception (the secretary's fallback, Financeiro)."""
    call = switchboard.call(DID)
    answer(call, "intent", "queria falar com a maria oliveira")
    answer(call, "clarify", "nenhuma das duas")
    bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 45,
                                     since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    assert any("Maria Silva" in p and "Maria Souza" in p for p in call.prompts()), call.prompts()
    rows = deployment.attempts(call.b)
    assert [(r["destination_name"], r["status"]) for r in rows] == [("Financeiro", "accepted")]
    assert [i["intent"] for i in deployment.call_row(call.b)["intents"]][-1] == "operator"
    call.hangup()
    call.wait_gone(10)
