"""The helpdesk HTTP API (plain WSGI, served by waitress): see ``api.app`` and
the OpenAPI document ``voiceai_ivr/openapi/openapi.yaml``."""

from __future__ import annotations

from typing import Any

from voiceai_ivr.api.app import ApiApp
from voiceai_ivr.api.resources import ApiServices


def create_app(config: Any, services: ApiServices) -> ApiApp:
    """The WSGI application for ``config.api`` tokens, working through ``services``."""
    return ApiApp(config, services)


__all__ = ["ApiApp", "ApiServices", "create_app"]
