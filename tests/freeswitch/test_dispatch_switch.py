"""Callbacks on the real switch: the dispatcher as cron runs it (agent first with
the whisper, then the customer, through loopback and through a SIP gateway), the
HTTP API's click-to-call, and availability from real registrations and calls."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dispatcher.helpers import add_callbacks
from freeswitch.harness import DOMAIN, VOICEAI, Deployment, Switchboard, _free_port, deployed
from freeswitch.test_socket_keyed import DIRECTORY

pytestmark = pytest.mark.timeout(240)

DID = "8120"
TOKEN = "fs-suite-token-0123456789"
CUSTOMER_ANSWERS = 5511900000001  # the kit's customers: a number ending in 1 answers


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID])])
    config = {
        "speech": {"tts_engine": "tts_commandline", "tts_voice": {"pt-BR": "pt-br", "en-US": "en-us"},
                   "asr_engine": "unimrcp"},
        "callbacks": {"caller_id_number": "+551130000000", "caller_id_name": "Empresa",
                      "customer_answer_timeout": 20},
        "dispatcher": {"listen_port": 0, "whisper_timeout": 30.0, "outbox_delivery_seconds": 0},
        "api": {"port": _free_port(), "agent_listen_port": 0, "tokens": [{"domain": DOMAIN, "token": TOKEN}]},
    }
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("dispatch")), directory=directory,
                  did=DID, config=config, serve=False) as dep:
        yield dep


def set_gateway(dep: Deployment, gateway: str) -> None:
    import yaml

    settings = yaml.safe_load(dep.config_path.read_text())
    settings["callbacks"]["gateway"] = gateway
    dep.config_path.write_text(yaml.safe_dump(settings))


def legs(board: Switchboard, mark: int, key: str, value: str) -> list[Any]:
    """The first event of each leg that carries ``key=value`` (the kit sets
    ``kit_phone``/``kit_customer`` in the dialplan, after the leg is created)."""
    first: dict[str, Any] = {}
    for e in board.since(mark):
        if e.h.get(key) == value and e.uuid not in first:
            first[e.uuid] = e
    return sorted(first.values(), key=lambda e: e.t)


def cleanup(board: Switchboard, mark: int) -> None:
    """Hang up what the attempt bridged (the kit's phones would stay up 20-30 s)."""
    for e in board.since(mark):
        if e.name == "CHANNEL_CREATE":
            board.api(f"uuid_kill {e.uuid}")


@pytest.mark.parametrize("gateway", ["", "carrier"], ids=["loopback", "sip_gateway"])
def test_dispatcher_calls_back_agent_first(switchboard: Switchboard, deployment: Deployment, gateway: str) -> None:
    set_gateway(deployment, gateway)
    base = CUSTOMER_ANSWERS + (0 if not gateway else 10)
    (pid,) = add_callbacks(deployment.dsn, DOMAIN, 1, agent_extension="1001", number_base=base)
    number = f"+{base}"
    mark = switchboard.mark()
    # Exactly the command the shipped cron line runs (scripts/voiceai-ivr.cron).
    proc = deployment.cli("dispatch-callbacks", timeout=150, check=False)
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        row = deployment.query("SELECT status, attempts, last_outcome FROM callbacks WHERE public_id = %s", (pid,))[0]
        assert (row["status"], row["attempts"]) == ("completed", 1), (row, proc.stdout, proc.stderr)
        agent = legs(switchboard, mark, "variable_kit_phone", "1001")
        customer = legs(switchboard, mark, "variable_kit_customer", number.lstrip("+"))
        assert agent and customer, "both the agent's phone and the customer's line must have rung"
        assert agent[0].t < customer[0].t, "agent first, then the customer"
        bridge = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE", 10, since=mark)
        assert bridge is not None
        if gateway:
            gw = [e for e in switchboard.since(mark) if e.name == "CHANNEL_CREATE"
                  and "gateway/carrier" in e.h.get("Channel-Name", "") + e.h.get("Caller-Destination-Number", "")]
            sofia = [e for e in switchboard.since(mark) if e.name == "CHANNEL_CREATE"
                     and e.h.get("Channel-Name", "").startswith("sofia/internal/")
                     and number.lstrip("+") in e.h.get("Channel-Name", "")]
            assert gw or sofia, "the customer leg must go through the carrier gateway"
    finally:
        cleanup(switchboard, mark)


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[str]:
    import yaml

    port = yaml.safe_load(deployment.config_path.read_text())["api"]["port"]
    log = open(deployment.workdir / "api.log", "ab")
    proc = subprocess.Popen([VOICEAI, "api"], env=deployment.env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, (deployment.workdir / "api.log").read_text()
            time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def get(base: str, path: str) -> Any:
    r = requests.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_click_to_call_through_the_api(switchboard: Switchboard, deployment: Deployment, api: str) -> None:
    set_gateway(deployment, "")
    base = CUSTOMER_ANSWERS + 20
    (pid,) = add_callbacks(deployment.dsn, DOMAIN, 1, agent_extension="1001", number_base=base)
    mark = switchboard.mark()
    try:
        r = requests.post(f"{api}/callbacks/{pid}/call", json={"agent_extension": "1009"},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert r.status_code == 202, r.text
        attempt_id = r.json()["attempt_id"]
        deadline = time.monotonic() + 90
        attempt: dict[str, Any] = {}
        while time.monotonic() < deadline:
            attempt = get(api, f"/attempts/{attempt_id}")
            if attempt.get("outcome"):
                break
            time.sleep(0.5)
        assert attempt.get("outcome") == "completed", attempt
        assert legs(switchboard, mark, "variable_kit_phone", "1009"), "the chosen agent's phone must ring"
        assert not legs(switchboard, mark, "variable_kit_phone", "1001")
        assert legs(switchboard, mark, "variable_kit_customer", str(base))
        # While 1009 is on that call, availability says so (from the switch's channels).
        body = get(api, "/extensions/1009/availability")
        assert (body["registered"], body["in_call"], body["available"]) == (True, True, False), body
    finally:
        cleanup(switchboard, mark)


@pytest.mark.parametrize(("ext", "registered"), [("1001", True), ("1005", False), ("1019", False)])
def test_availability_from_real_registrations(deployment: Deployment, api: str, ext: str, registered: bool,
                                             switchboard: Switchboard) -> None:
    body = get(api, f"/extensions/{ext}/availability")
    assert (body["registered"], body["in_call"], body["available"]) == (registered, False, registered), \
        json.dumps(body)
