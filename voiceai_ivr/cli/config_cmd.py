"""``voiceai-ivr config check|show``: validate and display the configuration."""

from __future__ import annotations

import json

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.group("config")
def command() -> None:
    """Validate or display the configuration (secrets are never printed)."""


@command.command("check")
@pass_app
def check(app: AppContext) -> None:
    """List every problem in the configuration as `path: reason`; exit 1 if any."""
    from voiceai_ivr.config import check_config, config_path

    path = config_path(app.config_file)
    _cfg, problems = check_config(path)
    source = str(path) if path else "built-in defaults + VOICEAI_* environment"
    if problems:
        click.echo(f"{source}: {len(problems)} problem(s)", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        click.get_current_context().exit(1)
    click.echo(f"{source}: OK")


@command.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective configuration (file + environment), secrets as ***."""
    import yaml

    data = app.config.redacted()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
