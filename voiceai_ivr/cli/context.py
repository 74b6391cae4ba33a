"""The object shared by every sub-command (``click.make_pass_decorator``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

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
                lines = "\n".join(f"  {p}" for p in exc.problems)
                raise click.ClickException(f"invalid configuration:\n{lines}") from exc
        return self._config

    def set_config(self, config: Config) -> None:
        self._config = config


pass_app = click.make_pass_decorator(AppContext, ensure=True)
