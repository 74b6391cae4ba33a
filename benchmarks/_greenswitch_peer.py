"""Benchmark-only: the minimal call script of ``voiceai-ivr serve --flow minimal``
written for greenswitch's ``OutboundESLServer`` (gevent), so both servers can be
driven by the same simulated load and their CPU seconds per call compared.

    python benchmarks/_greenswitch_peer.py --port PORT

The script sends the same commands, in the same order, as our ``minimal_flow``
over ``ESLChannel`` (see voiceai_ivr/flows/minimal.py and channel/esl.py):
``myevents``, ``event plain BACKGROUND_JOB``, ``linger``, ``answer``, ``set
tts_engine``/``set tts_voice``, ``play_and_get_digits`` (greeting), a playback of
the digits, a goodbye playback, ``sendmsg call-command: hangup``, ``exit``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
from typing import Any

import gevent
from greenswitch.esl import NotConnectedError, OutboundESLServer, OutboundSessionHasGoneAway

from voiceai_ivr.flows.minimal import GOODBYE, GOT_DIGITS, GREETING, NO_DIGITS
from voiceai_ivr.switch import quote_arg

TTS_ENGINE = "flite"
TTS_VOICE = "kal"


class MinimalCall:
    """greenswitch's application contract: ``__init__(session)`` and ``run()``."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self) -> None:
        s = self.session
        try:
            s.myevents()
            s.send("event plain BACKGROUND_JOB")
            s.linger()
            s.call_command("answer", block=True, response_timeout=30)
            s.call_command("set", f"tts_engine={TTS_ENGINE}", block=True, response_timeout=30)
            s.call_command("set", f"tts_voice={TTS_VOICE}", block=True, response_timeout=30)
            arg = (f"1 4 1 5000 # {quote_arg(GREETING)} silence_stream://250 voiceai_digits \\d+ 3000")
            event = s.call_command("play_and_get_digits", arg, block=True, response_timeout=60)
            digits = ""
            if event is not None and event.headers.get("variable_read_result") == "success":
                digits = event.headers.get("variable_voiceai_digits") or ""
            text = GOT_DIGITS.format(digits=" ".join(digits)) if digits else NO_DIGITS
            s.call_command("playback", text, block=True, response_timeout=60)
            s.call_command("playback", GOODBYE, block=True, response_timeout=60)
            s.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
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
