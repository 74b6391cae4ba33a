"""``voiceai-ivr db migrate|status|stop``: schema migrations and the embedded server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from voiceai_ivr.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from voiceai_ivr.stores.db import Database


def open_database(app: AppContext, *, check_schema: bool = False) -> Database:
    """The command's ``Database`` (embedded started if needed), opened once and
    closed when the command ends; store errors become a clean CLI error.

    ``check_schema``: pending migrations are applied to the embedded database (it is
    ours), and refused with a hint for an external one (its admin decides when)."""
    from voiceai_ivr.errors import StoreError

    db = app.cache.get("database")
    if db is None:
        from voiceai_ivr.stores.db import Database

        try:
            db = Database.from_config(app.config)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
        app.cache["database"] = db
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(db.close)
    if check_schema and not app.cache.get("schema_checked"):
        from voiceai_ivr.stores.migrate import migrate, pending

        try:
            todo = pending(db)
            if todo and db.embedded:
                for name in migrate(db):
                    click.echo(f"applied {name}", err=True)
            elif todo:
                raise click.ClickException(
                    f"the database schema is not up to date (pending: {', '.join(todo)}); "
                    "run `voiceai-ivr db migrate`"
                )
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
        app.cache["schema_checked"] = True
    return db


@click.group("db")
def command() -> None:
    """Database schema and the embedded PostgreSQL server."""


@command.command("migrate")
@pass_app
def migrate_cmd(app: AppContext) -> None:
    """Apply pending migrations (each in its own transaction; safe to repeat)."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.migrate import migrate

    db = open_database(app)
    try:
        applied = migrate(db)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("nothing to apply: the schema is up to date")


@command.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Which database is used, whether it runs, and the migrations applied/pending.
    Does not start the embedded server."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.db import Database, embedded_path, embedded_status
    from voiceai_ivr.stores.migrate import status

    cfg = app.config
    info: dict[str, Any] = {}
    db = None
    if cfg.database.dsn:
        info["mode"] = "external"
        db = Database(
            cfg.database.dsn,
            pool_size=1,
            connect_timeout=cfg.database.connect_timeout,
            statement_timeout_ms=cfg.database.statement_timeout_ms,
        )
    else:
        st = embedded_status(cfg)
        info.update(mode="embedded", data_dir=str(embedded_path(cfg)), initialized=st.initialized, pid=st.pid)
        if st.running:
            db = open_database(app)
    info["running"] = False
    if db is not None:
        try:
            info["server_version"] = db.ping()
            info["running"] = True
            mig = status(db)
            info.update(
                schema_version=mig.version,
                applied=[{"name": a.name, "applied_at": a.applied_at.isoformat()} for a in mig.applied],
                pending=mig.pending,
                changed=mig.changed,
                unknown=mig.unknown,
            )
        except StoreError as exc:
            from voiceai_ivr.logs import redact

            info["error"] = redact(str(exc))
        finally:
            if cfg.database.dsn:
                db.close()
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(_render_status(info))
    if info.get("error") or info.get("changed"):
        click.get_current_context().exit(1)


def _render_status(info: dict[str, Any]) -> str:
    lines = []
    if info["mode"] == "embedded":
        lines.append(f"database:       embedded PostgreSQL in {info['data_dir']}")
        if not info["initialized"]:
            lines.append("running:        no (not created yet; `voiceai-ivr db migrate` creates it)")
        else:
            running = f"yes (pid {info['pid']})" if info["running"] else "no"
            lines.append(f"running:        {running}")
    else:
        lines.append("database:       external (database.dsn)")
        lines.append("running:        " + ("yes" if info["running"] else "no (unreachable)"))
    if info.get("error"):
        lines.append(f"error:          {info['error']}")
    if "schema_version" in info:
        lines.append(f"server version: {info['server_version']}")
        lines.append(f"schema version: {info['schema_version']}")
        applied = info["applied"]
        lines.append("applied:        " + (", ".join(a["name"] for a in applied) if applied else "none"))
        lines.append("pending:        " + (", ".join(info["pending"]) or "none"))
        if info["changed"]:
            lines.append("CHANGED after being applied: " + ", ".join(info["changed"]))
        if info["unknown"]:
            lines.append("applied but not in this version: " + ", ".join(info["unknown"]))
    return "\n".join(lines)


@command.command("stop")
@pass_app
def stop_cmd(app: AppContext) -> None:
    """Stop the embedded PostgreSQL server (the next command starts it again)."""
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.db import embedded_path, stop_embedded

    cfg = app.config
    if cfg.database.dsn:
        raise click.ClickException("database.dsn is configured: `db stop` only manages the embedded server")
    try:
        stopped = stop_embedded(cfg)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    where = embedded_path(cfg)
    click.echo(f"stopped embedded PostgreSQL in {where}" if stopped else f"not running ({where})")
