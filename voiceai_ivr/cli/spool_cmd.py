"""``voiceai-ivr spool status|replay``: callbacks confirmed while PostgreSQL was down."""

from __future__ import annotations

import json
from typing import Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.group("spool")
def command() -> None:
    """Callback requests spooled to a local file while the database was unreachable."""


def _path(app: AppContext, path: Optional[str]) -> Any:
    from pathlib import Path

    from voiceai_ivr.stores.spool import spool_path

    return Path(path) if path else spool_path(app.config)


@command.command("status")
@click.option("--path", type=click.Path(dir_okay=False), help="Spool file (default: callbacks.spool_path).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, path: Optional[str], as_json: bool) -> None:
    """How many requests wait in the spool, and since when."""
    from voiceai_ivr.stores.spool import spool_status

    st = spool_status(_path(app, path))
    data = {
        "path": str(st.path),
        "entries": st.entries,
        "unreadable": st.unreadable,
        "oldest": st.oldest.isoformat() if st.oldest else None,
        "files": st.files,
        "rejected": st.rejected,
    }
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo(f"spool:      {data['path']}")
    click.echo(f"waiting:    {st.entries}" + (f" (oldest {data['oldest']})" if st.oldest else ""))
    if st.unreadable:
        click.echo(f"unreadable: {st.unreadable} (moved to .rejected at the next replay)")
    if st.rejected:
        click.echo(f"rejected:   {st.rejected} (see {data['path']}.rejected)")


@command.command("replay")
@click.option("--path", type=click.Path(dir_okay=False), help="Spool file (default: callbacks.spool_path).")
@click.option("--lock-timeout", type=click.FloatRange(0, 600), default=10.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def replay(app: AppContext, path: Optional[str], lock_timeout: float, as_json: bool) -> None:
    """Write spooled requests into the database, exactly once. Exits 1 when the
    database is unreachable (nothing is lost: entries stay in the spool)."""
    # lazy: a command loads what it needs when it runs (start-up time of every command)
    from voiceai_ivr.errors import DatabaseUnavailable, StoreError
    from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
    from voiceai_ivr.stores.db import Database
    from voiceai_ivr.stores.spool import replay_spool

    try:
        db = Database.from_config(app.config)
    except DatabaseUnavailable as exc:
        raise click.ClickException(f"database unavailable: {exc}") from exc
    try:
        report = replay_spool(db, _path(app, path), messages=confirmed_messages(app.config), lock_timeout=lock_timeout)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    data = {
        "created": report.created,
        "updated": report.updated,
        "duplicates": report.duplicates,
        "remaining": report.remaining,
        "rejected": report.rejected,
        "skipped_files": report.skipped_files,
        "errors": report.errors,
    }
    if as_json:
        click.echo(json.dumps(data))
    else:
        click.echo(
            f"replayed {report.replayed} (created {report.created}, merged {report.updated}), "
            f"already present {report.duplicates}, remaining {report.remaining}, rejected {report.rejected}"
        )
        for err in report.errors:
            click.echo(f"  {err}", err=True)
    if report.database_unavailable:
        raise click.ClickException("database unavailable: the remaining entries stay in the spool")
