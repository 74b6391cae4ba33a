"""``voiceai-ivr callbacks list|show|stats|export``: reports over callback requests.

Exports stream rows through a server-side cursor, so memory stays flat whatever
the row count; a progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import IO, Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app
from voiceai_ivr.exports import csv_rows, json_rows


class _DateTime(click.ParamType):
    """ISO-8601 date or date-time; a value without offset is taken as UTC."""

    name = "ISO-8601"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 date or date-time (e.g. 2026-11-01, 2026-11-01T08:00-03:00)")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


DATETIME = _DateTime()


def _filters(domain: Optional[str], since: Optional[datetime], until: Optional[datetime], status: tuple) -> Any:
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.stores.callbacks import CallbackFilter

    if since is not None and until is not None and until <= since:
        raise click.UsageError(f"--to must be after --from (got --from {since.isoformat()} --to {until.isoformat()})")
    try:
        return CallbackFilter(domain=domain, status=tuple(status) or None, since=since, until=until)
    except ValidationError as exc:
        option = {"since": "--from", "until": "--to"}.get(exc.field, f"--{exc.field}")
        raise click.BadParameter(exc.reason, param_hint=option) from exc


def _database(app: AppContext) -> Any:
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.db import Database

    try:
        return Database.from_config(app.config)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _stream_errors() -> Any:
    from voiceai_ivr.errors import StoreError

    return StoreError


@click.group("callbacks")
def command() -> None:
    """Callback requests: list, show, statistics and exports."""


@command.command("list")
@click.option("--domain", help="Only this tenant domain.")
@click.option("--from", "since", type=DATETIME, help="Created at or after (ISO-8601).")
@click.option("--to", "until", type=DATETIME, help="Created before (ISO-8601).")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(["pending", "in_progress", "completed", "failed", "expired", "cancelled"]),
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def list_cmd(
    app: AppContext,
    domain: Optional[str],
    since: Optional[datetime],
    until: Optional[datetime],
    status: tuple,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List callback requests, newest first."""
    from voiceai_ivr.stores.callbacks import list_callbacks

    filters = _filters(domain, since, until, status)
    db = _database(app)
    try:
        with db.cursor() as cur:
            rows = list_callbacks(cur, filters, limit=limit, offset=offset)
    except _stream_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    if as_json:
        for cb in rows:
            click.echo(json.dumps(cb.to_json(), ensure_ascii=False, sort_keys=True))
        return
    if not rows:
        click.echo("no callbacks match")
        return
    click.echo(f"{'ID':36}  {'STATUS':11}  {'NUMBER':16}  {'WINDOW START':25}  {'TRIES':5}  DESTINATION")
    for cb in rows:
        click.echo(
            f"{cb.public_id:36}  {cb.status:11}  {cb.number_e164:16}  {cb.window_start.isoformat():25}  "
            f"{cb.attempts}/{cb.max_attempts:<3}  {cb.destination_name or '-'}"
        )


@command.command("show")
@click.argument("callback_id")
@click.option("--domain", help="Refuse a callback of another domain.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show_cmd(app: AppContext, callback_id: str, domain: Optional[str], as_json: bool) -> None:
    """One callback request (by its public id) with its dispatch attempts."""
    from voiceai_ivr.console.i18n import translator
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.flows.callback_dispatch import no_destination_reason, route_text
    from voiceai_ivr.stores.callbacks import get_callback_by_public_id
    from voiceai_ivr.stores.dispatch import route_of
    from voiceai_ivr.stores.reports import callback_attempts

    db = _database(app)
    try:
        with db.cursor() as cur:
            try:
                cb = get_callback_by_public_id(cur, callback_id, domain=domain)
            except ValidationError as exc:
                raise click.BadParameter(exc.reason, param_hint="CALLBACK_ID") from exc
            if cb is None:
                raise click.ClickException(f"no callback {callback_id}" + (f" in {domain}" if domain else ""))
        with db.cursor() as cur:
            attempts = callback_attempts(cur, cb.id)
            route = route_of(cur, cb.id, default_destination=app.config.callbacks.default_destination)
    except _stream_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    data = cb.to_json()
    data["attempt_log"] = [
        {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in a.items()} for a in attempts
    ]
    if route is not None and cb.status in ("pending", "in_progress"):
        # where the next attempt goes (the console's detail page says the same)
        key, values = route_text(route)
        data["route"] = translator("en-US")(key, **values)
        if key.startswith("route.nobody"):
            data["route_problem"] = no_destination_reason(route, app.config.callbacks.default_destination)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2))
        return
    for key in ("public_id", "domain", "status", "number_e164", "caller_name", "window_start", "window_end",
                "reason", "transcript", "destination_name", "attempts", "max_attempts", "last_outcome",
                "route", "route_problem", "ticket_id", "call_uuid", "created_at", "completed_at"):
        click.echo(f"{key:17} {data.get(key) if data.get(key) is not None else '-'}")
    for a in data["attempt_log"]:
        click.echo(
            f"  attempt {a['attempt_no']}: {a['outcome'] or 'in progress'}"
            f" ({a['hangup_cause'] or '-'}) agent {a['agent_extension'] or '-'}"
            + (f" via {a['destination']}" if a.get("destination") else "")
            + f" at {a['started_at']}"
        )
        if a.get("detail"):
            click.echo(f"    why: {a['detail']}")


