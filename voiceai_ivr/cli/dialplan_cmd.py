"""``voiceai-ivr dialplan render|install``: route a DID to the virtual secretary.

``render`` prints the FreeSWITCH XML; ``install`` writes it into
``dialplan.directory`` and runs ``reloadxml``, or with ``--fusionpbx`` stores it
in FusionPBX's own tables and clears FusionPBX's dialplan cache.

Secretary details (id, name, language, recording) come from the options; the
ones not given are looked up in the database by domain and DID when the
directory store is available.

``--config FILE`` (python mode) names the configuration file mod_python3 loads:
the action becomes ``python voiceai_ivr.modpython config=FILE``. Without a global
``--config`` or ``VOICEAI_CONFIG``, the command itself reads its settings
(database, Event Socket) from that file too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app

if TYPE_CHECKING:
    from voiceai_ivr.config import Config
    from voiceai_ivr.provision.dialplan import DialplanSpec


def _spec_options(fn: Any) -> Any:
    options = [
        click.option("--domain", required=True, help="Tenant domain (FreeSWITCH/FusionPBX domain name)."),
        click.option("--did", required=True, help="Dialled number routed to the secretary (digits, optional +)."),
        click.option(
            "--mode",
            type=click.Choice(["socket", "python"]),
            default=None,
            help="socket: outbound Event Socket (async full); python: mod_python3. Default: dialplan.mode.",
        ),
        click.option("--host", default=None, help="Address of `voiceai-ivr serve` (default: dialplan.socket_host)."),
        click.option("--port", type=int, help="Port of `voiceai-ivr serve` (default: dialplan.socket_port)."),
        click.option("--failover", multiple=True, metavar="HOST:PORT",
                     help="A further `voiceai-ivr serve`, tried when the one before refuses the call "
                          "(repeatable; default: dialplan.socket_failover)."),
        click.option("--secretary-id", default=None, help="Secretary id (default: looked up by domain and DID)."),
        click.option("--secretary-name", default=None, help="Secretary name, for the file header and FusionPBX."),
        click.option("--language", type=click.Choice(["pt-BR", "en-US"]), default=None, help="Prompt language."),
        click.option("--recording/--no-recording", default=None, help="Record calls (default: the secretary's)."),
        click.option(
            "--config",
            "config_file",
            default=None,
            metavar="FILE",
            help="python mode: the configuration file mod_python3 loads (rendered as config=FILE); "
            "also this command's own when no global --config / VOICEAI_CONFIG is given.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


# --------------------------------------------------------------------------- wiring


def lookup_secretary(cfg: Config, domain: str, did: str) -> Optional[Mapping[str, Any]]:
    """The secretary answering ``did`` in ``domain`` as ``{id, name, language,
    recording}``, or None when the directory store is not installed. Raises
    ``click.ClickException`` when the store exists but has no such secretary."""
    try:
        from voiceai_ivr.stores.directory import get_secretary_by_did  # type: ignore[attr-defined]
    except ImportError:
        return None
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores.db import Database

    try:
        with Database.from_config(cfg) as db:
            found = get_secretary_by_did(db, domain, did)
    except StoreError as exc:
        raise click.ClickException(
            f"cannot look up the secretary for {did} in {domain}: {exc}\n"
            "  (give --secretary-id, --language and --recording/--no-recording to render without a database)"
        ) from exc
    if found is None:
        raise click.ClickException(f"no secretary answers DID {did} in domain {domain}")

    def pick(name: str, *alts: str) -> Any:
        for key in (name, *alts):
            if isinstance(found, Mapping) and key in found:
                return found[key]
            if hasattr(found, key):
                return getattr(found, key)
        return None

    result = {
        "id": pick("id", "secretary_id"),
        "name": pick("name", "secretary_name"),
        "language": pick("language"),
        "recording": pick("recording"),
    }
    fallback_name = getattr(getattr(found, "secretary", None), "fallback", None) or pick("fallback",
                                                                                       "fallback_destination")
    if fallback_name:
        from voiceai_ivr.stores.directory import get_destination

        try:
            with Database.from_config(cfg) as db:
                destination = get_destination(db, domain, str(fallback_name))
        except StoreError as exc:
            raise click.ClickException(f"cannot look up the fallback destination {fallback_name!r}: {exc}") from exc
        if destination is not None and destination.enabled:
            result["fallback"] = destination
    return result


@contextlib.contextmanager
def esl_connection(cfg: Config) -> Iterator[Any]:
    """One inbound Event Socket connection (``InboundClient``) for this command."""
    from voiceai_ivr.esl.inbound import InboundClient

    client = InboundClient.from_config(cfg.esl, events=())
    client.connect()
    try:
        yield client
    finally:
        client.close()


# --------------------------------------------------------------------------- helpers


def _build_spec(
    app: AppContext,
    *,
    domain: str,
    did: str,
    mode: Optional[str],
    host: Optional[str],
    port: Optional[int],
    failover: tuple[str, ...],
    secretary_id: Optional[str],
    secretary_name: Optional[str],
    language: Optional[str],
    recording: Optional[bool],
    config_file: Optional[str],
) -> DialplanSpec:
    from voiceai_ivr.errors import ValidationError
    from voiceai_ivr.provision.dialplan import validate_did, validate_domain, validate_spec

    config_path = _config_file(app, config_file)
    cfg = app.config
    try:
        domain = validate_domain(domain)
        did = validate_did(did)
    except ValidationError as exc:
        raise click.BadParameter(exc.reason, param_hint=f"--{exc.field}") from exc
    found: Optional[Mapping[str, Any]] = None
    if secretary_id is None or language is None or recording is None:
        found = lookup_secretary(cfg, domain, did)
    found = found or {}
    fallback = found.get("fallback")
    spec = {
        "domain": domain,
        "did": did,
        "mode": mode or cfg.dialplan.mode,
        "host": host or cfg.dialplan.socket_host,
        "port": port if port is not None else cfg.dialplan.socket_port,
        "secretary_id": secretary_id if secretary_id is not None else found.get("id"),
        "secretary_name": secretary_name if secretary_name is not None else (found.get("name") or ""),
        "language": language or found.get("language") or "pt-BR",
        "recording": recording if recording is not None else bool(found.get("recording") or False),
        "config_file": config_path,
        # dialplan.socket_failover applies to socket mode; --failover elsewhere is refused.
        "failover": tuple(failover) or (tuple(cfg.dialplan.socket_failover)
                                        if (mode or cfg.dialplan.mode) == "socket" else ()),
    }
    if fallback is not None and (mode or cfg.dialplan.mode) == "socket":
        spec.update(fallback_type=fallback.type, fallback_target=fallback.target,
                    fallback_gateway=fallback.gateway or "", fallback_timeout=int(fallback.timeout or 30))
    try:
        return validate_spec(spec)
    except ValidationError as exc:
        if exc.field.startswith("fallback_") and fallback is not None:
            raise click.ClickException(
                f"the secretary's fallback destination {fallback.name!r} cannot be dialled from the dialplan "
                f"({exc.field}: {exc.reason})") from exc
        if exc.field.startswith("failover") and not failover:
            raise click.ClickException(f"dialplan.socket_{exc.field}: {exc.reason}") from exc
        hint = ("--config" if exc.field == "config_file" else "--failover" if exc.field.startswith("failover")
                else f"--{exc.field.replace('_', '-')}")
        raise click.BadParameter(exc.reason, param_hint=hint) from exc


def _config_file(app: AppContext, value: Optional[str]) -> str:
    """``--config FILE`` as the absolute path the dialplan will carry; it must exist
    (mod_python3 reads it inside FreeSWITCH at every call)."""
    import os
    from pathlib import Path

    if value is None:
        return ""
    path = Path(value).expanduser()
    try:
        path = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise click.BadParameter(f"{value}: {exc}", param_hint="--config") from exc
    if not path.is_file():
        raise click.BadParameter(f"{path}: no such file (mod_python3 reads it at every call)", param_hint="--config")
    if app.config_file is None and not os.environ.get("VOICEAI_CONFIG") and getattr(app, "_config", None) is None:
        app.config_file = str(path)  # the command reads the settings mod_python3 will read
    return str(path)


# --------------------------------------------------------------------------- commands


@click.group("dialplan")
def command() -> None:
    """Generate and install the FreeSWITCH dialplan that hands a DID to voiceai-ivr."""


@command.command("render")
@_spec_options
@pass_app
def render_cmd(app: AppContext, **options: Any) -> None:
    """Print the dialplan XML for one secretary's DID."""
    from voiceai_ivr.provision.dialplan import render_dialplan

    click.echo(render_dialplan(_build_spec(app, **options)), nl=False)


