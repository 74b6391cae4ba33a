"""Whether the PBX can recognise speech with the configured engine: detected, never assumed.

A stock FreeSWITCH or FusionPBX has no speech-recognition module. There,
``play_and_detect_speech`` fails at once (``ASR INIT ERROR``) and plays nothing, so
an IVR that assumes speech greets nobody. ``SpeechSupport`` is the process-wide
answer to "can this PBX hear callers?":

* at start (and again after the inbound Event Socket reconnected, or every
  ``RECHECK_S`` seconds) it reads ``show interfaces`` and looks for an ``asr``
  interface named like ``speech.asr_engine``;
* the first ``ASR INIT ERROR`` of a call marks it unavailable too (a module that
  is loaded but cannot initialise, e.g. an unreachable MRCP server);
* while unavailable every turn is keyed (``Channel.listen(speech=False)``) and the
  prompts say only what can be keyed (the ``keyed`` template variable).

The state is logged once per change and exported as the gauge
``voiceai_ivr_speech_recognition_available`` and in ``/health``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from voiceai_ivr.ports import PBX

log = logging.getLogger("voiceai_ivr.speech")

#: How long a detection stays valid before call start asks the PBX again.
RECHECK_S = 300.0


class SpeechSupport:
    """Thread-safe; shared by every call of a process."""

    def __init__(self, engine: str, *, available: Optional[bool] = None,
                 on_change: Optional[Callable[[bool, str], None]] = None) -> None:
        self.engine = engine
        self._available = available
        self.reason = "not checked yet" if available is None else "configured"
        self._lock = threading.Lock()
        self._checked_at = 0.0 if available is None else time.monotonic()
        self._reconnects_seen = -1
        self._on_change = on_change

    @property
    def available(self) -> bool:
        """False only once the PBX showed it has no such engine; unknown counts as
        available (the first ``ASR INIT ERROR`` settles it)."""
        return self._available is not False

    @property
    def known(self) -> Optional[bool]:
        return self._available

    def set(self, available: bool, reason: str) -> None:
        with self._lock:
            changed = self._available is not available
            self._available = available
            self.reason = reason
            self._checked_at = time.monotonic()
        if not changed:
            return
        if available:
            log.info("speech recognition available: engine %r (%s)", self.engine, reason)
        else:
            log.warning("speech recognition unavailable: engine %r (%s); callers are served by keys only",
                        self.engine, reason)
        if self._on_change is not None:
            try:
                self._on_change(available, reason)
            except Exception:  # a metrics bug must not break a call
                log.exception("speech support listener failed")

    def mark_unavailable(self, reason: str) -> None:
        self.set(False, reason)

    def check(self, switch: PBX) -> Optional[bool]:
        """Ask the PBX (``show interfaces``). Returns the new state, or None when the
        PBX could not be asked (the previous state stands)."""
        try:
            names = switch.asr_interfaces()
        except Exception as exc:  # noqa: BLE001 - any PBX failure leaves the state as it was
            log.info("speech recognition not checked: %s", exc)
            return None
        if self.engine.lower() in names:
            self.set(True, f"PBX has ASR interface {self.engine!r}")
            return True
        found = ", ".join(sorted(names)) or "none"
        self.set(False, f"PBX has no ASR interface {self.engine!r} (loaded: {found})")
        return False

    def refresh(self, switch: PBX) -> None:
        """At call start: check again when the inbound connection reconnected since
        the last check, or the last check is older than ``RECHECK_S``. Cheap
        otherwise (two comparisons)."""
        reconnects = getattr(getattr(switch, "transport", None), "reconnects", None)
        stale = time.monotonic() - self._checked_at > RECHECK_S
        if not stale and (reconnects is None or reconnects == self._reconnects_seen):
            return
        if reconnects is not None:
            self._reconnects_seen = reconnects
        with self._lock:
            self._checked_at = time.monotonic()  # an unreachable PBX is not asked at every call
        self.check(switch)


__all__ = ["RECHECK_S", "SpeechSupport"]
