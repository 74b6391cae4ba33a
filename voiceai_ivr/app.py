"""The one wiring module: process-wide services and the per-call handler.

``build_services(config)`` builds what every call shares (database, switch,
prompts, directory cache, agent registry, optional LLM client).
``call_handler(config)`` returns ``handle(channel)``, which the outbound server
(``voiceai-ivr serve``), the mod_python3 shim and the simulator call once per call
leg. It dispatches on the channel variable ``voiceai_role``:

* ``caller`` (default): the conversation (``flows.conversation``);
* ``agent``: the agent side of an attended transfer (``flows.agent``), reached
  through ``&socket(...)`` with ``voiceai_transfer_id``.

The handler never raises: a failure is logged, the caller hears an apology, and
the call log records ``error``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional

from voiceai_ivr.api.resources import ApiServices
from voiceai_ivr.availability import AvailabilityChecker, dnd_lookup_from_config
from voiceai_ivr.channel.base import Channel
from voiceai_ivr.config import LANGUAGES, Config
from voiceai_ivr.dispatcher import Dispatcher
from voiceai_ivr.errors import CallGone, DatabaseUnavailable, ESLError, StoreError, VoiceAIError
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.flows.agent import AgentRegistry, run_agent
from voiceai_ivr.flows.asr_support import SpeechSupport
from voiceai_ivr.flows.callback import queue_missed_call
from voiceai_ivr.flows.context import CallContext, CallIdentity, Services, call_identity
from voiceai_ivr.flows.conversation import CallDirectory, Conversation, close_call_log, open_call_log
from voiceai_ivr.flows.prompts import PromptBook
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.integrations.llm import client_from_config
from voiceai_ivr.integrations.outbox_worker import OutboxDrain
from voiceai_ivr.logs import call_context
from voiceai_ivr.metrics import METRICS
from voiceai_ivr.speech.plan import SpeechPlan, make_plan
from voiceai_ivr.speech.service import SpeechServices
from voiceai_ivr.stores import directory as directory_store
from voiceai_ivr.stores.db import Database
from voiceai_ivr.stores.spool import SpoolReplayer, spool_path
from voiceai_ivr.switch import Switch, wake_link

log = logging.getLogger("voiceai_ivr.app")

ROLE_VAR = "voiceai_role"
LANGUAGE_VAR = "voiceai_language"

Handler = Callable[[Channel], None]


# --------------------------------------------------------------------------- metrics


def metrics_hook(metrics: Any) -> Callable[..., None]:
    """Bridge ``Services.emit`` names to OPS's ``voiceai_ivr.metrics.Metrics``."""

    def hook(name: str, **labels: Any) -> None:
        if name == "call_started":
            metrics.call_started(str(labels.get("domain", "")), known=bool(labels.get("known")))
        elif name == "call_ended":
            metrics.call_ended(labels.get("duration"))
        elif name == "intent":
            metrics.intent(str(labels.get("intent", "unknown")))
        elif name == "transfer_attempt":
            metrics.transfer(str(labels.get("status", "unknown")), labels.get("wait"))
        elif name == "callback" and labels.get("outcome") in ("saved", "spooled"):
            metrics.callback("created")
        elif name == "handler_error":
            metrics.handler_error(str(labels.get("error", "unknown")))
        elif name in ("turn_latency", "prompt_audio", "transcription") and hasattr(metrics, name):
            getattr(metrics, name)(**labels)  # voiceai_ivr.speech

    return hook


# --------------------------------------------------------------------------- services


