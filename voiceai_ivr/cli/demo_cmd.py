"""``voiceai-ivr demo``: the first thing to run — a tour of the real flows on a
simulated FreeSWITCH (see ``voiceai_sim.demo``)."""

from __future__ import annotations

import json
from typing import Any

import click

from voiceai_ivr.cli.context import AppContext, pass_app

RULE = "=" * 78


@click.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the transcripts.")
@click.option(
    "--scale",
    type=click.FloatRange(min=0.005, max=1.0),
    default=0.02,
    show_default=True,
    help="Real seconds per simulated second of the simulator's clock (1 = real time).",
)
@pass_app
def command(app: AppContext, as_json: bool, scale: float) -> None:
    """Start the embedded database (left running), create a database of its own
    there with the demo domain (demo.voiceai.local), start the call server and a
    simulated FreeSWITCH, and play a short tour of real flows: transfer accepted,
    busy -> callback captured, out of hours, and the dispatcher calling the
    customer back. The demo's database is dropped at the end: your own database
    and helpdesk never see it. Exits 1 when any flow did not do what it should."""
    from voiceai_ivr.errors import VoiceAIError

    # lazy: the simulator is a separate package only the demo/simulate commands load
    from voiceai_sim.demo import DemoReport, FlowReport, run_demo

    config = app.config
    total = 4
    shown: list[str] = []

    def show(flow: FlowReport) -> None:
        if as_json:
            return
        shown.append(flow.key)
        number = len(shown)
        click.echo(RULE)
        click.echo(f"{number}/{total}  {flow.title}")
        if flow.about:
            click.echo(click.wrap_text(flow.about, width=78, initial_indent="    ", subsequent_indent="    "))
        click.echo(RULE)
        if flow.transcript:
            click.echo(flow.transcript)
        click.echo("")
        if flow.ok:
            click.echo(f"OK    {flow.title}: {flow.summary} ({flow.seconds:.1f}s)")
        else:
            click.echo(f"FAIL  {flow.title}:")
            for problem in flow.problems:
                click.echo(f"      - {problem}")
        click.echo("")

    if not as_json:
        click.echo("voiceai-ivr demo: the real call flows on a simulated FreeSWITCH")
        click.echo("  starting the database, the call server and the simulator ...")
    try:
        report: DemoReport = run_demo(config, scale=scale, emit=show)
    except VoiceAIError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": str(exc), "flows": []}, ensure_ascii=False))
            raise click.exceptions.Exit(1) from exc
        raise click.ClickException(f"the demo could not start: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, default=_default))
    else:
        click.echo(RULE)
        click.echo(f"domain {report.domain}, demo clock {report.clock}, simulator scale {report.scale:g}")
        click.echo(f"database: {report.database}")
        failed = [f for f in report.flows if not f.ok]
        if failed or not report.ok:
            names = ", ".join(f.title for f in failed) or "no flow ran"
            click.echo(f"DEMO FAILED: {len(failed)} of {len(report.flows)} flows did not do what they should: {names}")
        else:
            click.echo(f"All {len(report.flows)} flows did what they should in {report.seconds:.1f}s.")
            click.echo("Next: `voiceai-ivr dialplan render --help` to route real calls here.")
    if not report.ok:
        raise click.exceptions.Exit(1)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
