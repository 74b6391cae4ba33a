"""``voiceai-ivr serve``: the configured server, the busy message, SIGTERM draining."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from esl.peer import FakeCall

from voiceai_ivr.channel.base import Channel
from voiceai_ivr.cli import cli
from voiceai_ivr.config import Config
from voiceai_ivr.errors import ConfigError, ValidationError
from voiceai_ivr.server import CallServer, minimal_handler


def test_minimal_flow_and_busy_message_from_config() -> None:
    config = Config()
    config.server.busy_message = "say:Estamos ocupados, ligue depois"
    config.speech.tts_engine = "flite"
    config.speech.tts_voice = {"pt-BR": "kal"}
    server = CallServer(config, host="127.0.0.1", port=0, max_calls=1, flow=minimal_handler(config)).start()
    try:
        first = FakeCall(server.address, inputs=[{"digits": "1002"}], media_s=0.4)
        first.start()
        time.sleep(0.2)
        busy = FakeCall(server.address, media_s=0.01)
        busy.start()
        busy.join(10)
        first.join(10)
    finally:
        server.stop(2)
    assert first.error is None and busy.error is None
    # Not a call of the socket-mode dialplan (no voiceai_try): no state marks.
    assert not [c for c in first.commands if c.startswith("api uuid_setvar")], first.commands
    assert [a for a, _ in first.apps] == ["answer", "set", "set", "set", "set", "playback", "set", "playback",
                                          "playback"]
    assert first.apps[1:4] == [("set", "playback_terminators=any"), ("set", "tts_engine=flite"),
                               ("set", "tts_voice=kal")]
    assert first.apps[7] == ("playback", "say:Você digitou 1 0 0 2. Obrigado.")
    assert busy.apps == [("set", "tts_engine=flite"), ("set", "tts_voice=kal"),
                         ("playback", "say:Estamos ocupados, ligue depois")]
    assert busy.hangup_cause == "USER_BUSY" and busy.exited


def test_at_capacity_a_call_of_the_socket_dialplan_goes_back_to_it_unserved() -> None:
    """The dialplan's re-entry variables in the connect data: no busy message, no
    hangup, no ``voiceai_served``: the socket closes and FreeSWITCH tries the next
    serve address, then the fallback. Without them (an older dialplan): the busy
    message, as before."""
    config = Config()
    config.speech.tts_engine = "flite"
    config.speech.tts_voice = {"pt-BR": "kal"}
    server = CallServer(config, host="127.0.0.1", port=0, max_calls=1, flow=minimal_handler(config)).start()
    try:
        first = FakeCall(server.address, inputs=[{"digits": "1002"}], media_s=0.4,
                         variables={"voiceai_try": "1"})
        first.start()
        time.sleep(0.2)
        started = time.monotonic()
        full = FakeCall(server.address, media_s=0.01, variables={"voiceai_try": "1"})
        full.start()
        full.join(10)
        handed_back = time.monotonic() - started
        old = FakeCall(server.address, media_s=0.01)
        old.start()
        old.join(10)
        first.join(10)
    finally:
        server.stop(2)
    assert first.error is None and full.error is None and old.error is None
    # The server marks a call of this dialplan as taken first (the dialplan's fallback
    # reads it), with uuid_setvar on the call's socket ahead of the flow's first
    # command; the minimal flow hangs up itself, so no "done" mark follows.
    assert first.commands[4] == f"api uuid_setvar {first.uuid} voiceai_served true", first.commands
    assert first.commands[5] == "sendmsg" and first.apps[0][0] == "answer", first.commands
    assert first.vars["voiceai_served"] == "true" and "voiceai_done" not in first.vars
    assert full.apps == [] and full.exited, full.commands
    # no message, no hangup, not marked served: only sent back into its extension
    # (uuid_transfer; closing the socket alone can leave FreeSWITCH's socket app parked)
    assert not [c for c in full.commands if c.startswith("sendmsg")], full.commands
    assert [c for c in full.commands if c.startswith("api")] == [
        f"api uuid_transfer {full.uuid} 8000 XML default"], full.commands
    assert handed_back < 1.0, handed_back
    assert [a for a, _ in old.apps] == ["set", "set", "playback"] and old.hangup_cause == "USER_BUSY"


def test_done_mark_after_a_normal_end_only() -> None:
    """A call of the socket-mode dialplan whose handler returns with the call up is
    marked done just before the ``exit``; a handler that fails leaves it unmarked
    (the dialplan's fallback takes the caller)."""
    config = Config()

    def flow(channel: Channel) -> None:
        channel.answer()
        if channel.data.get("variable_test_fail"):
            raise RuntimeError("handler bug")

    server = CallServer(config, host="127.0.0.1", port=0, max_calls=2, flow=flow).start()
    try:
        ended = FakeCall(server.address, variables={"voiceai_try": "1"})
        failed = FakeCall(server.address, variables={"voiceai_try": "1", "test_fail": "1"})
        for call in (ended, failed):
            call.start()
        for call in (ended, failed):
            call.join(10)
    finally:
        server.stop(2)
    assert ended.error is None and failed.error is None
    setvars = [c for c in ended.commands if c.startswith("api uuid_setvar")]
    assert setvars == [f"api uuid_setvar {ended.uuid} voiceai_served true",
                       f"api uuid_setvar {ended.uuid} voiceai_done true"], ended.commands
    assert ended.commands[-2:] == [setvars[-1], "exit"], ended.commands
    assert ended.vars["voiceai_done"] == "true"
    assert [c for c in failed.commands if c.startswith("api uuid_setvar")] == [
        f"api uuid_setvar {failed.uuid} voiceai_served true"], failed.commands
    assert "voiceai_done" not in failed.vars


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_calls"):
        CallServer(Config(), port=0, max_calls=0, flow=minimal_handler(Config()))
    config = Config()
    config.server.busy_message = "/sounds/it's.wav"
    with pytest.raises(ValidationError, match=r"server\.busy_message"):
        CallServer(config, port=0, flow=minimal_handler(config))
    result = CliRunner().invoke(cli, ["serve", "--max-calls", "0"])
    assert result.exit_code == 2 and "max-calls" in result.output


def test_serve_drains_calls_on_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAI_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from voiceai_ivr.cli import main; main()", "serve", "--host", "127.0.0.1",
         "--port", "0", "--max-calls", "5", "--flow", "minimal"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        assert proc.stderr is not None
        address = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and address is None:
            line = proc.stderr.readline()
            m = re.search(r"listening on ([\d.]+):(\d+)", line)
            if m:
                address = (m.group(1), int(m.group(2)))
        assert address is not None
        call = FakeCall(address, inputs=[{"digits": "7"}], media_s=0.5)
        call.start()
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # no longer accepting
            socket.create_connection(address, timeout=1).close()
        call.join(15)
        assert call.error is None and call.hangup_cause == "NORMAL_CLEARING" and call.exited
        rest = proc.communicate(timeout=15)[1]
        assert proc.returncode == 0, rest
        assert "stopped (0 calls cut)" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
