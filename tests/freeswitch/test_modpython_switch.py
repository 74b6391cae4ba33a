"""mod_python3 mode on the real FreeSWITCH (the kit's 1.11.1, its embedded Python 3.11
importing this working tree through ``FS_PYTHONPATH``).

Provisioned with our own CLI only (``db migrate``, ``destinations import``,
``dialplan install --mode python --config FILE``): the DID's extension ends in
``python voiceai_ivr.modpython config=FILE``, and the caller's flow runs inside
FreeSWITCH. Agent legs are originated with ``&python('voiceai_ivr.modpython
config=FILE')`` and meet the caller's flow through the process-wide agent
registry. Outcomes come from FreeSWITCH's own events (CHANNEL_EXECUTE /
EXECUTE_COMPLETE of the prompts and of the hold music on the IVR's leg, the agent
leg's hangup cause, CHANNEL_BRIDGE) and from the database the handler wrote.

DIDs 8200-8299 are this module's (socket-mode suites use 8100-8199). The kit has no
``unimrcp`` ASR module, so the keyed deployment (8200) runs every turn with keys;
the spoken one (8201) uses the kit's scriptable test ASR (engine ``test``).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from freeswitch.harness import (
    DOMAIN,
    FS_LOG,
    Call,
    Deployment,
    Seen,
    Switchboard,
    deploy,
    drop_database,
    reloadxml,
)

KEYED_DID = "8200"
SPOKEN_DID = "8201"
ENTRY = "voiceai_ivr.modpython"


def _directory(did: str) -> dict[str, Any]:
    return {
        "domain": DOMAIN,
        "timezone": "America/Sao_Paulo",
        "hours": {"mon-sun": ["00:00-24:00"]},
        "secretaries": [{
            "name": f"Recepção Python {did}",
            "dids": [did],
            "language": "pt-BR",
            "announce": True,
            "music_on_hold": "local_stream://moh",
            "callback": True,
        }],
        "destinations": [
            {"name": "Financeiro", "type": "extension", "target": "1001", "timeout": 20, "menu_key": 1},
            {"name": "Suporte", "type": "extension", "target": "1003", "timeout": 20, "menu_key": 2},
            {"name": "Vendas", "type": "extension", "target": "1004", "timeout": 5, "menu_key": 3},
            {"name": "Compras", "type": "extension", "target": "1004", "timeout": 30, "menu_key": 4},
        ],
    }


def _deploy(workdir: Path, admin_uri: str, did: str, asr_engine: str) -> Deployment:
    """As README "Wiring it into FreeSWITCH" says for mod_python3: a config file that
    FreeSWITCH's Python reads (database DSN included), then the CLI."""
    config = {
        "speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
                   "asr_engine": asr_engine, "listen_timeout": 5.0, "digit_timeout": 2.0},
        "logging": {"level": "INFO"},
    }
    dep = deploy(workdir, admin_uri, directory=_directory(did), did=did, config=config, mode="python")
    xml = dep.dialplan_files[0].read_text()
    assert f'<action application="python" data="{ENTRY} config={dep.config_path}"/>' in xml, xml
    return dep


def _undeploy(board: Switchboard, admin_uri: str, dep: Deployment) -> None:
    dep.remove_dialplan()
    reloadxml(board)
    drop_database(admin_uri, dep.dsn)


@pytest.fixture(scope="module")
def log_mark() -> int:
    """Where FreeSWITCH's log stood when this module started."""
    return Path(FS_LOG).stat().st_size if Path(FS_LOG).exists() else 0


