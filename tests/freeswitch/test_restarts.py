"""What serve depends on restarts under it, on the real switch (issue 19).

* FreeSWITCH restarted the way an administrator does it (the kit's ``stop.sh`` then
  ``start.sh``, with the environment the running switch had) while ``serve``,
  ``api`` and a ``dispatch-callbacks --loop`` run: each says it is disconnected
  (serve's ``/health`` and ``voiceai_ivr_esl_connected``, the API's ``/health``,
  the dispatcher's metrics textfile), a cron pass exits 1, all reconnect by
  themselves, and the next call, callback and availability check work.
* PostgreSQL stopped during calls (a cluster this test owns; the shared test
  server is never touched): a keyed transfer still bridges, a confirmed callback
  goes to the spool, and once PostgreSQL is back ``serve`` alone (no dispatcher,
  no operator command) puts it in the database and the helpdesk exactly once; the
  transfer attempts of those calls reach the database from serve's journal, once.

The switch is always left running (restarted in ``finally`` when the test dies
half-way). Figures are printed (``-s``) and in the assertion messages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from dispatcher.helpers import add_callbacks
from doubles.helpdesk import HelpdeskServer
from freeswitch.harness import (
    DOMAIN,
    VOICEAI,
    Call,
    Deployment,
    Switchboard,
    _free_port,
    deployed,
    freeswitch_missing,
)
from freeswitch.test_dispatch_switch import CUSTOMER_ANSWERS, cleanup, legs
from freeswitch.test_socket_keyed import CONFIG, DIRECTORY
from own_postgres import own_cluster, restart_cluster, stop_cluster

from voiceai_ivr.stores.db import ensure_embedded
from voiceai_ivr.stores.spool import spool_pending, spool_status

pytestmark = pytest.mark.timeout(300)

FS_PREFIX = Path("/usr/local/freeswitch")  # the kit's prefix, compiled into its binaries
TOKEN = "fs-restart-token-0123456789"
HELPDESK_TOKEN = "fs-restart-helpdesk-token-01"
_BASE_ENV = {"HOME", "PATH", "LANG", "TZ", "PYTHONPATH"}  # what start.sh sets itself


# --------------------------------------------------------------------------- the switch, as an admin restarts it


def kit_dir() -> Path:
    """The FreeSWITCH kit (``FREESWITCH_KIT``, else ``shared/freeswitch`` beside the
    checkout or one of its parents: ``../shared`` in CI)."""
    given = os.environ.get("FREESWITCH_KIT")
    if given:
        return Path(given)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "freeswitch"
        if (candidate / "start.sh").is_file():
            return candidate
    pytest.fail("FreeSWITCH kit not found (set FREESWITCH_KIT to the folder with start.sh)", pytrace=False)


def switch_environment() -> dict[str, str]:
    """``start.sh``'s environment that gives the switch back what it runs with now:
    FS_PYTHONPATH from its PYTHONPATH (mod_python3 must import the same tree), its
    other variables through an FS_ENV_FILE."""
    pid = (FS_PREFIX / "run" / "freeswitch.pid").read_text().strip()
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    running = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    env = {k: v for k, v in os.environ.items() if k not in ("FS_PYTHONPATH", "FS_ENV_FILE")}
    if running.get("PYTHONPATH"):
        env["FS_PYTHONPATH"] = running["PYTHONPATH"]
    extra = {k: v for k, v in running.items() if k not in _BASE_ENV}
    if extra:
        fd, name = tempfile.mkstemp(prefix="fs-env-", suffix=".env")
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in extra.items())
        env["FS_ENV_FILE"] = name
    return env


def kit(script: str, env: Mapping[str, str], timeout: float = 120.0) -> None:
    proc = subprocess.run(["bash", str(kit_dir() / script)], env=dict(env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture
def restartable_switch(switchboard: Switchboard) -> Iterator[dict[str, str]]:
    """The environment to restart the switch with; whatever happens, the switch runs
    again (with that environment) when the test ends."""
    env = switch_environment()
    try:
        yield env
    finally:
        if freeswitch_missing() is not None:
            kit("start.sh", env)
        assert switchboard.esl.wait_connected(30), "the test's own Event Socket did not reconnect"
        if env.get("FS_ENV_FILE"):
            Path(env["FS_ENV_FILE"]).unlink(missing_ok=True)


# --------------------------------------------------------------------------- probes


def gauge(text: str, name: str) -> Optional[float]:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, flags=re.MULTILINE)
    return float(m.group(1)) if m else None


def http_get(url: str, **kwargs: Any) -> tuple[int, str]:
    try:
        r = requests.get(url, timeout=2, **kwargs)
    except requests.RequestException as exc:
        return 0, str(exc)
    return r.status_code, r.text


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f}s"
        time.sleep(every)
    return time.monotonic() - started


def start_process(dep: Deployment, name: str, *args: str) -> subprocess.Popen:
    log = open(dep.workdir / f"{name}.log", "ab")
    proc = subprocess.Popen([VOICEAI, *args], env=dep.env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Watcher:
    """When each process first reports the link down and up again (serve's
    /metrics gauge, the API's /health, the dispatcher's textfile), polled every
    0.1 s in a thread while the switch restarts."""

    def __init__(self, probes: Mapping[str, Callable[[], Optional[bool]]]) -> None:
        self.probes = probes
        self.down: dict[str, float] = {}
        self.up: dict[str, float] = {}
        self.esl_back: Optional[float] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            if self.esl_back is None and self.down and freeswitch_missing() is None:
                self.esl_back = now
            for name, probe in self.probes.items():
                state = probe()
                if state is False and name not in self.down:
                    self.down[name] = now
                elif state is True and name in self.down and name not in self.up:
                    self.up[name] = now


# --------------------------------------------------------------------------- (a) FreeSWITCH restarts

DID_RESTART = "8130"


def keyed_transfer(board: Switchboard, did: str) -> tuple[Call, float]:
    """Call ``did``, key 1 (Financeiro, the kit's phone 1001 accepts); returns the
    call once bridged and how long that took from the originate."""
    started = time.monotonic()
    call = board.call(did)
    call.wait_listen("intent")
    call.wait_prompt_started()
    call.press("1")
    bridged = board.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                               since=call.mark)
    assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
    return call, bridged.t - started


def test_freeswitch_restart_serve_api_and_dispatcher_reconnect(
        switchboard: Switchboard, pg_admin_uri: str, tmp_path: Path, restartable_switch: dict[str, str]) -> None:
    metrics_port, api_port = _free_port(), _free_port()
    textfile = tmp_path / "dispatcher.prom"
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID_RESTART])])
    config = dict(CONFIG)
    config.update({
        "server": {"metrics_port": metrics_port},
        "callbacks": {"caller_id_number": "+551130000000", "caller_id_name": "Empresa",
                      "customer_answer_timeout": 20},
        "dispatcher": {"listen_port": 0, "whisper_timeout": 30.0, "outbox_delivery_seconds": 0,
                       "textfile_path": str(textfile)},
        "api": {"port": api_port, "agent_listen_port": 0, "tokens": [{"domain": DOMAIN, "token": TOKEN}]},
    })
    serve_url, api_url = f"http://127.0.0.1:{metrics_port}", f"http://127.0.0.1:{api_port}"

    def serve_up() -> Optional[bool]:
        status, text = http_get(f"{serve_url}/metrics")
        value = gauge(text, "voiceai_ivr_esl_connected") if status == 200 else None
        return None if value is None else value == 1

    def api_up() -> Optional[bool]:
        status, text = http_get(f"{api_url}/health")
        if status not in (200, 503):
            return None
        return json.loads(text)["checks"]["pbx"] == "ok"

    def dispatcher_up() -> Optional[bool]:
        try:
            value = gauge(textfile.read_text(), "voiceai_ivr_esl_connected")
        except OSError:
            return None
        return None if value is None else value == 1

    probes = {"serve": serve_up, "api": api_up, "dispatcher": dispatcher_up}
    with deployed(switchboard, pg_admin_uri, tmp_path, directory=directory, did=DID_RESTART,
                  config=config) as dep:
        api = start_process(dep, "api", "api")
        loop = start_process(dep, "dispatcher", "dispatch-callbacks", "--loop", "--interval", "1")
        mark = switchboard.mark()
        try:
            for name, probe in probes.items():
                wait_until(f"{name} connected before the restart", lambda p=probe: p() is True, 30)
            watcher = Watcher(probes).start()
            stopped = time.monotonic()
            kit("stop.sh", restartable_switch)
            try:
                wait_until("serve, api and dispatcher report the switch down",
                           lambda: len(watcher.down) == 3, 15)
                status, text = http_get(f"{serve_url}/health")
                body = json.loads(text)
                assert status == 503 and body["status"] == "degraded" and body["pbx"]["connected"] is False, text
                status, text = http_get(f"{api_url}/health")
                assert status == 503 and json.loads(text)["checks"]["pbx"] == "unavailable", text
                cron_down = dep.cli("dispatch-callbacks", check=False, timeout=60)
                assert cron_down.returncode == 1 and "PBX" in cron_down.stderr, cron_down.stderr
            finally:
                kit("start.sh", restartable_switch)
            ready = time.monotonic()
            # Callers come back at once: the first call, placed as soon as start.sh is done,
            # is transferred (serve tries its Event Socket again when the call arrives).
            switchboard.esl.reconnect_now()
            assert switchboard.esl.wait_connected(30)
            placed = time.monotonic()
            call, took = keyed_transfer(switchboard, DID_RESTART)
            call.hangup()
            call.wait_gone(10)
            assert dep.call_row(call.b)["outcome"] == "transferred"
            wait_until("serve, api and dispatcher reconnected", lambda: len(watcher.up) == 3, 30)
            watcher.stop()
            assert watcher.esl_back is not None
            back = {name: round(t - watcher.esl_back, 1) for name, t in watcher.up.items()}
            print(f"\nFreeSWITCH down {watcher.esl_back - stopped:.1f}s (stop.sh to Event Socket back), start.sh "
                  f"returned {ready - watcher.esl_back:.1f}s after that; reconnected after the Event Socket "
                  f"was back: {back}; reported down after stop.sh: "
                  f"{ {n: round(t - stopped, 1) for n, t in watcher.down.items()} }; first call after start.sh "
                  f"bridged in {took:.1f}s")
            # reconnect_max_delay (10 s) bounds the backoff; a call, a pass or a health check cuts it short
            assert all(v <= 10.0 + 1.0 for v in back.values()), back
            # serve's link is back by the time the first call is taken (or very soon after it arrived)
            assert watcher.up["serve"] - placed < 2.5, f"serve reconnected {watcher.up['serve'] - placed:.1f}s " \
                                                       "after the first call was placed"

            status, text = http_get(f"{serve_url}/health")
            assert status == 200 and json.loads(text)["pbx"] == {"connected": True}, text
            assert gauge(http_get(f"{serve_url}/metrics")[1], "voiceai_ivr_esl_reconnects_total") == 1

            # the API: availability from the restarted switch's registrations
            r = requests.get(f"{api_url}/extensions/1001/availability",
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert r.status_code == 200 and r.json()["registered"] is True, r.text

            # the --loop dispatcher calls a due callback back on the reconnected link
            base = CUSTOMER_ANSWERS + 30
            (pid,) = add_callbacks(dep.dsn, DOMAIN, 1, agent_extension="1009", number_base=base)
            t0 = time.monotonic()
            wait_until("the --loop dispatcher completed the callback", lambda: dep.query(
                "SELECT status FROM callbacks WHERE public_id = %s", (pid,))[0]["status"] == "completed", 90, 0.5)
            dialled = time.monotonic() - t0
            assert legs(switchboard, mark, "variable_kit_phone", "1009")
            assert legs(switchboard, mark, "variable_kit_customer", str(base))
            cleanup(switchboard, mark)
            # and a cron pass works again (exit 0)
            cron_up = dep.cli("dispatch-callbacks", check=False, timeout=120)
            assert cron_up.returncode == 0, cron_up.stdout + cron_up.stderr
            print(f"after the restart: callback dialled and completed by the --loop dispatcher in {dialled:.1f}s, "
                  "cron pass exit 0")
            assert api.poll() is None and loop.poll() is None and dep.serve is not None and dep.serve.poll() is None
        finally:
            cleanup(switchboard, mark)
            stop_process(loop)
            stop_process(api)


# --------------------------------------------------------------------------- (b) PostgreSQL stops during calls

DID_PG = "8131"


@pytest.fixture
def own_postgres() -> Iterator[Path]:
    """A PostgreSQL cluster of this test alone (stopped and started here)."""
    with own_cluster("fsrestart-pg") as path:
        yield path


def test_postgres_down_transfers_work_and_the_spooled_callback_arrives_once(
        switchboard: Switchboard, own_postgres: Path, tmp_path: Path) -> None:
    admin = ensure_embedded(own_postgres, connect_timeout=10)
    metrics_port = _free_port()
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID_PG])])
    with HelpdeskServer(token=HELPDESK_TOKEN) as hd:
        config = dict(CONFIG)
        config.update({
            "server": {"metrics_port": metrics_port},
            # serve's outbox drain and spool replay run every delivery_interval (5 s by default)
            "helpdesk": {"url": hd.url, "token": HELPDESK_TOKEN, "delivery_interval": 2.0},
        })
        with deployed(switchboard, admin, tmp_path, directory=directory, did=DID_PG, config=config) as dep:
            spool = tmp_path / "data" / "callback-spool.jsonl"
            pg_down = False
            try:
                # A call starts with PostgreSQL up; it stops while the caller hears the menu.
                first = switchboard.call(DID_PG)
                first.wait_listen("intent")
                first.wait_prompt_started()
                stop_cluster(own_postgres)
                pg_down = True
                stopped = time.monotonic()
                first.press("1")
                bridged = switchboard.wait_event(
                    lambda e: e.name == "CHANNEL_BRIDGE" and first.b in e.h.values(), 40, since=first.mark)
                assert bridged is not None, f"transfer with PostgreSQL down never bridged: {first.prompts()}"
                first.hangup()
                first.wait_gone(10)

                # A new call while it is down: the directory from memory, the callback to the spool.
                call = switchboard.call(DID_PG)
                call.wait_listen("intent")
                call.wait_prompt_started()
                call.press("2")  # Comercial: busy -> after-failure menu
                call.wait_listen("after_failure")
                call.press("1")  # callback
                call.wait_listen("confirm_caller_id")
                call.press("1")
                call.wait_listen("when")
                call.press("1")
                call.wait_listen("confirm_callback")
                call.press("1")
                call.wait_prompt(r"retorno está confirmado", 30)
                call.wait_gone(30)
                assert spool_status(spool).entries == 1
                wait_until("serve's /health counts the spooled callback", lambda: json.loads(
                    http_get(f"http://127.0.0.1:{metrics_port}/health")[1])["spool_entries"] == 1, 10)
                assert not hd.processed_of_kind("callback.created")

                # PostgreSQL back: serve alone (no dispatcher, no command) replays and delivers.
                restart_cluster(own_postgres)
                pg_down = False
                back = time.monotonic()
                in_db = wait_until("the spooled callback is in the database",
                                   lambda: len(dep.callbacks(call.b)) == 1, 30, 0.2)
                at_helpdesk = wait_until("the helpdesk got the ticket",
                                         lambda: len(hd.processed_of_kind("callback.created")) == 1, 30, 0.2)
                # Both calls' log rows come from the journal once the database answers.
                assert dep.call_row(first.b, 30)["outcome"] == "transferred"
                assert dep.call_row(call.b, 30)["outcome"] == "callback_created"
                time.sleep(2 * 2.0 + 1)  # two more replay and delivery rounds: nothing twice
                rows = dep.callbacks(call.b)
                created = hd.processed_of_kind("callback.created")
                keys = hd.count_by_key()
                assert len(rows) == 1 and rows[0]["status"] == "pending", rows
                assert len(created) == 1 and keys[created[0].key] == 1, keys
                assert dep.query("SELECT count(*) AS n FROM callbacks")[0]["n"] == 1
                assert not spool_pending(spool)
                outbox = dep.query("SELECT kind, delivered_at IS NOT NULL AS done FROM helpdesk_outbox "
                                   "WHERE kind = 'callback.created'")
                assert outbox == [{"kind": "callback.created", "done": True}], outbox
                # The transfer attempts made while it was down came from the journal, once each.
                assert [r["status"] for r in dep.attempts(first.b)] == ["accepted"]
                assert [r["status"] for r in dep.attempts(call.b)] == ["busy"]
                notices = dep.query("SELECT count(*) AS n FROM helpdesk_outbox WHERE kind = 'transfer.completed' "
                                    "AND call_uuid = %s", (first.b,))
                assert notices == [{"n": 1}], notices
                print(f"\nPostgreSQL down {back - stopped:.1f}s; after it was back the spooled callback was in the "
                      f"database in {in_db:.1f}s and at the helpdesk in {in_db + at_helpdesk:.1f}s; callbacks rows "
                      f"1, helpdesk callback.created 1 (requests with its key: {keys[created[0].key]})")
            finally:
                if pg_down:  # leave the cluster running so the deployment can be dropped
                    restart_cluster(own_postgres)
