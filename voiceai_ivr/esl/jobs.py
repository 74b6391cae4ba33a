"""Waiting primitives shared by the inbound client and the outbound sessions.

``BgJob`` is the concrete ``switch.BackgroundJob``: the result of one ``bgapi``
command, completed by the BACKGROUND_JOB event whose ``Job-UUID`` matches, or
failed at once when the connection that owns it goes away.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from voiceai_ivr.errors import ESLError, ESLTimeout

log = logging.getLogger("voiceai_ivr.esl")


class BgJob:
    """One ``bgapi`` job. ``wait`` returns the result text (``+OK ...``/``-ERR ...``)."""

    __slots__ = ("_callbacks", "_lock", "command", "done", "error", "job_uuid", "result")

    def __init__(self, job_uuid: str, command: str = "") -> None:
        self.job_uuid = job_uuid
        self.command = command
        self.done = threading.Event()
        self.result: Optional[str] = None
        self.error: Optional[ESLError] = None
        self._callbacks: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def wait(self, timeout: float) -> str:
        if not self.done.wait(timeout):
            raise ESLTimeout(f"bgapi job {self.job_uuid} ({self.command.split(' ', 1)[0]}) "
                             f"gave no result within {timeout:.1f}s")
        if self.error is not None:
            raise self.error
        return self.result or ""

    def add_done_callback(self, fn: Callable[[str], None]) -> None:
        """``fn(result_text)`` once the job ends (at once if it has). A job failed by a
        disconnect calls it with ``-ERR ESL_DISCONNECTED``."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(fn)
                return
        self._run(fn)

    def _run(self, fn: Callable[[str], None]) -> None:
        text = self.result if self.error is None else "-ERR ESL_DISCONNECTED"
        try:
            fn(text or "")
        except Exception:  # a callback must never break the reader thread
            log.exception("bgapi job %s: done callback failed", self.job_uuid)

    def _finish(self, result: Optional[str], error: Optional[ESLError] = None) -> bool:
        with self._lock:
            if self.done.is_set():
                return False
            self.result = result
            self.error = error
            self.done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._run(fn)
        return True

    def complete(self, result: str) -> bool:
        return self._finish(result)

    def fail(self, error: ESLError) -> bool:
        return self._finish(None, error)

    def __repr__(self) -> str:
        state = "done" if self.done.is_set() else "pending"
        return f"BgJob({self.job_uuid}, {state})"