def build_services(
    config: Config,
    *,
    db: Any = None,
    switch: Any = None,
    mode: str = "socket",
    prompts: Optional[PromptBook] = None,
    metrics: Any = None,
    report_speech: bool = True,
) -> Services:
    """Everything calls share. ``db``/``switch`` may be given (tests, the simulator,
    mod_python3); otherwise the database comes from ``config.database`` and the switch
    from ``config.esl`` (inbound Event Socket). ``report_speech=False``: the speech
    plan is logged at debug level (a cron pass; ``config check`` reports it)."""
    metrics = _process_metrics(metrics)
    if db is None:
        db = Database.from_config(config)
    if switch is None:
        # The call server's own link, followed in its metrics and /health. BACKGROUND_JOB
        # only: nothing here reads channel events from it (each call's events come on
        # its own socket), and a subscription to CHANNEL_* would bring every leg's
        # answer, bridge and hangup on the PBX, IVR or not, each with its whole channel.
        _client, switch = connect_pbx(config, metrics=metrics)
    llm = None
    if config.llm.enabled:
        llm = client_from_config(config.llm)
    services = Services(
        config=config,
        prompts=prompts or PromptBook.from_config(config),
        db=db,
        switch=switch,
        agents=AgentRegistry(),
        llm=llm,
        mode=mode,
    )
    if metrics is not False:
        services.add_metrics_hook(metrics_hook(metrics))
    services.asr = _speech_support(config, switch, metrics)
    services.speech = _speech_services(config, switch, mode, services, report=report_speech)
    return services


def _speech_services(config: Config, switch: Any, mode: str, services: Services, *, report: bool = True) -> Any:
    """Prompt audio and recorded answers (``voiceai_ivr.speech``): which engine each
    language uses is decided now, from what is installed and what FreeSWITCH sees."""
    known = services.asr.known if services.asr is not None else None
    speech = SpeechServices.build(config, switch=switch, mode=mode, asr_known=known, report=report)
    services.prompts.speaker = speech.speaker
    return speech


def _speech_support(config: Config, switch: Any, metrics: Any) -> Any:
    """Find out once, now, whether the PBX can recognise speech with the configured
    engine (``flows.asr_support``); calls re-check after an ESL reconnect."""
    def exported(available: bool, _reason: str) -> None:
        if metrics is not False and hasattr(metrics, "speech_available"):
            metrics.speech_available(available)

    support = SpeechSupport(config.speech.asr_engine, on_change=exported)
    if hasattr(switch, "asr_interfaces"):
        support.refresh(switch)
    return support


# --------------------------------------------------------------------------- handlers


def _role(channel: Channel) -> str:
    # The channel data (the connect reply, or mod_python3's variables) already holds
    # every variable set before the hand-off, voiceai_role included: no round trip.
    role = str(channel.data.get(f"variable_{ROLE_VAR}") or "").strip().lower()
    return "caller" if not role or role == "_undef_" else role


def _language_override(data: Mapping[str, str]) -> str:
    lang = str(data.get(f"variable_{LANGUAGE_VAR}") or "")
    return lang if lang in LANGUAGES else ""


def handle_call(channel: Channel, services: Services) -> None:
    """One call leg, whatever its role. Never raises. Every log line of the leg
    carries its uuid and domain (``logs.call_context``)."""
    ident = call_identity(channel.data, getattr(channel, "uuid", ""))
    wake_link(services.switch)
    with call_context(ident.call_uuid, ident.domain):
        _handle_call(channel, services)


def _handle_call(channel: Channel, services: Services) -> None:
    try:
        role = _role(channel)
    except CallGone:
        return
    except VoiceAIError as exc:
        log.warning("call %s: role unknown (%s); treating as caller", getattr(channel, "uuid", "?"), exc)
        role = "caller"
    if role == "agent":
        try:
            run_agent(channel, services)
        except Exception:  # the agent leg must never take the process down
            log.exception("agent leg %s failed", getattr(channel, "uuid", "?"))
            channel.hangup("NORMAL_TEMPORARY_FAILURE")
        return
    if role != "caller":
        log.warning("call %s: unknown voiceai_role %r; hanging up", getattr(channel, "uuid", "?"), role)
        channel.hangup("NORMAL_CLEARING")
        return
    run_caller(channel, services)


