"""``voiceai-ivr config check|show``: validate and display the configuration."""

from __future__ import annotations

import json

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.group("config")
def command() -> None:
    """Validate or display the configuration (secrets are never printed)."""


@command.command("check")
@click.option("--no-speech", is_flag=True, help="Skip the speech check (installed engines, what FreeSWITCH sees).")
@pass_app
def check(app: AppContext, no_speech: bool) -> None:
    """List every problem in the configuration as `path: reason`; exit 1 if any.
    Then say which engine speaks each language and which recognizer hears callers,
    and why (exit 1 when a language has no suitable voice)."""
    from voiceai_ivr.config import check_config, config_path

    path = config_path(app.config_file)
    cfg, problems = check_config(path)
    source = str(path) if path else "built-in defaults + VOICEAI_* environment"
    if problems:
        click.echo(f"{source}: {len(problems)} problem(s)", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        click.get_current_context().exit(1)
    click.echo(f"{source}: OK")
    if no_speech:
        return
    from voiceai_ivr.app import current_plan

    plan = current_plan(cfg)
    for line in plan.lines():
        click.echo(f"speech: {line}")
    for warning in plan.warnings:
        click.echo(f"speech warning: {warning}", err=True)
    if plan.problems:
        click.echo(f"speech: {len(plan.problems)} problem(s)", err=True)
        for problem in plan.problems:
            click.echo(f"  {problem}", err=True)
        click.get_current_context().exit(1)


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
