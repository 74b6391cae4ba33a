"""The simulator's clock.

Every simulated wait (a ring, ``answer_after``, hold, a playback's length, a
listen timeout) is written in *simulated seconds* and slept as
``seconds * scale`` real seconds: with ``scale=0.05`` a 25 s ring takes 1.25 s.
``scale=1.0`` is real time. Simulated wall-clock time (``Event-Date-*``
headers, ``voiceai_clock``) starts at a call's ``at`` and advances by
elapsed real time divided by ``scale``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Optional


class SimClock:
    """Scaled sleeps and a per-origin simulated wall clock."""

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError("clock scale must be greater than 0")
        self.scale = float(scale)

    def real(self, sim_seconds: float) -> float:
        """Real seconds one waits for ``sim_seconds`` of simulated time."""
        return max(0.0, float(sim_seconds)) * self.scale

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))

    def wall(self, origin: Optional[datetime] = None, started: Optional[float] = None) -> datetime:
        """Simulated wall clock: ``origin`` plus simulated time since ``started``
        (a ``time.monotonic()`` value). Without an origin: the real time now."""
        if origin is None:
            return datetime.now(timezone.utc)
        elapsed = 0.0 if started is None else (time.monotonic() - started) / self.scale
        return origin + timedelta(seconds=elapsed)


def speech_seconds(text: str) -> float:
    """How long a TTS engine takes to say ``text`` (about 14 characters a second)."""
    return max(0.6, 0.3 + len(text) / 14.0)


def stream_seconds(source: str) -> float:
    """The length of a playable source, as well as the simulator can tell."""
    if source.startswith("silence_stream://"):
        spec = source[len("silence_stream://") :].split(",")[0]
        try:
            ms = int(spec)
        except ValueError:
            return 1.0
        return 1.0 if ms <= 0 else ms / 1000.0
    if source.startswith("tone_stream://"):
        # %(on,off,freq...) and L=n repeats; sum on+off of each segment.
        spec = source[len("tone_stream://") :]
        total = 0.0
        loops = 1
        for part in spec.split(";"):
            part = part.strip()
            if part.startswith("L="):
                try:
                    loops = max(1, int(part[2:]))
                except ValueError:
                    loops = 1
            elif part.startswith("%(") and ")" in part:
                nums = part[2 : part.index(")")].split(",")
                try:
                    total += (int(nums[0]) + int(nums[1])) / 1000.0
                except (ValueError, IndexError):
                    total += 1.0
        return max(0.1, total * loops) if total else 1.0
    if source.startswith("say:"):
        return speech_seconds(source[4:])
    if source.startswith("local_stream://"):
        return 3600.0  # music on hold loops until stopped
    return 2.0  # a recorded prompt file