def run_caller(channel: Channel, services: Services) -> str:
    """The caller's conversation from answer to outcome; returns the outcome."""
    from zoneinfo import ZoneInfo

    ident = call_identity(channel.data, getattr(channel, "uuid", ""))
    started = time.monotonic()
    found = _find_secretary(services, ident)
    # The domain comes from the channel: a metrics label only when the directory knows it.
    services.emit("call_started", domain=ident.domain or "-", known=found is not None)
    if services.asr is not None and services.switch is not None:
        services.asr.refresh(services.switch)
    if found is None:
        return _unknown_number(channel, services, ident)
    loaded, record, secretary = found
    directory = loaded.directory
    hours = directory.business_hours(secretary)
    ctx = CallContext(
        channel,
        services,
        secretary=secretary,
        identity=ident,
        language=_language_override(channel.data) or str(getattr(secretary, "language", "") or ""),
        tz=ZoneInfo(hours.timezone),
    )
    ctx.secretary_id = record.id
    open_call_log(ctx)
    conversation = Conversation(ctx, CallDirectory.from_directory(directory, secretary, loaded.resolver))
    outcome = "error"
    try:
        outcome = conversation.run()
    except Exception as exc:  # one broken call must not end the others: apologise, log, move on
        log.exception("call %s: conversation failed", ctx.call_uuid)
        services.emit("handler_error", error=type(exc).__name__)
        _apologise(ctx)
    finally:
        close_call_log(ctx, outcome, states=conversation.states, attempts=conversation.attempts)
        _missed_call(ctx, conversation, outcome)
        services.emit("call_ended", domain=ctx.domain, outcome=outcome, duration=time.monotonic() - started)
        log.info("call %s: %s after %.1fs", ctx.call_uuid, outcome, time.monotonic() - started)
    return outcome


def _find_secretary(services: Services, ident: CallIdentity) -> Optional[tuple[Any, Any, Any]]:
    """``(domain resolver, secretary record)`` from STORE's cached directory, or None."""
    if not ident.domain:
        log.warning("call %s: no domain in the channel data", ident.call_uuid)
        return None
    if services.db is None:
        log.error("call %s: no database configured", ident.call_uuid)
        return None

    try:
        loaded = directory_store.load_resolver(services.db, ident.domain)
    except DatabaseUnavailable as exc:
        # Serve the caller from what this process last read: they can still be
        # transferred, or leave a callback (spooled until the database is back).
        loaded = directory_store.cached_resolver(services.db, ident.domain)
        if loaded is None:
            log.error("call %s: directory of %s not loaded and none cached: %s", ident.call_uuid, ident.domain, exc)
            return None
        log.warning("call %s: database unreachable (%s); using the cached directory of %s",
                    ident.call_uuid, exc, ident.domain)
    except StoreError as exc:
        log.error("call %s: directory of %s not loaded: %s", ident.call_uuid, ident.domain, exc)
        return None
    if loaded is None:
        log.warning("call %s: domain %s has no directory", ident.call_uuid, ident.domain)
        return None
    record = loaded.secretary_record(ident.did) if ident.did else None
    if record is None:
        log.warning("call %s: no secretary for %r in %s", ident.call_uuid, ident.did, ident.domain)
        return None
    return loaded, record, record.secretary


def _unknown_number(channel: Channel, services: Services, ident: CallIdentity) -> str:
    """No secretary for this domain/number: apologise in the default language."""
    ctx = CallContext(channel, services, identity=ident, language=_language_override(channel.data) or "pt-BR")

    open_call_log(ctx)
    ctx.log_event("no_secretary", domain=ident.domain, did=ident.did)
    _apologise(ctx)
    close_call_log(ctx, "error")
    services.emit("call_ended", domain=ident.domain or "-", outcome="error", duration=None)
    return "error"


