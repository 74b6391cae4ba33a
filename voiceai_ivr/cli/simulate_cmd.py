"""``voiceai-ivr simulate SCENARIO.yaml [--json]``: one scripted call end to end."""

from __future__ import annotations

import json

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.command("simulate")
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the transcript.")
@click.option(
    "--scale",
    type=click.FloatRange(min=0.001, max=1.0),
    default=0.05,
    show_default=True,
    help="Real seconds per simulated second (1 = real time).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0, max=3600.0),
    default=120.0,
    show_default=True,
    help="Real seconds the whole call may take.",
)
@pass_app
def command(app: AppContext, scenario_file: str, as_json: bool, scale: float, timeout: float) -> None:
    """Run SCENARIO_FILE through the real stack (database, call server, simulated
    FreeSWITCH) and print the transcript. Exits 1 when the scenario's ``expect``
    is not met. See docs/simulator.md for the scenario format.

    The call runs in a database of its own (created on the configured server,
    migrated, dropped afterwards): the scenario's directory and whatever the call
    stores never reach your own database or helpdesk."""
    from voiceai_ivr.errors import VoiceAIError, not_utf8
    from voiceai_ivr.stores.sandbox import sandbox
    from voiceai_ivr.yamlfile import YamlFileError

    # lazy: the simulator is a separate package only the demo/simulate commands load
    from voiceai_sim.result import render_transcript
    from voiceai_sim.scenario import load_scenario
    from voiceai_sim.stack import simulate

    try:
        scenario = load_scenario(scenario_file)
    except YamlFileError as exc:  # names the file already
        raise click.ClickException(str(exc)) from None
    except VoiceAIError as exc:
        raise click.ClickException(f"{scenario_file}: {exc}") from exc
    except UnicodeDecodeError as exc:  # a binary file, or text in another encoding
        raise click.ClickException(f"{scenario_file}: {not_utf8(exc)}") from exc
    try:
        with sandbox(app.config, "sim") as box:
            result = simulate(box.config, scenario, scale=scale, timeout=timeout)
    except VoiceAIError as exc:
        raise click.ClickException(str(exc)) from exc
    data = result.to_json()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        click.echo(render_transcript(result))
        for problem in data.get("expect_failures", []):
            click.echo(f"EXPECT FAILED: {problem}", err=True)
    if data.get("expect_failures"):
        raise click.exceptions.Exit(1)
