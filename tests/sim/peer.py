"""A tiny scripted *application side* for the simulator's tests.

It plays the role of our outbound server the way the capture's application did
(``connect``, ``myevents``, ``event plain BACKGROUND_JOB``, ``linger``,
``sendmsg`` with ``event-lock`` and ``Event-UUID``, waits for the matching
CHANNEL_EXECUTE_COMPLETE, ``exit`` after the linger notice), so the simulator
is tested against a peer that knows nothing of its internals. It also keeps
every frame it received, in order, for the capture-shape comparison.
"""

from __future__ import annotations

import asyncio
import threading
import uuid as uuidlib
from collections.abc import Awaitable
from typing import Callable, Optional

from voiceai_ivr.esl.protocol import Event, Frame, FrameParser, encode_command, frame_to_event

Script = Callable[["PeerCall"], Awaitable[None]]


class PeerGone(Exception):
    """The simulator closed the socket."""


class PeerCall:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = FrameParser()
        self.received: list[Frame] = []  # every frame, in order
        self.sent: list[str] = []
        self.pending: list[Frame] = []
        self.data: Optional[Event] = None
        self.uuid = ""
        self.closed = False
        self.events_seen: list[Event] = []

    async def _next_frame(self, timeout: float) -> Frame:
        while not self.pending:
            if self.closed:
                raise PeerGone()
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), timeout)
            except asyncio.TimeoutError as exc:
                raise TimeoutError("no frame from the simulator in time") from exc
            except ConnectionError as exc:
                # a close with our command still unread on its side arrives as a reset
                self.closed = True
                raise PeerGone() from exc
            if not chunk:
                self.closed = True
                raise PeerGone()
            for frame in self.parser.feed(chunk):
                self.received.append(frame)
                self.pending.append(frame)
        return self.pending.pop(0)

    async def send(self, command: str, headers: Optional[list[tuple[str, str]]] = None) -> None:
        self.sent.append(command)
        try:
            self.writer.write(encode_command(command, headers))
            await self.writer.drain()
        except ConnectionError as exc:
            self.closed = True
            raise PeerGone() from exc

    async def reply_to(
        self, command: str, headers: Optional[list[tuple[str, str]]] = None, timeout: float = 10.0
    ) -> Frame:
        """Send a command and return its command/reply or api/response; events that
        arrive meanwhile are kept for ``wait_event``."""
        await self.send(command, headers)
        stash = []
        try:
            while True:
                frame = await self._next_frame(timeout)
                if frame.content_type in ("command/reply", "api/response") or (
                    command == "connect" and frame.get("Event-Name") == "CHANNEL_DATA"
                ):
                    return frame
                stash.append(frame)
        finally:
            self.pending[:0] = stash

    async def connect(self) -> Event:
        frame = await self.reply_to("connect")
        self.data = frame_to_event(frame)
        self.uuid = self.data.get("Unique-ID") or ""
        return self.data

    async def wait_event(
        self, name: str, predicate: Optional[Callable[[Event], bool]] = None, timeout: float = 10.0
    ) -> Event:
        stash = []
        try:
            while True:
                frame = await self._next_frame(timeout)
                if frame.is_event:
                    event = frame_to_event(frame)
                    self.events_seen.append(event)
                    if (name == "*" or event.name == name) and (predicate is None or predicate(event)):
                        return event
                stash.append(frame)
        finally:
            self.pending[:0] = stash

    async def wait_content(self, content_type: str, timeout: float = 10.0) -> Frame:
        while True:
            frame = await self._next_frame(timeout)
            if frame.content_type == content_type:
                return frame
            if frame.is_event:
                self.events_seen.append(frame_to_event(frame))

    async def execute(self, app: str, arg: str = "", timeout: float = 30.0) -> Event:
        event_uuid = str(uuidlib.uuid4())
        headers = [("call-command", "execute"), ("execute-app-name", app)]
        if arg:
            headers.append(("execute-app-arg", arg))
        headers += [("event-lock", "true"), ("Event-UUID", event_uuid)]
        reply = await self.reply_to("sendmsg", headers)
        assert reply.reply_text == "+OK", reply.headers

        # An application sent once the leg has hung up never runs (FreeSWITCH still
        # answers +OK): like a correct handler, stop waiting at CHANNEL_HANGUP_COMPLETE,
        # which comes after the completion of an application the hangup interrupted.
        def done(e: Event) -> bool:
            if e.name == "CHANNEL_EXECUTE_COMPLETE":
                return e.get("Application-UUID") == event_uuid
            return e.name == "CHANNEL_HANGUP_COMPLETE"

        return await self.wait_event("*", done, timeout)

    async def api(self, command: str, timeout: float = 30.0) -> str:
        frame = await self.reply_to(f"api {command}", timeout=timeout)
        return frame.body

    async def standard_start(self) -> None:
        await self.connect()
        await self.reply_to("myevents")
        await self.reply_to("event plain BACKGROUND_JOB")
        await self.reply_to("linger")

    async def finish(self, timeout: float = 10.0) -> None:
        """Wait for the linger notice, then exit (as a correct handler does)."""
        while True:
            frame = await self._next_frame(timeout)
            if frame.content_type == "text/disconnect-notice":
                break
        await self.send("exit")
        try:
            while True:
                await self._next_frame(timeout)
        except PeerGone:
            pass