def _apologise(ctx: CallContext) -> None:
    try:
        if ctx.channel.is_up():
            ctx.channel.answer()
            ctx.channel.set_tts(ctx.config.speech.tts_engine, ctx.services.prompts.voice(ctx.language))
            ctx.say("error")
    except (CallGone, VoiceAIError) as exc:
        log.debug("call %s: apology not played: %s", ctx.call_uuid, exc)
    ctx.channel.hangup("NORMAL_TEMPORARY_FAILURE")


def _missed_call(ctx: CallContext, conversation: Any, outcome: str) -> None:
    """Caller hung up after a failed transfer without leaving a callback: ticket it."""
    if outcome not in ("caller_hangup", "abandoned") or ctx.services.db is None:
        return
    failed = [a for a in conversation.attempts if a.status not in ("accepted", "caller_hangup", "in_progress")]
    if not failed:
        return

    last = failed[-1]
    try:
        queue_missed_call(
            ctx.services.db,
            ctx.config,
            domain=ctx.domain,
            call_uuid=ctx.call_uuid,
            caller_number=ctx.caller_number,
            caller_name=ctx.caller_name or None,
            destination_name=last.destination,
            status=last.status,
            language=ctx.language,
            region=conversation.directory.region,
        )
    except VoiceAIError as exc:
        log.error("call %s: missed-call ticket not queued: %s", ctx.call_uuid, exc)


def call_handler(config: Config, *, services: Optional[Services] = None, mode: str = "socket") -> Handler:
    """``handle(channel)`` for the server, the mod_python3 shim and the simulator.
    Services are built once, here, and shared by every call of the handler."""
    shared = services or build_services(config, mode=mode)

    def handle(channel: Channel) -> None:
        handle_call(channel, shared)

    handle.services = shared  # type: ignore[attr-defined]
    return handle


_SHARED: dict[str, Handler] = {}
_SHARED_LOCK = threading.Lock()


def shared_handler(config: Config, *, mode: str = "python") -> Handler:
    """One handler per configuration file for the whole process (mod_python3 re-imports
    its module on every call; the services must survive that)."""
    key = f"{config.source}|{mode}"
    with _SHARED_LOCK:
        handler = _SHARED.get(key)
        if handler is None:
            handler = _SHARED[key] = call_handler(config, mode=mode)
        return handler


def release_shared_handlers() -> list[str]:
    """Forget every ``shared_handler`` and close what it holds (database pool, PBX
    API connection); calls in progress keep the objects they already have. Returns
    the keys released (``config file|mode``)."""
    with _SHARED_LOCK:
        released = dict(_SHARED)
        _SHARED.clear()
    for handler in released.values():
        services = getattr(handler, "services", None)
        for closable in (getattr(getattr(services, "switch", None), "transport", None), getattr(services, "db", None)):
            try:
                if closable is not None and callable(getattr(closable, "close", None)):
                    closable.close()
            except Exception:  # one broken resource must not keep the others open
                log.exception("closing a released handler's %s failed", type(closable).__name__)
    return sorted(released)


# --------------------------------------------------------------------------- composition root
#
# Every process builds its services here, once, the same way: ``serve``
# (``call_handler`` + ``start_outbox_drain``), ``api`` (``build_api_services``),
# the dispatcher (``build_dispatcher``), and the demo and ``simulate``
# (``SimStack``: the same call handler against the simulator).


def connect_pbx(config: Config, *, events: Optional[tuple] = (), metrics: Any = None) -> tuple[Any, Any]:
    """``(inbound ESL client, Switch)`` for ``config.esl``; ``ESLError`` when the
    PBX cannot be reached. ``events=()``: only BACKGROUND_JOB (originate results:
    agent legs report on their own outbound socket; what every process here
    uses); ``None``: the client's default subscriptions. The client reconnects by itself
    (``esl.reconnect_max_delay``); ``metrics`` (default the process's, ``False``:
    none) follows the connection (``follow_pbx``)."""
    kwargs = {} if events is None else {"events": events}
    try:
        client = InboundClient.from_config(config.esl, **kwargs).connect()
    except ESLError:
        pbx_unreachable(metrics)
        raise
    follow_pbx(client, metrics)
    return client, Switch(client, timeout=config.esl.timeout)