@pytest.fixture(scope="module")
def python_mode(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
                log_mark: int) -> Iterator[dict[str, Deployment]]:
    # FreeSWITCH's Python keeps modules imported by earlier calls: run the code on disk.
    assert switchboard.api(f"python {ENTRY} reload").startswith("+OK")
    keyed = _deploy(tmp_path_factory.mktemp("modpython-keyed"), pg_admin_uri, KEYED_DID, "unimrcp")
    spoken = _deploy(tmp_path_factory.mktemp("modpython-spoken"), pg_admin_uri, SPOKEN_DID, "test")
    try:
        yield {"keyed": keyed, "spoken": spoken}
    finally:
        for dep in (keyed, spoken):
            _undeploy(switchboard, pg_admin_uri, dep)
        # close this module's handlers inside FreeSWITCH (database pools, ESL connections)
        switchboard.api(f"python {ENTRY} reload")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def calls(switchboard: Switchboard) -> Iterator[list[Call]]:
    """The calls a test places; each is hung up when the test ends, pass or fail."""
    placed: list[Call] = []
    yield placed
    for call in placed:
        if call.hangup_of(call.a) is None:
            switchboard.api(f"uuid_kill {call.a}")


def _call(board: Switchboard, placed: list[Call], did: str) -> Call:
    """A call from a number of its own: its agent legs carry it as their caller id,
    which tells them apart from other suites' calls on the same switch."""
    number = "55119" + "".join(secrets.choice("0123456789") for _ in range(8))
    call = board.call(did, caller=number)
    _NUMBERS[call.a] = number
    placed.append(call)
    return call


_NUMBERS: dict[str, str] = {}  # caller leg uuid -> the number it calls from


def _is_agent_of(e: Seen, number: str) -> bool:
    return e.h.get("variable_voiceai_role") == "agent" and e.h.get("Caller-Caller-ID-Number") == number


def _wait_agent(board: Switchboard, call: Call, name: str, timeout: float) -> Seen:
    number = _NUMBERS[call.a]
    seen = board.wait_event(lambda e: e.name == name and _is_agent_of(e, number), timeout, since=call.mark)
    assert seen is not None, f"no {name} of an agent leg; prompts: {call.prompts()}"
    return seen


