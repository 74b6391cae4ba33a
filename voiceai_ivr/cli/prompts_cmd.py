"""``voiceai-ivr prompts render``: synthesize every static prompt ahead of time."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.group("prompts")
def command() -> None:
    """Caller prompts: render their audio ahead of calls."""


@command.command("render")
@click.option("--language", type=click.Choice(["pt-BR", "en-US"]), help="Only this language.")
@click.option("--engine", type=click.Choice(["espeak-ng", "http"]),
              help="Render with this engine (default: what each language uses, as `config check` says).")
@click.option("--no-directory", is_flag=True,
              help="Do not read the secretaries from the database: render the prompts that need none.")
@click.option("--json", "as_json", is_flag=True, help="JSON summary even on a terminal.")
@pass_app
def render(app: AppContext, language: Optional[str], engine: Optional[str], no_directory: bool,
           as_json: bool) -> None:
    """Synthesize every static prompt of every secretary's language into the speech
    cache (menus and destination names per secretary, keyed and spoken wordings);
    prompts with per-call text (numbers, names, windows) are listed as dynamic.
    Without secretaries (a fresh install) both languages are rendered. Exits 1
    when a prompt could not be rendered (each is listed with why)."""
    from voiceai_ivr.config import LANGUAGES
    from voiceai_ivr.flows.prompt_render import RenderReport, engines_of, render_job, secretary_views, static_jobs
    from voiceai_ivr.flows.prompts import PromptBook
    from voiceai_ivr.speech.plan import audio_dir
    from voiceai_ivr.speech.service import SpeechServices
    from voiceai_ivr.speech.synth import synthesizer_for

    config = app.config
    prompts = PromptBook.from_config(config)
    report = RenderReport()
    views = [] if no_directory else _views(app, report, secretary_views)
    wanted = [language] if language else sorted({v.language for v in views} or set(LANGUAGES),
                                                key=LANGUAGES.index)
    if engine:
        from voiceai_ivr.speech.plan import Choice, SpeechPlan, Visibility

        plan = SpeechPlan(audio_dir(config), Visibility(None, "not asked"),
                          synthesizers={lang: Choice(engine) for lang in wanted})
        speech = SpeechServices(config, plan, synthesizers={lang: synthesizer_for(engine, config.speech)
                                                            for lang in wanted})
        for lang in wanted:
            ok, why = speech.speaker.engines[lang].check(lang)
            if not ok:
                raise click.ClickException(f"--engine {engine} cannot speak {lang}: {why}")
    else:
        client, switch = _pbx(config)
        try:
            speech = SpeechServices.build(config, switch=switch, languages=tuple(wanted))
        finally:
            if client is not None:
                client.close()
    report.engines = dict(engines_of(speech.speaker, wanted))
    jobs = static_jobs(prompts, wanted, views, report)
    timeout = max(config.speech.synth_timeout, config.speech.tts_timeout, 10.0)
    if sys.stdout.isatty() and not as_json:
        with click.progressbar(jobs, label="rendering prompts", show_pos=True) as bar:
            for job in bar:
                render_job(speech.speaker, job, timeout, report)
        _print_text(report, str(speech.store.root))
    else:
        for job in jobs:
            render_job(speech.speaker, job, timeout, report)
        click.echo(json.dumps(dict(report.to_json(), audio_dir=str(speech.store.root)), ensure_ascii=False))
    if report.failed:
        click.get_current_context().exit(1)


def _views(app: AppContext, report: Any, secretary_views: Any) -> list[Any]:
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.db import Database

    try:
        with Database.from_config(app.config) as db:
            return list(secretary_views(db))
    except StoreError as exc:
        raise click.ClickException(f"cannot read the secretaries from the database ({exc}); "
                                   "--no-directory renders the prompts that need none") from exc


def _pbx(config: Any) -> tuple[Any, Any]:
    """``(client, switch)`` to check FreeSWITCH sees the audio directory;
    ``(None, None)`` when it cannot be reached (the check then assumes)."""
    from voiceai_ivr.app import connect_pbx
    from voiceai_ivr.errors import ESLError

    try:
        return connect_pbx(config)
    except (ESLError, OSError):
        return None, None


def _print_text(report: Any, root: str) -> None:
    engines = ", ".join(f"{k}: {v}" for k, v in report.engines.items())
    click.echo(f"engines: {engines}; audio in {root}")
    click.echo(f"rendered {report.rendered}, already cached {report.cached}"
               + (f", spoken by FreeSWITCH itself {report.not_files}" if report.not_files else ""))
    for lang, keys in report.dynamic.items():
        click.echo(f"dynamic in {lang} (synthesized during calls): {', '.join(keys)}")
    for item in report.skipped:
        click.echo(f"skipped {item['language']} {item['key']}: {item['reason']}")
    for item in report.failed:
        click.echo(f"FAILED {item['language']} {item['key']}: {item['error']}", err=True)
