"""The admin console served by ``voiceai-ivr api`` under ``/console`` (issue 21):
callbacks, destinations and a dashboard as server-rendered HTML. See
``console.app``; ``api.app.ApiApp`` mounts it with ``mount``."""

from __future__ import annotations

from typing import Any, Optional

from voiceai_ivr.console.app import ConsoleApp


def mount(api: Any) -> Optional[Any]:
    """The console for the API application ``api`` (None when ``api.console`` is off)."""
    if not getattr(api.config.api, "console", True):
        return None
    return ConsoleApp(api)


__all__ = ["mount"]
