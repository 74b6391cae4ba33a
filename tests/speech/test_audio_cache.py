"""WAV conversion, the audio directory (0700/0600, atomic, keyed) and retention."""

from __future__ import annotations

import math
import os
import stat
import struct
import threading
import time
from array import array
from pathlib import Path

import pytest

from voiceai_ivr.speech.audio import Pcm, parse_wav, playable_wav, resample, voicing, wav_bytes
from voiceai_ivr.speech.cache import AudioStore, cache_key, write_atomic
from voiceai_ivr.speech.errors import AudioError


def tone(rate: int, seconds: float, freq: float = 440.0, amp: int = 8000) -> Pcm:
    n = int(rate * seconds)
    return Pcm(rate, array("h", (int(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))))


def test_any_wav_becomes_16k_mono_16bit() -> None:
    stereo = array("h")
    for s in tone(22050, 0.5).samples:
        stereo.extend((s, s))
    body = stereo.tobytes()
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 22050, 22050 * 4, 4, 16)
    header += b"data" + struct.pack("<I", 0xFFFFFFFF)  # a streaming server's unknown size
    out = parse_wav(playable_wav(header + body))
    assert out.rate == 16000 and abs(out.seconds - 0.5) < 0.01
    # the tone survives the conversion (energy of the same order)
    assert voicing(out, 200).has_voice


def test_raw_pcm_and_float_wavs_are_read() -> None:
    raw = tone(24000, 0.3).samples.tobytes()
    assert parse_wav(playable_wav(raw, raw_rate=24000)).rate == 16000
    floats = array("f", (s / 32768.0 for s in tone(8000, 0.2).samples)).tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(floats)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32)
    header += b"data" + struct.pack("<I", len(floats))
    assert parse_wav(header + floats).seconds == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("data", [b"", b"not a wav at all", b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_not_a_wav_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(AudioError):
        playable_wav(data)


def test_silence_is_refused_as_too_short() -> None:
    with pytest.raises(AudioError, match="too short"):
        playable_wav(wav_bytes(Pcm(16000, array("h", [0] * 100))))


def test_resample_keeps_duration() -> None:
    for src, dst in ((22050, 16000), (8000, 16000), (16000, 8000)):
        assert resample(tone(src, 1.0), dst).seconds == pytest.approx(1.0, abs=0.002)


def test_voicing_finds_where_the_caller_spoke() -> None:
    quiet = array("h", [0] * 8000)  # 1 s at 8 kHz
    pcm = Pcm(8000, quiet + tone(8000, 0.6).samples + quiet + quiet)
    v = voicing(pcm, 200)
    assert v.has_voice
    assert v.first_voiced == pytest.approx(1.0, abs=0.03)
    assert v.last_voiced == pytest.approx(1.6, abs=0.03)
    assert v.trailing_silence == pytest.approx(2.0, abs=0.03)
    assert not voicing(Pcm(8000, quiet), 200).has_voice


def test_cache_files_are_private_and_keyed_by_language_voice_engine_text(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = AudioStore(tmp_path / "speech")
        wav = wav_bytes(tone(16000, 0.2))
        path = store.store("pt-BR", "pt-br", "espeak-ng:160", "Olá", wav)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, store.tts_root, store.root):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert store.lookup("pt-BR", "pt-br", "espeak-ng:160", "Olá") == path
    assert store.lookup("pt-BR", "pt-br", "espeak-ng:160", "  Olá ") == path  # whitespace does not matter
    for other in (("en-US", "pt-br", "espeak-ng:160", "Olá"), ("pt-BR", "pt", "espeak-ng:160", "Olá"),
                  ("pt-BR", "pt-br", "http:tts-1", "Olá"), ("pt-BR", "pt-br", "espeak-ng:160", "Olá!")):
        assert store.lookup(*other) is None, other
    assert len({cache_key(*k) for k in (("a", "b", "c", "d"), ("a", "b", "cd", ""), ("ab", "", "c", "d"))}) == 3


def test_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "a" / "x.wav"
    write_atomic(target, b"1" * 1000)
    stop = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        while not stop.is_set():
            seen.add(target.read_bytes()[:1] + bytes([len(target.read_bytes()) // 1000]))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(50):
        write_atomic(target, (b"2" if i % 2 else b"1") * 1000)
    stop.set()
    reader.join()
    assert seen <= {b"1\x01", b"2\x01"}
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_recording_path_is_a_fresh_private_file(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "speech")
    path = store.recording_path("3f1c0d6e-0000-4000-8000-000000000001", 1234)
    assert path.parent.parent == store.rec_root and path.stat().st_size == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(ValueError):
        store.recording_path("../../etc/passwd", 1)


def test_cleanup_deletes_what_is_past_retention_only(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "speech")
    now = time.time()
    old_rec = store.recording_path("call-old", 1)
    new_rec = store.recording_path("call-new", 1)
    old_tts = store.store("pt-BR", "pt-br", "e", "velho", b"RIFF" + b"\x00" * 100)
    new_tts = store.store("pt-BR", "pt-br", "e", "novo", b"RIFF" + b"\x00" * 100)
    leftover = old_tts.parent / ".tmp-crash.wav"
    leftover.write_bytes(b"x")
    for path, age in ((old_rec, 3 * 3600), (new_rec, 60), (old_tts, 40 * 86400), (new_tts, 86400),
                      (leftover, 7200)):
        os.utime(path, (now - age, now - age))
    dry = store.cleanup(keep_recordings_s=3600, keep_synthesized_s=30 * 86400, now=now, dry_run=True)
    assert (dry.recordings_deleted, dry.synthesized_deleted, dry.temporary_deleted) == (1, 1, 1)
    assert old_rec.exists() and old_tts.exists()
    report = store.cleanup(keep_recordings_s=3600, keep_synthesized_s=30 * 86400, now=now)
    assert (report.recordings_deleted, report.synthesized_deleted, report.temporary_deleted) == (1, 1, 1)
    assert not old_rec.exists() and not old_tts.exists() and not leftover.exists()
    assert new_rec.exists() and new_tts.exists() and report.kept == 2
    # 0 keeps synthesized audio for ever
    os.utime(new_tts, (now - 400 * 86400, now - 400 * 86400))
    assert store.cleanup(keep_recordings_s=3600, keep_synthesized_s=0, now=now).synthesized_deleted == 0
