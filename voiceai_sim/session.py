"""What inbound and outbound Event Socket connections share on the switch side:
event subscriptions and filters, frame writing, ``api`` and ``bgapi``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Optional

from voiceai_sim.api import execute_api
from voiceai_sim.events import Pairs, new_uuid
from voiceai_sim.wire import encode_event_frame, encode_frame

log = logging.getLogger(__name__)

# mod_event_socket.c: the events ``myevents`` subscribes to.
MYEVENTS = frozenset(
    {
        "CHANNEL_ANSWER",
        "CHANNEL_APPLICATION",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_STATE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "DETECTED_SPEECH",
        "DTMF",
        "NOTALK",
        "TALK",
    }
)

# Names switch_name_event accepts (a subset: the ones worth subscribing to here).
EVENT_NAMES = MYEVENTS | {
    "ALL",
    "BACKGROUND_JOB",
    "CUSTOM",
    "HEARTBEAT",
    "API",
    "RE_SCHEDULE",
    "PRESENCE_IN",
    "MESSAGE_WAITING",
    "CALL_UPDATE",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_CALLSTATE",
    "SHUTDOWN",
    "RELOADXML",
}

DISCONNECT_TEXT = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class ConnectionBase:
    """An ESL connection seen from the switch."""

    def __init__(self, switch: Any) -> None:
        self.switch = switch
        self.writer: Optional[asyncio.StreamWriter] = None
        self.closed = asyncio.Event()
        self.events: set[str] = set()
        self.all_events = False
        self.myevents = False
        self.format = "plain"
        self.filters: list[tuple[str, str]] = []
        self.lost_events = 0
        self.frames_sent = 0
        self.tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> bool:
        writer = self.writer
        if writer is None or self.closed.is_set() or writer.is_closing():
            return False
        writer.write(data)
        self.frames_sent += 1
        return True

    def reply(self, text: str) -> None:
        self.write(encode_frame([("Content-Type", "command/reply"), ("Reply-Text", text)]))

    def api_response(self, body: str) -> None:
        self.write(encode_frame([("Content-Type", "api/response"), ("Content-Length", "")], body))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # ------------------------------------------------------------------ events

    @property
    def own_uuid(self) -> Optional[str]:
        return None

    def wants(self, name: str, channel_uuid: Optional[str], job_owner: Optional[str]) -> bool:
        if self.closed.is_set():
            return False
        subscribed = self.all_events or name in self.events or (self.myevents and name in MYEVENTS)
        if not subscribed:
            return False
        if self.myevents:
            own = self.own_uuid
            if name == "BACKGROUND_JOB":
                return job_owner is not None and job_owner == own
            return channel_uuid is not None and channel_uuid == own
        return True

    def _passes_filters(self, pairs: Pairs) -> bool:
        if not self.filters:
            return True
        headers: dict[str, str] = {}
        for key, value in pairs:
            headers.setdefault(key.lower(), value)
        send = False
        for name, comp in self.filters:
            found = headers.get(name.lower())
            if found is None:
                continue
            value = found
            pos = True
            rest = comp
            while rest and rest[0] in "+- ":
                if rest[0] == "+":
                    pos = True
                elif rest[0] == "-":
                    pos = False
                rest = rest[1:]
            if send and pos:
                continue
            if comp.startswith("/"):
                pattern = rest[1:-1] if rest.endswith("/") and len(rest) > 1 else rest[1:]
                try:
                    cmp = re.search(pattern, value) is not None
                except re.error:
                    cmp = False
            else:
                cmp = value.lower() == rest.lower()
            if cmp:
                if pos:
                    send = True
                else:
                    return False
        return send

    def send_event(self, name: str, pairs: Pairs, body: str) -> None:
        if not self._passes_filters(pairs):
            return
        writer = self.writer
        if writer is None or self.closed.is_set():
            return
        transport = writer.transport
        if transport is not None and transport.get_write_buffer_size() > self.switch.max_write_buffer:
            # FreeSWITCH drops events for a listener whose queue is full ("Lost N events").
            self.lost_events += 1
            self.switch.stats["lost_events"] += 1
            return
        if self.format == "json":
            obj: dict[str, Any] = {}
            for key, value in pairs:
                obj[key] = value if key not in obj else obj[key]
            if body:
                obj["Content-Length"] = str(len(body.encode("utf-8")))
                obj["_body"] = body
            text = json.dumps(obj)
            data = encode_frame([("Content-Length", ""), ("Content-Type", "text/event-json")], text)
        else:
            data = encode_event_frame(pairs, body)
        self.write(data)

    # ------------------------------------------------------------------ commands shared by both sides

    def cmd_event(self, args: str) -> str:
        words = args.split()
        if words and words[0].lower() in ("plain", "json", "xml"):
            self.format = words[0].lower() if words[0].lower() != "xml" else "plain"
            words = words[1:]
        count = 0
        custom = False
        for word in words:
            upper = word.upper()
            if custom:
                continue
            if upper in EVENT_NAMES:
                count += 1
                if upper == "ALL":
                    self.all_events = True
                elif upper == "CUSTOM":
                    custom = True
                self.events.add(upper)
        if not count:
            return "-ERR no keywords supplied"
        self.on_subscribed()
        return f"+OK event listener enabled {self.format}"

    def cmd_nixevent(self, args: str) -> str:
        count = 0
        for word in args.split():
            upper = word.upper()
            if upper in EVENT_NAMES:
                count += 1
                if upper == "ALL":
                    self.all_events = False
                    self.events.clear()
                else:
                    self.events.discard(upper)
        if not count:
            return "-ERR no keywords supplied"
        return "+OK events nixed"

    def cmd_noevents(self) -> str:
        if not (self.events or self.all_events or self.myevents):
            return "-ERR not listening for events"
        self.events.clear()
        self.all_events = False
        return "+OK no longer listening for events"

    def cmd_filter(self, args: str) -> str:
        text = args.strip()
        name, _, value = text.partition(" ")
        if name.lower() == "delete" and value:
            name2, _, value2 = value.partition(" ")
            if name2.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (n, v) for n, v in self.filters if not (n.lower() == name2.lower() and (not value2 or v == value2))
                ]
            return f"+OK filter deleted. [{name2}][{value2}]"
        if value:
            if name.lower() == "add":
                name, _, value = value.partition(" ")
            self.filters.append((name, value))
            self.on_subscribed()
            return f"+OK filter added. [{name}]=[{value}]"
        return "-ERR invalid syntax"

    def on_subscribed(self) -> None:
        """Register for global events (not needed for ``myevents`` connections)."""
        if not self.myevents:
            self.switch.add_sink(self)

    async def handle_shared(self, cmd: str, frame: Any, owner: Any) -> bool:
        """The commands inbound and ``full`` outbound connections accept alike (api,
        bgapi, event subscriptions); False when ``cmd`` is none of them."""
        lower = cmd.lower()
        if lower.startswith("api "):
            # api blocks this connection until done, as in FreeSWITCH.
            await self.cmd_api(cmd[4:], owner)
        elif lower.startswith("bgapi "):
            self.cmd_bgapi(cmd[6:], owner, frame.get("Job-UUID"))
        elif lower.startswith("nixevent"):
            self.reply(self.cmd_nixevent(cmd[8:]))
        elif lower.startswith("noevents"):
            self.reply(self.cmd_noevents())
        elif lower.startswith("event"):
            self.reply(self.cmd_event(cmd[5:]))
        else:
            return False
        return True

    async def cmd_api(self, command: str, owner: Any) -> None:
        body = await execute_api(self.switch, command, owner=owner, via="api")
        self.api_response(body)

    def cmd_bgapi(self, command: str, owner: Any, job_uuid: Optional[str]) -> None:
        job = job_uuid or new_uuid()
        self.write(
            encode_frame(
                [("Content-Type", "command/reply"), ("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)]
            )
        )
        name, _, arg = command.strip().partition(" ")

        async def run() -> None:
            result = await execute_api(self.switch, command, owner=owner, via="bgapi")
            self.switch.fire_background_job(job, name, arg or None, result, owner)

        # bgapi jobs outlive the connection that asked (FreeSWITCH runs them in a thread).
        self.switch.spawn_job(run())
