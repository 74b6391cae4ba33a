"""The real-switch harness: voiceai-ivr against a real FreeSWITCH 1.11 (the kit in
``../shared/freeswitch``), provisioned and run exactly as an administrator would.

* ``Switchboard`` (one per test session): an inbound Event Socket connection to the
  switch that records every channel event with its arrival time, places test calls
  through loopback into the ``public`` context (as a DID), presses keys with
  ``uuid_send_dtmf``, "speaks" through the kit's scriptable test ASR (a tone on the
  caller's leg while ``test_asr_result`` is set on the IVR's leg), and checks that
  no channel is left over.
* ``Deployment`` (one per test module): a database migrated with ``voiceai-ivr db
  migrate``, a directory imported with ``voiceai-ivr destinations import``, the
  dialplan written with ``voiceai-ivr dialplan install`` (which runs reloadxml over
  ESL), and ``voiceai-ivr serve`` running as a subprocess with a config file.
* ``Call``: one test caller: its two loopback legs (``a`` is the caller's mouth and
  ears, ``b`` the leg the IVR controls), key presses, speech, hangup, and what
  FreeSWITCH reported about them.

Outcomes are read from FreeSWITCH's own events and from the database the product
wrote, never from the product's logs.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import psycopg2
import psycopg2.extras
import yaml

from voiceai_ivr.esl.inbound import InboundClient

FS_HOST = os.environ.get("VOICEAI_FS_HOST", "127.0.0.1")
FS_PORT = int(os.environ.get("VOICEAI_FS_PORT", "8021"))
FS_PASSWORD = os.environ.get("VOICEAI_FS_PASSWORD", "ClueCon")
FS_DIALPLAN_DIR = os.environ.get("VOICEAI_FS_DIALPLAN_DIR", "/usr/local/freeswitch/conf/dialplan/public")
FS_LOG = "/usr/local/freeswitch/log/freeswitch.log"
DOMAIN = "127.0.0.1"  # the kit's one domain (and its FusionPBX-style context)
CALLER = "5511987654321"
#: The console script the README installs (the product as deployed, not its functions).
VOICEAI = str(Path(sys.executable).parent / "voiceai-ivr")
REQUIRE_ENV = "VOICEAI_REQUIRE_FREESWITCH"
SKIP_REASON = (f"real-switch suite skipped: no FreeSWITCH Event Socket at {FS_HOST}:{FS_PORT} "
               "(install and start the kit: bash ../shared/freeswitch/install.sh && "
               "bash ../shared/freeswitch/start.sh; "
               f"{REQUIRE_ENV}=1 makes this a failure)")

EVENTS = (
    "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE "
    "CHANNEL_EXECUTE_COMPLETE DTMF CHANNEL_BRIDGE CHANNEL_UNBRIDGE DETECTED_SPEECH"
).split()
_KEEP = ("Unique-ID", "Application", "Application-Data", "Application-Response", "Application-UUID",
         "Hangup-Cause", "DTMF-Digit", "Other-Leg-Unique-ID", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID",
         "Caller-Destination-Number", "Caller-Caller-ID-Number", "variable_kit_phone", "variable_kit_customer",
         "variable_voiceai_role", "variable_voiceai_transfer_id", "Speech-Type", "Channel-Name")


def freeswitch_missing() -> Optional[str]:
    """None when the switch answers and accepts the password; else why not."""
    try:
        with socket.create_connection((FS_HOST, FS_PORT), timeout=2.0) as sock:
            sock.settimeout(2.0)
            greeting = sock.recv(256)
            if b"auth/request" not in greeting:
                return f"unexpected greeting {greeting[:40]!r}"
            sock.sendall(f"auth {FS_PASSWORD}\n\n".encode())
            reply = sock.recv(256)
            if b"+OK" not in reply:
                return "password refused"
    except OSError as exc:
        return str(exc)
    return None


@dataclass
class Seen:
    """One event as FreeSWITCH sent it, with when it arrived here."""

    t: float
    name: str
    h: dict[str, str]
    i: int = 0  # position in the session's event list

    @property
    def uuid(self) -> str:
        return self.h.get("Unique-ID", "")

    @property
    def app(self) -> str:
        return self.h.get("Application", "")

    @property
    def data(self) -> str:
        return self.h.get("Application-Data", "")


class Switchboard:
    """The test's own Event Socket view of the switch (one per session)."""

    def __init__(self) -> None:
        self.esl = InboundClient(FS_HOST, FS_PORT, FS_PASSWORD).connect()
        self._lock = threading.Condition()
        self.events: list[Seen] = []
        self.esl.on_event(self._record)
        self.esl.subscribe(*EVENTS)

    def close(self) -> None:
        self.esl.close()

    def _record(self, event: Any) -> None:
        seen = Seen(time.monotonic(), event.name, {k: v for k in _KEEP if (v := event.get(k)) is not None})
        with self._lock:
            seen.i = len(self.events)
            self.events.append(seen)
            self._lock.notify_all()

    # ------------------------------------------------------------------ api

    def api(self, command: str, timeout: float = 10.0) -> str:
        return self.esl.api(command, timeout).strip()

    def channel_count(self) -> int:
        text = self.api("show channels count")
        m = re.search(r"(\d+) total", text)
        return int(m.group(1)) if m else -1

    def wait_no_channels(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        count = self.channel_count()
        while count != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            count = self.channel_count()
        return count

    def hupall(self) -> None:
        self.api("hupall NORMAL_CLEARING")

    # ------------------------------------------------------------------ events

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def since(self, mark: int = 0) -> list[Seen]:
        with self._lock:
            return list(self.events[mark:])

    def wait_event(self, match: Callable[[Seen], bool], timeout: float, *, since: int = 0) -> Optional[Seen]:
        deadline = time.monotonic() + timeout
        with self._lock:
            checked = since
            while True:
                for seen in self.events[checked:]:
                    if match(seen):
                        return seen
                checked = len(self.events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(min(remaining, 0.5))

    # ------------------------------------------------------------------ calls

    def call(self, did: str, *, caller: str = CALLER, variables: Optional[Mapping[str, str]] = None) -> Call:
        a = str(uuidlib.uuid4())
        mark = self.mark()
        extra = "".join(f",{k}={v}" for k, v in (variables or {}).items())
        reply = self.api(f"originate {{origination_uuid={a},origination_caller_id_number={caller}{extra}}}"
                         f"loopback/{did}/public &park()", timeout=15.0)
        assert reply.startswith("+OK"), f"originate {did}: {reply}"
        b = self.api(f"uuid_getvar {a} other_loopback_leg_uuid")
        assert re.fullmatch(r"[0-9a-f-]{36}", b), f"no IVR leg for {a}: {b!r}"
        return Call(self, a, b, mark)


    def sip_call(self, did: str, *, caller: str = CALLER, user: str = "1000") -> Call:
        """A real SIP caller instead of a loopback one: a leg of the kit's ``phones``
        profile INVITEs the ``internal`` profile digest-authenticated as ``user``
        (context ``default``: extension 5001 answers and parks), and that inbound
        SIP leg -- codec negotiated by SDP (PCMU), as a trunk's call would be -- is
        transferred into the DID's extension of ``public``. ``a`` is the phones-side
        leg, ``b`` the inbound SIP leg the IVR gets."""
        a = str(uuidlib.uuid4())
        mark = self.mark()
        reply = self.api(f"originate {{origination_uuid={a},origination_caller_id_number={caller},"
                         f"sip_auth_username={user},sip_auth_password=1234}}sofia/phones/5001@127.0.0.1:5060 &park()",
                         timeout=15.0)
        assert reply.startswith("+OK"), f"SIP call to 5001: {reply}"
        leg = self.wait_event(lambda e: e.name == "CHANNEL_CREATE" and e.h.get("Channel-Name", "").startswith(
            "sofia/internal/") and e.h.get("Caller-Caller-ID-Number") == caller, 5, since=mark)
        assert leg is not None, "no inbound SIP leg on the internal profile"
        moved = self.api(f"uuid_transfer {leg.uuid} {did} XML public")
        assert moved.startswith("+OK"), f"uuid_transfer into {did}: {moved}"
        return Call(self, a, leg.uuid, mark)


class Call:
    """One test caller: ``a`` is the caller's side, ``b`` the leg the IVR controls."""

    def __init__(self, board: Switchboard, a: str, b: str, mark: int) -> None:
        self.board = board
        self.a = a
        self.b = b
        self.mark = mark
        self._listen_mark = mark

    # -- what the caller does

    def press(self, keys: str) -> None:
        reply = self.board.api(f"uuid_send_dtmf {self.a} {keys}")
        assert reply.startswith("+OK"), reply

    def say(self, text: str, *, fmt: str = "json", confidence: str = "") -> None:
        """Speak to the IVR's listening leg: the scriptable test ASR returns ``text``
        once the tone (the caller's voice) has ended."""
        assert re.fullmatch(r"[\w ,.?!'çãáéíóúâêôõà-]+", text, flags=re.IGNORECASE), text
        self.board.api(f"uuid_setvar {self.b} test_asr_result {text}")
        self.board.api(f"uuid_setvar {self.b} test_asr_format {fmt}")
        if confidence:
            self.board.api(f"uuid_setvar {self.b} test_asr_confidence {confidence}")
        reply = self.board.api(f"uuid_broadcast {self.a} tone_stream://%(1500,0,440) aleg")
        assert reply.startswith("+OK"), reply

    def hangup(self) -> None:
        self.board.api(f"uuid_kill {self.a}")

    # -- what the IVR does

    def events(self, uuid: Optional[str] = None) -> list[Seen]:
        return [e for e in self.board.since(self.mark) if uuid is None or e.uuid == uuid]

    def wait_listen(self, slot: str = "", timeout: float = 40.0) -> Seen:
        """The next turn in which the IVR waits for the caller (it sets
        ``voiceai_slot``), optionally of one slot; returns that event."""

        def match(e: Seen) -> bool:
            if e.name != "CHANNEL_EXECUTE" or e.uuid != self.b or e.app != "set":
                return False
            name, _, value = e.data.partition("=")
            return name == "voiceai_slot" and bool(value) and (not slot or value == slot)

        seen = self.board.wait_event(match, timeout, since=self._listen_mark)
        assert seen is not None, f"the IVR never listened for {slot or 'anything'} (prompts: {self.prompts()})"
        self._listen_mark = seen.i + 1
        return seen

    def wait_prompt_started(self, timeout: float = 10.0) -> Seen:
        """The application of the current turn started (the prompt is playing)."""
        seen = self.board.wait_event(
            lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == self.b
            and e.app in ("playback", "play_and_detect_speech"), timeout, since=self._listen_mark)
        assert seen is not None, "no prompt started"
        return seen

    def prompts(self) -> list[str]:
        """Every prompt played to the caller, in order (the ``say:`` text or source)."""
        return [e.data for e in self.events(self.b)
                if e.name == "CHANNEL_EXECUTE" and e.app in ("playback", "play_and_detect_speech")]

    def wait_prompt(self, pattern: str, timeout: float = 30.0, *, since: Optional[int] = None) -> Seen:
        rx = re.compile(pattern, re.IGNORECASE)
        seen = self.board.wait_event(
            lambda e: e.name == "CHANNEL_EXECUTE" and e.uuid == self.b
            and e.app in ("playback", "play_and_detect_speech") and bool(rx.search(e.data)),
            timeout, since=self.mark if since is None else since)
        assert seen is not None, f"prompt /{pattern}/ never played; played: {self.prompts()}"
        return seen

    def wait_gone(self, timeout: float = 30.0) -> Seen:
        seen = self.board.wait_event(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.uuid == self.b,
                                     timeout, since=self.mark)
        assert seen is not None, f"the IVR leg is still up after {timeout}s; prompts: {self.prompts()}"
        return seen

    def bridged(self) -> Optional[Seen]:
        return next((e for e in self.events() if e.name == "CHANNEL_BRIDGE"
                     and self.b in (e.uuid, e.h.get("Other-Leg-Unique-ID", ""),
                                    e.h.get("Bridge-A-Unique-ID", ""), e.h.get("Bridge-B-Unique-ID", ""))), None)

    def hold_music(self) -> list[tuple[float, Optional[float]]]:
        """(start, end) of every hold-music playback on the IVR's leg (end None: still playing)."""
        spans: list[tuple[float, Optional[float]]] = []
        starts: dict[str, float] = {}
        for e in self.events(self.b):
            if e.app == "playback" and e.data.startswith("local_stream://"):
                key = e.h.get("Application-UUID", "")
                if e.name == "CHANNEL_EXECUTE":
                    starts[key] = e.t
                elif e.name == "CHANNEL_EXECUTE_COMPLETE" and key in starts:
                    spans.append((starts.pop(key), e.t))
        spans.extend((t, None) for t in starts.values())
        return sorted(spans, key=lambda s: s[0])

    def hangup_of(self, uuid: str, timeout: float = 0.0) -> Optional[Seen]:
        match: Callable[[Seen], bool] = lambda e: e.name == "CHANNEL_HANGUP" and e.uuid == uuid  # noqa: E731
        if timeout:
            return self.board.wait_event(match, timeout, since=self.mark)
        return next((e for e in self.events(uuid) if match(e)), None)


# --------------------------------------------------------------------------- deployment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_dbname(uri: str, dbname: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    if uri.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(uri)
        return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))
    return str(psycopg2.extensions.make_dsn(uri, dbname=dbname))


