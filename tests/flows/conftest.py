"""Fixtures of the flow tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

import pytest

from .llm_server import Server


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(respond)`` starts a local chat-completions server; ``respond(request_body)``
    returns ``(status, body bytes, delay seconds)``."""
    servers: list[Server] = []

    def make(respond: Callable[[dict], tuple[int, bytes, float]]) -> Server:
        s = Server(respond)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()