@command.command("install")
@_spec_options
@click.option("--directory", default=None,
              help="Dialplan directory (default: dialplan.directory, else FreeSWITCH's conf_dir/dialplan/public).")
@click.option("--no-reload", is_flag=True, help="Do not contact FreeSWITCH (no reloadxml / cache clearing over ESL).")
@click.option("--fusionpbx", is_flag=True, help="Store the dialplan in FusionPBX's database (dialplan.fusionpbx_dsn).")
@click.option(
    "--fusionpbx-cache",
    type=click.Choice(["file", "memcache", "none"]),
    default=None,
    help="How FusionPBX caches the dialplan (default: dialplan.fusionpbx_cache).",
)
@click.option(
    "--fusionpbx-cache-dir", default=None, help="FusionPBX file cache (default: dialplan.fusionpbx_cache_dir)."
)
@click.option("--context", "fusion_context", default=None, help="FusionPBX dialplan context (default: public).")
@pass_app
def install_cmd(
    app: AppContext,
    directory: Optional[str],
    no_reload: bool,
    fusionpbx: bool,
    fusionpbx_cache: Optional[str],
    fusionpbx_cache_dir: Optional[str],
    fusion_context: Optional[str],
    **options: Any,
) -> None:
    """Install the dialplan for one secretary's DID and make FreeSWITCH load it."""
    from voiceai_ivr.errors import ESLError, ValidationError

    spec = _build_spec(app, **options)  # first: --config may choose this command's configuration
    cfg = app.config
    if fusionpbx:
        _install_fusionpbx(cfg, spec, no_reload, fusionpbx_cache, fusionpbx_cache_dir, fusion_context)
        return
    from voiceai_ivr.provision.dialplan import install_dialplan_file

    try:
        folder = directory or cfg.dialplan.directory or (
            PACKAGED_DIALPLAN_DIR if no_reload else _freeswitch_dialplan_dir(cfg))
        result = install_dialplan_file(folder, spec)
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the dialplan: {exc}") from exc
    state = "created" if result.created else ("updated" if result.changed else "unchanged")
    click.echo(f"{result.path}: {state}")
    if no_reload:
        click.echo("not reloaded (--no-reload): run `fs_cli -x reloadxml` to load it")
        return
    try:
        with esl_connection(cfg) as esl:
            reply = str(esl.api("reloadxml")).strip()
    except (ESLError, OSError) as exc:
        raise click.ClickException(
            f"{result.path} is written, but reloadxml over ESL failed: {exc}; run `fs_cli -x reloadxml`"
        ) from exc
    if not reply.startswith("+OK"):
        raise click.ClickException(f"{result.path} is written, but FreeSWITCH refused reloadxml: {reply}")
    click.echo(f"reloadxml: {reply}")