@dataclass
class Deployment:
    """voiceai-ivr provisioned with its own CLI and ``serve`` running."""

    workdir: Path
    dsn: str
    config_path: Path
    did: str
    port: int
    env: dict[str, str]
    serve: Optional[subprocess.Popen] = None
    dialplan_files: list[Path] = field(default_factory=list)
    log_path: Optional[Path] = None

    def cli(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess:
        proc = subprocess.run([VOICEAI, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"voiceai-ivr {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(sql, tuple(params))
                return [dict(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def call_row(self, call_uuid: str, timeout: float = 20.0) -> dict[str, Any]:
        """The call log row once the handler has closed it (outcome set)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT * FROM calls WHERE call_uuid = %s", (call_uuid,))
            if rows and rows[0].get("outcome"):
                return rows[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"call {call_uuid} has no outcome after {timeout}s: {rows}")
            time.sleep(0.2)

    def attempts(self, call_uuid: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The call's transfer attempts. ``serve`` writes them from its background
        writer, milliseconds after the transfer: wait (bounded) for the first one."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT * FROM transfer_attempts WHERE call_uuid = %s ORDER BY id", (call_uuid,))
            if rows or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def callbacks(self, call_uuid: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM callbacks WHERE call_uuid = %s ORDER BY id", (call_uuid,))

    def start_serve(self, *extra: str) -> None:
        assert self.serve is None
        self.log_path = self.workdir / "serve.log"
        self.serve = run_serve(self.env, self.log_path, self.port, *extra)

    def stop_serve(self) -> None:
        if self.serve is not None:
            stop_process(self.serve)
        self.serve = None

    def serve_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def remove_dialplan(self) -> None:
        for path in self.dialplan_files:
            path.unlink(missing_ok=True)


def run_serve(env: Mapping[str, str], log_path: Path, port: int, *extra: str) -> subprocess.Popen:
    """``voiceai-ivr serve`` as a subprocess (output appended to ``log_path``),
    returned once it accepts connections on ``port``."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([VOICEAI, "serve", *extra], env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"serve did not listen on {port}: {log_path.read_text()[-2000:]}")


def stop_process(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def deploy(
    workdir: Path,
    admin_uri: str,
    *,
    directory: Mapping[str, Any],
    did: str,
    config: Mapping[str, Any],
    mode: str = "socket",
) -> Deployment:
    """Provision exactly as the README says, with our own CLI only."""
    name = f"voiceai_fs_{secrets.token_hex(5)}"
    conn = psycopg2.connect(admin_uri, connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    dsn = _with_dbname(admin_uri, name)
    port = _free_port()
    settings: dict[str, Any] = {
        # In the file, not only the environment: mod_python3 runs inside FreeSWITCH,
        # whose environment has none of ours.
        "database": {"dsn": dsn, "data_dir": str(workdir / "data")},
        "esl": {"host": FS_HOST, "port": FS_PORT, "password": FS_PASSWORD},
        "server": {"host": "127.0.0.1", "port": port, "metrics_port": 0},
        "dialplan": {"socket_host": "127.0.0.1", "socket_port": port},
    }
    for section, values in config.items():
        settings.setdefault(section, {}).update(values)
    config_path = workdir / "voiceai.yaml"
    config_path.write_text(yaml.safe_dump(settings, allow_unicode=True))
    directory_path = workdir / "directory.yaml"
    directory_path.write_text(yaml.safe_dump(dict(directory), allow_unicode=True, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEAI_")}
    env.update({"VOICEAI_CONFIG": str(config_path), "PYTHONUNBUFFERED": "1"})
    dep = Deployment(workdir, dsn, config_path, did, port, env)
    dep.cli("db", "migrate")
    dep.cli("destinations", "import", str(directory_path))
    # python mode: the dialplan passes the config file to mod_python3 (config=FILE)
    extra = ["--config", str(config_path)] if mode == "python" else []
    out = dep.cli("dialplan", "install", "--domain", str(directory["domain"]), "--did", did, "--mode", mode,
                  *extra, "--directory", FS_DIALPLAN_DIR).stdout
    assert "reloadxml: +OK" in out, out
    dep.dialplan_files = list(Path(FS_DIALPLAN_DIR).glob(f"voiceai_{directory['domain']}_{did}*.xml"))
    assert dep.dialplan_files, f"dialplan install wrote nothing for DID {did} in {FS_DIALPLAN_DIR}"
    return dep


@contextmanager
def deployed(board: Switchboard, admin_uri: str, workdir: Path, *, directory: Mapping[str, Any], did: str,
             config: Mapping[str, Any], serve: bool = True) -> Iterator[Deployment]:
    """``deploy`` (and ``serve`` running) for the ``with`` block; afterwards the
    dialplan file, FreeSWITCH's copy of it and the database are gone again."""
    dep = deploy(workdir, admin_uri, directory=directory, did=did, config=config)
    try:
        if serve:
            dep.start_serve()
        yield dep
    finally:
        dep.stop_serve()
        dep.remove_dialplan()
        board.api("reloadxml")
        drop_database(admin_uri, dep.dsn)


def drop_database(admin_uri: str, dsn: str) -> None:
    name = psycopg2.extensions.parse_dsn(dsn).get("dbname") if "://" not in dsn else dsn.rsplit("/", 1)[-1]
    conn = psycopg2.connect(admin_uri, connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def reloadxml(board: Switchboard) -> None:
    assert "+OK" in board.api("reloadxml")


@dataclass
class Timed:
    """A small stopwatch for the assertions' messages."""

    start: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return time.monotonic() - self.start


def iter_kit_phones() -> Iterator[str]:
    yield from ("1001", "1002", "1003", "1004", "1006", "1007", "1008", "1009")
