"""``voiceai-ivr serve``: the outbound Event Socket server wired to the call flows.

Per call: an ``ESLChannel`` over the session, handed to the flow the server was
given (``app.call_handler(config)`` from the ``serve`` command, or the minimal
flow). Exceptions a flow raises are logged by the server and never reach the
reactor; ``CallGone`` is an ordinary end of call.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Callable, Optional

from voiceai_ivr.channel.base import Channel
from voiceai_ivr.channel.esl import ESLChannel
from voiceai_ivr.config import Config
from voiceai_ivr.errors import CallGone, ConfigError, ESLError
from voiceai_ivr.esl.outbound import OutboundServer, OutboundSession
from voiceai_ivr.flows.minimal import minimal_flow
from voiceai_ivr.stores.calllog import install_writer, journal_dir, uninstall_writer
from voiceai_ivr.switch import DONE_VARIABLE, SERVED_VARIABLE, TRY_VARIABLE, check_source

log = logging.getLogger("voiceai_ivr.server")

_DID_RE = re.compile(r"^\+?[0-9]{2,20}$")  # as the dialplan matches it
_CONTEXT_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")

DEFAULT_BUSY_MESSAGE = "say:Todas as nossas linhas estão ocupadas no momento. Por favor, ligue mais tarde."
FlowHandler = Callable[[Channel], None]


def minimal_handler(config: Config) -> FlowHandler:
    """The minimal flow with the configured TTS engine and pt-BR voice."""
    voice = config.speech.tts_voice.get("pt-BR") or next(iter(config.speech.tts_voice.values()), "kal")
    return functools.partial(minimal_flow, tts_engine=config.speech.tts_engine, tts_voice=voice)


def make_channel(session: OutboundSession, config: Config) -> ESLChannel:
    return ESLChannel(
        session,
        listen_engine=config.speech.asr_engine,
        grammar=config.speech.asr_grammar,
        digit_timeout_s=config.speech.digit_timeout,
        command_timeout=max(config.esl.timeout, 5.0),
    )


def busy_handler(config: Config) -> Callable[[OutboundSession], None]:
    """What a call past ``max_calls`` gets. A call of the socket-mode dialplan
    (``dialplan_takes_back``) gets nothing: the socket closes without
    ``voiceai_served``, so FreeSWITCH tries the next serve address, then the
    fallback destination. Any other call hears ``server.busy_message``."""
    message = check_source(config.server.busy_message or DEFAULT_BUSY_MESSAGE, "server.busy_message")
    voice = config.speech.tts_voice.get("pt-BR") or next(iter(config.speech.tts_voice.values()), "kal")

    def busy(session: OutboundSession) -> None:
        if dialplan_takes_back(session):
            # Sent back with uuid_transfer, not by closing the socket alone: a socket
            # closed within milliseconds of its connect can leave FreeSWITCH 1.11's
            # async `socket` application parked for good (seen on the kit: the caller
            # sat in silence until the originate timeout).
            if _transfer_to_extension(session, "at capacity"):
                log.warning("call %s: at capacity; handed back to the dialplan (next serve address or fallback)",
                            session.uuid)
            return
        channel = make_channel(session, config)
        if message.startswith("say:") and voice:
            channel.set_tts(config.speech.tts_engine, voice)
        channel.play(message)
        channel.hangup("USER_BUSY")

    return busy


def dialplan_takes_back(session: OutboundSession) -> bool:
    """True for a call routed by the socket-mode dialplan of ``voiceai-ivr dialplan
    install``: when the socket closes without ``voiceai_done`` its fallback branch
    takes the caller, so a failed handler must not hang the call up."""
    return bool(session.data.get(f"variable_{TRY_VARIABLE}"))


def hand_back_to_dialplan(session: OutboundSession) -> bool:
    """A call of that dialplan still up when the drain ends: ``uuid_transfer`` it
    back into its extension, which sends it to the fallback destination (served,
    not done) instead of hanging up. False when that is not possible."""
    if not _transfer_to_extension(session, "at shutdown"):
        return False
    log.warning("call %s: still up at shutdown, handed to the dialplan's fallback", session.uuid)
    return True


def _transfer_to_extension(session: OutboundSession, why: str) -> bool:
    """``uuid_transfer`` a call of the socket-mode dialplan back into its own
    extension (which then chooses the next serve address or the fallback by the
    call's variables). False, logged, when that is not possible."""
    data = session.data
    extension = data.get("Caller-Destination-Number") or ""
    context = data.get("Caller-Context") or ""
    if (not dialplan_takes_back(session) or session.bridged or not _DID_RE.match(extension)
            or not _CONTEXT_RE.match(context)):
        return False
    try:
        reply = session.api(f"uuid_transfer {session.uuid} {extension} XML {context}", timeout=2.0)
    except (ESLError, CallGone) as exc:
        log.warning("call %s: not handed back to the dialplan %s: %s", session.uuid, why, exc)
        return False
    if not reply.startswith("+OK"):
        log.warning("call %s: not handed back to the dialplan %s: %s", session.uuid, why, reply.strip())
        return False
    return True


def _mark(session: OutboundSession, name: str) -> None:
    """``uuid_setvar UUID NAME true`` on the call's socket, not awaited (a refusal is
    logged by the session)."""
    with contextlib.suppress(CallGone, ESLError):
        session.api_nowait(f"uuid_setvar {session.uuid} {name} true")


class CallServer:
    """The configured outbound server. ``start()`` binds; ``stop(grace)`` drains."""

    def __init__(
        self,
        config: Config,
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        max_calls: Optional[int] = None,
        flow: FlowHandler,
        background_call_log: bool = False,
    ) -> None:
        self.config = config
        problems = []
        chosen_port = config.server.port if port is None else port
        if not 0 <= chosen_port <= 65535:
            problems.append(f"port: must be 0-65535, got {chosen_port}")
        chosen_max = config.server.max_calls if max_calls is None else max_calls
        if not 1 <= chosen_max <= 100000:
            problems.append(f"max_calls: must be 1-100000, got {chosen_max}")
        if problems:
            raise ConfigError(problems)
        self.flow = flow
        # ``serve``: the call log's start and end rows go through a journaled background
        # writer (stores.calllog.CallLogWriter), off every call's thread.
        self._call_log_db = getattr(getattr(self.flow, "services", None), "db", None) if background_call_log else None
        self.server = OutboundServer(
            host or config.server.host,
            chosen_port,
            self._handle,
            max_calls=chosen_max,
            busy_handler=busy_handler(config),
            command_timeout=max(config.esl.timeout, 5.0),
            after_error=dialplan_takes_back,
            at_shutdown=hand_back_to_dialplan,
        )

    def _handle(self, session: OutboundSession) -> None:
        # The socket-mode dialplan's state marks, on its calls only (nothing else
        # reads them: an agent leg's ``&socket()`` ends with its socket). Each is
        # ``api uuid_setvar`` on the call's own socket, not awaited: FreeSWITCH runs an
        # ``api`` as it reads it, before the next command on the socket, so the mark
        # is set ahead of everything the flow sends (and of the ``exit``), even if
        # this process dies right after; one short reply, no execute events.
        marked = dialplan_takes_back(session)
        if marked:
            _mark(session, SERVED_VARIABLE)
        self.flow(make_channel(session, self.config))
        # A normal end (finished, bridged, handed on), set before the ``exit`` the
        # server sends next, so the dialplan sees it when the ``socket`` application
        # returns. An exception skips it: the dialplan's fallback takes the caller.
        if marked and session.is_up():
            _mark(session, DONE_VARIABLE)

    def start(self) -> CallServer:
        if self._call_log_db is not None:

            install_writer(self._call_log_db, journal_dir(self.config.database.data_dir))
        self.server.start()
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def stop(self, grace: Optional[float] = None) -> int:
        cut = self.server.stop(self.config.server.shutdown_grace if grace is None else grace)
        if self._call_log_db is not None:

            uninstall_writer(self._call_log_db, timeout=10.0)
        return cut


__all__ = ["DEFAULT_BUSY_MESSAGE", "CallServer", "busy_handler", "dialplan_takes_back", "hand_back_to_dialplan",
           "make_channel", "minimal_handler"]
