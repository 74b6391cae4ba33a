"""The inbound Event Socket server (FreeSWITCH's port 8021), on port 0 by default."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from voiceai_ivr.errors import ProtocolError
from voiceai_sim.outbound import apply_message
from voiceai_sim.session import DISCONNECT_TEXT, ConnectionBase
from voiceai_sim.wire import FrameParser, encode_frame

log = logging.getLogger(__name__)

AUTH_TIMEOUT = 25.0  # mod_event_socket: read_packet(listener, &event, 25) while not authed


class InboundConnection(ConnectionBase):
    def __init__(self, server: InboundServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(server.switch)
        self.server = server
        self.reader = reader
        self.writer = writer
        self.authed = False

    async def run(self) -> None:
        parser = FrameParser(commands=True)
        self.write(encode_frame([("Content-Type", "auth/request")]))
        try:
            while not self.closed.is_set():
                try:
                    if self.authed:
                        data = await self.reader.read(65536)
                    else:
                        data = await asyncio.wait_for(self.reader.read(65536), AUTH_TIMEOUT)
                except (asyncio.TimeoutError, ConnectionError, OSError):
                    data = b""
                if not data:
                    break
                try:
                    frames = parser.feed(data)
                except ProtocolError:
                    break
                for frame in frames:
                    await self.handle(frame.first_line.strip(), frame)
                    if self.closed.is_set():
                        break
        finally:
            self.close()

    def close(self, notice: bool = False) -> None:
        if self.closed.is_set():
            return
        if notice:
            self.write(
                encode_frame(
                    [("Content-Type", "text/disconnect-notice"), ("Content-Length", "")], DISCONNECT_TEXT
                )
            )
        self.closed.set()
        self.switch.remove_sink(self)
        self.server.connections.discard(self)
        if self.writer is not None:
            self.writer.close()

    async def handle(self, cmd: str, frame: Any) -> None:
        lower = cmd.lower()
        if lower.startswith("exit") or lower.startswith("..."):
            self.reply("+OK bye")
            self.close(notice=True)
            return
        if not self.authed:
            if lower.startswith("auth "):
                if cmd[5:].strip() == self.server.password:
                    self.authed = True
                    self.reply("+OK accepted")
                else:
                    self.reply("-ERR invalid")
                    self.close(notice=True)
                return
            # FreeSWITCH ignores anything else before auth (no reply).
            return
        if lower.startswith("filter "):
            self.reply(self.cmd_filter(cmd[7:]))
            return
        if await self.handle_shared(cmd, frame, None):
            return
        if lower.startswith("myevents"):
            uuid = cmd[8:].strip().split(" ")[0]
            ch = self.switch.locate(uuid) if uuid else None
            if ch is None:
                self.reply("-ERR invalid uuid")
                return
            self._my_uuid = ch.uuid
            self.myevents = True
            self.switch.add_sink(self)
            self.reply("+OK Events Enabled")
            return
        if lower.startswith("sendmsg"):
            uuid = cmd[7:].strip() or (frame.get("Session-ID") or "")
            ch = self.switch.locate(uuid) if uuid else None
            if ch is None:
                self.reply(f"-ERR invalid session id [{uuid}]")
                return

            self.reply("+OK")
            apply_message(ch, frame)
            return
        if lower.startswith("log") or lower.startswith("nolog"):
            self.reply("+OK no longer logging" if lower.startswith("nolog") else "+OK log level debug [7]")
            return
        if lower.startswith("linger") or lower.startswith("nolinger"):
            self.reply("-ERR not controlling a session")
            return
        self.reply("-ERR command not found")

    _my_uuid: Optional[str] = None

    @property
    def own_uuid(self) -> Optional[str]:
        return self._my_uuid


class InboundServer:
    """Listens on ``host:port`` (port 0: any free port) and serves inbound ESL."""

    def __init__(
        self,
        switch: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str = "ClueCon",  # noqa: S107 - FreeSWITCH's well-known default
    ) -> None:
        self.switch = switch
        self.host = host
        self.port = port
        self.password = password
        self.server: Optional[asyncio.AbstractServer] = None
        self.connections: set[InboundConnection] = set()

    async def start(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._accept, self.host, self.port, backlog=1024)
        sock = self.server.sockets[0]
        host, port = sock.getsockname()[:2]
        self.port = port
        return host, port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = InboundConnection(self, reader, writer)
        self.connections.add(conn)
        self.switch.stats["inbound_connections"] += 1
        try:
            await conn.run()
        except Exception:
            log.exception("sim inbound connection failed")
            conn.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for conn in list(self.connections):
            conn.close()