def _process_metrics(metrics: Any) -> Any:
    return METRICS if metrics is None else metrics


def follow_pbx(client: Any, metrics: Any = None) -> None:
    """``voiceai_ivr_esl_connected``, ``voiceai_ivr_esl_reconnects_total`` and
    ``/health``'s ``pbx`` follow ``client``'s connection from now on."""
    metrics = _process_metrics(metrics)
    if metrics is False:
        return

    def changed(up: bool) -> None:
        if up and client.reconnects:
            metrics.esl_reconnect()
        metrics.esl_state(up)

    client.on_connection(changed)
    metrics.esl_state(client.connected)


def pbx_unreachable(metrics: Any = None) -> None:
    """The PBX could not be reached at all: ``voiceai_ivr_esl_connected`` 0."""
    metrics = _process_metrics(metrics)
    if metrics is not False:
        metrics.esl_state(False)


def availability_checker(config: Config, switch: Any) -> Any:
    return AvailabilityChecker(
        switch,
        cache_seconds=config.dispatcher.availability_cache_seconds,
        dnd_lookup=dnd_lookup_from_config(config.dialplan.fusionpbx_dsn, config.dispatcher.dnd_query),
    )


def build_dispatcher(
    config: Config,
    db: Any,
    *,
    listen: Optional[tuple[str, int]] = None,
    advertise: str = "",
    concurrency: Optional[int] = None,
) -> Any:
    """A started ``Dispatcher`` wired to the configured PBX (agent-leg listener on
    ``listen``, default ``dispatcher.listen_*``); when the PBX cannot be reached it
    still replays the spool, expires callbacks and delivers the outbox, then
    reports it."""
    try:
        client, switch = connect_pbx(config)
    except ESLError as exc:
        # No PBX: nothing is dialled, no voice needed.
        services = Services(config=config, prompts=PromptBook.from_config(config), db=db)
        dispatcher = Dispatcher(
            config, db, None, services=services, listen=listen, advertise=advertise, concurrency=concurrency
        )
        return dispatcher.without_pbx(f"PBX unreachable at {config.esl.host}:{config.esl.port}: {exc}")
    dispatcher = Dispatcher(
        config,
        db,
        switch,
        availability=availability_checker(config, switch),
        # The whisper and the customer's prompts get the same voices (speech engine
        # per language) as calls do.
        services=build_services(config, db=db, switch=switch, metrics=False, report_speech=False),
        listen=listen,
        advertise=advertise,
        concurrency=concurrency,
    )
    dispatcher.esl_client = client
    try:
        return dispatcher.start()
    except BaseException:
        client.close()
        raise


def start_outbox_drain(config: Config, db: Any, *, metrics: Any = None) -> Any:
    """The process's background helpdesk delivery (``outbox_worker.OutboxDrain``):
    one worker, polling every ``helpdesk.delivery_interval`` seconds, feeding the
    outbox backlog and oldest-row age into ``metrics`` (default: the process's)."""
    if metrics is None:
        metrics = METRICS
    return OutboxDrain(db, config, metrics=metrics or None).start()


def start_spool_replay(config: Config, db: Any, *, metrics: Any = None) -> Any:
    """The process's background replay of its own spool (``stores.spool.SpoolReplayer``):
    callbacks confirmed while PostgreSQL was down reach the database (then the
    helpdesk, through the outbox) within ``helpdesk.delivery_interval`` seconds
    of its return, with no operator command."""

    return SpoolReplayer(db, spool_path(config), messages=confirmed_messages(config),
                         interval=config.helpdesk.delivery_interval,
                         metrics=_process_metrics(metrics) or None).start()


