"""What the HTTP synthesizer and recognizer share: one ``requests.Session`` per
thread (connections are reused between a call thread's requests, never shared
between threads), or the session a test or benchmark gave."""

from __future__ import annotations

import threading
from typing import Any


class ThreadSessions:
    def __init__(self, given: Any = None) -> None:
        self._given = given
        self._local = threading.local()

    def get(self) -> Any:
        if self._given is not None:
            return self._given
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session


__all__ = ["ThreadSessions"]
