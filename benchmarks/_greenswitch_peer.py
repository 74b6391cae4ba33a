"""Benchmark-only: the minimal call script of ``voiceai-ivr serve --flow minimal``
written for greenswitch's ``OutboundESLServer`` (gevent), so both servers can be
driven by the same simulated load and their CPU seconds per call compared.

    python benchmarks/_greenswitch_peer.py --port PORT

The script sends the same applications, in the same order, as our
``minimal_flow`` over ``ESLChannel`` (voiceai_ivr/flows/minimal.py,
voiceai_ivr/channel/esl.py): ``myevents``, ``event plain BACKGROUND_JOB``,
``linger``, ``answer``, ``set playback_terminators=any``, ``set tts_engine``,
``set tts_voice``, the keyed turn (``set voiceai_slot=digits``, ``playback``
of the greeting, ``set voiceai_slot=``; keys from DTMF events, ``#`` ends, 5 s
for the first key, 3 s between keys), a playback of the digits, a goodbye
playback, ``sendmsg call-command: hangup`` (then up to 1 s for the hangup
event), ``exit``. It is written the way greenswitch is used: each command waits
for its reply (greenswitch's ``send``), each application for its
CHANNEL_EXECUTE_COMPLETE (``call_command(block=True)``), except the
``set voiceai_slot=digits`` that ours pipelines before the prompt.
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
from typing import Any

import gevent
import gevent.event
from greenswitch.esl import NotConnectedError, OutboundESLServer, OutboundSessionHasGoneAway

from voiceai_ivr.flows.minimal import GOODBYE, GOT_DIGITS, GREETING, NO_DIGITS

TTS_ENGINE = "flite"
TTS_VOICE = "kal"
FIRST_KEY_S = 5.0
NEXT_KEY_S = 3.0
MAX_DIGITS = 4


class MinimalCall:
    """greenswitch's application contract: ``__init__(session)`` and ``run()``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.keys: list[str] = []
        self.key_arrived = gevent.event.Event()
        self.gone = gevent.event.Event()
        session.register_handle("DTMF", self.on_dtmf)
        session.register_handle("CHANNEL_HANGUP", self.on_hangup)

    def on_dtmf(self, event: Any) -> None:
        digit = (event.headers.get("DTMF-Digit") or "")[:1]
        if digit:
            self.keys.append(digit)
            self.key_arrived.set()

    def on_hangup(self, event: Any) -> None:
        self.gone.set()

    def collect(self) -> str:
        digits = ""
        timeout = FIRST_KEY_S
        while len(digits) < MAX_DIGITS:
            if not self.keys:
                self.key_arrived.clear()
                if not self.key_arrived.wait(timeout) or not self.keys:
                    break
            key = self.keys.pop(0)
            if key == "#":
                break
            digits += key
            timeout = NEXT_KEY_S
        return digits

    def run(self) -> None:
        s = self.session
        try:
            s.myevents()
            s.send("event plain BACKGROUND_JOB")
            s.linger()
            s.call_command("answer", block=True, response_timeout=30)
            s.call_command("set", "playback_terminators=any", block=True, response_timeout=30)
            s.call_command("set", f"tts_engine={TTS_ENGINE}", block=True, response_timeout=30)
            s.call_command("set", f"tts_voice={TTS_VOICE}", block=True, response_timeout=30)
            if not self.keys:
                s.call_command("set", "voiceai_slot=digits")
                s.call_command("playback", GREETING, block=True, response_timeout=60)
                s.call_command("set", "voiceai_slot=", block=True, response_timeout=30)
            digits = self.collect()
            text = GOT_DIGITS.format(digits=" ".join(digits)) if digits else NO_DIGITS
            s.call_command("playback", text, block=True, response_timeout=60)
            s.call_command("playback", GOODBYE, block=True, response_timeout=60)
            s.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
            self.gone.wait(1.0)
        except (OutboundSessionHasGoneAway, NotConnectedError, gevent.Timeout):
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = OutboundESLServer(bind_address=args.host, bind_port=args.port, application=MinimalCall,
                               max_connections=100000)
    gevent.signal_handler(signal.SIGTERM, server.stop)
    print(f"greenswitch peer listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.listen()
    return 0


if __name__ == "__main__":
    sys.exit(main())
