"""The object shared by every sub-command (``click.make_pass_decorator``)."""

from __future__ import annotations

import logging
import sys
from typing import IO, TYPE_CHECKING, Any, Optional, cast

import click

if TYPE_CHECKING:
    from voiceai_ivr.config import Config


class AppContext:
    """Loads the configuration once, on first use, and turns a bad configuration
    into a clean CLI error listing every problem."""

    def __init__(self, config_file: Optional[str] = None) -> None:
        self.config_file = config_file
        self._config: Optional[Config] = None
        self.cache: dict[str, Any] = {}

    @property
    def config(self) -> Config:
        if self._config is None:
            from voiceai_ivr.config import load_config
            from voiceai_ivr.errors import ConfigError

            try:
                self._config = load_config(self.config_file)
            except ConfigError as exc:
                if len(exc.problems) == 1:
                    raise click.ClickException(f"invalid configuration: {exc.problems[0]}") from exc
                lines = "\n".join(f"  {p}" for p in exc.problems)
                raise click.ClickException(f"invalid configuration:\n{lines}") from exc
            self.setup_logging(daemon=False)
        return self._config

    def set_config(self, config: Config) -> None:
        self._config = config

    def setup_logging(self, *, daemon: bool) -> None:
        """Logs to stderr, one line per event (JSON when configured), secrets
        redacted. One-shot commands log warnings and worse only, so their own
        output stays readable; daemons (serve, api, dispatch --loop) log at the
        configured level."""
        from voiceai_ivr.logs import setup_logging

        cfg = self.config
        level = logging.getLevelName(cfg.logging.level.upper())
        if not daemon:
            level = max(int(level), logging.WARNING)
        secrets = (cfg.esl.password, cfg.helpdesk.token, cfg.llm.api_key, cfg.database.dsn,
                   cfg.dialplan.fusionpbx_dsn, *(t.token for t in cfg.api.tokens))
        setup_logging(level, cfg.logging.json, stream=cast(IO[str], _Stderr()), secrets=[s for s in secrets if s])


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


pass_app = click.make_pass_decorator(AppContext, ensure=True)
