"""``voiceai-ivr api [--host --port]``: the helpdesk HTTP API, served by waitress.

The process also keeps an inbound Event Socket connection (availability,
click-to-call) and its own outbound-socket listener for click-to-call agent
legs (``api.agent_listen_host``/``api.agent_listen_port``). Without a PBX the
API still serves callbacks; availability and click-to-call answer 503. It
delivers the helpdesk outbox in the background (one worker, every
``helpdesk.delivery_interval`` seconds); ``/health`` shows its backlog.
"""

from __future__ import annotations

import logging
import signal
from typing import Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app

log = logging.getLogger("voiceai_ivr.api")


def build_services(config: Any, db: Any) -> Any:
    """``ApiServices`` with a PBX connection when one can be made (``app.build_api_services``)."""
    from voiceai_ivr.app import build_api_services

    return build_api_services(config, db)


@click.command("api")
@click.option("--host", help="Listen address (default api.host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Listen port (default api.port).")
@pass_app
def command(app: AppContext, host: Optional[str], port: Optional[int]) -> None:
    """Serve the helpdesk API (click-to-call, callbacks, availability)."""
    from voiceai_ivr.api.app import create_app
    from voiceai_ivr.api.server import Limits, create_server
    from voiceai_ivr.errors import ConfigError, StoreError
    from voiceai_ivr.logs import setup_logging
    from voiceai_ivr.stores.db import Database

    config = app.config
    setup_logging(
        config.logging.level,
        config.logging.json,
        secrets=[config.esl.password, config.database.dsn, *(t.token for t in config.api.tokens)],
    )
    if not config.api.tokens:
        raise click.ClickException("api.tokens: configure at least one token (VOICEAI_API_TOKENS=domain:token)")
    try:
        db = Database.from_config(config)
    except StoreError as exc:
        raise click.ClickException(f"database unreachable: {exc}") from exc
    try:
        services = build_services(config, db)
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from exc
    server = create_server(  # waitress behind per-client/total limits and absolute read deadlines
        create_app(config, services),
        host=host or config.api.host,
        port=config.api.port if port is None else port,
        threads=config.api.threads,
        limits=Limits.from_config(config.api),
        max_body_bytes=config.api.max_body_bytes,
    )
    click.echo(f"voiceai-ivr api listening on http://{host or config.api.host}:{server.effective_port}")

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # the server's run() leaves its loop on this

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopping: letting click-to-call attempts in progress finish")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if services.pbx_retry is not None:
            services.pbx_retry.set()
        server.close()
        if services.outbox is not None:
            services.outbox.stop()
        if services.dispatcher is not None:
            services.dispatcher.close()
            if services.dispatcher.esl_client is not None:
                services.dispatcher.esl_client.close()
        db.close()
