"""FreeSWITCH stand-ins on real sockets for the ESL tests, built from the frames of
the real 1.11.1 capture (``tests/fixtures/freeswitch-1.11/esl-capture.jsonl``).

* ``FakeCall`` dials into an outbound server the way ``socket HOST:PORT async
  full`` does: answers ``connect`` with the CHANNEL_DATA block, ``myevents``,
  ``event``, ``linger``; runs ``sendmsg execute`` one after another (event-lock),
  each as CHANNEL_EXECUTE ... CHANNEL_EXECUTE_COMPLETE carrying our Event-UUID
  as Application-UUID; answers ``api`` (uuid_getvar, uuid_break) and ``bgapi``;
  hangs up like the capture (CHANNEL_HANGUP, EXECUTE_COMPLETE of the running app,
  CHANNEL_HANGUP_COMPLETE, disconnect-notice linger) and after ``exit`` sends
  ``+OK bye``, the final disconnect-notice and closes.
* ``FakeInbound`` is the inbound side (port 8021): auth/request, auth, event,
  filter, api, bgapi with BACKGROUND_JOB events, exit, ACL rejection, and
  ``drop()`` to cut every connection.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Optional

from voiceai_ivr.esl.protocol import (
    Frame,
    FrameParser,
    encode_event_frame,
    encode_frame,
    parse_event_plain,
    serialize_event_plain,
    url_encode,
)

Pairs = list[tuple[str, str]]

#: the capture lives in the repository (see tests/fixtures/freeswitch-1.11/README.md)
CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch-1.11" / "esl-capture.jsonl"


def capture_path() -> Path:
    env = os.environ.get("VOICEAI_FS_CAPTURE")
    if env:
        return Path(env)
    return CAPTURE


def load_capture() -> list[dict]:
    with capture_path().open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class Templates:
    """Frames of the capture, re-usable with another channel uuid."""

    def __init__(self) -> None:
        rows = load_capture()
        ivr = [r for r in rows if r["call"] == "ivr-call" and r["dir"] == "fs>app"]
        connect = FrameParser().feed(ivr[0]["data"].encode())[0]
        self.connect_headers: Pairs = list(connect.headers)
        self.uuid = dict(connect.headers)["Unique-ID"]
        self.events: dict[str, Pairs] = {}
        for r in rows:
            if r["dir"] != "fs>app" or r["call"] != "ivr-call":
                continue
            for frame in FrameParser().feed(r["data"].encode()):
                if frame.content_type == "text/event-plain":
                    ev = parse_event_plain(frame.body)
                    pairs = []
                    head = frame.body.split("\n\n", 1)[0]
                    for line in head.split("\n"):
                        key, _, value = line.partition(": ")
                        pairs.append((key, value))
                    self.events.setdefault(ev.name, pairs)  # raw (encoded) values

    def connect_reply(self, uuid: str, caller: str, dest: str,
                      variables: Optional[Mapping[str, str]] = None) -> bytes:
        out = []
        for key, value in self.connect_headers:
            value = value.replace(self.uuid, uuid)
            if key in ("Caller-Caller-ID-Number", "Caller-ANI", "Caller-Orig-Caller-ID-Number"):
                value = url_encode(caller)
            elif key == "Caller-Destination-Number":
                value = url_encode(dest)
            out.append((key, value))
        out += [(f"variable_{name}", url_encode(value)) for name, value in (variables or {}).items()]
        return encode_frame(out)  # header block only, like FreeSWITCH

    def event(self, name: str, uuid: str, extra: Optional[Pairs] = None) -> bytes:
        base = self.events.get(name) or self.events["CHANNEL_EXECUTE_COMPLETE"]
        drop = {"Application", "Application-Data", "Application-Response", "Application-UUID", "Hangup-Cause",
                "DTMF-Digit", "DTMF-Duration", "DTMF-Source", "Event-Name"}
        pairs: Pairs = [("Event-Name", name)]
        for key, value in base:
            if key in drop or key == "Content-Length":
                continue
            # the template values are already URL-encoded: decode so that we re-encode once
            from urllib.parse import unquote

            pairs.append((key, unquote(value).replace(self.uuid, uuid)))
        pairs.extend(extra or [])
        return encode_event_frame(pairs)


_TEMPLATES: Optional[Templates] = None
_TEMPLATE_LOCK = threading.Lock()


def templates() -> Templates:
    global _TEMPLATES
    with _TEMPLATE_LOCK:
        if _TEMPLATES is None:
            _TEMPLATES = Templates()
        return _TEMPLATES


def nlsml(text: str, confidence: str = "0.87", mode: str = "speech") -> str:
    return (f'<?xml version="1.0"?><result><interpretation grammar="g" confidence="{confidence}">'
            f'<input mode="{mode}">{text}</input></interpretation></result>')


class FakeCall(threading.Thread):
    """One scripted call dialling into ``address``.

    ``inputs``: consumed in order by play_and_get_digits / play_and_detect_speech and
    by a keyed listen (``playback`` while ``voiceai_slot`` is set):
    ``{"digits": "42"}``, ``{"speech": "text"}``, ``{"silence": True}``,
    ``{"hangup": True}`` (hang up during that application).
    ``hangup_on``: hang up as soon as this application starts.
    ``hangup_after``: hang up this many seconds after connecting.
    ``asr_engines``: the ASR engines this FreeSWITCH has; play_and_detect_speech with
    another one ends at once with ``ASR INIT ERROR``, as FreeSWITCH does.
    ``asr_format``: ``nlsml`` (mod_unimrcp) or ``json`` (mod_test, cloud modules).
    Keys end a playback or play_and_detect_speech at once when
    ``playback_terminators`` is ``any`` (mod_dptools on_dtmf), else the application
    runs until ``uuid_break``.
    """

    def __init__(self, address: tuple[str, int], *, inputs: Optional[list[dict]] = None, media_s: float = 0.005,
                 hangup_on: Optional[str] = None, hangup_after: Optional[float] = None, caller: str = "5511998765432",
                 dest: str = "8000", uuid: Optional[str] = None, garbage: Optional[bytes] = None,
                 garbage_on: Optional[str] = None, idle_limit: float = 15.0,
                 press_during_playback: str = "", asr_engines: tuple[str, ...] = ("unimrcp",),
                 asr_format: str = "nlsml", variables: Optional[Mapping[str, str]] = None,
                 api_answers: Optional[Mapping[str, list[str]]] = None) -> None:
        super().__init__(daemon=True, name="fake-call")
        self.variables = dict(variables or {})  # channel variables the connect reply carries
        # api command name -> bodies answered first, in turn (then the usual answer)
        self.api_answers = {name: collections.deque(bodies) for name, bodies in (api_answers or {}).items()}
        self.scheduled: list[str] = []  # sched_transfer tasks armed and not deleted
        self.address = address
        self.inputs = collections.deque(inputs or [])
        self.media_s = media_s
        self.hangup_on = hangup_on
        self.hangup_after = hangup_after
        self.caller = caller
        self.dest = dest
        self.uuid = uuid or str(uuidlib.uuid4())
        self.garbage = garbage
        self.garbage_on = garbage_on  # send ``garbage`` when this command arrives instead of at once
        self.idle_limit = idle_limit
        self.press_during_playback = press_during_playback
        self.asr_engines = asr_engines
        self.asr_format = asr_format
        self.apps: list[tuple[str, str]] = []
        self.commands: list[str] = []
        self.vars: dict[str, str] = {}
        self.up = True
        self.hangup_cause: Optional[str] = None
        self.hangup_at: Optional[float] = None
        self.exited = False
        self.server_closed = False
        self.error: Optional[str] = None
        self.lingering = False
        self.latencies: list[float] = []  # completion sent -> next command received
        self._last_completion: Optional[float] = None
        self._queue: collections.deque[tuple[str, str, str]] = collections.deque()
        self._current: Optional[dict] = None
        self._sock: Optional[socket.socket] = None

    # -- wire

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(data)

    def _reply(self, text: str) -> None:
        self._send(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())

    def _event(self, name: str, extra: Optional[Pairs] = None) -> None:
        self._send(templates().event(name, self.uuid, extra))

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the test
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._sock is not None:
                self._sock.close()

    def _run(self) -> None:
        self._sock = socket.create_connection(self.address, timeout=5)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as mod_event_socket does
        if self.garbage is not None and self.garbage_on is None:
            self._send(self.garbage)
        parser = FrameParser(commands=True)
        start = time.monotonic()
        last_activity = start
        while True:
            now = time.monotonic()
            if self.up and self._current is None and self._queue:
                self._start_app(*self._queue.popleft())
            timers = [last_activity + self.idle_limit]
            if self._current is not None:
                timers.append(self._current["deadline"])
            if self.up and self.hangup_after is not None:
                timers.append(start + self.hangup_after)
            self._sock.settimeout(max(0.0, min(timers) - now))
            try:
                data: Optional[bytes] = self._sock.recv(65536)
            except socket.timeout:
                data = None
            except ConnectionResetError:
                self.server_closed = True
                return
            if data == b"":
                self.server_closed = True
                return
            now = time.monotonic()
            if data:
                last_activity = now
                for frame in parser.feed(data):
                    if self._last_completion is not None:
                        self.latencies.append(now - self._last_completion)
                        self._last_completion = None
                    self._command(frame)
                    if self.exited:
                        return
            now = time.monotonic()
            if self._current is not None and now >= self._current["deadline"]:
                self._complete()
            if self.up and self.hangup_after is not None and now >= start + self.hangup_after:
                self.hangup("NORMAL_CLEARING")
            if now - last_activity >= self.idle_limit:
                self.error = f"idle for {self.idle_limit}s (last commands {self.commands[-3:]})"
                return

    def _command(self, frame: Frame) -> None:
        cmd = frame.first_line
        self.commands.append(cmd)
        if self.garbage is not None and cmd == self.garbage_on:
            self._send(self.garbage)
            return
        if cmd == "connect":
            self._send(templates().connect_reply(self.uuid, self.caller, self.dest, self.variables))
        elif cmd == "myevents":
            self._reply("+OK Events Enabled")
        elif cmd.startswith("event "):
            self._reply("+OK event listener enabled plain")
        elif cmd == "linger":
            self.lingering = True
            self._reply("+OK will linger")
            self._event("CHANNEL_PARK")
        elif cmd == "exit":
            self._reply("+OK bye")
            body = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
            self._send(encode_frame([("Content-Type", "text/disconnect-notice"),
                                     ("Controlled-Session-UUID", self.uuid),
                                     ("Content-Disposition", "disconnect"), ("Content-Length", "")], body))
            self.exited = True
            if self.up:  # socket gone while parked: the dialplan ends, the call ends
                self.up = False
                self.hangup_cause = self.hangup_cause or "NORMAL_CLEARING"
        elif cmd == "sendmsg":
            command = frame.get("call-command")
            self._reply("+OK")
            if command == "execute":
                app = frame.get("execute-app-name") or ""
                arg = frame.get("execute-app-arg") or frame.body
                self._queue.append((app, arg, frame.get("Event-UUID") or ""))
            elif command == "hangup":
                self.hangup(frame.get("hangup-cause") or "NORMAL_CLEARING")
        elif cmd.startswith("api "):
            self._api(cmd[4:])
        elif cmd.startswith("bgapi "):
            job = frame.get("Job-UUID") or str(uuidlib.uuid4())
            self._send(f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n".encode())
            body = "+OK " + str(uuidlib.uuid4()) + "\n"
            self._send(encode_event_frame([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", job),
                                           ("Job-Command", cmd[6:].split(" ", 1)[0])], body))
        else:
            self._reply("-ERR command not found")

    def _api(self, line: str) -> None:
        parts = line.split(" ")
        queued = self.api_answers.get(parts[0])
        if queued:
            body = queued.popleft()
        elif parts[0] == "sched_transfer" and len(parts) >= 3:
            self.scheduled.append(line)
            body = "+OK\n"
        elif parts[0] == "sched_del" and len(parts) == 2:
            body = f"+OK Deleted: {len(self.scheduled)}\n"
            self.scheduled.clear()
        elif parts[0] == "uuid_getvar" and len(parts) == 3:
            body = self.vars.get(parts[2], "_undef_")
        elif parts[0] == "uuid_setvar" and len(parts) >= 3:
            self.vars[parts[2]] = " ".join(parts[3:])
            body = "+OK\n"
        elif parts[0] == "uuid_break":
            body = "+OK\n"
            if self._current is not None:
                self._current["deadline"] = time.monotonic()
        else:
            body = f"-ERR {parts[0]} Command not found!\n"
        data = body.encode()
        self._send(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data)

    # -- applications

    def _press(self, keys: str, cur: dict) -> None:
        for key in keys:
            self._event("DTMF", [("DTMF-Digit", key), ("DTMF-Duration", "1500"), ("DTMF-Source", "RTP")])
        if self.vars.get("playback_terminators") == "any":
            cur["deadline"] = time.monotonic()  # FreeSWITCH ends the prompt on the key itself
            if cur["app"] == "play_and_detect_speech":
                cur["vars"] = [("variable_detect_speech_result", f"DIGIT: {keys[0]}")]
        else:
            cur["deadline"] = time.monotonic() + 5.0  # until uuid_break

    def _start_app(self, app: str, arg: str, event_uuid: str) -> None:
        self.apps.append((app, arg))
        self._event("CHANNEL_EXECUTE", [("Application", app), ("Application-Data", arg),
                                        ("Application-UUID", event_uuid)])
        cur: dict = {"app": app, "arg": arg, "uuid": event_uuid, "vars": [], "response": "FILE PLAYED",
                     "deadline": time.monotonic() + self.media_s}
        self._current = cur
        if app == "set" and "=" in arg:
            name, _, value = arg.partition("=")
            self.vars[name] = value
            cur["deadline"] = time.monotonic()
        elif app == "answer":
            self._event("CHANNEL_ANSWER")
        elif app == "playback" and self.press_during_playback:
            keys, self.press_during_playback = self.press_during_playback, ""
            self._press(keys, cur)
        elif app == "playback" and self.vars.get("voiceai_slot"):  # a keyed listen
            step = self.inputs.popleft() if self.inputs else {"silence": True}
            if step.get("hangup"):
                self.hangup("NORMAL_CLEARING")
                return
            if step.get("digits"):
                self._press(step["digits"], cur)
        elif app == "play_and_detect_speech" and arg.split(" detect:", 1)[-1].split(" ")[0] not in self.asr_engines:
            cur["response"] = "ASR INIT ERROR"
            cur["deadline"] = time.monotonic()
        elif app in ("play_and_get_digits", "play_and_detect_speech"):
            step = self.inputs.popleft() if self.inputs else {"silence": True}
            if step.get("hangup"):
                self.hangup("NORMAL_CLEARING")
                return
            if app == "play_and_get_digits":
                if step.get("digits"):
                    cur["vars"] = [("variable_voiceai_digits", step["digits"]), ("variable_read_result", "success")]
                else:
                    cur["vars"] = [("variable_read_result", "timeout")]
            elif step.get("speech"):
                text = step["speech"]
                result = (json.dumps({"grammar": "g", "text": text, "confidence": 87.3})
                          if self.asr_format == "json" else nlsml(text))
                cur["vars"] = [("variable_detect_speech_result", result)]
            elif step.get("digits"):
                self._press(step["digits"], cur)
        if self.hangup_on == app:
            self.hangup("NORMAL_CLEARING")

    def _complete(self) -> None:
        cur = self._current
        assert cur is not None
        self._current = None
        self._event("CHANNEL_EXECUTE_COMPLETE", [*cur["vars"], ("Application", cur["app"]),
                                                 ("Application-Data", cur["arg"]),
                                                 ("Application-Response", cur["response"]),
                                                 ("Application-UUID", cur["uuid"])])
        self._last_completion = time.monotonic()

    def hangup(self, cause: str) -> None:
        if not self.up:
            return
        self.up = False
        self.hangup_cause = cause
        self.hangup_at = time.monotonic()
        self._event("CHANNEL_HANGUP", [("Hangup-Cause", cause)])
        if self._current is not None:
            self._complete()
        self._queue.clear()
        self._event("CHANNEL_HANGUP_COMPLETE", [("Hangup-Cause", cause)])
        if self.lingering:
            self._send(encode_frame([("Content-Type", "text/disconnect-notice"),
                                     ("Controlled-Session-UUID", self.uuid), ("Content-Disposition", "linger"),
                                     ("Channel-Name", "loopback/8000-b"), ("Linger-Time", "-1"),
                                     ("Content-Length", "0")]))


class FakeInbound:
    """Inbound ESL (port 8021) on a real socket. ``api(cmd) -> body`` answers api and
    bgapi commands; ``reject`` answers every connection with text/rude-rejection."""

    def __init__(self, password: str = "ClueCon", api: Optional[Callable[[str], str]] = None,
                 bg_delay: float = 0.01, reject: bool = False, port: int = 0) -> None:
        self.password = password
        self.api = api or (lambda cmd: "+OK\n")
        self.bg_delay = bg_delay
        self.reject = reject
        self.commands: list[str] = []
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._subscribed: dict[socket.socket, bool] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))  # a given port: the switch back where it was
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self.drop()
        self._thread.join(5)

    def wait_command(self, command: str, timeout: float = 2.0) -> bool:
        """Whether ``command`` reached this peer within ``timeout`` seconds (the
        client does not wait for ``+OK bye`` after ``exit``, so its last command
        may still be on the wire when the client's ``close`` returns)."""
        deadline = time.monotonic() + timeout
        while command not in self.commands:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def drop(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def send_event(self, pairs: Pairs, body: str = "") -> None:
        data = encode_event_frame(pairs, body)
        with self._lock:
            conns = [c for c in self._conns if self._subscribed.get(c)]
        for c in conns:
            try:
                c.sendall(data)
            except OSError:
                pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()

        def send(data: bytes) -> None:
            with send_lock:
                conn.sendall(data)

        try:
            conn.settimeout(10)
            if self.reject:
                msg = b"Access Denied, go away.\n"
                send(b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(msg) + msg)
                return
            send(b"Content-Type: auth/request\n\n")
            parser = FrameParser(commands=True)
            authed = False
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                for frame in parser.feed(data):
                    cmd = frame.first_line
                    self.commands.append(cmd)
                    if cmd.startswith("auth "):
                        authed = cmd[5:] == self.password
                        send(f"Content-Type: command/reply\nReply-Text: "
                             f"{'+OK accepted' if authed else '-ERR invalid'}\n\n".encode())
                        if not authed:
                            return
                    elif not authed:
                        return
                    elif cmd.startswith("event "):
                        self._subscribed[conn] = True
                        send(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
                    elif cmd.startswith("filter "):
                        _, header, value = cmd.split(" ", 2)
                        send(f"Content-Type: command/reply\nReply-Text: +OK filter added. [{header}]=[{value}]\n\n"
                             .encode())
                    elif cmd.startswith("api "):
                        body = self.api(cmd[4:]).encode() or b"-ERR no reply\n"
                        send(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body)
                    elif cmd.startswith("bgapi "):
                        job = frame.get("Job-UUID") or str(uuidlib.uuid4())
                        send(f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
                             .encode())
                        line = cmd[6:]

                        def finish(job: str = job, line: str = line) -> None:
                            time.sleep(self.bg_delay)
                            body = self.api(line)
                            name, _, arg = line.partition(" ")
                            text = serialize_event_plain([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", job),
                                                          ("Job-Command", name), ("Job-Command-Arg", arg)], body)
                            try:
                                send(encode_frame([("Content-Length", ""), ("Content-Type", "text/event-plain")],
                                                  text))
                            except OSError:
                                pass

                        threading.Thread(target=finish, daemon=True).start()
                    elif cmd == "exit":
                        send(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")
                        msg = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
                        send(b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(msg) + msg)
                        return
                    else:
                        send(b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
        except OSError:
            return
        finally:
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            conn.close()
