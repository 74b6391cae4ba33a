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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VOICEAI"})
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
