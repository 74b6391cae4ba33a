"""``voiceai-ivr dispatch-callbacks [--loop] [--limit N]``: call customers back.

Run from cron every minute (``scripts/voiceai-ivr.cron``) or as a daemon with
``--loop`` (``scripts/voiceai-ivr-dispatcher.service``). Any number of
dispatchers on any number of hosts may run at once: callbacks are claimed with
``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease.

After its dialling work each pass delivers the helpdesk outbox (tickets,
WhatsApp notices, attempts, results) for at most
``dispatcher.outbox_delivery_seconds``, so the cron line alone closes the loop
with the helpdesk; ``serve`` and ``api`` deliver it in the background too.

Exit status: 0 when the pass ran; 1 when the PBX or the database could not be
reached (so cron reports it) — claimed callbacks are never lost: they are given
back, or their lease runs out and another pass takes them again. Messages the
helpdesk did not take are retried later (a line on stderr says so).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app

log = logging.getLogger("voiceai_ivr.dispatcher")

PROGRESS_MIN = 50  # show a progress bar from this many due callbacks (TTY only)


def build_dispatcher(config: Any, db: Any) -> Any:
    """A started ``Dispatcher`` wired to the configured PBX (``app.build_dispatcher``);
    when the PBX cannot be reached it still replays the spool, expires callbacks
    and delivers the outbox, then reports it."""
    from voiceai_ivr.app import build_dispatcher as build

    return build(config, db)


def _write_metrics(config: Any, summary: Any) -> None:
    path = config.dispatcher.textfile_path
    if not path:
        return
    from voiceai_ivr.errors import VoiceAIError
    from voiceai_ivr.metrics import METRICS, write_textfile

    METRICS.callback("dispatched", summary.claimed)
    METRICS.callback("completed", summary.completed)
    METRICS.callback("expired", summary.expired)
    METRICS.callback("failed", summary.failed)
    if summary.outbox_backlog is not None:
        METRICS.set_outbox(summary.outbox_backlog, summary.outbox_oldest_age_seconds)
    try:
        write_textfile(path, METRICS)
    except (OSError, VoiceAIError) as exc:  # metrics must never fail a pass
        log.warning("metrics textfile %s not written: %s", path, exc)


def _run_once(dispatcher: Any, limit: Optional[int], show_progress: bool) -> Any:
    if not show_progress:
        return dispatcher.run_once(limit)
    from voiceai_ivr.errors import StoreError

    try:
        due = dispatcher.count_due()
    except StoreError:  # the pass itself reports database trouble
        due = 0
    if limit is not None:
        due = min(due, limit)
    if due < PROGRESS_MIN:
        return dispatcher.run_once(limit)
    with click.progressbar(length=due, label="dispatching", file=sys.stdout) as bar:
        return dispatcher.run_once(limit, progress=bar.update)


@click.command("dispatch-callbacks")
@click.option("--loop", is_flag=True, help="Keep running (daemon); SIGTERM stops cleanly.")
@click.option("--limit", type=click.IntRange(1, 10_000_000), help="Claim at most N callbacks per pass.")
@click.option("--json", "as_json", is_flag=True, help="Print each pass's summary as JSON.")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    help="Seconds between passes with --loop (default dispatcher.loop_interval).",
)
@pass_app
def command(app: AppContext, loop: bool, limit: Optional[int], as_json: bool, interval: Optional[float]) -> None:
    """Call due callbacks back: agent first, then the customer."""
    from voiceai_ivr.errors import ConfigError, StoreError
    from voiceai_ivr.stores.db import Database

    config = app.config
    from voiceai_ivr.logs import setup_logging

    setup_logging(config.logging.level, config.logging.json, secrets=[config.esl.password, config.database.dsn])
    try:
        db = Database.from_config(config)
    except StoreError as exc:
        click.echo(f"dispatch-callbacks: database unreachable: {exc}", err=True)
        sys.exit(1)
    try:
        dispatcher = build_dispatcher(config, db)
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from exc
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the attempts in progress, then stopping", signum)
        stop.set()
        dispatcher.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    show_progress = sys.stdout.isatty() and not as_json
    failed = False
    try:
        while True:
            summary = _run_once(dispatcher, limit, show_progress)
            _write_metrics(config, summary)
            if as_json:
                click.echo(json.dumps(summary.as_dict(), sort_keys=True))
            else:
                click.echo(summary.line())
            if summary.infrastructure_error:
                click.echo(f"dispatch-callbacks: {summary.infrastructure_error}", err=True)
                failed = True
            if summary.outbox_error:
                left = summary.outbox_not_delivered
                what = f"{left} message(s) not delivered, retried later" if left else "outbox not delivered"
                click.echo(f"dispatch-callbacks: helpdesk: {what} ({summary.outbox_error})", err=True)
            if not loop or stop.is_set():
                break
            failed = False
            # Bounded sleep that SIGTERM cuts short.
            wait = interval if interval is not None else config.dispatcher.loop_interval
            if summary.infrastructure_error:
                wait = max(wait, 5.0)
            if stop.wait(wait):
                break
            if dispatcher.switch is None:  # try the PBX again on the next pass
                dispatcher.close()
                dispatcher = build_dispatcher(config, db)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        dispatcher.close()
        client = getattr(dispatcher, "esl_client", None)
        if client is not None:
            client.close()
        db.close()
    if failed and not loop:
        sys.exit(1)
