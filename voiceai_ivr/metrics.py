"""Prometheus metrics: one ``Metrics`` object per process, on its own registry.

``serve`` and ``api`` expose it with ``start_metrics_server(host, port)`` at
``/metrics``; the cron dispatcher writes it for node-exporter's textfile
collector with ``write_textfile(path)`` (atomic: temp file, fsync, rename).

Names follow Prometheus conventions (``voiceai_ivr_…_total`` for counters,
``_seconds`` for durations)::

    voiceai_ivr_calls_total{domain}                 calls taken; domain: one the directory knows,
                                                    else "unknown" (see ``domain_label``)
    voiceai_ivr_calls_active                        calls in progress
    voiceai_ivr_call_duration_seconds               histogram, per call
    voiceai_ivr_intents_total{kind}                 transfer | callback | menu | unknown ...
    voiceai_ivr_transfers_total{status}             answered | busy | no_answer | failed ...
    voiceai_ivr_transfer_wait_seconds               histogram, caller's wait on hold
    voiceai_ivr_callbacks_total{event}              created | dispatched | completed | expired | failed
    voiceai_ivr_outbox_backlog                      helpdesk outbox rows not yet delivered
    voiceai_ivr_outbox_oldest_age_seconds           age of the oldest undelivered row
    voiceai_ivr_spool_entries                       callbacks confirmed while PostgreSQL was down,
                                                    not yet in the database (serve's own spool)
    voiceai_ivr_esl_reconnects_total                inbound Event Socket reconnections
    voiceai_ivr_esl_connected                       1 while the inbound Event Socket is up, 0 while
                                                    it is down (reconnecting); absent without a PBX link
    voiceai_ivr_speech_recognition_available        1 when the PBX can recognise speech, 0: keys only
    voiceai_ivr_handler_errors_total{error}         unexpected errors in call handlers
    voiceai_ivr_turn_latency_seconds{recognizer,synthesizer}  histogram: end of the caller's
                                                    answer (speech or key) to the next prompt
    voiceai_ivr_prompt_audio_total{engine,how}      prompts by audio: cache | synthesized | fallback ...
    voiceai_ivr_transcriptions_total{outcome}       http recognizer: ok | empty | failed | no_recording

Code reports through the methods (``call_started``, ``transfer``, ...) of the
process-wide ``METRICS`` or of a ``Metrics`` it was given (tests make their own).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Optional, Union
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from voiceai_ivr.errors import ValidationError

CALLBACK_EVENTS = ("created", "dispatched", "completed", "expired", "failed")
CALL_DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
TURN_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)
TRANSFER_WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
_LABEL_VALUE_RE = re.compile(r"[^A-Za-z0-9_.:@-]")
# Label values that come from a call (its domain) are the caller's to choose:
# only domains the directory knows become labels, and at most this many of them
# (one time series each, kept for the life of the process); the rest are "other".
MAX_DOMAIN_LABELS = 500


def _label(value: object, default: str = "unknown") -> str:
    # Label values come from our own code, but keep them short and printable.
    text = _LABEL_VALUE_RE.sub("_", str(value or ""))[:64]
    return text or default


class Metrics:
    """All of voiceai-ivr's metrics on one ``CollectorRegistry``."""

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls_total = Counter("voiceai_ivr_calls", "Calls taken by the IVR.", ["domain"], registry=r)
        self._domains: set[str] = set()
        self._label_lock = threading.Lock()
        self.calls_active = Gauge("voiceai_ivr_calls_active", "Calls in progress.", registry=r)
        self.call_duration = Histogram(
            "voiceai_ivr_call_duration_seconds",
            "Duration of IVR calls, from hand-off to hangup.",
            buckets=CALL_DURATION_BUCKETS,
            registry=r,
        )
        self.intents_total = Counter("voiceai_ivr_intents", "Caller intents recognised, by kind.", ["kind"], registry=r)
        self.transfers_total = Counter(
            "voiceai_ivr_transfers", "Attended transfer attempts, by outcome.", ["status"], registry=r
        )
        self.transfer_wait = Histogram(
            "voiceai_ivr_transfer_wait_seconds",
            "Time a caller waited on hold during an attended transfer.",
            buckets=TRANSFER_WAIT_BUCKETS,
            registry=r,
        )
        self.callbacks_total = Counter(
            "voiceai_ivr_callbacks", "Callback requests, by lifecycle event.", ["event"], registry=r
        )
        for event in CALLBACK_EVENTS:
            self.callbacks_total.labels(event=event)
        self.outbox_backlog = Gauge(
            "voiceai_ivr_outbox_backlog", "Helpdesk outbox rows not yet delivered.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "voiceai_ivr_outbox_oldest_age_seconds", "Age of the oldest undelivered outbox row.", registry=r
        )
        self.spool_entries = Gauge(
            "voiceai_ivr_spool_entries",
            "Callbacks confirmed while PostgreSQL was unreachable, waiting in this host's spool.",
            registry=r,
        )
        self.speech_recognition_available = Gauge(
            "voiceai_ivr_speech_recognition_available",
            "1 when the PBX has the configured speech-recognition engine, 0 when callers can only key.",
            registry=r,
        )
        self.speech_recognition_available.set(1)
        self.esl_reconnects_total = Counter(
            "voiceai_ivr_esl_reconnects", "Inbound Event Socket reconnections.", registry=r
        )
        # Registered on first use (``esl_state``): a process without a PBX link
        # (``serve --flow minimal``) exports no such series rather than a false 0.
        self._esl_connected: Optional[Gauge] = None
        self._esl_down_since: Optional[float] = None
        self._esl_lock = threading.Lock()
        self.turn_latency_seconds = Histogram(
            "voiceai_ivr_turn_latency_seconds",
            "From the end of the caller's answer (their speech or last key) to the start of the next prompt.",
            ["recognizer", "synthesizer"],
            buckets=TURN_LATENCY_BUCKETS,
            registry=r,
        )
        self.prompt_audio_total = Counter(
            "voiceai_ivr_prompt_audio", "Prompts played, by engine and how their audio was had.",
            ["engine", "how"], registry=r,
        )
        self.transcriptions_total = Counter(
            "voiceai_ivr_transcriptions", "Answers sent to the transcription service, by outcome.",
            ["outcome"], registry=r,
        )
        self.handler_errors_total = Counter(
            "voiceai_ivr_handler_errors", "Unexpected errors in call handlers, by error type.", ["error"], registry=r
        )

    # -- calls

    def domain_label(self, domain: str, known: bool) -> str:
        """The ``domain`` label for a call: the domain when the directory knows it
        (``known``), else ``unknown``; past ``MAX_DOMAIN_LABELS`` distinct domains,
        ``other``. Invented domains from the channel never add series."""
        if not known or not domain:
            return "unknown"
        label = _label(domain)
        with self._label_lock:
            if label not in self._domains:
                if len(self._domains) >= MAX_DOMAIN_LABELS:
                    return "other"
                self._domains.add(label)
        return label

    def call_started(self, domain: str = "", known: bool = True) -> None:
        """A call began; ``known``: its domain has a directory (see ``domain_label``)."""
        self.calls_total.labels(domain=self.domain_label(domain, known)).inc()
        self.calls_active.inc()

    def call_ended(self, duration_s: Optional[float] = None) -> None:
        self.calls_active.dec()
        if duration_s is not None and duration_s >= 0:
            self.call_duration.observe(duration_s)

    @contextlib.contextmanager
    def track_call(self, domain: str = "") -> Iterator[None]:
        """Count a call for the duration of the block (ends it even on error)."""
        started = time.monotonic()
        self.call_started(domain)
        try:
            yield
        finally:
            self.call_ended(time.monotonic() - started)

    # -- conversation and transfers

    def intent(self, kind: str) -> None:
        self.intents_total.labels(kind=_label(kind)).inc()

    def transfer(self, status: str, wait_s: Optional[float] = None) -> None:
        self.transfers_total.labels(status=_label(status)).inc()
        if wait_s is not None and wait_s >= 0:
            self.transfer_wait.observe(wait_s)

    # -- callbacks and outbox

    def callback(self, event: str, count: int = 1) -> None:
        if event not in CALLBACK_EVENTS:
            raise ValueError(f"callback event must be one of {', '.join(CALLBACK_EVENTS)}: {event!r}")
        if count > 0:
            self.callbacks_total.labels(event=event).inc(count)

    def set_outbox(self, backlog: int, oldest_age_s: Optional[float]) -> None:
        """Set by whoever reads the outbox (dispatcher, delivery loop)."""
        self.outbox_backlog.set(max(0, backlog))
        self.outbox_oldest_age.set(max(0.0, oldest_age_s or 0.0))

    def set_spool(self, entries: int) -> None:
        """Set by serve's spool replay (``stores.spool.SpoolReplayer``)."""
        self.spool_entries.set(max(0, entries))

    # -- speech (voiceai_ivr.speech)

    def turn_latency(self, seconds: float, recognizer: str = "", synthesizer: str = "") -> None:
        if seconds >= 0:
            self.turn_latency_seconds.labels(recognizer=_label(recognizer), synthesizer=_label(synthesizer)).observe(
                seconds)

    def prompt_audio(self, engine: str = "", how: str = "") -> None:
        self.prompt_audio_total.labels(engine=_label(engine), how=_label(how)).inc()

    def transcription(self, outcome: str = "") -> None:
        self.transcriptions_total.labels(outcome=_label(outcome)).inc()

    # -- plumbing

    def speech_available(self, available: bool) -> None:
        self.speech_recognition_available.set(1 if available else 0)

    def health(self) -> dict[str, Any]:
        """What ``/health`` of ``serve`` reports: alive, calls in progress,
        whether callers can be heard or only keyed, and (with a PBX link) whether
        the inbound Event Socket is up: ``status`` is ``degraded`` while it is down."""
        body: dict[str, Any] = {
            "status": "ok",
            "calls_active": int(self.calls_active._value.get()),
            "speech_recognition": bool(self.speech_recognition_available._value.get()),
            # the helpdesk outbox as serve's background delivery last measured it
            "outbox": {
                "backlog": int(self.outbox_backlog._value.get()),
                "oldest_age_seconds": round(float(self.outbox_oldest_age._value.get()), 1),
            },
            # callbacks spooled while PostgreSQL was down, not yet replayed
            "spool_entries": int(self.spool_entries._value.get()),
        }
        if self._esl_connected is not None:
            down_since = self._esl_down_since
            body["pbx"] = {"connected": down_since is None}
            if down_since is not None:
                body["status"] = "degraded"
                body["pbx"]["down_seconds"] = round(time.monotonic() - down_since, 1)
        return body

    def esl_reconnect(self) -> None:
        self.esl_reconnects_total.inc()

    def esl_state(self, connected: bool) -> None:
        """The inbound Event Socket is up (True) or down (False): the
        ``voiceai_ivr_esl_connected`` gauge and ``/health``'s ``pbx``."""
        with self._esl_lock:
            if self._esl_connected is None:
                self._esl_connected = Gauge(
                    "voiceai_ivr_esl_connected",
                    "1 while the inbound Event Socket to FreeSWITCH is up, 0 while it is down (reconnecting).",
                    registry=self.registry,
                )
            self._esl_connected.set(1 if connected else 0)
            if connected:
                self._esl_down_since = None
            elif self._esl_down_since is None:
                self._esl_down_since = time.monotonic()

    def handler_error(self, error: Union[BaseException, str]) -> None:
        name = type(error).__name__ if isinstance(error, BaseException) else error
        self.handler_errors_total.labels(error=_label(name)).inc()

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


