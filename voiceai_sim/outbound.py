"""The ``socket`` application: a simulated leg dials into the application's
outbound server and is controlled through it (``async full`` by default).

Replies are worded as ``mod_event_socket.c`` words them; the order of frames
matches the capture (``connect`` reply, ``+OK Events Enabled``, CHANNEL_PARK
once connected, ``+OK`` for each ``sendmsg`` before its events, linger
``disconnect-notice`` after CHANNEL_HANGUP_COMPLETE, ``+OK bye`` and a second
``disconnect-notice`` on ``exit``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from voiceai_ivr.errors import ProtocolError
from voiceai_sim.args import separate_string
from voiceai_sim.channel import AppRun, SimChannel, SocketLink
from voiceai_sim.events import Pairs, core_headers, new_uuid
from voiceai_sim.session import DISCONNECT_TEXT, ConnectionBase
from voiceai_sim.wire import Frame, FrameParser, encode_frame, serialize_event_plain

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # real seconds to open the TCP connection
FIRST_COMMAND_TIMEOUT = 25.0  # mod_event_socket: read_packet(listener, &ievent, 25)
PARK_DELAY = 0.02  # real seconds between the connect reply and CHANNEL_PARK (see docs)


def parse_socket_arg(arg: str) -> tuple[str, int, bool, bool]:
    """``HOST[:PORT][/path] [async] [full]`` -> (host, port, async, full)."""
    argv = separate_string(arg, " ")
    if not argv or not argv[0]:
        raise ValueError("socket: missing host")
    host, _, port_text = argv[0].partition(":")
    port_text = port_text.split("/", 1)[0]
    host = host.split("/", 1)[0]
    port = int(port_text) if port_text.isdigit() else 8084
    flags = {a.lower() for a in argv[1:]}
    return host, port, "async" in flags, "full" in flags


class OutboundSession(ConnectionBase):
    """One ``socket`` application instance: a TCP client towards the app."""

    def __init__(self, switch: Any, channel: SimChannel, app_arg: str) -> None:
        super().__init__(switch)
        self.channel = channel
        self.app_arg = app_arg
        self.host, self.port, self.async_mode, self.full = parse_socket_arg(app_arg)
        self.linger = False
        self.linger_time = -1
        self.connected = False
        self.end_reason = ""
        self.reader: Optional[asyncio.StreamReader] = None
        self._park_handle: Optional[asyncio.TimerHandle] = None
        self._parked_once = False
        self._down = False

    @property
    def own_uuid(self) -> Optional[str]:
        return self.channel.uuid

    async def open(self) -> bool:
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError) as exc:
            log.info("sim socket %s:%s: %s", self.host, self.port, exc)
            self.end_reason = "connect_failed"
            self.closed.set()
            return False
        self.switch.sessions.add(self)
        return True

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        assert self.reader is not None
        parser = FrameParser(commands=True)
        first = True
        try:
            while not self.closed.is_set():
                try:
                    if first:
                        data = await asyncio.wait_for(self.reader.read(65536), FIRST_COMMAND_TIMEOUT)
                    else:
                        data = await self.reader.read(65536)
                except asyncio.TimeoutError:
                    self._finish("no_connect")
                    break
                except (ConnectionError, OSError):
                    data = b""
                if not data:
                    self._finish("peer_close")
                    break
                try:
                    frames = parser.feed(data)
                except ProtocolError as exc:
                    if self.channel.call is not None:
                        self.channel.call.errors.append(f"outbound socket: {exc}")
                    self._finish("protocol_error")
                    break
                for frame in frames:
                    first = False
                    await self.handle(frame)
                    if self.closed.is_set():
                        break
        finally:
            if not self.closed.is_set():
                self._finish(self.end_reason or "peer_close")

    def _finish(self, reason: str, *, notice: bool = True) -> None:
        """Close the socket (after a disconnect notice) and end the socket application."""
        if self.closed.is_set():
            return
        self.end_reason = self.end_reason or reason
        if notice and self.writer is not None and not self.writer.is_closing():
            self.write(self._disconnect_frame())
        if self._park_handle is not None:
            self._park_handle.cancel()
        self.closed.set()
        self.switch.remove_sink(self)
        self.switch.sessions.discard(self)
        if self.writer is not None:
            self.writer.close()
        ch = self.channel
        if self.channel.call is not None and ch.role == "caller":
            self.channel.call.socket_end = self.end_reason
        if not ch.hungup:
            link = ch.socket
            was_active = link is not None and link.active
            ch.end_socket_app()
            if was_active and ch.bridge is None and not ch.bridge_pending:
                # The dialplan has nothing after ``socket``: the call ends.
                ch.hangup("NORMAL_CLEARING", by="application")

    def _disconnect_frame(self) -> bytes:
        return encode_frame(
            [
                ("Content-Type", "text/disconnect-notice"),
                ("Controlled-Session-UUID", self.channel.uuid),
                ("Content-Disposition", "disconnect"),
                ("Content-Length", ""),
            ],
            DISCONNECT_TEXT,
        )

    # ------------------------------------------------------------------ channel callbacks

    def channel_hungup(self) -> None:
        """Right after CHANNEL_HANGUP: without linger FreeSWITCH disconnects now."""
        if not self.linger:
            self._finish("hangup_no_linger")

    def channel_down(self) -> None:
        """After CHANNEL_HANGUP_COMPLETE: the linger notice (bare linger: forever)."""
        if self._down:
            return
        self._down = True
        if self.closed.is_set():
            return
        if not self.linger:
            self._finish("hangup_no_linger")
            return
        self.write(
            encode_frame(
                [
                    ("Content-Type", "text/disconnect-notice"),
                    ("Controlled-Session-UUID", self.channel.uuid),
                    ("Content-Disposition", "linger"),
                    ("Channel-Name", self.channel.name),
                    ("Linger-Time", str(self.linger_time)),
                    ("Content-Length", "0"),
                ]
            )
        )
        if self.linger_time >= 0:
            loop = asyncio.get_running_loop()
            loop.call_later(self.linger_time, self._finish, "linger_timeout")

    # ------------------------------------------------------------------ commands

    def _maybe_park(self) -> None:
        if self._parked_once or not self.async_mode:
            return
        self._parked_once = True
        if self._park_handle is not None:
            self._park_handle.cancel()
            self._park_handle = None
        if not self.channel.hungup and self.channel.socket is not None and self.channel.socket.active:
            self.channel.park()
            self.channel.ensure_executor()

    def _connect_reply(self) -> bytes:
        ch = self.channel
        pairs: Pairs = core_headers(self.switch.core, "CHANNEL_DATA", ch.now(), self.switch.next_sequence())
        pairs.extend(ch.profile_block("Channel"))
        pairs.extend(ch.data_block("CHANNEL_DATA"))
        pairs.extend(
            [
                ("Content-Type", "command/reply"),
                ("Reply-Text", "+OK\n"),
                ("Socket-Mode", "async" if self.async_mode else "static"),
                ("Control", "full" if self.full else "single-channel"),
            ]
        )
        return serialize_event_plain(pairs).encode("utf-8")

    async def handle(self, frame: Frame) -> None:
        cmd = frame.first_line.strip()
        lower = cmd.lower()
        if lower.startswith("exit") or lower.startswith("..."):
            self.reply("+OK bye")
            self._finish("exit")
            return
        if lower.startswith("filter "):
            self.reply(self.cmd_filter(cmd[7:]))
            return
        if lower.startswith("resume"):
            self.channel.set_var("socket_resume", "true")
            self.reply("+OK")
            return
        if lower.startswith("connect"):
            self.connected = True
            self.write(self._connect_reply())
            if self.async_mode and not self._parked_once:
                loop = asyncio.get_running_loop()
                self._park_handle = loop.call_later(PARK_DELAY, self._maybe_park)
            return
        if lower.startswith("getvar"):
            _, _, name = cmd.partition(" ")
            self.reply(self.channel.get_var(name.strip()) or "")
            return
        if lower.startswith("myevents"):
            if self.myevents:
                self.reply("-ERR aready enabled.")
                return
            self.myevents = True
            if "json" in lower:
                self.format = "json"
            self.reply("+OK Events Enabled")
            return
        if lower.startswith("divert_events"):
            on = cmd[13:].strip().lower() == "on"
            self.reply("+OK events diverted" if on else "+OK events not diverted")
            return
        if lower.startswith("sendmsg"):
            await self._sendmsg(frame, cmd[7:].strip())
            return
        if not self.full:
            self.reply("-ERR command not found")
            return
        if await self.handle_shared(cmd, frame, self.channel):
            return
        if lower.startswith("linger"):
            rest = cmd[6:].strip()
            self.linger = True
            if rest:
                try:
                    self.linger_time = int(rest)
                except ValueError:
                    self.linger_time = 0
                self.reply(f"+OK will linger {self.linger_time} seconds")
            else:
                self.linger_time = -1
                self.reply("+OK will linger")
            return
        if lower.startswith("nolinger"):
            self.linger = False
            self.reply("+OK will not linger")
            return
        self.reply("-ERR command not found")

    async def _sendmsg(self, frame: Frame, target_uuid: str) -> None:
        ch = self.channel
        if not target_uuid:
            target_uuid = frame.get("Session-ID", "") or ""
        if target_uuid and target_uuid != ch.uuid:
            other = self.switch.locate(target_uuid)
            if other is None:
                self.reply(f"-ERR invalid session id [{target_uuid}]")
                return
            self.reply("+OK")
            apply_message(other, frame)
            return
        if not self.async_mode and (frame.get("async") or "").lower() not in ("true", "1", "yes"):
            # Static mode: the message runs before the reply.
            run = apply_message(ch, frame, queue=False)
            if run is not None:
                await ch.execute(run)
            self.reply("+OK")
            return
        self.reply("+OK")
        self._maybe_park()
        apply_message(ch, frame)


def apply_message(ch: SimChannel, frame: Frame, queue: bool = True) -> Optional[AppRun]:
    """Act on one ``sendmsg``: ``execute`` queues (or returns) an application run,
    ``hangup`` hangs the leg up at once."""
    command = (frame.get("call-command") or "").lower()
    if command == "hangup":
        ch.hangup((frame.get("hangup-cause") or "NORMAL_CLEARING").strip().upper(), by="application")
        return None
    if command in ("unicast", "nomedia", "xferext"):
        return None
    if command != "execute":
        return None
    app = (frame.get("execute-app-name") or "").strip()
    arg = frame.get("execute-app-arg")
    if arg is None and frame.body and (frame.get("Content-Type") or "").startswith("text/plain"):
        arg = frame.body
    arg = arg or ""
    try:
        loops = max(1, int(frame.get("loops") or "1"))
    except ValueError:
        loops = 1
    lock = (frame.get("event-lock") or "").lower() in ("true", "1", "yes")
    app_uuid = frame.get("Event-UUID") or new_uuid()
    run = AppRun(app, arg, app_uuid=app_uuid, lock=lock, loops=loops)
    if queue:
        ch.enqueue(run)
        return None
    return run


async def dial_socket(switch: Any, ch: SimChannel, app_arg: str) -> bool:
    """Run the ``socket`` application on ``ch``: connect to the application's
    outbound server. Returns False if it cannot connect (the leg then ends)."""
    try:
        session = OutboundSession(switch, ch, app_arg)
    except ValueError:
        return False
    link = SocketLink(session=session, app_arg=app_arg)
    ch.set_var("current_application_data", app_arg)
    ch.set_var("current_application", "socket")
    ch.set_var("socket_host", session.host)
    ch.fire(
        "CHANNEL_EXECUTE",
        tail=[("Application", "socket"), ("Application-Data", app_arg), ("Application-UUID", link.app_uuid)],
    )
    if not await session.open():
        ch.fire(
            "CHANNEL_EXECUTE_COMPLETE",
            tail=[
                ("Application", "socket"),
                ("Application-Data", app_arg),
                ("Application-Response", "_none_"),
                ("Application-UUID", link.app_uuid),
            ],
        )
        return False
    ch.socket = link
    ch.spawn(session.run())
    if ch.hungup:
        # The leg hung up while the TCP connection was being opened: FreeSWITCH's
        # socket application finds the channel gone and, with no linger asked for
        # yet, sends the disconnect notice and closes.
        session.channel_hungup()
    return True