#: Where packaged FreeSWITCH (Debian/Ubuntu, FusionPBX installs) keeps its public dialplan.
PACKAGED_DIALPLAN_DIR = "/etc/freeswitch/dialplan/public"


def _freeswitch_dialplan_dir(cfg: Config) -> str:
    """``<conf_dir>/dialplan/public`` of the FreeSWITCH at ``esl.*`` (``global_getvar
    conf_dir``): right for packaged installs (/etc/freeswitch) and source installs
    (/usr/local/freeswitch/conf) alike. FreeSWITCH unreachable: the packaged path."""
    from voiceai_ivr.errors import ESLError

    try:
        with esl_connection(cfg) as esl:
            conf_dir = str(esl.api("global_getvar conf_dir")).strip()
    except (ESLError, OSError):
        return PACKAGED_DIALPLAN_DIR
    if not conf_dir.startswith("/") or "\n" in conf_dir:
        return PACKAGED_DIALPLAN_DIR
    return f"{conf_dir.rstrip('/')}/dialplan/public"


def _install_fusionpbx(
    cfg: Config,
    spec: DialplanSpec,
    no_reload: bool,
    cache: Optional[str],
    cache_dir: Optional[str],
    context: Optional[str],
) -> None:
    from voiceai_ivr.errors import ESLError, StoreError, ValidationError
    from voiceai_ivr.provision.fusionpbx import install_fusionpbx
    from voiceai_ivr.stores.db import Database

    if not cfg.dialplan.fusionpbx_dsn:
        raise click.ClickException(
            "--fusionpbx needs FusionPBX's database: set dialplan.fusionpbx_dsn or VOICEAI_FUSIONPBX_DSN"
        )
    method = cache or cfg.dialplan.fusionpbx_cache
    if method == "memcache" and no_reload:
        raise click.ClickException("--fusionpbx-cache memcache clears the cache over ESL: drop --no-reload")
    db = Database(cfg.dialplan.fusionpbx_dsn, pool_size=1, connect_timeout=cfg.database.connect_timeout)
    try:
        with contextlib.ExitStack() as stack:
            api = notify = None
            if not no_reload and method != "none":
                esl = stack.enter_context(esl_connection(cfg))
                api = esl.api

                def notify(subclass: str, api_command: str, argument: str) -> None:
                    esl.command(
                        "sendevent CUSTOM",
                        headers=[
                            ("Event-Name", "CUSTOM"),
                            ("Event-Subclass", subclass),
                            ("API-Command", api_command),
                            ("API-Command-Argument", argument),
                        ],
                    )

            result = install_fusionpbx(
                db,
                spec,
                context=context or cfg.dialplan.fusionpbx_context,
                cache_method=method,
                cache_dir=cache_dir or cfg.dialplan.fusionpbx_cache_dir,
                api=api,
                notify=notify,
            )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise click.ClickException(f"FusionPBX database: {exc}") from exc
    except (ESLError, OSError) as exc:
        raise click.ClickException(f"FusionPBX dialplan: Event Socket or cache failure: {exc}") from exc
    finally:
        db.close()
    state = "created" if result.created else "updated"
    click.echo(
        f"FusionPBX dialplan {result.dialplan_uuid} ({spec.extension_name}, context {result.context}): {state}"
    )
    if result.destination_uuid:
        click.echo(f"FusionPBX destination {result.destination_uuid} ({spec.did_digits}) -> this dialplan")
    for line in result.cache_cleared:
        click.echo(f"cache cleared: {line}")
    if not result.cache_cleared:
        click.echo(f"cache: nothing to clear ({method})")
