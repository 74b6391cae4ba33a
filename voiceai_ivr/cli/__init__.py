"""``voiceai-ivr``: the administrator's command line.

Each sub-command lives in its own ``*_cmd.py`` module in this package and exposes
``command`` (a click command or group); they are found at start-up, so features
add commands without editing this file. Keep heavy imports inside the command
functions: ``voiceai-ivr --help`` must stay fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Optional

import click

from voiceai_ivr import __version__
from voiceai_ivr.cli.context import AppContext, pass_app


class _Cli(click.Group):
    """Whatever a command fails with reaches the user as ``Error: …`` with its
    secrets masked (a DSN or URL password libpq or requests echoed, a token),
    and a package error a command did not catch is such a line too, not a
    traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from voiceai_ivr.errors import VoiceAIError

        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # click marks ``message`` Final for its own code; a masked copy keeps the
            # exception's type (usage errors still print their usage line)
            exc.message = _redact(exc.message)  # type: ignore[misc]
            raise
        except VoiceAIError as exc:
            raise click.ClickException(_redact(str(exc))) from exc


def _redact(text: str) -> str:
    from voiceai_ivr.logs import redact

    return redact(text)


@click.group(
    cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VOICEAI"}
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    envvar="VOICEAI_CONFIG",
    help="YAML configuration file (default: built-in defaults + VOICEAI_* environment).",
)
@click.version_option(__version__, prog_name="voiceai-ivr")
@click.pass_context
def cli(ctx: click.Context, config_file: Optional[str]) -> None:
    """A FreeSWITCH virtual secretary: transfers, callbacks and their dispatch."""
    ctx.obj = AppContext(config_file=config_file)


def _register() -> None:
    package = sys.modules[__name__]
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.endswith("_cmd"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cmd = getattr(module, "command", None)
        if isinstance(cmd, click.Command):
            cli.add_command(cmd)


_register()


def main(argv: Optional[list] = None) -> None:
    cli.main(args=argv, prog_name="voiceai-ivr")


__all__ = ["AppContext", "cli", "main", "pass_app"]