def _attempt(dep: Deployment, call_uuid: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = dep.attempts(call_uuid)
        if rows:
            return rows[-1]
        assert time.monotonic() < deadline, f"no transfer attempt recorded for {call_uuid}"
        time.sleep(0.2)


def _choose(call: Call, key: str) -> None:
    """Keyed mode: the caller keys a destination at the greeting."""
    call.wait_listen("intent")
    call.press(key)


def _wait_music(board: Switchboard, call: Call) -> Seen:
    """The hold music's playback started on the IVR's leg."""
    seen = board.wait_event(lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == call.b and e.app == "playback"
                            and e.data.startswith("local_stream://"), 30, since=call.mark)
    assert seen is not None, f"no hold music; prompts: {call.prompts()}"
    return seen


def _music_ended(call: Call) -> list[tuple[float, float]]:
    spans = call.hold_music()
    assert spans, f"no hold music on the IVR's leg; prompts: {call.prompts()}"
    assert all(end is not None for _, end in spans), f"hold music still playing: {spans}"
    return [(start, end) for start, end in spans if end is not None]


def _python_log(since: int) -> str:
    with open(FS_LOG, "rb") as fh:
        fh.seek(since)
        return fh.read().decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- tests


def test_dialplan_hands_the_did_to_mod_python3_with_the_config_file(
    python_mode: Mapping[str, Deployment], switchboard: Switchboard, calls: list[Call]
) -> None:
    dep = python_mode["keyed"]
    call = _call(switchboard, calls, KEYED_DID)
    call.wait_listen("intent")
    started = [e for e in call.events(call.b) if e.name == "CHANNEL_EXECUTE" and e.app == "python"]
    assert [e.data for e in started] == [f"{ENTRY} config={dep.config_path}"]
    # no ASR module for "unimrcp" on the kit: the greeting offers keys only
    greeting = call.prompts()[0]
    assert "Tecle 1 para Financeiro" in greeting and "Diga" not in greeting
    call.hangup()
    call.wait_gone(10)
    row = dep.call_row(call.b)
    assert row["mode"] == "python"
    assert row["outcome"] in ("caller_hangup", "abandoned")


def test_transfer_accepted_under_mod_python3(
    python_mode: Mapping[str, Deployment], switchboard: Switchboard, calls: list[Call]
) -> None:
    dep = python_mode["keyed"]
    call = _call(switchboard, calls, KEYED_DID)
    _choose(call, "1")  # Financeiro: phone 1001 answers and presses 1
    bridge = switchboard.wait_event(
        lambda e: e.name == "CHANNEL_BRIDGE" and call.b in (e.uuid, e.h.get("Other-Leg-Unique-ID", "")), 40,
        since=call.mark)
    assert bridge is not None, f"never bridged; prompts: {call.prompts()}"
    attempt = _attempt(dep, call.b)
    assert attempt["status"] == "accepted", attempt
    agent = attempt["agent_uuid"]
    # the agent leg ran mod_python3 in this FreeSWITCH, with the caller's config file
    agent_apps = [(e.app, e.data) for e in switchboard.since(call.mark)
                  if e.uuid == agent and e.name == "CHANNEL_EXECUTE"]
    assert (agent_apps[0][0], agent_apps[0][1]) == ("python", f"{ENTRY} config={dep.config_path}"), agent_apps
    announced = [data for app, data in agent_apps if app == "playback"]
    assert announced and "Tecle 1 para aceitar" in announced[0]
    # hold music was heard while the agent rang and listened, and was over before the bridge
    spans = _music_ended(call)
    assert sum(end - start for start, end in spans) > 2.0  # ring 1 s + announcement until the key at 2.5 s
    assert spans[-1][1] <= bridge.t + 0.05
    print(f"measured: music {sum(end - start for start, end in spans):.3f}s in {len(spans)} segment(s), "
          f"stopped {bridge.t - spans[-1][1]:.3f}s before the bridge")
    assert call.bridged() is not None
    row = dep.call_row(call.b)
    assert (row["mode"], row["outcome"]) == ("python", "transferred")
    call.hangup()  # the bridged call ends; both python handlers returned long ago
    call.wait_gone(10)


def test_busy_agent_music_stops_and_the_busy_prompt_follows_within_2s(
    python_mode: Mapping[str, Deployment], switchboard: Switchboard, calls: list[Call]
) -> None:
    dep = python_mode["keyed"]
    call = _call(switchboard, calls, KEYED_DID)
    _choose(call, "2")  # Suporte: phone 1003 answers 486 Busy Here at once
    busy = _wait_agent(switchboard, call, "CHANNEL_HANGUP", 30)
    assert busy.h.get("Hangup-Cause") == "USER_BUSY"
    prompt = call.wait_prompt("em outra liga", timeout=10, since=busy.i)
    print(f"measured: busy prompt {prompt.t - busy.t:.3f}s after the 486; music spans {call.hold_music()}")
    assert prompt.t - busy.t < 2.0, f"busy prompt {prompt.t - busy.t:.2f}s after the 486"
    # the music (if the 486 came after it started) ended within 1 s of it, before the prompt
    spans = call.hold_music()
    assert all(end is not None for _, end in spans), f"hold music still playing: {spans}"
    for _start, end in spans:
        assert end is not None and end - busy.t < 1.0 and end <= prompt.t + 0.05
    complete = switchboard.wait_event(
        lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.uuid == call.b
        and e.h.get("Application-UUID") == prompt.h.get("Application-UUID"), 30, since=prompt.i)
    assert complete is not None
    assert _attempt(dep, call.b)["status"] == "busy"
    call.hangup()
    call.wait_gone(10)


def test_no_answer_is_bounded_and_the_caller_hears_the_next_prompt(
    python_mode: Mapping[str, Deployment], switchboard: Switchboard, calls: list[Call]
) -> None:
    dep = python_mode["keyed"]
    call = _call(switchboard, calls, KEYED_DID)
    _choose(call, "3")  # Vendas: phone 1004 rings forever; the destination rings 5 s
    first_music = _wait_music(switchboard, call)
    ended = _wait_agent(switchboard, call, "CHANNEL_HANGUP", 20)
    assert ended.h.get("Hangup-Cause") == "NO_ANSWER", ended.h
    assert ended.t - first_music.t < 5.0 + 2.0  # originate_timeout=5, not the 71 s of issue 11
    prompt = call.wait_prompt("não atendeu", timeout=10, since=ended.i)
    spans = _music_ended(call)
    print(f"measured: ring {ended.t - first_music.t:.3f}s; music stopped {spans[-1][1] - ended.t:.3f}s and "
          f"prompt {prompt.t - ended.t:.3f}s after NO_ANSWER")
    assert prompt.t - ended.t < 2.0
    assert spans[-1][1] - ended.t < 1.0 and spans[-1][1] <= prompt.t + 0.05
    assert _attempt(dep, call.b)["status"] == "no_answer"
    call.hangup()
    call.wait_gone(10)


def test_caller_hangup_on_hold_ends_the_agent_leg_within_1s(
    python_mode: Mapping[str, Deployment], switchboard: Switchboard, calls: list[Call]
) -> None:
    dep = python_mode["keyed"]
    call = _call(switchboard, calls, KEYED_DID)
    _choose(call, "4")  # Compras: phone 1004 rings, 30 s
    _wait_music(switchboard, call)
    _wait_agent(switchboard, call, "CHANNEL_CREATE", 10)
    time.sleep(1.5)
    call.hangup()
    gone = call.hangup_of(call.a, timeout=10)
    assert gone is not None
    agent_gone = _wait_agent(switchboard, call, "CHANNEL_HANGUP", 5)
    print(f"measured: agent leg gone {agent_gone.t - gone.t:.3f}s after the caller")
    assert agent_gone.t - gone.t < 1.0, f"agent leg ended {agent_gone.t - gone.t:.2f}s after the caller"
    assert _attempt(dep, call.b)["status"] == "caller_hangup"


def test_spoken_request_transfers_through_the_test_asr(python_mode: Mapping[str, Deployment],
                                                       switchboard: Switchboard, calls: list[Call]) -> None:
    dep = python_mode["spoken"]
    call = _call(switchboard, calls, SPOKEN_DID)
    call.wait_listen("intent")
    listen = call.wait_prompt_started()
    assert listen.app == "play_and_detect_speech"
    assert re.search(r"^say:[^']* detect:test \{", listen.data), listen.data  # the file part unquoted
    call.say("quero falar com o financeiro", fmt="nlsml")
    assert switchboard.wait_event(
        lambda e: e.name == "CHANNEL_BRIDGE" and call.b in (e.uuid, e.h.get("Other-Leg-Unique-ID", "")), 45,
        since=call.mark) is not None, f"never bridged; prompts: {call.prompts()}"
    assert _attempt(dep, call.b)["status"] == "accepted"
    call.hangup()
    call.wait_gone(10)


def test_no_session_is_leaked(python_mode: Mapping[str, Deployment], switchboard: Switchboard,
                              calls: list[Call], log_mark: int) -> None:
    """Each call's channels are gone within seconds of its end (mod_python3 keeps a
    read lock on a session until its Python object dies), three calls in a row."""
    for _ in range(3):
        call = _call(switchboard, calls, KEYED_DID)
        call.wait_listen("intent")
        call.hangup()
        call.wait_gone(10)
        started = time.monotonic()
        assert switchboard.wait_no_channels(10.0) == 0
        print(f"measured: zero channels {time.monotonic() - started:.3f}s after the IVR leg ended")
        assert time.monotonic() - started < 5.0
    log = _python_log(log_mark)
    assert "set_tts_parms is deprecated" not in log
    assert "Python Error" not in log and "call handler failed" not in log
