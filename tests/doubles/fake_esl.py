"""A small FreeSWITCH inbound Event Socket stand-in on a real socket (port 0):
greets with auth/request, answers auth, event, api and sendevent the way
mod_event_socket frames them, and records what it was sent."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Optional


class FakeFreeSwitch:
    def __init__(self, password: str = "ClueCon", api: Optional[Callable[[str], str]] = None) -> None:
        self.password = password
        self.api = api or (lambda cmd: "+OK [Success]\n" if cmd == "reloadxml" else "-ERR no reply\n")
        self.commands: list[str] = []
        self.events: list[dict[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeFreeSwitch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buf = b""
        authed = False
        try:
            conn.sendall(b"Content-Type: auth/request\n\n")
            while not self._stop.is_set():
                while b"\n\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                block, buf = buf.split(b"\n\n", 1)
                lines = block.decode().split("\n")
                command, headers = lines[0], dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                self.commands.append(command)
                if command.startswith("auth "):
                    authed = command[5:] == self.password
                    text = "+OK accepted" if authed else "-ERR invalid"
                    conn.sendall(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())
                    if not authed:
                        return
                elif not authed:
                    return
                elif command.startswith("event "):
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
                elif command.startswith("api "):
                    body = self.api(command[4:]).encode()
                    conn.sendall(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body)
                elif command.startswith("sendevent "):
                    self.events.append({"Event-Name": command.split(" ", 1)[1], **headers})
                    event_uuid = b"3c5a1b2e-0d0f-4a47-9c55-1f0e8f7e2a10"
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK %s\n\n" % event_uuid)
                elif command == "exit":
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")
                    notice = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
                    conn.sendall(
                        b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(notice) + notice
                    )
                    return
                else:
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
        except OSError:
            return
        finally:
            conn.close()
