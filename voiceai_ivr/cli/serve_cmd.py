"""``voiceai-ivr serve``: take calls from FreeSWITCH's ``socket`` application."""

from __future__ import annotations

import signal
import threading
from typing import Any, Optional

import click

from voiceai_ivr.cli.context import AppContext, pass_app


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: server.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default: server.port).")
@click.option("--max-calls", type=click.IntRange(1, 100000), default=None,
              help=("Concurrent calls before new ones go to the dialplan's next serve address or fallback (older "
                    "dialplans: the busy message); default: server.max_calls."))
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve /metrics on server.metrics_host:PORT (default: server.metrics_port; 0 disables).")
@click.option("--flow", type=click.Choice(["auto", "minimal"]), default="auto", show_default=True,
              help="auto: the conversation flows (voiceai_ivr.app); minimal: answer, greet, "
                   "collect digits, hang up (checks the FreeSWITCH path without a database).")
@pass_app
def command(app: AppContext, host: Optional[str], port: Optional[int], max_calls: Optional[int],
            metrics_port: Optional[int], flow: str) -> None:
    """Run the outbound Event Socket server until SIGTERM/SIGINT; calls in progress
    get server.shutdown_grace seconds to finish. The helpdesk outbox is delivered
    in the background (helpdesk.delivery_interval)."""
    from voiceai_ivr.app import call_handler
    from voiceai_ivr.errors import ConfigError, VoiceAIError
    from voiceai_ivr.server import CallServer, minimal_handler

    config = app.config
    app.setup_logging(daemon=True)
    metrics_server = _start_metrics(config, metrics_port)
    try:
        call_flow = minimal_handler(config) if flow == "minimal" else call_handler(config)
        server = CallServer(config, host=host, port=port, max_calls=max_calls, flow=call_flow, background_call_log=True)
        server.start()
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from exc
    except VoiceAIError as exc:
        raise click.ClickException(f"cannot start the call flows: {exc}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host or config.server.host}:"
                                   f"{config.server.port if port is None else port}: {exc}") from exc
    bound_host, bound_port = server.address
    click.echo(f"voiceai-ivr serve: listening on {bound_host}:{bound_port} "
               f"(max {server.server.max_calls} calls)", err=True)
    drain = _start_outbox_drain(config, server)
    replayer = _start_spool_replay(config, server)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(0.5):
            pass
        click.echo(f"voiceai-ivr serve: stopping; {server.server.active_calls} calls get "
                   f"{config.server.shutdown_grace:.0f}s to finish", err=True)
        server.server.stop_accepting()
        cut = server.stop()
        click.echo(f"voiceai-ivr serve: stopped ({cut} calls cut)", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if drain is not None:
            drain.stop()
        if replayer is not None:
            replayer.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()


def _start_outbox_drain(config: Any, server: Any) -> Any:
    """The helpdesk outbox, delivered in the background by this process (one
    worker, every ``helpdesk.delivery_interval`` seconds); None with the
    minimal flow (no database)."""
    db = _database(server)
    if db is None:
        return None
    from voiceai_ivr.app import start_outbox_drain

    drain = start_outbox_drain(config, db)
    if config.helpdesk.url:
        click.echo(f"voiceai-ivr serve: delivering the helpdesk outbox every {drain.interval:g}s", err=True)
    return drain


def _start_spool_replay(config: Any, server: Any) -> Any:
    """Callbacks this host spooled while PostgreSQL was down, replayed in the
    background once it is back; None with the minimal flow (no database)."""
    db = _database(server)
    if db is None:
        return None
    from voiceai_ivr.app import start_spool_replay

    return start_spool_replay(config, db)


def _database(server: Any) -> Any:
    """The call flows' database (None with the minimal flow)."""
    return getattr(getattr(server.flow, "services", None), "db", None)


def _start_metrics(config: Any, port: Optional[int]) -> Any:
    """``/metrics`` for Prometheus on its own small HTTP server (None when disabled)."""
    from voiceai_ivr.metrics import METRICS, start_metrics_server

    port = config.server.metrics_port if port is None else port
    if not port:
        return None
    try:
        server, _thread = start_metrics_server(config.server.metrics_host, port, METRICS)
    except OSError as exc:
        raise click.ClickException(f"cannot serve /metrics on {config.server.metrics_host}:{port}: {exc}") from exc
    click.echo(f"voiceai-ivr serve: metrics on http://{config.server.metrics_host}:{server.server_port}/metrics",
               err=True)
    return server
