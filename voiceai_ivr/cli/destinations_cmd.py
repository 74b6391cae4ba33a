"""``voiceai-ivr destinations ...``: the transfer destinations of a tenant domain.

list | show | add | update | remove | import | export | suggest-keywords | resolve. Validation is the
domain layer's (``parse_directory``): a refused input lists every problem with its
field (``destinations[2].target: ...``), exits 1 and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from voiceai_ivr.domain.destinations import Destination
    from voiceai_ivr.stores.db import Database



def _check_domain(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """A domain name as the directory stores them (the rule ``import`` applies)."""
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.switch import check_domain

    if value is None:
        return None
    try:
        return check_domain("--domain", value)
    except ValidationError as exc:
        raise click.BadParameter(exc.reason, ctx=ctx, param=param) from None


domain_option = click.option(
    "--domain", "-d", required=True, callback=_check_domain, help="Tenant domain (e.g. demo.local)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors -> a clean message and exit status 1 (every problem listed)."""
    from voiceai_ivr.errors import DirectoryError, StoreError, ValidationError

    try:
        yield
    except DirectoryError as exc:
        click.echo(f"refused ({len(exc.problems)} problem(s)); nothing was written:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        click.get_current_context().exit(1)
    except ValidationError as exc:
        click.echo(f"refused; nothing was written:\n  {exc.field}: {exc.reason}", err=True)
        click.get_current_context().exit(1)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


def _db(app: AppContext) -> Database:
    from voiceai_ivr.cli.db_cmd import open_database

    return open_database(app, check_schema=True)


@click.group("destinations")
def command() -> None:
    """Transfer destinations (departments, people, queues) of a domain."""


# --------------------------------------------------------------------------- rendering


def _hours_text(d: Destination) -> str:
    if d.hours is None:
        return "inherited"
    spec = d.hours.to_spec()
    return "; ".join(f"{k} {','.join(v)}" for k, v in spec.items()) or "closed"


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A plain text table (pure function)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


def _row(d: Destination) -> list[str]:
    return [
        d.name,
        d.type,
        d.target,
        d.gateway or "",
        "" if d.timeout is None else str(d.timeout),
        str(d.priority),
        "yes" if d.enabled else "no",
        _hours_text(d),
        ", ".join(d.aliases),
    ]


_HEADERS = ("NAME", "TYPE", "TARGET", "GATEWAY", "TIMEOUT", "PRIORITY", "ENABLED", "HOURS", "ALIASES")


def _dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


# --------------------------------------------------------------------------- list / show


@command.command("list")
@domain_option
@json_option
@pass_app
def list_cmd(app: AppContext, domain: str, as_json: bool) -> None:
    """List the domain's destinations."""
    from voiceai_ivr.domain.destinations import destination_to_doc
    from voiceai_ivr.stores.directory import list_destinations

    with _errors():
        items = list_destinations(_db(app), domain)
    if as_json:
        click.echo(json.dumps([destination_to_doc(d) for d in items], indent=2, ensure_ascii=False))
    elif not items:
        click.echo(f"no destinations in {domain}")
    else:
        click.echo(render_table([_row(d) for d in items], _HEADERS))


@command.command("show")
@domain_option
@json_option
@click.argument("name")
@pass_app
def show_cmd(app: AppContext, domain: str, as_json: bool, name: str) -> None:
    """Show one destination (its document form)."""
    from voiceai_ivr.domain.destinations import destination_to_doc
    from voiceai_ivr.stores.directory import get_destination

    with _errors():
        d = get_destination(_db(app), domain, name)
    if d is None:
        raise click.ClickException(f"no destination {name!r} in {domain}")
    doc = destination_to_doc(d)
    if as_json:
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(_dump_yaml(doc).rstrip())


# --------------------------------------------------------------------------- add / update / remove


def _yaml_value(option: str) -> Any:
    def convert(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Any:
        if value is None:
            return None
        from voiceai_ivr import yamlfile

        try:
            return yamlfile.parse(value, option)
        except yamlfile.YamlFileError as exc:
            raise click.BadParameter(f"{exc.reason}: {value[:80]!r}", ctx=ctx, param=param) from None

    return convert


def _field_options(fn: Any) -> Any:
    options = [
        click.option("--type", "type_", help="extension | ring_group | queue | external | voicemail"),
        click.option("--target", help="Extension, ring group or queue number, or a phone number (external)."),
        click.option("--alias", "aliases", multiple=True, help="Another name callers use (repeatable)."),
        click.option("--gateway", help="Gateway name (external destinations only)."),
        click.option("--timeout", type=int, help="Ring timeout in seconds (5-300)."),
        click.option("--priority", type=int, help="Listing/tie-break priority."),
        click.option("--enabled/--disabled", default=None, help="Offer this destination to callers."),
        click.option(
            "--hours",
            callback=_yaml_value("--hours"),
            help='Own business hours as YAML, e.g. \'{mon-fri: ["08:00-18:00"]}\'.',
        ),
        click.option(
            "--holidays",
            callback=_yaml_value("--holidays"),
            help="Own holidays as YAML, e.g. '{calendar: BR}'; '{}' ignores holidays.",
        ),
        click.option("--fallback", help="callback | voicemail | operator | hangup | destination:<name>"),
        click.option("--menu-key", type=int, help="Keypad digit 1-9 in the keyed menu."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _changes(**given: Any) -> dict[str, Any]:
    keys = {"type_": "type", "menu_key": "menu_key"}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or (key == "aliases" and not value):
            continue
        out[keys.get(key, key)] = list(value) if key == "aliases" else value
    return out


@command.command("add")
@domain_option
@click.option("--name", required=True, help="Destination name (what callers ask for).")
@_field_options
@pass_app
def add_cmd(app: AppContext, domain: str, name: str, **fields: Any) -> None:
    """Add a destination (the domain is created if it does not exist)."""
    from voiceai_ivr.stores.directory import add_destination

    row = {"name": name, **_changes(**fields)}
    with _errors():
        d = add_destination(_db(app), domain, row)
    click.echo(f"added {d.name} ({d.type} {d.target}) to {domain}")


@command.command("update")
@domain_option
@click.argument("name")
@click.option("--rename", help="New name (fallbacks that point to it follow).")
@_field_options
@click.option(
    "--clear",
    multiple=True,
    type=click.Choice(["aliases", "gateway", "timeout", "priority", "hours", "holidays", "fallback", "menu_key"]),
    help="Remove an optional field (repeatable).",
)
@pass_app
def update_cmd(
    app: AppContext, domain: str, name: str, rename: Optional[str], clear: Sequence[str], **fields: Any
) -> None:
    """Change fields of a destination; options not given stay as they are."""
    from voiceai_ivr.stores.directory import update_destination

    changes: dict[str, Any] = _changes(**fields)
    if rename:
        changes["name"] = rename
    for key in clear:
        if key in changes:
            raise click.UsageError(f"--clear {key} conflicts with a new value for it")
        changes[key] = None
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    with _errors():
        d = update_destination(_db(app), domain, name, changes)
    click.echo(f"updated {d.name} in {domain}")


@command.command("remove")
@domain_option
@click.argument("name")
@pass_app
def remove_cmd(app: AppContext, domain: str, name: str) -> None:
    """Remove a destination (refused while something falls back to it)."""
    from voiceai_ivr.stores.directory import remove_destination

    with _errors():
        db = _db(app)
        _refuse_if_fallback(db, domain, name)
        removed = remove_destination(db, domain, name)
    if not removed:
        raise click.ClickException(f"no destination {name!r} in {domain}")
    click.echo(f"removed {name} from {domain}")


def _refuse_if_fallback(db: Database, domain: str, name: str) -> None:
    """Removing what a secretary or destination falls back to would break it:
    say who, and what to change first (the store refuses it anyway)."""
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.stores.directory import export_directory

    try:
        directory = export_directory(db, domain)
    except ValidationError:
        return  # no such domain: remove_destination reports "no destination"
    steps = [
        f"secretary {s.name!r} falls back to it (give it another fallback in the directory file, "
        f"then `voiceai-ivr destinations import FILE`)"
        for s in directory.secretaries
        if s.fallback == name
    ]
    steps += [
        f"destination {d.name!r} falls back to it (`voiceai-ivr destinations update --domain {domain} "
        f"{d.name!r} --fallback callback`, or --clear fallback)"
        for d in directory.destinations
        if d.fallback_destination == name
    ]
    if steps:
        message = f"cannot remove {name!r} from {domain}: " + "; ".join(steps)
        raise click.ClickException(message + ". Nothing was written")


# --------------------------------------------------------------------------- import / export


def _load_document(path: str) -> Any:
    from voiceai_ivr import yamlfile

    try:
        return yamlfile.load(path, "standard input" if path == "-" else path)
    except yamlfile.YamlFileError as exc:
        raise click.ClickException(str(exc)) from None


def _report_text(report: Any) -> str:
    verb = "would change" if report.dry_run else "changed"
    lines = [f"{report.domain}: {report.changes} change(s) {'(dry run, nothing written)' if report.dry_run else ''}"]
    if report.domain_created:
        lines.append(f"  domain {report.domain}: created")
    elif report.domain_updated:
        lines.append(f"  domain {report.domain}: settings updated")
    for kind in ("secretaries", "destinations"):
        part = getattr(report, kind)
        for label, names in (("created", part.created), ("updated", part.updated), ("removed", part.removed)):
            if names:
                lines.append(f"  {kind} {label}: {', '.join(names)}")
        if part.unchanged:
            lines.append(f"  {kind} unchanged: {len(part.unchanged)}")
    if not report.changes:
        lines.append(f"  nothing {verb}: the database already matches the file")
    return "\n".join(line.rstrip() for line in lines)


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--domain", "-d", help="Refuse the file unless it is for this domain.")
@click.option("--replace", is_flag=True, help="Also remove secretaries and destinations the file does not list.")
@click.option("--dry-run", is_flag=True, help="Validate and report the changes without writing them.")
@json_option
@pass_app
def import_cmd(
    app: AppContext, file: str, domain: Optional[str], replace: bool, dry_run: bool, as_json: bool
) -> None:
    """Import a directory document (YAML; see docs/directory-format.md). All or
    nothing: any problem is listed with its row and field and nothing is written."""
    from voiceai_ivr.domain.destinations import parse_directory
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.stores.directory import import_directory

    doc = _load_document(file)
    with _errors():
        directory = parse_directory(doc)
        if domain and directory.domain != domain:
            raise ValidationError("domain", f"the file is for {directory.domain!r}, not {domain!r}")
        report = import_directory(_db(app), directory, replace=replace, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(_report_text(report))


@command.command("export")
@domain_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
@pass_app
def export_cmd(app: AppContext, domain: str, output: Optional[str]) -> None:
    """Export the domain's directory as YAML that imports back unchanged."""
    from voiceai_ivr.cli.output import atomic_output, check_output
    from voiceai_ivr.domain.destinations import directory_to_doc
    from voiceai_ivr.stores.directory import export_directory

    if output:
        check_output(output)  # before any work: a typo in the path costs nothing
    with _errors():
        directory = export_directory(_db(app), domain)
    text = _dump_yaml(directory_to_doc(directory))
    if not output:
        click.echo(text, nl=False)
        return
    with atomic_output(output) as fh:
        fh.write(text)
    click.echo(f"exported {len(directory.destinations)} destination(s) of {domain} to {output}", err=True)


@command.command("suggest-keywords")
@domain_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
@click.option("--most", type=click.IntRange(1, 30), default=15, show_default=True,
              help="At most this many phrases added per department and language.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=90.0, show_default=True,
              help="Seconds to wait for the LLM's answer, per language.")
@pass_app
def suggest_keywords_cmd(app: AppContext, domain: str, output: Optional[str], most: int, timeout: float) -> None:
    """Ask the configured LLM (llm.url and llm.model; llm.enabled is not needed) what
    callers say when they need each department, and write the directory with those
    phrases added to its keywords, in each language its secretaries speak. Nothing
    is written to the database: review the file, then `destinations import` it."""
    from dataclasses import replace

    from voiceai_ivr.cli.output import atomic_output, check_output
    from voiceai_ivr.domain.destinations import (
        directory_to_doc,
        parse_directory,
        suggestion_targets,
        with_suggested_keywords,
    )
    from voiceai_ivr.flows.conversation import llm_listing
    from voiceai_ivr.integrations.llm import LLMClient, LLMUnavailable
    from voiceai_ivr.stores.directory import export_directory

    if output:
        check_output(output)
    config = app.config.llm
    if not config.url or not config.model:
        raise click.ClickException("llm.url and llm.model are needed (set them in the configuration file)")
    with _errors():
        directory = export_directory(_db(app), domain)
    resolver = directory.resolver()
    targets = suggestion_targets(directory, resolver)
    if not targets:
        raise click.ClickException(f"{domain} has no department to suggest keywords for")
    languages = list(dict.fromkeys(s.language for s in directory.secretaries)) or ["pt-BR"]
    listing = llm_listing([d for d in directory.destinations if d.enabled], resolver.is_person)
    client = LLMClient(replace(config, timeout=timeout))
    added: dict[str, list[str]] = {}
    try:
        for language in languages:
            try:
                suggestions = client.suggest_keywords(language, listing, targets)
            except LLMUnavailable as exc:
                raise click.ClickException(f"no usable suggestions for {language}: {exc}") from None
            directory, new = with_suggested_keywords(directory, suggestions, most=most, targets=targets)
            for name, phrases in new.items():
                added.setdefault(name, []).extend(phrases)
    finally:
        client.close()
    doc = directory_to_doc(directory)
    with _errors():
        parse_directory(doc)  # what is written imports back
    text = _dump_yaml(doc)
    if output:
        with atomic_output(output) as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)
    total = sum(len(p) for p in added.values())
    click.echo(f"suggested {total} phrase(s) for {len(added)} of {len(targets)} department(s) of {domain} "
               f"({', '.join(languages)}); review them, then: voiceai-ivr destinations import "
               f"{output or 'FILE'}", err=True)


# --------------------------------------------------------------------------- resolve


def parse_at(value: Optional[str]) -> Optional[datetime]:
    """``--at``: ISO-8601; a trailing Z means UTC; naive = the hours' local time."""
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r} (e.g. 2026-03-02T10:00-03:00)") from None


@command.command("resolve")
@domain_option
@click.option("--at", "at_text", help="Evaluate business hours at this ISO-8601 time (default: now).")
@click.option("--secretary", help="Use this secretary's hours when the destination has none.")
@click.option("--did", help="Use the hours of the secretary answering this DID.")
@json_option
@click.argument("utterance")
@pass_app
def resolve_cmd(
    app: AppContext,
    domain: str,
    at_text: Optional[str],
    secretary: Optional[str],
    did: Optional[str],
    as_json: bool,
    utterance: str,
) -> None:
    """Resolve what a caller said to a destination, as the IVR would."""
    from voiceai_ivr.stores.directory import get_secretary, get_secretary_by_did, load_resolver

    if not utterance.strip():
        raise click.BadParameter("is empty: give the words a caller would say", param_hint="UTTERANCE")
    at = parse_at(at_text)
    with _errors():
        db = _db(app)
        resolver = load_resolver(db, domain)
        if resolver is None:
            raise click.ClickException(f"no such domain: {domain!r}")
        sec = None
        if secretary or did:
            rec = get_secretary(db, domain, secretary) if secretary else get_secretary_by_did(db, domain, did or "")
            if rec is None:
                raise click.ClickException(f"no secretary {secretary or did!r} in {domain}")
            sec = rec.secretary
        result = resolver.resolve(utterance, at=at, secretary=sec)
    data = result.to_json()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    if data["match"]:
        state = {True: "open", False: "closed", None: "hours unknown"}[data["open"]]
        click.echo(f"{data['match']} (score {data['score']}, {state})")
    elif data["ambiguous"]:
        click.echo("ambiguous: " + ", ".join(f"{a['name']} ({a['score']})" for a in data["alternatives"]))
    else:
        click.echo("no match")
    click.echo(f"reason: {data['reason']}")
    for m in data["matched"]:  # which of the caller's words matched what
        click.echo(f"  {m['name']} ({m['score']}, {m['evidence']}): {' '.join(m['words'])} <- {'; '.join(m['via'])}")
