"""mod_python3 entry point: ``<action application="python" data="voiceai_ivr.modpython config=FILE"/>``.

FreeSWITCH re-imports and reloads this module on every call, so it stays a thin
shim: state (database pool, Event Socket client, directory caches, the agent
registry) lives in modules that are imported once (``voiceai_ivr.app.shared_handler``,
one handler per configuration file for the whole FreeSWITCH process).

mod_python3 calls ``handler(session, args)`` where ``args`` is everything after the
module name (``switch_separate_string``, quotes removed): ``config=/etc/voiceai-ivr/voiceai.yaml``
selects the configuration file (a bare path is read the same way); without it
``VOICEAI_CONFIG`` in FreeSWITCH's environment, or the defaults, are used. The
package must be importable by FreeSWITCH's embedded Python (system install or
``PYTHONPATH`` in FreeSWITCH's environment).

Agent legs of an attended transfer come back here too: the caller's flow
originates them with ``&python('voiceai_ivr.modpython config=FILE')`` and the
channel variable ``voiceai_role=agent``, so they reach the same handler, and its
agent registry, as the caller waiting for them.

``handler`` never lets an exception reach FreeSWITCH: failures are logged (and
written to the FreeSWITCH console), and the call is hung up. When it returns, the
channel adapter lets go of the session, so FreeSWITCH can destroy the channel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Callable, Optional

log = logging.getLogger("voiceai_ivr.modpython")


def _embedded() -> Any:
    """mod_python3's ``freeswitch`` module when running inside FreeSWITCH, else None
    (another module of that name, such as a test package, does not count)."""
    try:
        import freeswitch  # type: ignore[import-not-found]
    except ImportError:
        return None
    return freeswitch if callable(getattr(freeswitch, "consoleLog", None)) else None


def _console(level: str, text: str) -> None:
    """Write to FreeSWITCH's console when running inside it, else to logging."""
    freeswitch = _embedded()
    if freeswitch is None:
        getattr(log, "error" if level == "err" else "info")("%s", text)
        return
    freeswitch.consoleLog(level, f"[voiceai_ivr] {text}\n")


def parse_args(args: Optional[str]) -> Optional[str]:
    """The configuration file named by the application's arguments: ``config=FILE``,
    or a bare ``FILE``; ``None`` when there is none. Anything else is refused with a
    ``ValidationError`` naming it."""
    # lazy: FreeSWITCH re-imports this shim on every call; it loads the package only when used
    from voiceai_ivr.errors import ValidationError

    config: Optional[str] = None
    for word in (args or "").split():
        key, sep, value = word.partition("=")
        if not sep:
            key, value = "config", word
        if key != "config" or not value:
            raise ValidationError("python application argument", f"expected config=FILE, got {word!r}")
        if config is not None:
            raise ValidationError("python application argument", "config= given twice")
        config = value
    return config


