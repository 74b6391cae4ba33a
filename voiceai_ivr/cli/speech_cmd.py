"""``voiceai-ivr speech plan|cleanup``: which engines speak and hear, and retention
of the audio files (synthesized prompts, recorded answers)."""

from __future__ import annotations

import json
from typing import Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app

#: Recordings kept when ``keep_recordings_hours`` is 0 (answers being transcribed).
IN_FLIGHT_S = 3600.0


@click.group("speech")
def command() -> None:
    """Prompt audio and callers' recorded answers (voiceai_ivr/speech)."""


@command.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def plan(app: AppContext, as_json: bool) -> None:
    """Which engine speaks each language and which recognizer hears callers, and
    why (what is installed, what FreeSWITCH sees); exits 1 on a problem."""
    from voiceai_ivr.app import current_plan

    result = current_plan(app.config)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        for line in result.lines():
            click.echo(line)
        for problem in result.problems:
            click.echo(f"problem: {problem}", err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    if result.problems:
        click.get_current_context().exit(1)


@command.command("cleanup")
@click.option("--recordings-hours", type=click.FloatRange(0, 87600), default=None,
              help="Keep recorded answers this long (default: speech.keep_recordings_hours).")
@click.option("--synthesized-days", type=click.FloatRange(0, 3650), default=None,
              help="Keep synthesized audio unused this long (default: speech.keep_synthesized_days; 0 keeps it).")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def cleanup(app: AppContext, recordings_hours: Optional[float], synthesized_days: Optional[float],
            dry_run: bool, as_json: bool) -> None:
    """Delete recorded answers and unused synthesized audio past their retention
    (run it from cron or scripts/voiceai-ivr-speech-cleanup.timer)."""
    from voiceai_ivr.speech.cache import AudioStore
    from voiceai_ivr.speech.plan import audio_dir

    sp = app.config.speech
    hours = sp.keep_recordings_hours if recordings_hours is None else recordings_hours
    days = sp.keep_synthesized_days if synthesized_days is None else synthesized_days
    store = AudioStore(audio_dir(app.config))
    report = store.cleanup(keep_recordings_s=hours * 3600.0 if hours > 0 else IN_FLIGHT_S,
                           keep_synthesized_s=days * 86400.0, dry_run=dry_run)
    data = dict(report.to_json(), audio_dir=str(store.root), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(data))
    else:
        verb = "would delete" if dry_run else "deleted"
        click.echo(f"{store.root}: {verb} {report.recordings_deleted} recording(s), "
                   f"{report.synthesized_deleted} synthesized file(s), {report.temporary_deleted} leftover(s); "
                   f"{report.bytes_freed} bytes; {report.kept} kept")
        for error in report.errors:
            click.echo(f"not deleted: {error}", err=True)
    if report.errors:
        click.get_current_context().exit(1)
