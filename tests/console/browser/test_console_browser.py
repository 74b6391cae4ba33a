"""A supervisor's day in a real headless Chromium: log in, find the callback a
simulated call just captured, hear its recording, snooze it; edit a destination
and see the running call server use it on the next call; a bad edit refused
with its field named; another domain's token sees none of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from api.conftest import Served
from harness import Stack, scenario_stack
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from voiceai_ivr.api.app import create_app
from voiceai_ivr.api.resources import ApiServices

from ..conftest import DIRECTORY, OTHER, TOKEN_DEMO, TOKEN_OTHER, write_wav
from .conftest import shot

SCENARIOS = DIRECTORY.parent
SCALE = 0.01


@pytest.fixture
def world(console_config: Any, db: Any) -> Iterator[tuple[Stack, str]]:
    """The simulated PBX and call server (secretaries record their calls) and the
    console of the same database."""
    from voiceai_ivr.domain.destinations import parse_directory
    from voiceai_ivr.stores.directory import import_directory

    doc = yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))
    for secretary in doc["secretaries"]:
        secretary["recording"] = True
    import_directory(db, parse_directory(OTHER))
    from voiceai_ivr.metrics import Metrics, start_metrics_server

    # serve's /health beside it (the metrics server `serve` runs; the simulated PBX recognises speech)
    metrics = Metrics()
    metrics.speech_available(True)
    health, _thread = start_metrics_server("127.0.0.1", 0, metrics)
    console_config.server.metrics_host = "127.0.0.1"
    console_config.server.metrics_port = health.server_port
    try:
        with scenario_stack(db, console_config, doc, scale=SCALE) as stack:
            served = Served(create_app(console_config, ApiServices(db=db)))
            try:
                yield stack, served.url
            finally:
                served.close()
    finally:
        health.shutdown()
        health.server_close()


def _scenario(name: str, **changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    doc.pop("directory", None)
    doc.update(changes)
    return doc


def _wait(driver: Any, seconds: float = 10.0) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def _login(driver: Any, url: str, token: str) -> None:
    driver.delete_all_cookies()
    driver.get(url + "/console/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-token-submit").click()
    _wait(driver).until(ec.presence_of_element_located((By.ID, "nav-callbacks")))


def test_callback_from_a_simulated_call_is_listed_heard_snoozed_and_hidden_from_another_domain(
    world: tuple[Stack, str], browser: Any
) -> None:
    stack, url = world
    result = stack.run(_scenario("callback/caller_id_accepted.yaml", at=datetime.now(timezone.utc).isoformat()))
    assert result["outcome"] == "callback_created", result.get("errors")
    (row,) = stack.callbacks(call_uuid=result["call_uuid"])
    assert row["recording_path"], row
    write_wav(Path(row["recording_path"]), seconds=2.0)  # what FreeSWITCH's record_session leaves
    pid = str(row["public_id"])

    browser.get(url + "/console/login")
    shot(browser, "login")
    _login(browser, url, TOKEN_DEMO)
    shot(browser, "dashboard")
    assert browser.find_element(By.ID, "callbacks-created").text == "1"
    assert browser.find_element(By.ID, "speech").text == "disponível"
    browser.find_element(By.ID, "period-7d").click()
    _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "svg.chart rect")))
    shot(browser, "dashboard-7d")
    assert browser.find_element(By.ID, "calls-total").text == "1"
    browser.find_element(By.ID, "nav-callbacks").click()
    link = _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{pid}"] a')))
    shot(browser, "callbacks")
    link.click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "transcript")))
    assert "segunda via do boleto" in browser.find_element(By.ID, "transcript").text

    # the recording plays: the audio element loads its metadata through the Range handler
    ready = _wait(browser).until(lambda d: d.execute_script(
        "const a = document.getElementById('recording');"
        "return a && a.readyState >= 1 && a.duration > 0 ? [a.readyState, a.duration] : null;"))
    assert abs(ready[1] - 2.0) < 0.1, ready
    shot(browser, "callback")

    minutes = browser.find_element(By.ID, "minutes")
    minutes.clear()
    minutes.send_keys("90")
    before = datetime.now(timezone.utc)
    browser.find_element(By.ID, "snooze").click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "done")))
    (after,) = stack.callbacks(call_uuid=result["call_uuid"])
    assert after["status"] == "pending"
    assert before + timedelta(minutes=89) < after["next_attempt_at"] < before + timedelta(minutes=92)

    # another domain's token: no row, and the callback's pages do not exist
    browser.find_element(By.ID, "logout").click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "token")))
    _login(browser, url, TOKEN_OTHER)
    browser.get(url + "/console/callbacks")
    assert browser.find_elements(By.ID, "empty") and not browser.find_elements(By.CSS_SELECTOR, "tr.callback-row")
    browser.get(f"{url}/console/callbacks/{pid}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "404 · Not found"  # in the other domain's language
    browser.get(f"{url}/console/callbacks/{pid}/recording")
    assert browser.find_element(By.TAG_NAME, "h1").text == "404 · Not found"
    browser.get(url + "/console/destinations")
    assert "Comercial" not in browser.page_source and "Sales" in browser.page_source


def test_destination_edit_is_used_by_the_next_call_and_a_bad_edit_is_refused(
    world: tuple[Stack, str], browser: Any
) -> None:
    stack, url = world
    agents = {"1003": {"behavior": "answer", "answer_after": 1, "accept": True}}
    first = stack.run(_scenario("menu_key.yaml", agents=agents))  # loads the call server's directory cache
    assert first["outcome"] == "transferred", first.get("errors")

    _login(browser, url, TOKEN_DEMO)
    browser.find_element(By.ID, "nav-destinations").click()
    row = _wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-name="Comercial"] a.edit')))
    shot(browser, "destinations")
    row.click()
    key = _wait(browser).until(ec.presence_of_element_located((By.ID, "menu_key")))

    key.clear()
    key.send_keys("1")  # Financeiro's key
    browser.find_element(By.ID, "save").click()
    error = _wait(browser).until(ec.presence_of_element_located((By.ID, "error")))
    # the field by its label on the form (the domain's language), the reason the import's validation gives
    assert "Tecla do menu" in error.text
    assert "bad" in (browser.find_element(By.ID, "menu_key").get_attribute("class") or "")
    assert "Financeiro" in error.text  # the other row by its name, not its place in the document
    shot(browser, "destination-refused")
    assert stack.query("SELECT menu_key FROM destinations WHERE name = 'Comercial'") == [{"menu_key": 3}]
    assert stack.query("SELECT count(*) AS n FROM console_audit") == [{"n": 0}]

    key = browser.find_element(By.ID, "menu_key")
    key.clear()
    key.send_keys("5")
    browser.find_element(By.ID, "save").click()
    _wait(browser).until(ec.presence_of_element_located((By.ID, "done")))
    assert "5" in browser.find_element(By.ID, "history").text
    shot(browser, "destination")
    (audit,) = stack.query("SELECT actor, changes FROM console_audit")
    assert audit["changes"] == {"menu_key": {"from": 3, "to": 5}}

    # the running call server: the next call keying 5 reaches Comercial
    second = stack.run(_scenario("menu_key.yaml", agents=agents, caller_inputs=[{"dtmf": "5"}]))
    assert second["outcome"] == "transferred", second.get("errors")
    transfers = stack.attempts(second["call_uuid"])
    assert [t["destination_name"] for t in transfers] == ["Comercial"], transfers
