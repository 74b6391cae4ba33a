"""Click-to-call and availability through the API, against the FreeSWITCH
simulator (same agent-first flow as the dispatcher); responses checked against
the OpenAPI document."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from dispatcher.conftest import DOMAIN, sim  # noqa: F401 - the simulator fixture
from dispatcher.helpers import add_callbacks, add_domain, callback_row, fetch

from voiceai_ivr.api.app import create_app
from voiceai_ivr.cli.api_cmd import build_services

from .conftest import TOKEN_B, Client, Served, click_to_call_served


@pytest.fixture
def live_api(api_config, db, contract, sim) -> Iterator[Client]:  # noqa: F811
    api_config.callbacks.lease_seconds = 30.0
    api_config.api.call_workers = 2
    with click_to_call_served(api_config, db, sim) as url:
        yield Client(url, contract)


def _attempt(api: Client, attempt_id: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = api.request("GET", "/attempts/{attempt_id}", path=f"/attempts/{attempt_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["outcome"] is not None:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_click_to_call_runs_agent_first(live_api, sim, db_dsn):  # noqa: F811
    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="1001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(agents={"1007": {"behavior": "answer"}}, customers={number: {"behavior": "answer"}})
    r = live_api.request(
        "POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent_extension": "1007"}
    )
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "started" and started["callback_id"] == pid
    attempt = _attempt(live_api, started["attempt_id"])
    assert (attempt["outcome"], attempt["trigger"], attempt["agent_extension"]) == ("completed", "api", "1007")
    counts = sim.originate_counts()
    assert counts.get("1007") == 1 and counts.get(number) == 1 and counts.get("1001", 0) == 0
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"]) == ("completed", 1)
    kinds = [k for (k,) in fetch(db_dsn, "SELECT kind FROM helpdesk_outbox ORDER BY id")]
    assert kinds == ["callback.attempt", "callback.result"]
    # now closed: a second click is a conflict
    r = live_api.request(
        "POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent_extension": "1007"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "closed"


def test_click_to_call_conflicts_and_other_domains(live_api, sim, db_dsn):  # noqa: F811
    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1)
    number = callback_row(db_dsn, pid)["number_e164"]
    # the agent takes 2 real seconds to answer: the callback stays leased meanwhile
    sim.set_endpoints(
        agents={"1008": {"behavior": "answer", "answer_after": 200}}, customers={number: {"behavior": "answer"}}
    )
    r = live_api.request(
        "POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent_extension": "1008"}
    )
    assert r.status_code == 202
    r = live_api.request(
        "POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent_extension": "1008"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "in_progress"
    for template in ("/callbacks/{id}/snooze", "/callbacks/{id}/cancel"):
        r = live_api.request(
            "POST", template, path=template.replace("{id}", pid), json={"minutes": 5} if "snooze" in template else {}
        )
        assert r.status_code == 409
    # domain B's token cannot reach domain A's callback
    r = live_api.request(
        "POST", "/callbacks/{id}/call", token=TOKEN_B, path=f"/callbacks/{pid}/call", json={"agent_extension": "1008"}
    )
    assert r.status_code == 404 and r.json()["error"]["field"] == "id"
    attempt_id = fetch(db_dsn, "SELECT id FROM callback_attempts")[0][0]
    r = live_api.request("GET", "/attempts/{attempt_id}", token=TOKEN_B, path=f"/attempts/{attempt_id}")
    assert r.status_code == 404
    assert _attempt(live_api, attempt_id)["outcome"] == "completed"


def test_availability(live_api, sim):  # noqa: F811
    sim.set_endpoints(
        agents={
            "1001": {"behavior": "answer"},
            "1002": {"behavior": "offline"},
            "1003": {"behavior": "answer", "in_call": True},
        }
    )
    expect = {
        "1001": (True, False, True),
        "1002": (False, False, False),
        "1003": (True, True, False),
        "1999": (False, False, False),
    }
    for ext, (registered, in_call, available) in expect.items():
        r = live_api.request("GET", "/extensions/{ext}/availability", path=f"/extensions/{ext}/availability")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["registered"], body["in_call"], body["available"], body["domain"]) == (
            registered,
            in_call,
            available,
            "a.example",
        ), ext
    r = live_api.request("GET", "/health", token=None)
    assert r.status_code == 200 and r.json()["checks"]["pbx"] == "ok"


def test_api_follows_the_switch_down_at_start_then_restarted(api_config, db, contract):
    """FreeSWITCH not answering when the API starts: /health is degraded, then the
    API connects by itself once it answers; a restart of the switch later shows as
    degraded again and recovers without touching the API."""
    import socket

    from voiceai_sim.simulator import Simulator

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = api_config
    cfg.esl.host, cfg.esl.port = "127.0.0.1", port
    cfg.esl.reconnect_max_delay = 0.2  # the retry is every max(1 s, this)
    cfg.callbacks.caller_id_number = "+551140040000"
    cfg.api.agent_listen_port = 0
    cfg.dispatcher.availability_cache_seconds = 0.0
    services = build_services(cfg, db)
    served = Served(create_app(cfg, services))
    api = Client(served.url, contract)
    pbx = None

    def health() -> tuple[int, str]:
        r = api.request("GET", "/health", token=None)
        return r.status_code, r.json()["checks"]["pbx"]

    def wait_for(expected: tuple[int, str], timeout: float) -> float:
        started = time.monotonic()
        while health() != expected:
            assert time.monotonic() - started < timeout, health()
            time.sleep(0.05)
        return time.monotonic() - started

    try:
        assert health() == (503, "unavailable")
        r = api.request("GET", "/extensions/{ext}/availability", path="/extensions/1001/availability")
        assert r.status_code == 503
        pbx = Simulator(scale=0.01, domain=DOMAIN, inbound_port=port).start()
        pbx.set_endpoints(agents={"1001": {"behavior": "answer"}})
        wait_for((200, "ok"), 5.0)
        r = api.request("GET", "/extensions/{ext}/availability", path="/extensions/1001/availability")
        assert r.status_code == 200 and r.json()["registered"] is True, r.text
        metrics = api.request("GET", "/metrics", check=False).text
        assert "voiceai_ivr_esl_connected 1" in metrics
        pbx.stop()  # the switch restarts
        pbx = None
        wait_for((503, "unavailable"), 5.0)
        assert "voiceai_ivr_esl_connected 0" in api.request("GET", "/metrics", check=False).text
        pbx = Simulator(scale=0.01, domain=DOMAIN, inbound_port=port).start()
        pbx.set_endpoints(agents={"1001": {"behavior": "answer"}})
        wait_for((200, "ok"), 5.0)
        r = api.request("GET", "/extensions/{ext}/availability", path="/extensions/1001/availability")
        assert r.status_code == 200 and r.json()["registered"] is True, r.text
    finally:
        served.close()
        if services.pbx_retry is not None:
            services.pbx_retry.set()
        if services.dispatcher is not None:
            services.dispatcher.close()
            services.dispatcher.esl_client.close()
        if pbx is not None:
            pbx.stop()