def config_file(args: Optional[str], env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The configuration file of this leg as an absolute path (``config=`` of the
    arguments, else ``VOICEAI_CONFIG``): a caller's leg and the agent legs it
    originates must name the file identically to share one handler."""
    env = os.environ if env is None else env
    path = parse_args(args) or env.get("VOICEAI_CONFIG") or ""
    return os.path.abspath(os.path.expanduser(path)) if path else None


class _ConsoleStream:
    """A text stream into FreeSWITCH's log (``freeswitch.consoleLog``), so the
    package's log lines land in ``freeswitch.log`` next to the call's own."""

    voiceai_freeswitch_console = True

    def __init__(self, freeswitch: Any) -> None:
        self._fs = freeswitch

    def write(self, text: str) -> int:
        if text.strip():
            head = text[:48]
            level = "err" if (" ERROR " in head or " CRITICAL " in head) else (
                "warning" if " WARNING " in head else ("debug" if " DEBUG " in head else "info"))
            self._fs.consoleLog(level, text if text.endswith("\n") else text + "\n")
        return len(text)

    def flush(self) -> None:
        return None


def _log_to_freeswitch(config: Any) -> None:
    """Once per process: the package's logging goes to FreeSWITCH's log, at the
    configured level, secrets redacted (``voiceai_ivr.logs``)."""
    freeswitch = _embedded()
    if freeswitch is None:
        return  # not inside FreeSWITCH (tests)
    root = logging.getLogger()
    if any(getattr(getattr(h, "stream", None), "voiceai_freeswitch_console", False) for h in root.handlers):
        return
    # lazy: FreeSWITCH re-imports this shim on every call; it loads the package only when used
    from voiceai_ivr.logs import setup_logging

    secrets = (config.esl.password, config.helpdesk.token, config.llm.api_key, config.database.dsn)
    setup_logging(config.logging.level, config.logging.json, stream=_ConsoleStream(freeswitch),  # type: ignore[arg-type]
                  secrets=[s for s in secrets if s])


def _flow(config: Any) -> Callable[[Any], None]:
    """The real call handler (``app.shared_handler``), or the minimal flow when
    ``voiceai_ivr.app`` cannot be imported at all."""
    try:
        # lazy: FreeSWITCH re-imports this shim on every call; the composition root is imported once, on first use
        from voiceai_ivr.app import shared_handler
    except ModuleNotFoundError as exc:
        if exc.name != "voiceai_ivr.app":
            raise
    else:
        return shared_handler(config, mode="python")
    import functools

    # lazy: FreeSWITCH re-imports this shim on every call; it loads the package only when used
    from voiceai_ivr.flows.minimal import minimal_flow

    voice = config.speech.tts_voice.get("pt-BR") or next(iter(config.speech.tts_voice.values()), "kal")
    return functools.partial(minimal_flow, tts_engine=config.speech.tts_engine, tts_voice=voice)


def handler(session: Any, args: Optional[str] = None) -> None:
    """Called by mod_python3 once per call leg, on the leg's own thread."""
    channel: Any = None
    try:
        # lazy: inside the try, so even a broken install hangs the call up instead of raising into FreeSWITCH
        from voiceai_ivr.channel.modpython import ModPythonChannel
        from voiceai_ivr.config import load_config
        from voiceai_ivr.errors import CallGone
        from voiceai_ivr.logs import call_context

        config = load_config(config_file(args))
        _log_to_freeswitch(config)
        flow = _flow(config)
        speech = config.speech
        channel = ModPythonChannel(session, listen_engine=speech.asr_engine, grammar=speech.asr_grammar,
                                   digit_timeout_s=speech.digit_timeout)
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


def fsapi(session: Any, stream: Any, env: Any, args: Optional[str] = None) -> None:
    """``fs_cli -x "python voiceai_ivr.modpython COMMAND"`` (mod_python3's api entry):

    * ``status``: the handlers this FreeSWITCH process holds (configuration file, mode);
    * ``reload``: close them and forget every ``voiceai_ivr`` module, so the next call
      reads the configuration file again and runs the package as it is now on disk
      (after an upgrade), without restarting FreeSWITCH. Calls in progress finish on
      the code they started with."""
    import sys

    command = (args or "").strip()
    try:
        if command == "status":
            app = sys.modules.get("voiceai_ivr.app")
            keys = sorted(getattr(app, "_SHARED", {})) if app is not None else []
            stream.write("".join(f"{key}\n" for key in keys) or "no handler loaded\n")
        elif command == "reload":
            app = sys.modules.get("voiceai_ivr.app")
            release = getattr(app, "release_shared_handlers", None)
            if callable(release):
                released = release()
            else:  # a version loaded before there was release_shared_handlers
                shared = getattr(app, "_SHARED", None)
                released = sorted(shared) if isinstance(shared, dict) else []
                if isinstance(shared, dict):
                    shared.clear()
            names = [n for n in sys.modules if n == "voiceai_ivr" or n.startswith("voiceai_ivr.")]
            for name in names:
                del sys.modules[name]
            stream.write(f"+OK released {len(released)} handler(s), {len(names)} module(s)\n")
        else:
            stream.write("-USAGE: python voiceai_ivr.modpython status|reload\n")
    except Exception as exc:  # an api command must answer, not raise into FreeSWITCH
        log.exception("mod_python3 api %r failed", command)
        stream.write(f"-ERR {type(exc).__name__}: {exc}\n")


def _hangup(session: Any) -> None:
    try:
        if session.ready():
            session.hangup("NORMAL_TEMPORARY_FAILURE")
    except BaseException:  # the session itself is broken; nothing more to do
        log.exception("mod_python3: hangup after failure did not work")
