"""The speech plan as ``config check`` and ``voiceai-ivr speech plan`` report it:
asks the configured FreeSWITCH (bounded by ``esl.timeout``) whether it has the ASR
engine and the TTS module, and whether it sees the audio directory; without a
reachable FreeSWITCH the plan says what it assumed."""

from __future__ import annotations

import logging
from typing import Any, Optional

from voiceai_ivr.config import Config
from voiceai_ivr.speech.plan import SpeechPlan, make_plan

log = logging.getLogger("voiceai_ivr.speech")


def current_plan(config: Config, *, mode: Optional[str] = None) -> SpeechPlan:
    client: Any = None
    switch: Any = None
    try:
        from voiceai_ivr.app import connect_pbx

        client, switch = connect_pbx(config)
    except Exception as exc:  # noqa: BLE001 - unreachable PBX: the plan says it assumed
        log.info("FreeSWITCH not reachable for the speech check: %s", exc)
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


__all__ = ["current_plan"]
