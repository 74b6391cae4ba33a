"""Speech recognition is detected, never assumed: ``show interfaces`` at start, the
first ``ASR INIT ERROR`` during a call, and a keyed turn in its place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

import pytest

from voiceai_ivr.channel.base import DTMF, ListenResult
from voiceai_ivr.config import Config
from voiceai_ivr.errors import SpeechUnavailable
from voiceai_ivr.flows.asr_support import SpeechSupport
from voiceai_ivr.flows.context import CallContext, Services
from voiceai_ivr.flows.prompts import PromptBook
from voiceai_ivr.switch import Switch

# ``show interfaces`` as FreeSWITCH 1.11.1 (the test kit) answers it, abridged.
SHOW_INTERFACES = """type,name,ikey
api,...,mod_commands
application,play_and_detect_speech,mod_dptools
asr,test,mod_test
speech,flite,mod_flite
speech,tts_commandline,mod_tts_commandline

5 total.
"""


class _Transport:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.reconnects = 0
        self.asked = 0

    def api(self, command: str, timeout: float = 5.0) -> str:
        assert command == "show interfaces"
        self.asked += 1
        return self.reply

    def bgapi(self, command: str, timeout: float = 5.0) -> Any:
        raise AssertionError("not used")


def test_interfaces_are_read_from_show_interfaces() -> None:
    switch = Switch(_Transport(SHOW_INTERFACES))
    assert switch.asr_interfaces() == {"test"}
    assert switch.interfaces("speech") == {"flite", "tts_commandline"}


@pytest.mark.parametrize(("engine", "available"), [("test", True), ("unimrcp", False), ("TEST", True)])
def test_support_follows_what_the_pbx_has(engine: str, available: bool) -> None:
    support = SpeechSupport(engine)
    assert support.known is None and support.available  # unknown counts as available
    assert support.check(Switch(_Transport(SHOW_INTERFACES))) is available
    assert support.available is available and support.known is available


def test_an_unreachable_pbx_leaves_the_state_and_a_reconnect_asks_again() -> None:
    transport = _Transport("-ERR no reply")
    support = SpeechSupport("unimrcp")
    support.refresh(Switch(transport))
    assert support.known is None
    transport.reply = SHOW_INTERFACES
    support.refresh(Switch(transport))  # nothing changed: not asked again
    assert transport.asked == 1
    transport.reconnects = 1  # the inbound connection came back: ask again
    support.refresh(Switch(transport))
    assert transport.asked == 2 and support.known is False


class _Channel:
    """A channel whose PBX has no recogniser: ``listen(speech=True)`` fails as
    play_and_detect_speech does (ASR INIT ERROR)."""

    uuid = "6a4fd5b4-0000-4000-8000-000000000001"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    @property
    def data(self) -> Mapping[str, str]:
        return {"variable_voiceai_domain": "demo.local", "Caller-Caller-ID-Number": "5511987654321"}

    def on_hangup(self, callback: Callable[[], None]) -> None:
        pass

    def listen(self, source: str, *, speech: bool = True, **kwargs: Any) -> ListenResult:
        self.calls.append((source, speech))
        if speech:
            raise SpeechUnavailable("unimrcp", "ASR INIT ERROR")
        return ListenResult(DTMF, "1")


def test_asr_init_error_turns_the_turn_into_a_keyed_one_with_keyed_words() -> None:
    cfg = Config()
    services = Services(config=cfg, prompts=PromptBook.from_config(cfg), asr=SpeechSupport("unimrcp"))
    channel = _Channel()
    ctx = CallContext(channel, services, language="pt-BR")  # type: ignore[arg-type]
    menu: Optional[list[dict[str, Any]]] = [{"key": 1, "name": "Financeiro"}]
    heard = ctx.listen("greeting", slot="intent", menu=menu)
    assert heard == ListenResult(DTMF, "1")
    (first, speech1), (second, speech2) = channel.calls
    assert speech1 is True and speech2 is False
    assert "Diga o nome" in first and "Diga" not in second and "Tecle 1 para Financeiro" in second
    assert services.asr is not None and services.asr.known is False
    ctx.listen("ask_again", slot="intent")  # later turns go straight to keys
    assert channel.calls[-1][1] is False
