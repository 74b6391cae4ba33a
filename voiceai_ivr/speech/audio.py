"""WAV audio as FreeSWITCH plays it: parsing what synthesizers return, converting it
to 16 kHz mono 16-bit PCM, and measuring a caller's recorded answer.

Pure Python (no audioop: it is deprecated and gone from Python 3.13; no numpy).
Resampling is linear interpolation after a short moving-average low-pass when the
rate goes down: telephone calls are 8 kHz, and FreeSWITCH's own resampler brings
our 16 kHz down to the call's rate with a proper filter, so what little aliasing
linear interpolation adds above 4 kHz never reaches the caller.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass
from typing import Optional

from voiceai_ivr.speech.errors import AudioError

#: What every synthesized prompt is stored as.
TARGET_RATE = 16000
_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
#: FreeSWITCH's ``record`` silence detector works on 20 ms frames.
FRAME_MS = 20


@dataclass(frozen=True)
class Pcm:
    """Mono signed 16-bit samples at ``rate`` Hz."""

    rate: int
    samples: array  # array('h')

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.rate) if self.rate else 0.0


def parse_wav(data: bytes) -> Pcm:
    """A RIFF/WAVE file (PCM 8/16/24/32-bit, float 32-bit, any channel count; a
    streaming server's unknown data size ``0xFFFFFFFF`` is read to the end) as mono
    16-bit samples. Raises ``AudioError``."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt: Optional[tuple[int, int, int, int]] = None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise AudioError("WAV fmt chunk too short")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and size >= 40:
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise AudioError("WAV data before its fmt chunk")
            end = len(data) if size in (0, 0xFFFFFFFF) or body + size > len(data) else body + size
            return _decode(data[body:end], *fmt)
        pos = body + size + (size & 1)
    raise AudioError("WAV file has no data chunk")


def _decode(raw: bytes, tag: int, channels: int, rate: int, bits: int) -> Pcm:
    if channels < 1 or not 4000 <= rate <= 192000:
        raise AudioError(f"unsupported WAV: {channels} channel(s) at {rate} Hz")
    width = bits // 8
    frame = width * channels
    raw = raw[: len(raw) - len(raw) % frame] if frame else b""
    if tag == _PCM and bits == 16:
        samples = array("h")
        samples.frombytes(raw)
        if sys.byteorder == "big":
            samples.byteswap()
    elif tag == _PCM and bits == 8:
        samples = array("h", ((b - 128) << 8 for b in raw))
    elif tag == _PCM and bits in (24, 32):
        shift = bits - 16
        samples = array("h", (int.from_bytes(raw[i:i + width], "little", signed=True) >> shift
                              for i in range(0, len(raw), width)))
    elif tag == _FLOAT and bits == 32:
        floats = array("f")
        floats.frombytes(raw)
        if sys.byteorder == "big":
            floats.byteswap()
        samples = array("h", (max(-32768, min(32767, int(f * 32767.0))) for f in floats))
    else:
        raise AudioError(f"unsupported WAV encoding (format {tag}, {bits} bits)")
    if channels > 1:
        samples = array("h", (sum(samples[i:i + channels]) // channels
                              for i in range(0, len(samples), channels)))
    return Pcm(rate, samples)


def pcm_s16le(raw: bytes, rate: int) -> Pcm:
    """Headerless little-endian 16-bit mono (``response_format: pcm``)."""
    return _decode(raw, _PCM, 1, rate, 16)


def resample(pcm: Pcm, rate: int = TARGET_RATE) -> Pcm:
    """``pcm`` at ``rate`` Hz (linear interpolation; a moving-average low-pass first
    when going down by more than 10 %)."""
    if pcm.rate == rate or not pcm.samples:
        return Pcm(rate, array("h", pcm.samples))
    src = pcm.samples
    if rate < pcm.rate * 0.9:
        taps = max(2, round(pcm.rate / rate))
        acc = 0
        smoothed = array("h", bytes(2 * len(src)))
        for i, s in enumerate(src):
            acc += s
            if i >= taps:
                acc -= src[i - taps]
            smoothed[i] = int(acc / min(i + 1, taps))
        src = smoothed
    n_out = int(len(src) * rate / pcm.rate)
    step = pcm.rate / rate
    last = len(src) - 1
    out = array("h", bytes(2 * n_out))
    for j in range(n_out):
        x = j * step
        i = int(x)
        if i >= last:
            out[j] = src[last]
            continue
        frac = x - i
        a = src[i]
        out[j] = int(a + (src[i + 1] - a) * frac)
    return Pcm(rate, out)


def wav_bytes(pcm: Pcm) -> bytes:
    """A canonical 44-byte-header WAV: PCM 16-bit mono."""
    samples = pcm.samples
    if sys.byteorder == "big":
        samples = array("h", samples)
        samples.byteswap()
    body = samples.tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, 1, pcm.rate, pcm.rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(body))
    return header + body


def playable_wav(data: bytes, *, raw_rate: int = 0) -> bytes:
    """What a synthesizer returned (a WAV, or headerless 16-bit PCM at ``raw_rate``)
    as the 16 kHz mono 16-bit WAV the cache stores. Raises ``AudioError`` when it
    holds no sound at all."""
    pcm = pcm_s16le(data, raw_rate) if raw_rate and data[:4] != b"RIFF" else parse_wav(data)
    if pcm.seconds < 0.05:
        raise AudioError(f"audio too short ({pcm.seconds * 1000:.0f} ms)")
    return wav_bytes(resample(pcm, TARGET_RATE))


@dataclass(frozen=True)
class Voicing:
    """Where a recording has sound, by FreeSWITCH ``record``'s own measure (mean
    absolute sample value of a 20 ms frame against the threshold)."""

    seconds: float  # length of the recording
    voiced_frames: int  # frames at or above the threshold
    first_voiced: Optional[float]  # start of the first voiced frame, seconds
    last_voiced: Optional[float]  # end of the last voiced frame, seconds

    @property
    def has_voice(self) -> bool:
        # a click is one frame; the shortest syllable is several
        return self.voiced_frames >= 3

    @property
    def trailing_silence(self) -> float:
        """Seconds between the end of the voice and the end of the recording."""
        if self.last_voiced is None:
            return self.seconds
        return max(0.0, self.seconds - self.last_voiced)


def voicing(pcm: Pcm, threshold: int) -> Voicing:
    """Scan ``pcm`` in 20 ms frames. FreeSWITCH scores a frame as
    ``sum(|s|) / (samples / (rate / 8000))``: at 8 kHz the mean absolute value;
    the same formula is used here so ``speech.record_silence_threshold`` means the
    same to both."""
    per = max(1, pcm.rate * FRAME_MS // 1000)
    divisor = max(1, pcm.rate // 8000)
    first: Optional[int] = None
    last: Optional[int] = None
    voiced = 0
    samples = pcm.samples
    n_frames = len(samples) // per
    for f in range(n_frames):
        chunk = samples[f * per:(f + 1) * per]
        score = sum(abs(s) for s in chunk) / (per / divisor)
        if score >= threshold:
            voiced += 1
            if first is None:
                first = f
            last = f
    frame_s = per / float(pcm.rate)
    return Voicing(
        seconds=pcm.seconds,
        voiced_frames=voiced,
        first_voiced=None if first is None else first * frame_s,
        last_voiced=None if last is None else (last + 1) * frame_s,
    )


__all__ = ["TARGET_RATE", "AudioError", "Pcm", "Voicing", "parse_wav", "pcm_s16le", "playable_wav",
           "resample", "voicing", "wav_bytes"]