class Peer:
    """An outbound server on port 0 running ``script`` for every connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Optional[asyncio.AbstractServer] = None
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.calls: list[PeerCall] = []
        self.failures: list[BaseException] = []
        self.done = 0

    def __enter__(self) -> Peer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        self.address = fut.result(10)
        return self

    async def _start(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048)
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = PeerCall(reader, writer)
        self.calls.append(call)
        try:
            await self.script(call)
        except PeerGone:
            pass
        except BaseException as exc:  # recorded for the test to assert on
            self.failures.append(exc)
        finally:
            self.done += 1
            writer.close()

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class InboundEsl:
    """A minimal blocking inbound ESL client for the tests (independent of the
    package's own client, so the simulator is checked against the protocol)."""

    def __init__(self, address: tuple[str, int], password: str = "ClueCon", timeout: float = 10.0) -> None:
        import socket

        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.settimeout(timeout)
        self.parser = FrameParser()
        self.pending: list[Frame] = []
        self.events: list[Event] = []
        greeting = self.next_frame()
        assert greeting.content_type == "auth/request"
        self.auth_reply = self.command(f"auth {password}")

    def next_frame(self) -> Frame:
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise PeerGone()
            self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)

    def _until(self, content_types: tuple[str, ...]) -> Frame:
        while True:
            frame = self.next_frame()
            if frame.content_type in content_types:
                return frame
            if frame.is_event:
                self.events.append(frame_to_event(frame))

    def command(self, text: str) -> Frame:
        self.sock.sendall(encode_command(text))
        return self._until(("command/reply", "text/disconnect-notice"))

    def api(self, text: str) -> str:
        self.sock.sendall(encode_command(f"api {text}"))
        return self._until(("api/response",)).body

    def bgapi(self, text: str, timeout: float = 20.0) -> str:
        reply = self.command(f"bgapi {text}")
        job = reply.get("Job-UUID")
        return self.wait_event("BACKGROUND_JOB", lambda e: e.get("Job-UUID") == job, timeout).body

    def wait_event(
        self, name: str, predicate: Optional[Callable[[Event], bool]] = None, timeout: float = 20.0
    ) -> Event:
        import time

        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.name == name and (predicate is None or predicate(event)):
                return self.events.pop(i)
        while time.monotonic() < deadline:
            frame = self.next_frame()
            if frame.is_event:
                event = frame_to_event(frame)
                if event.name == name and (predicate is None or predicate(event)):
                    return event
                self.events.append(event)
        raise TimeoutError(f"no {name} event")

    def close(self) -> None:
        self.sock.close()
