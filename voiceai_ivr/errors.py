"""The package's one exception tree.

Every error the package raises on purpose derives from ``VoiceAIError``::

    VoiceAIError
    ├── ConfigError             configuration file or environment is invalid
    ├── ValidationError         one input field is refused (CLI, API, YAML, caller input)
    │   ├── DialStringError     a value would alter a FreeSWITCH dial string
    │   └── DirectoryError      an import document has problems (``problems`` lists all)
    ├── ESLError                Event Socket problems
    │   ├── ProtocolError       malformed or oversized frame; that connection is closed
    │   ├── ESLTimeout          a reply or event did not arrive in time
    │   ├── ESLDisconnected     the socket went away; every waiter is released with it
    │   ├── AuthError           FreeSWITCH refused the password or the ACL rejected us
    │   └── CommandError        FreeSWITCH answered -ERR to a command
    ├── CallGone                the call leg hung up; raised out of any channel wait
    ├── SpeechUnavailable       the PBX has no such speech-recognition engine (ASR INIT ERROR)
    ├── StoreError              database problems
    │   ├── DatabaseUnavailable cannot reach PostgreSQL (caller-facing paths spool instead)
    │   └── MigrationError      a migration cannot be applied (edited file, SQL error)
    └── HelpdeskError           the helpdesk HTTP API failed (retryable unless ``permanent``)

Lower-level errors (socket.timeout, psycopg2.Error, requests exceptions) are
re-raised at the boundary ``from exc`` so the cause stays visible. No name here
shadows a builtin.
"""

from __future__ import annotations

from typing import Optional


class VoiceAIError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(VoiceAIError):
    """The configuration is invalid; ``problems`` lists ``path: reason`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) or "invalid configuration")


class ValidationError(VoiceAIError):
    """One input field was refused. ``field`` names it (``destinations[2].target``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class DialStringError(ValidationError):
    """A value would alter a FreeSWITCH dial string and was refused."""


class DirectoryError(ValidationError):
    """A destinations/secretaries document was refused as a whole. ``problems`` lists
    every ``path: reason`` found (``destinations[2].target: ...``), so an import is
    all-or-nothing and the admin sees every mistake at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        first_field, _, first_reason = (self.problems[0] if self.problems else "document: invalid").partition(": ")
        super().__init__(first_field, first_reason)
        self.args = ("; ".join(self.problems) or "invalid document",)

    def __str__(self) -> str:
        return "\n".join(self.problems) or "invalid document"


class ESLError(VoiceAIError):
    """Event Socket failure."""


class ProtocolError(ESLError):
    """The peer sent a malformed or oversized frame; the connection is not usable."""


class ESLTimeout(ESLError):
    """A reply or event did not arrive within its bound."""


class ESLDisconnected(ESLError):
    """The Event Socket connection is gone; raised to every pending waiter."""


class AuthError(ESLError):
    """FreeSWITCH refused our credentials (``-ERR invalid``) or rejected us by ACL."""


class CommandError(ESLError):
    """FreeSWITCH answered ``-ERR ...`` to a command."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command.split(' ', 1)[0]}: {reply}")


class CallGone(VoiceAIError):
    """The call leg hung up. Raised out of any channel operation once the call is over."""

    def __init__(self, uuid: str = "", cause: Optional[str] = None) -> None:
        self.uuid = uuid
        self.cause = cause
        super().__init__(f"call {uuid or '?'} is gone ({cause or 'hangup'})")


class SpeechUnavailable(VoiceAIError):
    """The PBX could not start speech recognition with the configured engine
    (``play_and_detect_speech`` answered ``ASR INIT ERROR``): the turn must be keyed."""

    def __init__(self, engine: str, detail: str = "") -> None:
        self.engine = engine
        self.detail = detail
        super().__init__(f"speech recognition engine {engine!r} unavailable{': ' + detail if detail else ''}")


class StoreError(VoiceAIError):
    """Database failure."""


class DatabaseUnavailable(StoreError):
    """PostgreSQL cannot be reached (connection refused, timeout, server gone)."""


class MigrationError(StoreError):
    """A migration cannot be applied."""


class HelpdeskError(VoiceAIError):
    """The helpdesk API failed. ``permanent`` errors are dead-lettered, not retried."""

    def __init__(self, message: str, *, status: Optional[int] = None, permanent: bool = False) -> None:
        self.status = status
        self.permanent = permanent
        super().__init__(message)


def not_utf8(exc: UnicodeDecodeError) -> str:
    """What to tell a user whose file is not UTF-8: ``not UTF-8 text (byte 0xe9 at
    line 2); save it as UTF-8`` (``exc.object`` is the whole file's bytes when it
    was decoded in one piece, as every reader of user files here does)."""
    data = bytes(exc.object)
    line = data.count(b"\n", 0, exc.start) + 1
    byte = f"byte 0x{data[exc.start]:02x} " if exc.start < len(data) else ""
    return f"not UTF-8 text ({byte}at line {line}); save it as UTF-8"