def build_api_services(config: Config, db: Any, *, drain: bool = True) -> Any:
    """``ApiServices`` for ``voiceai-ivr api``: the database, the outbox drain, and,
    when the PBX can be reached, availability and click-to-call (a dispatcher
    listening on ``api.agent_listen_*``). ``ConfigError`` as ``Dispatcher.start``."""
    dispatcher = build_dispatcher(
        config,
        db,
        listen=(config.api.agent_listen_host, config.api.agent_listen_port),
        advertise=config.api.agent_socket_address,
        concurrency=config.api.call_workers,
    )
    outbox = start_outbox_drain(config, db) if drain else None
    services = ApiServices(db=db, outbox=outbox)
    if dispatcher.switch is None:
        log.warning("%s: availability and click-to-call disabled until it answers", dispatcher.no_pbx_reason)
        dispatcher.close()
        services.pbx_ping = lambda: False  # configured but down: /health says so
        services.pbx_retry = threading.Event()
        threading.Thread(target=_connect_api_later, args=(config, db, services, services.pbx_retry),
                         name="api-pbx-connect", daemon=True).start()
        return services
    _attach_api_pbx(services, dispatcher)
    return services


def _attach_api_pbx(services: Any, dispatcher: Any) -> None:
    client = dispatcher.esl_client

    def ping() -> bool:
        wake_link(dispatcher.switch)  # a health check while it is down: try again now
        return bool(client.connected)

    services.availability, services.dispatcher, services.pbx_ping = dispatcher.availability, dispatcher, ping


def _connect_api_later(config: Config, db: Any, services: Any, stop: threading.Event) -> None:
    """The API started while FreeSWITCH was down: try again (every
    ``esl.reconnect_max_delay`` seconds) until it answers, then turn availability
    and click-to-call on; from then on the connection reconnects by itself."""
    while not stop.wait(max(1.0, float(config.esl.reconnect_max_delay))):
        try:
            dispatcher = build_dispatcher(
                config, db, listen=(config.api.agent_listen_host, config.api.agent_listen_port),
                advertise=config.api.agent_socket_address, concurrency=config.api.call_workers)
        except Exception:  # a bad setting is reported at start; keep the API serving
            log.exception("api: connecting to the PBX failed")
            continue
        if dispatcher.switch is None:
            dispatcher.close()
            continue
        if stop.is_set():  # the API is stopping: do not leave a listener behind
            dispatcher.close()
            dispatcher.esl_client.close()
            return
        _attach_api_pbx(services, dispatcher)
        log.warning("api: PBX reachable again at %s:%s: availability and click-to-call on",
                    config.esl.host, config.esl.port)
        return


def current_plan(config: Config, *, mode: Optional[str] = None) -> SpeechPlan:
    """The speech plan as ``config check`` and ``voiceai-ivr speech plan`` report it:
    asks the configured FreeSWITCH (bounded by ``esl.timeout``) whether it has the ASR
    engine and the TTS module, and whether it sees the audio directory; without a
    reachable FreeSWITCH the plan says what it assumed."""
    client: Any = None
    switch: Any = None
    try:
        client, switch = connect_pbx(config)
    except Exception as exc:  # noqa: BLE001 - unreachable PBX: the plan says it assumed
        logging.getLogger("voiceai_ivr.speech").info("FreeSWITCH not reachable for the speech check: %s", exc)
    try:
        asr_known: Optional[bool] = None
        if switch is not None:
            try:
                asr_known = config.speech.asr_engine.lower() in switch.asr_interfaces()
            except Exception:  # noqa: BLE001 - unknown, not absent
                asr_known = None
        return make_plan(config, switch=switch, mode=mode or config.dialplan.mode, asr_known=asr_known)
    finally:
        if client is not None:
            client.close()


__all__ = [
    "availability_checker",
    "build_api_services",
    "build_dispatcher",
    "build_services",
    "call_handler",
    "connect_pbx",
    "current_plan",
    "follow_pbx",
    "handle_call",
    "metrics_hook",
    "release_shared_handlers",
    "run_caller",
    "shared_handler",
    "start_outbox_drain",
    "start_spool_replay",
]
