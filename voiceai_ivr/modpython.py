"""mod_python3 entry point: ``<action application="python" data="voiceai_ivr.modpython"/>``.

FreeSWITCH re-imports and reloads this module on every call, so it stays a thin
shim: state (database pool, Event Socket client, directory caches) lives in
modules that are imported once (``voiceai_ivr.app.shared_handler``).

``data="voiceai_ivr.modpython /etc/voiceai-ivr/config.yaml"`` passes a config
file as ``args``; without it ``VOICEAI_CONFIG`` / the defaults are used. The
package must be importable by FreeSWITCH's embedded Python (system install or
``PYTHONPATH`` in FreeSWITCH's environment).

``handler`` never lets an exception reach FreeSWITCH: failures are logged (and
written to the FreeSWITCH console), and the call is hung up.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

log = logging.getLogger("voiceai_ivr.modpython")


def _console(level: str, text: str) -> None:
    """Write to FreeSWITCH's console when running inside it, else to logging."""
    try:
        import freeswitch  # type: ignore[import-not-found]
    except ImportError:
        getattr(log, "error" if level == "err" else "info")("%s", text)
        return
    freeswitch.consoleLog(level, f"[voiceai_ivr] {text}\n")


def _flow(config: Any) -> Callable[[Any], None]:
    """The real call handler: ``voiceai_ivr.app`` when it is there, else the minimal flow."""
    import importlib

    app: Any
    try:
        app = importlib.import_module("voiceai_ivr.app")
    except ModuleNotFoundError as exc:
        if exc.name != "voiceai_ivr.app":
            raise
        app = None
    if app is not None:
        shared = getattr(app, "shared_handler", None)
        if callable(shared):
            return shared(config, mode="python")  # type: ignore[no-any-return]
        factory = getattr(app, "call_handler", None)
        if callable(factory):
            return factory(config, mode="python")  # type: ignore[no-any-return]
    import functools

    from voiceai_ivr.flows.minimal import minimal_flow

    voice = config.speech.tts_voice.get("pt-BR") or next(iter(config.speech.tts_voice.values()), "")
    return functools.partial(minimal_flow, tts_engine=config.speech.tts_engine, tts_voice=voice)


def handler(session: Any, args: Optional[str] = None) -> None:
    """Called by mod_python3 once per call, on the call's own thread."""
    channel: Any = None
    try:
        from voiceai_ivr.channel.modpython import ModPythonChannel
        from voiceai_ivr.config import load_config
        from voiceai_ivr.errors import CallGone
        from voiceai_ivr.logs import call_context

        config = load_config((args or "").strip() or None)
        flow = _flow(config)
        channel = ModPythonChannel(session, listen_engine=config.speech.asr_engine, grammar=config.speech.asr_grammar)
        domain = channel.data.get("variable_voiceai_domain") or channel.data.get("variable_domain_name") or ""
        with call_context(channel.uuid, domain):
            try:
                flow(channel)
            except CallGone:
                log.info("call %s: caller hung up", channel.uuid)
    except BaseException as exc:  # nothing may escape into FreeSWITCH
        log.exception("mod_python3 handler failed")
        _console("err", f"call handler failed: {type(exc).__name__}: {exc}")
        _hangup(session)
    finally:
        if channel is not None:
            channel.close()


def _hangup(session: Any) -> None:
    try:
        if session.ready():
            session.hangup("NORMAL_TEMPORARY_FAILURE")
    except BaseException:  # the session itself is broken; nothing more to do
        log.exception("mod_python3: hangup after failure did not work")
