"""The seams between the layers, as Protocols: what the flows and the stores need
from the database (``Database``, ``Cursor``), the PBX (``PBX``) and the speech
services (``Speech``).

The real objects satisfy them structurally (nothing inherits from them):
``stores.db.Database`` and its psycopg2 cursors, ``switch.Switch``,
``speech.service.SpeechServices``. Code that only passes such an object on, or
reads it through a Protocol, stays free of the module that builds it: the
composition root (``app``) is the one place that knows the concrete classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Optional, Protocol


class Cursor(Protocol):
    """A DB-API cursor (psycopg2's) inside the caller's transaction."""

    @property
    def description(self) -> Any: ...

    @property
    def rowcount(self) -> int: ...

    @property
    def connection(self) -> Any: ...

    def execute(self, query: Any, vars: Any = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(Protocol):
    """The PostgreSQL pool (``stores.db.Database``)."""

    def transaction(self, *, dict_rows: bool = ...) -> AbstractContextManager[Any]:
        """A cursor whose work commits when the block ends (rolls back on error)."""
        ...

    def cursor(self, *, dict_rows: bool = ...) -> AbstractContextManager[Any]:
        """A cursor for reads (autocommit)."""
        ...

    def connection(self, *, autocommit: bool = ...) -> AbstractContextManager[Any]:
        """A raw pooled connection, for callers that manage transactions themselves."""
        ...

    def close(self) -> None: ...


class PBX(Protocol):
    """The PBX API over inbound Event Socket (``switch.Switch``)."""

    timeout: float

    def originate(
        self,
        dial_string: str,
        *,
        uuid: Optional[str] = ...,
        timeout_s: int,
        caller_id_number: str,
        caller_id_name: str = ...,
        app: str = ...,
        variables: Optional[Mapping[str, str]] = ...,
        park_timeout_s: Optional[int] = ...,
    ) -> Any: ...

    def bridge(self, a: str, b: str) -> None: ...

    def kill(self, uuid: str, cause: str = ...) -> bool: ...

    def broadcast(self, uuid: str, source: str, leg: str = ...) -> None: ...

    def break_media(self, uuid: str) -> bool: ...

    def exists(self, uuid: str) -> bool: ...

    def getvar(self, uuid: str, name: str) -> Optional[str]: ...

    def interfaces(self, kind: str) -> set[str]: ...

    def asr_interfaces(self) -> set[str]: ...


class Speech(Protocol):
    """Prompt audio and recorded answers (``speech.service.SpeechServices``)."""

    recognizer: Any
    store: Any

    @property
    def records_answers(self) -> bool: ...

    @property
    def recognizer_available(self) -> bool: ...

    @property
    def record_max_s(self) -> int: ...

    @property
    def record_silence_s(self) -> int: ...

    @property
    def record_threshold(self) -> int: ...

    @property
    def keep_recordings_s(self) -> float: ...


__all__ = ["PBX", "Cursor", "Database", "Speech"]
