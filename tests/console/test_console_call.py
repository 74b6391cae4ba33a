"""Call now from the console against the FreeSWITCH simulator: the API's own
click-to-call (agent first, then the customer), its attempt on the detail page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from api.conftest import click_to_call_served
from dispatcher.conftest import DOMAIN, sim  # noqa: F401 - the simulator fixture
from dispatcher.helpers import add_callbacks, add_domain, callback_row

from voiceai_ivr.config import APIToken

from .conftest import Console

TOKEN = "console-token-click-0123456789"


@pytest.fixture
def live_console(console_config: Any, db: Any, sim: Any) -> Iterator[Console]:  # noqa: F811
    console_config.api.tokens = [APIToken(TOKEN, DOMAIN)]
    with click_to_call_served(console_config, db, sim) as url:
        yield Console(url, db, console_config)


def test_call_now_runs_the_apis_click_to_call(live_console: Console, sim: Any, db_dsn: str) -> None:  # noqa: F811
    add_domain(db_dsn, DOMAIN)
    (pid,) = add_callbacks(db_dsn, DOMAIN, 1, agent_extension="1001")
    number = callback_row(db_dsn, pid)["number_e164"]
    sim.set_endpoints(agents={"1007": {"behavior": "answer"}}, customers={number: {"behavior": "answer"}})
    s = live_console.login(TOKEN)
    page = f"/console/callbacks/{pid}"
    bad = live_console.post_form(s, page, page + "/call", {"agent_extension": "10;07"})
    assert bad.status_code == 400 and "agent_extension" in bad.text
    resp = live_console.post_form(s, page, page + "/call", {"agent_extension": "1007"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("?done=calling"), resp.text[:300]
    deadline = time.monotonic() + 15
    while callback_row(db_dsn, pid)["status"] != "completed":
        assert time.monotonic() < deadline, callback_row(db_dsn, pid)
        time.sleep(0.05)
    assert sim.originate_counts().get("1007") == 1
    html = live_console.get(s, page).text
    assert 'id="attempts"' in html and "<td>concluída</td>" in html and "(ligar agora)" in html
    assert "ramal 1007" in html
