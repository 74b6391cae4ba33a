"""``ESLChannel.record_answer`` over a real outbound socket against the ESL peer built
from the FreeSWITCH 1.11 capture (``tests/esl/peer.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
from esl.peer import FakeCall

from voiceai_ivr.channel.base import Channel, record_arg
from voiceai_ivr.channel.esl import ESLChannel
from voiceai_ivr.errors import ValidationError
from voiceai_ivr.esl.outbound import OutboundServer

PATH = "/var/lib/voiceai-ivr/speech/rec/2026-12-01/call-1.wav"


@pytest.fixture
def run_flow() -> Iterator[Callable[..., tuple[FakeCall, dict[str, Any]]]]:
    servers: list[OutboundServer] = []

    def run(flow: Callable[[Channel, dict[str, Any]], None], **call_kwargs: Any) -> tuple[FakeCall, dict[str, Any]]:
        out: dict[str, Any] = {}

        def handler(session: Any) -> None:
            ch = ESLChannel(session, digit_timeout_s=0.3)
            try:
                ch.answer()
                flow(ch, out)
            except BaseException as exc:
                out["error"] = exc
                raise

        server = OutboundServer("127.0.0.1", 0, handler, max_calls=10).start()
        servers.append(server)
        call = FakeCall(server.address, **call_kwargs)
        call.start()
        call.join(15)
        assert not call.is_alive() and call.error is None, call.error
        return call, out

    yield run
    for s in servers:
        s.stop(1)


def test_prompt_then_record_with_freeswitch_arguments(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["r"] = ch.record_answer("/tmp/prompt.wav", PATH, max_s=10, silence_s=2, threshold=200, slot="intent")

    call, out = run_flow(flow)
    apps = call.apps[2:]  # after answer and playback_terminators=any
    assert apps[:3] == [("set", "voiceai_slot=intent"), ("playback", "/tmp/prompt.wav"),
                        ("record", f"{PATH} 10 200 2")], apps
    assert ("set", "voiceai_slot=") in apps[3:]
    # the peer reports no record_samples, as FreeSWITCH when nothing was recorded
    assert out["r"] == (None, "")


def test_a_key_during_the_prompt_is_the_answer_and_nothing_is_recorded(run_flow: Callable[..., Any]) -> None:
    def flow(ch: Channel, out: dict) -> None:
        out["r"] = ch.record_answer("/tmp/prompt.wav", PATH, slot="intent", max_digits=1)

    call, out = run_flow(flow, press_during_playback="3")
    assert out["r"] == (None, "3")
    assert "record" not in [a for a, _ in call.apps]


@pytest.mark.parametrize("path", ["relative.wav", "/tmp/with space.wav", "/tmp/${x}.wav", "/tmp/a'b.wav"])
def test_paths_freeswitch_would_misread_are_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        record_arg(path, 10, 200, 2)


@pytest.mark.parametrize(("max_s", "threshold", "silence_s"), [(0, 200, 2), (10, 200, 1.5), (10, -1, 2)])
def test_record_limits_are_whole_numbers_in_range(max_s: Any, threshold: Any, silence_s: Any) -> None:
    with pytest.raises(ValidationError):
        record_arg(PATH, max_s, threshold, silence_s)