METRICS = Metrics()  # the process's metrics; pass another ``Metrics`` to isolate


def _registry(metrics: Union[Metrics, CollectorRegistry, None]) -> CollectorRegistry:
    if metrics is None:
        return METRICS.registry
    if isinstance(metrics, Metrics):
        return metrics.registry
    return metrics


# --------------------------------------------------------------------------- /metrics


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # scrapes every few seconds would flood stderr

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(10.0)  # a stalled client cannot hold a thread forever


def metrics_app(metrics: Union[Metrics, CollectorRegistry, None] = None) -> Callable[..., Iterable[bytes]]:
    """A WSGI app serving ``GET /metrics`` (404 elsewhere)."""
    registry = _registry(metrics)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/health", "/health/") and isinstance(metrics, Metrics):
            health = metrics.health()
            body = json.dumps(health).encode()
            status = "200 OK" if health.get("status") == "ok" else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path not in ("/metrics", "/metrics/"):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: metrics are at /metrics\n"]
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        body = generate_latest(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    return app


def start_metrics_server(
    host: str, port: int, metrics: Union[Metrics, CollectorRegistry, None] = None
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` on ``host:port`` (``port`` 0 picks a free one; read it from
    ``server.server_port``) from a daemon thread. Stop with ``server.shutdown()``
    then ``server.server_close()``."""
    server = make_server(
        host, int(port), metrics_app(metrics), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="metrics-http", daemon=True
    )
    thread.start()
    return server, thread


# --------------------------------------------------------------------------- textfile


def write_textfile(path: Union[str, Path], metrics: Union[Metrics, CollectorRegistry, None] = None) -> Path:
    """Write the exposition for node-exporter's textfile collector atomically
    (a temp file in the same directory, fsync, rename), so the collector never
    reads half a file. ``path`` must end in ``.prom``."""
    target = Path(path)
    if target.suffix != ".prom":
        raise ValidationError("dispatcher.textfile_path", f"must end in .prom (node-exporter reads *.prom): {target}")
    if not target.parent.is_dir():
        raise ValidationError("dispatcher.textfile_path", f"directory {target.parent} does not exist")
    data = generate_latest(_registry(metrics))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
