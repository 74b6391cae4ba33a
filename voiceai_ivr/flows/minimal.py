"""The minimal call flow: answer, greet, collect digits, say goodbye, hang up.

Used by ``voiceai-ivr serve`` until ``voiceai_ivr.app.call_handler`` exists; it
proves the whole path (FreeSWITCH or the simulator -> outbound server -> channel).
"""

from __future__ import annotations

import logging
from typing import Optional

from voiceai_ivr.channel.base import Channel

log = logging.getLogger("voiceai_ivr.flows.minimal")

GREETING = "say:Olá! Você ligou para a secretária virtual. Digite o ramal desejado e tecle sustenido."
GOT_DIGITS = "say:Você digitou {digits}. Obrigado."
NO_DIGITS = "say:Não recebemos nenhuma opção."
GOODBYE = "say:Até logo."


def minimal_flow(channel: Channel, *, tts_engine: Optional[str] = None, tts_voice: Optional[str] = None) -> None:
    channel.answer()
    if tts_engine and tts_voice:
        channel.set_tts(tts_engine, tts_voice)
    digits = channel.collect_digits(GREETING, min_digits=1, max_digits=4, timeout_s=5.0, terminators="#")
    log.info("call %s: minimal flow got %r", channel.uuid, digits)
    if digits:
        channel.play(GOT_DIGITS.format(digits=" ".join(digits)))
    else:
        channel.play(NO_DIGITS)
    channel.play(GOODBYE)
    channel.hangup("NORMAL_CLEARING")
