"""Is an agent reachable right now? Registered, not already in a call, not in
do-not-disturb, with a short-lived cache so a dispatcher batch or a helpdesk
page does not ask the PBX the same question many times a second.

"Unavailable" is an answer, not an error: the dispatcher records it as an
attempt outcome. Errors reaching the PBX (``ESLError``) or the FusionPBX
database (``StoreError``) are raised, so callers can tell the two apart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from voiceai_ivr.stores.fusionpbx import FusionPBXDnd
from voiceai_ivr.switch import check_domain, check_extension

log = logging.getLogger(__name__)


class PresenceSource(Protocol):
    """What the PBX answers (``Switch`` implements it)."""

    def sofia_contact(self, extension: str, domain: str) -> Optional[str]: ...

    def in_call(self, extension: str, domain: str) -> bool: ...


# (extension, domain) -> True when the extension has do-not-disturb on.
DndLookup = Callable[[str, str], bool]


@dataclass(frozen=True)
class Availability:
    extension: str
    domain: str
    registered: bool
    in_call: bool
    dnd: bool
    checked_at: float = 0.0  # monotonic seconds

    @property
    def available(self) -> bool:
        return self.registered and not self.in_call and not self.dnd

    @property
    def reason(self) -> str:
        """Why not available ("" when available): the first of unregistered, dnd, in_call."""
        if not self.registered:
            return "unregistered"
        if self.dnd:
            return "dnd"
        if self.in_call:
            return "in_call"
        return ""

    def as_dict(self) -> dict:
        return {
            "extension": self.extension,
            "domain": self.domain,
            "registered": self.registered,
            "in_call": self.in_call,
            "dnd": self.dnd,
            "available": self.available,
        }


class AvailabilityChecker:
    """Thread-safe; one instance per process. ``cache_seconds`` 0 disables the cache."""

    def __init__(
        self,
        presence: PresenceSource,
        *,
        cache_seconds: float = 10.0,
        dnd_lookup: Optional[DndLookup] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._presence = presence
        self._cache_seconds = max(0.0, float(cache_seconds))
        self._dnd = dnd_lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], Availability] = {}

    def check(self, extension: str, domain: str, *, fresh: bool = False) -> Availability:
        check_extension("extension", extension)
        check_domain("domain", domain)
        key = (extension, domain)
        now = self._clock()
        if not fresh and self._cache_seconds > 0:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit.checked_at < self._cache_seconds:
                return hit
        registered = bool(self._presence.sofia_contact(extension, domain))
        dnd = bool(self._dnd(extension, domain)) if (self._dnd is not None and registered) else False
        in_call = bool(self._presence.in_call(extension, domain)) if registered and not dnd else False
        result = Availability(extension, domain, registered, in_call, dnd, now)
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > 10000:  # bound memory on huge directories
                cutoff = now - self._cache_seconds
                self._cache = {k: v for k, v in self._cache.items() if v.checked_at >= cutoff}
        return result

    def forget(self, extension: str, domain: str) -> None:
        """Drop the cached answer (after an attempt changed the agent's state)."""
        with self._lock:
            self._cache.pop((extension, domain), None)


def dnd_lookup_from_config(dsn: str, query: str, timeout: float = 5.0) -> Optional[DndLookup]:
    """The configured FusionPBX DND source, or None when not configured."""
    if not (dsn and query):
        return None

    return FusionPBXDnd(dsn, query, connect_timeout=timeout)


__all__ = ["Availability", "AvailabilityChecker", "DndLookup", "PresenceSource", "dnd_lookup_from_config"]
