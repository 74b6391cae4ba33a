"""Turn latency of the ``http`` speech paths against a local OpenAI-compatible server.

One turn is what happens on a call between the end of the caller's speech and the
start of the next prompt, with the product's own code:

1. FreeSWITCH's ``record`` still listens for ``speech.record_silence_seconds`` of
   silence (configured, not measured: added to the totals);
2. the recording is read and measured (``speech.audio.voicing``);
3. ``HttpRecognizer.transcribe`` posts it to ``/v1/audio/transcriptions``;
4. the transcript is resolved against a directory (``domain.resolve``);
5. the next prompt's audio: ``Speaker.speak`` through ``HttpSynthesizer``
   (``/v1/audio/speech``, a text new to the cache) or a cache hit.

The server is ``tests/speech/servers.py``'s stand-in on 127.0.0.1 (it runs
espeak-ng for speech and matches recordings against known clips), so the figures
are this package's overhead plus a fast local service; a hosted service adds its
network and model time. Prints one JSON object.

Usage: python benchmarks/speech_bench.py [--turns N] [--silence S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from speech.servers import KnownAudio, SpeechStandIn, espeak_wav  # noqa: E402

from voiceai_ivr.domain.destinations import Destination  # noqa: E402
from voiceai_ivr.domain.resolve import Resolver  # noqa: E402
from voiceai_ivr.speech.audio import Pcm, parse_wav, resample, voicing, wav_bytes  # noqa: E402
from voiceai_ivr.speech.cache import AudioStore  # noqa: E402
from voiceai_ivr.speech.recognize import HttpRecognizer  # noqa: E402
from voiceai_ivr.speech.speaker import Speaker  # noqa: E402
from voiceai_ivr.speech.synth import HttpSynthesizer  # noqa: E402

PHRASES = ("financeiro", "quero falar com o suporte", "comercial", "preciso da segunda via do boleto")
NAMES = ("Financeiro", "Suporte", "Comercial", "Cobrança", "Recepção")


def _recording(clip: bytes, silence_s: float) -> bytes:
    """The clip as FreeSWITCH records it from a PCMU leg: 8 kHz, a little lead-in,
    the silence window at the end."""
    pcm = resample(parse_wav(clip), 8000)
    samples = array("h", [0] * 2400) + pcm.samples + array("h", [0] * int(8000 * silence_s))
    return wav_bytes(Pcm(8000, samples))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": pct(values, 0.95), "max_ms": round(max(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--silence", type=int, default=2, help="speech.record_silence_seconds")
    args = parser.parse_args()

    known = KnownAudio()
    clips = {text: espeak_wav(text) for text in PHRASES}
    for text, clip in clips.items():
        known.add(text, clip)
    resolver = Resolver(tuple(Destination(name=n, type="extension", target=str(1000 + i),
                                          aliases=(n.lower(),)) for i, n in enumerate(NAMES)))
    stages: dict[str, list[float]] = {k: [] for k in ("analyse", "transcribe", "resolve", "synth_new", "synth_cached",
                                                       "turn_new_prompt", "turn_cached_prompt")}
    wrong = 0
    with tempfile.TemporaryDirectory() as tmp, SpeechStandIn(known) as service:
        store = AudioStore(Path(tmp) / "speech")
        recognizer = HttpRecognizer(service.url, "whisper-1", timeout=10)
        speaker = Speaker(store, {"pt-BR": HttpSynthesizer(service.url, "tts-1", {}, timeout=10)}, timeout=10)
        speaker.speak("pt-BR", "Um momento, vou transferir sua ligação.")  # warm the connection
        recordings = []
        for i, (text, clip) in enumerate(clips.items()):
            path = Path(tmp) / f"answer-{i}.wav"
            path.write_bytes(_recording(clip, args.silence))
            recordings.append((text, path))
        for turn in range(args.turns):
            text, path = recordings[turn % len(recordings)]
            t0 = time.perf_counter()
            heard = voicing(parse_wav(path.read_bytes()), 200)
            t1 = time.perf_counter()
            transcript = recognizer.transcribe(path, "pt-BR")
            t2 = time.perf_counter()
            resolution = resolver.resolve(transcript.text)
            t3 = time.perf_counter()
            fresh = speaker.speak("pt-BR", f"Um momento, vou transferir sua ligação, pedido {turn}.")
            t4 = time.perf_counter()
            cached = speaker.speak("pt-BR", "Um momento, vou transferir sua ligação.")
            t5 = time.perf_counter()
            if transcript.text != text or not heard.has_voice or fresh.how != "synthesized" or cached.how != "cache":
                wrong += 1
            del resolution
            stages["analyse"].append((t1 - t0) * 1000)
            stages["transcribe"].append((t2 - t1) * 1000)
            stages["resolve"].append((t3 - t2) * 1000)
            stages["synth_new"].append((t4 - t3) * 1000)
            stages["synth_cached"].append((t5 - t4) * 1000)
            stages["turn_new_prompt"].append((t4 - t0) * 1000)
            stages["turn_cached_prompt"].append((t3 - t0 + t5 - t4) * 1000)
    silence_ms = args.silence * 1000.0
    out = {
        "turns": args.turns,
        "wrong": wrong,
        "cores": os.cpu_count(),
        "server": "tests/speech/servers.py stand-in on 127.0.0.1 (espeak-ng speech, clip-matching transcription)",
        "record_silence_seconds": args.silence,
        "stages": {k: summary(v) for k, v in stages.items()},
        "turn_latency_from_end_of_speech": {
            "new_prompt": {k: round(v + silence_ms, 1) for k, v in summary(stages["turn_new_prompt"]).items()},
            "cached_prompt": {k: round(v + silence_ms, 1) for k, v in summary(stages["turn_cached_prompt"]).items()},
        },
    }
    print(json.dumps(out, indent=2))
    if wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