@command.command("stats")
@click.option("--domain")
@click.option("--from", "since", type=DATETIME)
@click.option("--to", "until", type=DATETIME)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def stats_cmd(
    app: AppContext, domain: Optional[str], since: Optional[datetime], until: Optional[datetime], as_json: bool
) -> None:
    """Counts by status, median time to callback, completion rate per destination."""
    from voiceai_ivr.stores.reports import callback_stats

    filters = _filters(domain, since, until, ())
    db = _database(app)
    try:
        with db.cursor() as cur:
            stats = callback_stats(cur, filters)
    except _stream_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(stats.to_json(), sort_keys=True))
        return
    click.echo(f"callbacks: {stats.total}")
    for status, n in stats.by_status.items():
        click.echo(f"  {status:12} {n}")
    med = stats.median_seconds_to_callback
    click.echo(f"median time to callback: {'-' if med is None else f'{med / 60:.1f} min'}")
    rate = stats.completion_rate
    click.echo(f"completion rate: {'-' if rate is None else f'{rate:.1%}'}")
    for d in stats.per_destination:
        r = d.completion_rate
        click.echo(f"  {d.destination:30} {d.completed}/{d.total} completed  ({'-' if r is None else f'{r:.1%}'})")


@command.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--domain")
@click.option("--from", "since", type=DATETIME)
@click.option("--to", "until", type=DATETIME)
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(["pending", "in_progress", "completed", "failed", "expired", "cancelled"]),
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
@pass_app
def export_cmd(
    app: AppContext,
    fmt: str,
    domain: Optional[str],
    since: Optional[datetime],
    until: Optional[datetime],
    status: tuple,
    output: Optional[str],
) -> None:
    """Stream every matching callback as CSV or JSON (constant memory). With
    --output the file is readable by its owner only (0600) and appears complete or
    not at all."""
    from voiceai_ivr.cli.output import atomic_output, check_output
    from voiceai_ivr.stores.callbacks import count_callbacks, iter_callbacks

    filters = _filters(domain, since, until, status)
    if output:
        check_output(output)  # before any work: a typo in the path costs nothing
    db = _database(app)
    try:
        with atomic_output(output) if output else contextlib.nullcontext(sys.stdout) as out:
            show_progress = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
            total = 0
            if show_progress:
                with db.cursor() as cur:
                    total = count_callbacks(cur, filters)
            counter = _Counter(iter_callbacks(db, filters))
            chunks = csv_rows(counter) if fmt == "csv" else json_rows(counter)
            _write(out, chunks, counter, total if show_progress else 0)
    except _stream_errors() as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        db.close()
    if output:
        click.echo(f"exported {counter.count} callbacks to {output}", err=True)


class _Counter(Iterable[Any]):
    """Counts rows as they stream past."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for row in self._rows:
            self.count += 1
            yield row


def _write(out: IO[str], chunks: Iterator[str], counter: _Counter, total: int) -> None:
    if not total:
        for chunk in chunks:
            out.write(chunk)
        return
    with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
        seen = 0
        for chunk in chunks:
            out.write(chunk)
            if counter.count > seen:
                bar.update(counter.count - seen)
                seen = counter.count
