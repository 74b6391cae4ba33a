"""The scripted people: the caller (``caller_inputs``) and the dialled endpoints
(``agents`` / ``customers``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from voiceai_sim.channel import Listen, SimChannel
from voiceai_sim.scenario import CallerInput, EndpointBehavior

DEFAULT_EXTRA_LISTENS = 3


class CallerActor:
    """Consumes ``caller_inputs`` in order, one per listen.

    ``hangup: {after: S}`` starts a timer when the input before it has been
    used (at the end of that listen, or at call start when it comes first);
    listens while the timer runs hear silence. Once the inputs are used up the
    caller stays silent, and hangs up at the ``extra_listens``-th further listen.
    """

    def __init__(self, inputs: Sequence[CallerInput], *, extra_listens: int = DEFAULT_EXTRA_LISTENS) -> None:
        self.inputs = list(inputs)
        self.index = 0
        self.extra = 0
        self.extra_listens = max(0, extra_listens)
        self.timer_armed = False
        self._taken: Optional[int] = None

    def start(self, channel: SimChannel) -> None:
        self._arm_timer(channel)

    def _arm_timer(self, channel: SimChannel) -> None:
        if self.timer_armed or self.index >= len(self.inputs):
            return
        nxt = self.inputs[self.index]
        if nxt.kind != "hangup" or nxt.after is None:
            return
        self.index += 1
        self.timer_armed = True
        delay = nxt.after

        async def later() -> None:
            if await channel.pause(delay) == "hangup":
                return
            channel.record({"from": "caller", "kind": "hangup", "text": f"after {delay:g}s"})
            if channel.call is not None:
                channel.call.caller_hungup = True
            channel.hangup("NORMAL_CLEARING", by="caller")

        channel.spawn(later())

    def listens_to_playback(self, channel: SimChannel, slot: str) -> bool:
        """The first ``playback`` after ``voiceai_slot`` was set is a keyed listen turn."""
        return bool(slot) and channel.slot_armed

    def put_back(self, channel: SimChannel) -> None:
        """The input the last listen took was never heard (the recogniser gave up
        before the caller's turn): it is the next listen's again."""
        if self._taken is not None and self.index == self._taken + 1:
            self.index = self._taken
        self._taken = None

    async def on_listen(self, channel: SimChannel, kind: str, prompt: str) -> Listen:
        self._taken = None
        if self.timer_armed:
            return Listen("silence")
        if self.index < len(self.inputs):
            item = self.inputs[self.index]
            self._taken = self.index
            self.index += 1
            if item.kind == "say":
                return Listen("speech", item.text)
            if item.kind == "dtmf":
                return Listen("dtmf", item.text)
            if item.kind == "hangup":
                if channel.call is not None:
                    channel.call.caller_hungup = True
                return Listen("hangup")
            return Listen("silence")
        self.extra += 1
        if self.extra > self.extra_listens:
            if channel.call is not None:
                channel.call.caller_hungup = True
            return Listen("hangup")
        return Listen("silence")

    def listen_done(self, channel: SimChannel) -> None:
        self._arm_timer(channel)

    def on_event(self, channel: SimChannel, what: str) -> None:
        return None


class EndpointActor:
    """A dialled agent or customer: answers per ``behavior``; on the first
    announcement it is asked about (the first ``playback``, ``play_and_get_digits``
    or ``play_and_detect_speech`` on its leg, or the end of a ``uuid_broadcast`` to
    its parked leg), keys 1 (accept: true), 2 (accept: false) or nothing (accept:
    null); hangs up ``hangup_after`` seconds after answering, and ``talk_for``
    seconds after being bridged."""

    def __init__(self, behavior: EndpointBehavior, kind: str, target: str) -> None:
        self.behavior = behavior
        self.kind = kind
        self.target = target
        self.keyed = False

    def _key(self) -> Optional[str]:
        if self.behavior.accept is None:
            return None
        return "1" if self.behavior.accept else "2"

    def listens_to_playback(self, channel: SimChannel, slot: str) -> bool:
        """The first prompt played on the leg is the announcement it is asked about
        (whatever ``voiceai_slot`` says: a person keys on what they hear)."""
        return not self.keyed

    async def on_listen(self, channel: SimChannel, kind: str, prompt: str) -> Listen:
        if self.keyed:
            return Listen("silence")
        self.keyed = True
        key = self._key()
        if key is None:
            return Listen("silence")
        return Listen("dtmf", key)

    def _hangup_in(self, channel: SimChannel, seconds: float, why: str) -> None:
        async def later() -> None:
            if await channel.pause(seconds) == "hangup":
                return
            channel.record({"from": self.kind, "kind": "hangup", "text": why})
            channel.hangup("NORMAL_CLEARING", by=self.kind)

        channel.spawn(later())

    def on_event(self, channel: SimChannel, what: str) -> None:
        if what == "answered" and self.behavior.hangup_after is not None:
            self._hangup_in(channel, self.behavior.hangup_after, f"{self.behavior.hangup_after:g}s after answering")
        elif what == "bridged":
            self._hangup_in(channel, self.behavior.talk_for, f"after talking {self.behavior.talk_for:g}s")
        elif what == "broadcast_done" and not self.keyed:
            # A parked leg hears the announcement through uuid_broadcast and keys after it.
            self.keyed = True
            key = self._key()
            if key is not None:
                channel.record({"from": self.kind, "kind": "dtmf", "text": key})
                channel.press(key)
