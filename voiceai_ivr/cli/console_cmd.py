"""``voiceai-ivr console passwd --domain D``: the admin console's password of a domain.

The console (``/console`` of ``voiceai-ivr api``) also accepts the domain's API
token; a console password lets supervisors log in without holding the token.
Only a salted scrypt hash is stored; setting a new password ends the sessions
opened with the old one.
"""

from __future__ import annotations

import sys

import click

from voiceai_ivr.cli.context import AppContext, pass_app
from voiceai_ivr.cli.destinations_cmd import domain_option


@click.group("console")
def command() -> None:
    """The admin console served by `voiceai-ivr api` at /console."""


@command.command("passwd")
@domain_option
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_app
def passwd(app: AppContext, domain: str, password_stdin: bool) -> None:
    """Set the console password of DOMAIN (asked twice, never echoed)."""
    from voiceai_ivr.console.auth import MAX_PASSWORD, MIN_PASSWORD, hash_password
    from voiceai_ivr.errors import StoreError
    from voiceai_ivr.stores import console as store
    from voiceai_ivr.stores import directory
    from voiceai_ivr.stores.db import Database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New console password", hide_input=True, confirmation_prompt=True)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise click.ClickException(f"refused: a console password has {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    hashed = hash_password(password)
    try:
        with Database.from_config(app.config) as db:
            if directory.get_domain(db, domain) is None:
                raise click.ClickException(f"--domain: no such domain {domain!r} (import its destinations first)")
            with db.transaction() as cur:
                store.set_password_hash(cur, domain, hashed)
                store.record_audit(cur, domain, "cli", "password.set", domain, {})
    except StoreError as exc:
        raise click.ClickException(f"database: {exc}") from exc
    click.echo(f"console password of {domain} set")
