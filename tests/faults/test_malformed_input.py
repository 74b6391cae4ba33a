"""Bad input at every door.

* Event Socket frames fuzzed by hypothesis (garbage, truncated bodies, wrong
  Content-Length, enormous headers, non-UTF-8) thrown at the running call server
  WHILE a real call is on hold on it: every bad connection is dropped, the real
  call completes.
* DTMF floods, 10 KB (and 70 KB) speech results, odd caller ids.
* Dial-string, XML and SQL injection through caller speech, the YAML import
  (``voiceai-ivr destinations import``), ``dialplan render`` and the HTTP API.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceai_ivr.api.app import create_app
from voiceai_ivr.api.resources import ApiServices
from voiceai_ivr.cli import cli
from voiceai_ivr.config import APIToken
from voiceai_sim.scenario import CallerInput, Scenario, parse_scenario

from .conftest import (
    DIRECTORY,
    FaultStack,
    Ledger,
    SlotHooks,
    assert_clean_end,
    build_fault_stack,
    ivr_text,
    scenario,
    slots,
)

# --------------------------------------------------------------------------- ESL fuzz

_HEADER = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
                  min_size=1, max_size=30)


def _frame(headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    return "".join(f"{k}: {v}\n" for k, v in headers).encode() + b"\n" + body


garbage = st.binary(min_size=1, max_size=2048)
truncated_body = st.builds(
    lambda n, cut: _frame([("Content-Type", "command/reply"), ("Content-Length", str(n))], b"x" * cut),
    st.integers(min_value=10, max_value=100_000), st.integers(min_value=0, max_value=9),
)
wrong_length = st.builds(
    lambda value, body: _frame([("Content-Type", "api/response"), ("Content-Length", value)], body),
    st.sampled_from(["-1", "abc", "1e9", "99999999999999999999", "", " 12", "0x10", "٣"]),
    st.binary(max_size=64),
)
enormous_header = st.builds(
    lambda name, size: f"{name}: ".encode() + b"A" * size + b"\n\n",
    _HEADER, st.integers(min_value=300_000, max_value=600_000),
)
non_utf8 = st.builds(
    lambda junk: b"Content-Type: command/reply\nReply-Text: +OK " + junk + b"\n\n",
    st.binary(min_size=1, max_size=64).filter(lambda b: not _is_utf8(b)),
)
fake_connect = st.builds(  # looks like a connect reply, but lies about itself
    lambda uuid, extra: _frame([("Content-Type", "command/reply"), ("Reply-Text", "+OK"),
                                ("Unique-ID", uuid), ("Content-Length", extra)]),
    st.text(max_size=40), st.sampled_from(["5", "-3", "x", "70000000"]),
)
FUZZ = st.one_of(garbage, truncated_body, wrong_length, enormous_header, non_utf8, fake_connect)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _throw(address: tuple[str, int], payload: bytes, *, half_close: bool) -> float:
    """Send ``payload`` as FreeSWITCH would send frames; return how long the server took
    to close the connection (it must, within 10 s)."""
    started = time.monotonic()
    with socket.create_connection(address, timeout=10) as sock:
        sock.settimeout(10)
        try:
            sock.sendall(payload)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            return time.monotonic() - started  # already dropped mid-send: fine
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"server kept a bad connection open >10 s: {payload[:80]!r}") from None
            if not data:
                break
    return time.monotonic() - started


def _agent_leg_up(fs: FaultStack, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(leg["role"] == "agent" for leg in fs.sim.live_legs()):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def slow_stack(db: Any, config: Any) -> Any:
    with build_fault_stack(db, config, scale=0.1) as fs:
        yield fs


def test_fuzzed_frames_while_a_real_call_is_on_hold(slow_stack: FaultStack, ledger: Ledger,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    fs = slow_stack
    box: dict[str, Any] = {}
    real = scenario([{"say": "diretoria"}], agents={"1008": {"behavior": "answer", "answer_after": 80,
                                                             "accept": True}})
    caller = threading.Thread(target=lambda: box.update(result=fs.run(real, timeout=90)), daemon=True)
    caller.start()
    assert _agent_leg_up(fs, 20.0), "the real call never reached the hold"
    address = fs.server.address
    tried: dict[str, Any] = {"n": 0, "slowest": 0.0}

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(payload=FUZZ)
    def throw(payload: bytes) -> None:
        took = _throw(address, payload, half_close=True)
        tried["n"] += 1
        tried["slowest"] = max(tried["slowest"], took)

    # left open (FreeSWITCH keeps writing nothing): dropped within the command timeout, never a hang
    stuck = [b"Content-Type: command/reply\nContent-Length: 900\n\nabc", b"\xff\xfe\x00garbage",
             b"Content-Type: api/response\n", b"Unique-ID: x\n" + b"B" * 1000]
    took_open: list[float] = []
    threads = [threading.Thread(target=lambda p=p: took_open.append(_throw(address, p, half_close=False)))
               for p in stuck]
    for t in threads:
        t.start()
    # with FreeSWITCH's side done writing, the server must drop the connection at once
    throw()
    assert tried["slowest"] < 2.0, tried
    for t in threads:
        t.join(15)
    assert len(took_open) == len(stuck) and max(took_open) < 8.0, took_open
    tried["n"] += len(stuck)
    assert any(leg["role"] == "agent" for leg in fs.sim.live_legs()), "the fuzz outlasted the call: not concurrent"
    ledger.bad_input("esl_fuzzed_frame", tried["n"])
    dropped = fs.server.server.connections_dropped + fs.server.server.calls_failed  # the bad connections
    caller.join(90)
    assert not caller.is_alive()
    result = box["result"]
    assert result["outcome"] == "transferred", result["transcript"]
    assert result["errors"] == []
    assert_clean_end(fs, result, ledger, caplog, within=float("inf"), allow_errors=True,
                     failed_calls_allowed=tried["n"])
    assert dropped >= tried["n"] * 0.5, (dropped, tried)
    # still serving
    again = fs.run(scenario([{"say": "financeiro"}], agents={"1001": {"behavior": "answer", "answer_after": 1}}))
    assert again["outcome"] == "transferred", again["transcript"]


# --------------------------------------------------------------------------- DTMF, speech, caller ids


def test_dtmf_flood_during_a_listen(fault_stack: FaultStack, on_slot: SlotHooks, ledger: Ledger,
                                    caplog: pytest.LogCaptureFixture) -> None:
    sim = fault_stack.sim

    async def flood() -> int:
        callers = [ch for ch in sim.switch.channels.values() if ch.role == "caller" and not ch.hungup]
        for ch in callers:
            for i in range(2000):
                ch.press("0123456789*#"[i % 12])
        return len(callers)

    def run_flood() -> None:
        assert sim.call_soon(flood(), 10.0) == 1

    on_slot["intent"] = run_flood
    keys = [{"dtmf": "9" * 64}, {"dtmf": "*#" * 32}, {"say": "financeiro"}]
    result = fault_stack.run(scenario(keys, agents={"1001": {"behavior": "answer", "answer_after": 1}}))
    ledger.bad_input("dtmf_flood", 2000 + 128)
    assert on_slot.fired == ["intent"] and not on_slot.errors, on_slot.errors
    assert result["errors"] == [], result["transcript"]
    assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"))
    row = fault_stack.stack.call(result["call_uuid"])
    assert row["outcome"] is not None


CALLBACK_TAIL = [{"say": "sim"}, {"say": "amanhã de manhã"}]


@pytest.fixture
def fast_stack(db: Any, config: Any) -> Any:
    # the simulated caller SPEAKS a 10 KB result (~12 simulated minutes): a faster clock
    with build_fault_stack(db, config, scale=0.001, max_call_seconds=20_000) as fs:
        yield fs


@pytest.mark.parametrize("size", [10_000, 70_000])
def test_huge_speech_results(size: int, fast_stack: FaultStack, ledger: Ledger,
                             caplog: pytest.LogCaptureFixture) -> None:
    fault_stack = fast_stack
    words = ("quero o financeiro por favor " * (size // 20 + 1))[:size]
    sc = parse_scenario(scenario([], agents={"1001": {"behavior": "answer", "answer_after": 1}}))
    sc.caller_inputs = [CallerInput("say", words), CallerInput("say", "financeiro")]
    result = fault_stack.run(sc)
    ledger.bad_input(f"speech_{size // 1000}kb")
    assert result["errors"] == [], result["transcript"][:5]
    assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"))
    assert result["outcome"] == "transferred", [e for e in result["transcript"] if e.get("from") == "ivr"]
    # a 10 KB reason is stored as said (the caller's own words), bounded
    if size == 10_000:
        sc2 = parse_scenario(scenario([]))
        sc2.caller_inputs = [CallerInput("say", "me liga depois"), CallerInput("say", "sim"),
                             CallerInput("say", "amanhã de manhã"), CallerInput("say", "boleto " * 1400),
                             CallerInput("say", "sim")]
        r2 = fault_stack.run(sc2)
        assert_clean_end(fault_stack, r2, ledger, caplog, within=float("inf"))
        rows = fault_stack.stack.callbacks(call_uuid=r2["call_uuid"])
        ledger.callbacks(1, len(rows), "10 KB reason")
        assert len(rows) == 1 and rows[0]["reason"].startswith("boleto boleto"), rows


CALLER_IDS = ["+5511998765432", "abc1234def", "+55 11 99876 5432", "123456789012345678901234567890",
              "anonymous", "+", "1001,user/1002", "<x/>&'\"", "'; DROP TABLE calls; --", "5511${sip_from_user}"]


@pytest.mark.parametrize("caller", CALLER_IDS)
def test_odd_caller_ids(caller: str, fault_stack: FaultStack, ledger: Ledger,
                        caplog: pytest.LogCaptureFixture) -> None:
    """Whatever the caller id, the call is carried and a callback is captured with the
    number the caller keys (or the caller id when it is a real number)."""
    sc = Scenario(domain="demo.local", did="8000", caller=caller,
                  at=parse_scenario(scenario([])).at,
                  caller_inputs=[CallerInput("say", "me liga depois"), CallerInput("say", "não"),
                                 CallerInput("dtmf", "11987654321#"), CallerInput("say", "sim"),
                                 CallerInput("say", "amanhã de manhã"), CallerInput("say", "boleto"),
                                 CallerInput("say", "sim")])
    result = fault_stack.run(sc)
    ledger.bad_input("caller_id")
    info = {k: result.get(k) for k in ("transcript", "errors")}
    assert result["errors"] == [], info
    assert_clean_end(fault_stack, result, ledger, caplog)
    rows = fault_stack.stack.callbacks(call_uuid=result["call_uuid"])
    ledger.callbacks(1, len(rows), f"caller id {caller!r}")
    assert len(rows) == 1, info
    assert rows[0]["number_e164"] == "+5511987654321", rows
    if caller.replace(" ", "") == "+5511998765432":  # a real number, spaces or not: offered back
        assert "confirm_caller_id" in slots(result)
    else:
        assert "confirm_caller_id" not in slots(result), "an unusable caller id was offered back"
    assert "${" not in ivr_text(result)


# --------------------------------------------------------------------------- injection through speech

INJECTIONS = [
    "financeiro'; DROP TABLE callbacks; --",
    "financeiro,user/1002@demo.local",
    "financeiro|sofia/gateway/operadora/5511999990000",
    "{origination_caller_id_number=666}financeiro",
    "financeiro ${system(rm -rf /)}",
    "<financeiro/>&amp;<!ENTITY x SYSTEM 'file:///etc/passwd'>",
    "financeiro\nexecute-app-name: hangup",
]


def test_injection_through_caller_speech(fault_stack: FaultStack, ledger: Ledger,
                                         caplog: pytest.LogCaptureFixture) -> None:
    for text in INJECTIONS:
        sc = parse_scenario(scenario([], agents={"1001": {"behavior": "answer", "answer_after": 1},
                                               "1002": {"behavior": "answer", "answer_after": 1}}))
        sc.caller_inputs = [CallerInput("say", text), CallerInput("say", "financeiro")]
        result = fault_stack.run(sc)
        ledger.bad_input("speech_injection")
        info = {k: result.get(k) for k in ("transcript", "originates", "errors")}
        assert result["errors"] == [], info
        assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"))
        for leg in result["originates"]:
            assert leg["targets"] == ["1001"], info  # only ever the real extension
            # the endpoint is exactly the destination's; the variable block (random
            # uuids aside) carries nothing the caller said
            variables, _, endpoint = leg["dial_string"].rpartition("}")
            assert endpoint == "user/1001@demo.local", info
            for bad in ("user/", "1002@", "operadora", "system", "|", "\n", "${"):
                assert bad not in variables, info
        assert "${" not in ivr_text(result)
    # the reason is stored verbatim (parameterised), read back sanitised
    reason = "'; DROP TABLE callbacks; -- ${system(reboot)} <x/> {a=b}user/666|x"
    sc = parse_scenario(scenario([]))
    sc.caller_inputs = [CallerInput("say", "me liga depois"), CallerInput("say", "sim"),
                        CallerInput("say", "amanhã de manhã"), CallerInput("say", reason), CallerInput("say", "sim")]
    result = fault_stack.run(sc)
    ledger.bad_input("speech_injection")
    assert_clean_end(fault_stack, result, ledger, caplog, within=float("inf"))
    rows = fault_stack.stack.callbacks(call_uuid=result["call_uuid"])
    ledger.callbacks(1, len(rows), "injected reason")
    assert len(rows) == 1 and rows[0]["reason"] == reason, rows
    assert "${" not in ivr_text(result)
    assert fault_stack.stack.query("SELECT count(*) AS n FROM callbacks")[0]["n"] >= 1  # the table is still there


# --------------------------------------------------------------------------- YAML import, dialplan render, API


def _directory() -> dict[str, Any]:
    return yaml.safe_load(Path(DIRECTORY).read_text(encoding="utf-8"))


IMPORT_ATTACKS: list[tuple[str, Any, str]] = [
    # (what, mutation of the first destination or secretary, field the error must name)
    ("target_dial_string", {"target": "1001,user/1002"}, "target"),
    ("target_pipe", {"target": "1001|sofia/gateway/x/1"}, "target"),
    ("target_braces", {"target": "{origination_uuid=x}1001"}, "target"),
    ("target_xml", {"target": "<x/>"}, "target"),
    ("gateway_injection", {"type": "external", "target": "+5511999990000", "gateway": "gw/../x"}, "gateway"),
    ("did_xml", "did:<extension name='x'/>", "dids"),
    ("did_regex", "did:8000|.*", "dids"),
    ("moh_injection", "moh:local_stream://moh,user/1002", "music_on_hold"),
]


@pytest.mark.parametrize(("what", "mutation", "field"), IMPORT_ATTACKS, ids=[a[0] for a in IMPORT_ATTACKS])
def test_injection_through_the_yaml_import(what: str, mutation: Any, field: str, cli_env: dict[str, str],
                                           tmp_path: Path, db: Any, ledger: Ledger) -> None:
    doc = _directory()
    if isinstance(mutation, dict):
        doc["destinations"][0].update(mutation)
    elif mutation.startswith("did:"):
        doc["secretaries"][0]["dids"] = [mutation[4:]]
    else:
        doc["secretaries"][0]["music_on_hold"] = mutation[4:]
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["destinations", "import", str(path)], env=cli_env)
    ledger.bad_input(f"yaml_import:{what}")
    assert result.exit_code != 0, result.output
    assert field in result.output, result.output
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM destinations")
        assert cur.fetchone()[0] == 0  # all or nothing


def test_sql_text_in_names_is_stored_as_text(cli_env: dict[str, str], tmp_path: Path, db: Any,
                                             ledger: Ledger) -> None:
    doc = _directory()
    evil = "Robert'); DROP TABLE destinations;--"
    doc["destinations"][0]["aliases"] = [evil]
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["destinations", "import", str(path)], env=cli_env)
    ledger.bad_input("yaml_import:sql_alias")
    assert result.exit_code == 0, result.output
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM destinations")
        assert cur.fetchone()[0] == len(doc["destinations"])
        cur.execute("SELECT aliases::text FROM destinations WHERE name = %s", (doc["destinations"][0]["name"],))
        assert "DROP TABLE" in cur.fetchone()[0]


@pytest.mark.parametrize(("option", "value"), [
    ("--did", "8000</condition><action application='system' data='x'/>"),
    ("--did", "8000|.*"),
    ("--domain", "demo.local' or '1'='1"),
    ("--domain", "<x>"),
    ("--host", "127.0.0.1 async full; system x"),
])
def test_injection_through_dialplan_render(option: str, value: str, cli_env: dict[str, str],
                                           ledger: Ledger) -> None:
    args = {"--domain": "demo.local", "--did": "8000", "--host": "127.0.0.1"}
    args[option] = value
    argv = ["dialplan", "render", "--secretary-id", "1", "--language", "pt-BR", "--no-recording"]
    for k, v in args.items():
        argv += [k, v]
    result = CliRunner().invoke(cli, argv, env=cli_env)
    ledger.bad_input("dialplan_render")
    assert result.exit_code != 0, result.output
    assert "<extension" not in result.output and "<?xml" not in result.output  # nothing rendered
    assert f"invalid value for {option}" in result.output.lower(), result.output


TOKEN = "token-for-faults-0123456789"


@pytest.fixture
def api_url(config: Any, db: Any) -> Any:
    from waitress.server import create_server

    config.api.tokens = [APIToken(TOKEN, "demo.local")]
    server = create_server(create_app(config, ApiServices(db=db)), host="127.0.0.1", port=0, threads=2,
                           channel_timeout=10, asyncore_loop_timeout=0.05)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(5)


API_ATTACKS: list[tuple[str, str, Optional[dict[str, Any]]]] = [
    ("GET", "/extensions/1001,user%2F1002/availability", None),
    ("GET", "/extensions/%7Borigination_uuid=x%7D1001/availability", None),
    ("GET", "/extensions/1001%27%20OR%20%271%27=%271/availability", None),
    ("GET", "/callbacks?status=pending%27%20OR%201=1%20--", None),
    ("GET", "/callbacks?from=2026-01-01%27;DROP%20TABLE%20callbacks;--", None),
    ("GET", "/callbacks/1;DROP%20TABLE%20callbacks", None),
    ("POST", "/callbacks/00000000-0000-0000-0000-000000000000/call", {"agent_extension": "1001,user/1002"}),
    ("POST", "/callbacks/00000000-0000-0000-0000-000000000000/call", {"agent_extension": "1001|loopback/x"}),
    ("POST", "/callbacks/00000000-0000-0000-0000-000000000000/call", {"agent_extension": "<x/>"}),
    ("POST", "/callbacks/00000000-0000-0000-0000-000000000000/snooze", {"until": "'; DROP TABLE callbacks;--"}),
]


def test_injection_through_the_api(api_url: str, db: Any, ledger: Ledger) -> None:
    for method, path, body in API_ATTACKS:
        resp = requests.request(method, api_url + path, json=body, timeout=10,
                                headers={"Authorization": f"Bearer {TOKEN}"})
        ledger.bad_input("api_injection")
        assert 400 <= resp.status_code < 500, (method, path, resp.status_code, resp.text[:200])
        assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
        assert "error" in resp.json(), resp.text
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM callbacks")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT to_regclass('callbacks') IS NOT NULL AND to_regclass('destinations') IS NOT NULL")
        assert cur.fetchone()[0] is True
