"""``voiceai-ivr outbox status|flush|retry``: the helpdesk outbox.

Nobody needs to flush it: ``serve`` and ``api`` deliver it in the background and
every ``dispatch-callbacks`` pass delivers after dialling. ``flush`` is for
operators who want it now (after a helpdesk outage, say)."""

from __future__ import annotations

import json
from typing import Any

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.group("outbox")
def command() -> None:
    """Messages waiting for the helpdesk (tickets, attempts, WhatsApp notices)."""


def _database(app: AppContext) -> Any:
    from voiceai_ivr.errors import DatabaseUnavailable
    from voiceai_ivr.stores.db import Database

    try:
        return Database.from_config(app.config)
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"database unavailable: {exc}") from exc


@command.command("status")
@click.option("--domain", help="Only this domain.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, domain: str, as_json: bool) -> None:
    """Backlog, oldest pending message and dead letters."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores import outbox

    db = _database(app)
    try:
        with db.cursor() as cur:
            st = outbox.stats(cur, domain=domain)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    data = {
        "pending": st.pending,
        "due": st.due,
        "dead": st.dead,
        "delivered": st.delivered,
        "oldest_pending_age_seconds": st.oldest_pending_age_seconds,
        "by_kind": st.by_kind,
        "helpdesk_configured": bool(app.config.helpdesk.url),
    }
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
        return
    age = st.oldest_pending_age_seconds
    click.echo(f"pending:   {st.pending} ({st.due} due now)")
    click.echo(f"oldest:    {'-' if age is None else f'{age:.0f}s'}")
    click.echo(f"dead:      {st.dead}")
    click.echo(f"delivered: {st.delivered}")
    for kind, counts in sorted(st.by_kind.items()):
        click.echo(f"  {kind:<20} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if not app.config.helpdesk.url:
        click.echo("helpdesk.url is not set: messages are kept until one is configured")
    elif st.due:
        click.echo("delivered by serve, api (every helpdesk.delivery_interval) and each dispatcher pass")


@command.command("flush")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--max-batches", type=click.IntRange(1, 100000), default=1000, show_default=True)
@click.option("--now", "now_", is_flag=True, help="Ignore backoff: make every pending message due first.")
@pass_app
def flush(app: AppContext, batch: int, max_batches: int, now_: bool) -> None:
    """Deliver due messages to the helpdesk. Exits 1 if some could not be delivered."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.integrations.helpdesk import HelpdeskClient
    from voiceai_ivr.integrations.outbox_worker import flush as do_flush
    from voiceai_ivr.stores import outbox

    cfg = app.config
    if not cfg.helpdesk.url:
        raise click.ClickException("helpdesk.url is not configured (VOICEAI_HELPDESK_URL)")
    db = _database(app)
    try:
        if now_:
            with db.transaction() as cur:
                outbox.retry_pending_now(cur)
        with HelpdeskClient.from_config(cfg) as client:
            report = do_flush(db, client, cfg, batch=batch, max_batches=max_batches)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(
        f"delivered {report.delivered} (already known {report.duplicates}), retry later {report.retried}, "
        f"dead {report.dead}, not attempted {report.released}"
    )
    for err in report.errors[:20]:
        click.echo(f"  {err}", err=True)
    if report.retried or report.dead or report.released:
        raise click.ClickException("some messages were not delivered")


@command.command("retry")
@click.option("--dead", "dead", is_flag=True, help="Revive dead-lettered messages (required).")
@click.option("--id", "ids", type=int, multiple=True, help="Only these outbox ids (repeatable).")
@click.option("--domain", help="Only this domain.")
@pass_app
def retry(app: AppContext, dead: bool, ids: tuple, domain: str) -> None:
    """Send dead-lettered messages again (due now; their dead-letter age restarts)."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores import outbox

    if not dead:
        raise click.UsageError("pass --dead to revive dead-lettered messages (pending ones retry on their own)")
    db = _database(app)
    try:
        with db.transaction() as cur:
            n = outbox.retry_dead(cur, ids=list(ids) if ids else None, domain=domain)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    click.echo(
        f"revived {n} dead message(s); serve, api and every dispatcher pass deliver them"
        " (or run `voiceai-ivr outbox flush` now)"
    )
