"""Local stand-ins for an OpenAI-compatible speech service, on real sockets.

``SpeechStandIn`` serves, on 127.0.0.1 and a free port:

* ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``, ``language``,
  ``response_format``): the transcript of the uploaded WAV, recognised against a
  table of known audio (``KnownAudio``): the loudness envelope of each known clip
  (20 ms frames, FreeSWITCH ``record``'s energy measure) is slid over the
  recording's and the best normalised correlation above ``MIN_SCORE`` wins. A
  recording made by FreeSWITCH through a PCMU call leg still matches the clip it
  heard; silence or an unknown sound transcribes to "".
* ``POST /v1/audio/speech`` (JSON ``model``, ``input``, ``voice``,
  ``response_format``): a WAV of the text spoken by espeak-ng (22 kHz, as espeak
  writes it: the client must convert), or a tone when espeak-ng is missing.

``delay`` makes every answer that slow, ``status`` answers that HTTP status,
``stop()`` takes it down (connection refused). Every request is counted and kept
(``requests``) so tests can tell whether the service was asked at all.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import threading
import time
from array import array
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

from voiceai_ivr.speech.audio import Pcm, parse_wav, resample, wav_bytes

MIN_SCORE = 0.6
FRAME_MS = 20


def envelope(pcm: Pcm) -> list[float]:
    """Mean absolute sample value per 20 ms frame, at 8 kHz."""
    eight = resample(pcm, 8000) if pcm.rate != 8000 else pcm
    per = 8000 * FRAME_MS // 1000
    s = eight.samples
    return [sum(abs(x) for x in s[i:i + per]) / per for i in range(0, len(s) - per + 1, per)]


def _trim(env: list[float], floor: float) -> list[float]:
    """The voiced part: from the first to the last frame above ``floor`` and a tenth
    of the loudest frame (so a quieter copy of a clip trims the same way)."""
    if not env:
        return []
    level = max(floor, 0.1 * max(env))
    idx = [i for i, v in enumerate(env) if v >= level]
    return env[idx[0]:idx[-1] + 1] if idx else []


def _corr(a: list[float], b: list[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    da = math.sqrt(sum((x - ma) ** 2 for x in a))
    db = math.sqrt(sum((y - mb) ** 2 for y in b))
    return num / (da * db) if da and db else 0.0


@dataclass
class KnownAudio:
    """Clips the stand-in can recognise: text -> loudness envelope (voiced part)."""

    clips: dict[str, list[float]] = field(default_factory=dict)
    floor: float = 200.0  # FreeSWITCH record's default threshold

    def add(self, text: str, wav: bytes) -> None:
        env = _trim(envelope(parse_wav(wav)), self.floor)
        if len(env) < 5:
            raise ValueError(f"clip for {text!r} has no voice")
        self.clips[text] = env

    def recognise(self, wav: bytes) -> tuple[str, float]:
        """``(text, score)`` of the best-matching clip, ``("", score)`` below MIN_SCORE."""
        rec = _trim(envelope(parse_wav(wav)), self.floor)
        best, best_score = "", 0.0
        for text, clip in self.clips.items():
            if len(rec) < len(clip) * 0.7 or len(rec) > len(clip) * 1.6 + 10:
                continue
            short, long_ = (clip, rec) if len(clip) <= len(rec) else (rec, clip)
            n = len(short)
            score = max(_corr(short, long_[off:off + n]) for off in range(0, len(long_) - n + 1))
            if score > best_score:
                best, best_score = text, score
        return (best, best_score) if best_score >= MIN_SCORE else ("", best_score)


def espeak_wav(text: str, voice: str = "pt-br", speed: int = 160) -> bytes:
    """espeak-ng's own WAV of ``text`` (22050 Hz), or a 440 Hz tone without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        n = int(16000 * max(0.4, len(text) / 14.0))
        tone = array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(n)))
        return wav_bytes(Pcm(16000, tone))
    proc = subprocess.run([exe, "-v", voice, "-s", str(speed), "--stdout", "--", text],
                          capture_output=True, timeout=20, check=True)
    data = proc.stdout
    # espeak-ng --stdout leaves the RIFF sizes unset: fix them so any reader copes.
    return wav_bytes(parse_wav(data))


@dataclass
class Seen:
    path: str
    fields: dict[str, str]
    headers: dict[str, str]
    size: int
    answer: str = ""
    score: float = 0.0


class SpeechStandIn:
    """An OpenAI-compatible speech service on 127.0.0.1 (see the module docstring)."""

    def __init__(self, known: Optional[KnownAudio] = None, *, delay: float = 0.0, status: int = 200) -> None:
        self.known = known or KnownAudio()
        self.delay = delay
        self.status = status
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                stand_in._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="speech-stand-in", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> SpeechStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def __enter__(self) -> SpeechStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, path: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if not path or r.path.endswith(path))

    # ------------------------------------------------------------------ handling

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        seen = Seen(h.path, {}, headers, len(body))
        with self._lock:
            self.requests.append(seen)
        files: dict[str, bytes] = {}
        if h.path == "/v1/audio/transcriptions":
            seen.fields, files = _multipart(headers.get("content-type", ""), body)
        if self.delay:
            time.sleep(self.delay)
        if self.status != 200:
            self._send(h, self.status, b'{"error": {"message": "stand-in told to fail"}}', "application/json")
            return
        if h.path == "/v1/audio/transcriptions":
            audio = files.get("file", b"")
            try:
                seen.answer, seen.score = self.known.recognise(audio)
            except ValueError:
                seen.answer = ""
            self._send(h, 200, json.dumps({"text": seen.answer}).encode(), "application/json")
        elif h.path == "/v1/audio/speech":
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                self._send(h, 400, b'{"error": "bad json"}', "application/json")
                return
            seen.fields = {k: str(v) for k, v in req.items()}
            voice = "en-us" if str(req.get("voice", "")).startswith("en") else "pt-br"
            self._send(h, 200, espeak_wav(str(req.get("input", "")), voice), "audio/wav")
        else:
            self._send(h, 404, b'{"error": "not found"}', "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test)


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not msg.is_multipart():
        return fields, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if not isinstance(name, str):
            continue
        if part.get_filename():
            files[name] = payload
        else:
            fields[name] = payload.decode("utf-8", "replace")
    return fields, files


def write_clip(folder: Path, name: str, wav: bytes) -> Path:
    path = folder / f"{name}.wav"
    path.write_bytes(wav)
    return path


__all__ = ["MIN_SCORE", "KnownAudio", "SpeechStandIn", "envelope", "espeak_wav", "write_clip"]
