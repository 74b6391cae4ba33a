"""Synthesizers, the HTTP recognizer and the Speaker, against real processes and a
real local HTTP service (``servers.SpeechStandIn``)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from voiceai_ivr.speech.audio import parse_wav
from voiceai_ivr.speech.cache import AudioStore
from voiceai_ivr.speech.errors import SynthesisError, TranscriptionError
from voiceai_ivr.speech.recognize import HttpRecognizer
from voiceai_ivr.speech.speaker import CACHE, FALLBACK, FREESWITCH_TTS, SYNTHESIZED, Speaker
from voiceai_ivr.speech.synth import EspeakSynthesizer, FreeSwitchSynthesizer, HttpSynthesizer

from .servers import KnownAudio, SpeechStandIn, espeak_wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed (sudo bash scripts/install-system-packages.sh)")
KEY = "sk-test-SECRET-0123456789"


@needs_espeak
def test_espeak_speaks_portuguese_as_a_16k_wav() -> None:
    syn = EspeakSynthesizer()
    assert syn.check("pt-BR")[0] and syn.check("en-US")[0]
    wav = parse_wav(syn.synthesize("Olá, você ligou para a central.", "pt-BR", 5.0))
    assert wav.rate == 16000 and 1.0 < wav.seconds < 5.0


def test_espeak_missing_or_too_slow_is_an_error_in_bound(tmp_path: Path) -> None:
    missing = EspeakSynthesizer(command=str(tmp_path / "no-such-espeak"))
    ok, why = missing.check("pt-BR")
    assert not ok and "apt-get install espeak-ng" in why
    with pytest.raises(SynthesisError, match="not found"):
        missing.synthesize("Olá", "pt-BR", 1.0)
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(SynthesisError, match="longer than"):
        EspeakSynthesizer(command=str(slow)).synthesize("Olá", "pt-BR", 0.5)
    assert time.monotonic() - started < 2.0


def test_http_synthesizer_posts_the_openai_shape_and_converts() -> None:
    with SpeechStandIn() as service:
        syn = HttpSynthesizer(service.url, "tts-1", {"pt-BR": "nova"}, KEY, timeout=10)
        wav = parse_wav(syn.synthesize("Bom dia", "pt-BR", 10))
        assert wav.rate == 16000 and wav.seconds > 0.3
        sent = service.requests[-1]
        assert sent.path == "/v1/audio/speech"
        assert sent.fields["model"] == "tts-1" and sent.fields["voice"] == "nova"
        assert sent.fields["input"] == "Bom dia" and sent.fields["response_format"] == "wav"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert KEY not in repr(syn)


@pytest.mark.parametrize(("delay", "status", "match"), [(2.0, 200, "took longer|unreachable"),
                                                       (0.0, 503, "HTTP 503")])
def test_http_synthesizer_failures_are_bounded_and_keyless(delay: float, status: int, match: str) -> None:
    with SpeechStandIn(delay=delay, status=status) as service:
        syn = HttpSynthesizer(service.url, "tts-1", {}, KEY, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(SynthesisError, match=match) as err:
            syn.synthesize("Bom dia", "pt-BR", 0.5)
        assert time.monotonic() - started < 1.5
        assert KEY not in str(err.value)


@needs_espeak
def test_http_recognizer_transcribes_with_the_language_and_recovers_after_cooldown(tmp_path: Path) -> None:
    known = KnownAudio()
    clip = espeak_wav("financeiro")
    known.add("financeiro", clip)
    recording = tmp_path / "answer.wav"
    recording.write_bytes(clip)
    with SpeechStandIn(known) as service:
        rec = HttpRecognizer(service.url, "whisper-1", KEY, timeout=3, cooldown_s=0.3)
        got = rec.transcribe(recording, "pt-BR")
        assert got.text == "financeiro" and got.seconds < 3
        sent = service.requests[-1]
        assert sent.fields == {"model": "whisper-1", "response_format": "json", "language": "pt"}
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        service.status = 500
        with pytest.raises(TranscriptionError, match="HTTP 500"):
            rec.transcribe(recording, "en-US")
        assert service.requests[-1].fields["language"] == "en"
        assert not rec.available  # keyed turns meanwhile
        time.sleep(0.35)
        assert rec.available


def test_http_recognizer_slow_or_down_fails_within_its_timeout(tmp_path: Path) -> None:
    recording = tmp_path / "answer.wav"
    recording.write_bytes(espeak_wav("suporte"))
    with SpeechStandIn(delay=3.0) as service:
        rec = HttpRecognizer(service.url, "whisper-1", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TranscriptionError):
            rec.transcribe(recording, "pt-BR")
        assert time.monotonic() - started < 1.5
        url = service.url
    down = HttpRecognizer(url, "whisper-1", timeout=0.5)
    with pytest.raises(TranscriptionError, match="unreachable"):
        down.transcribe(recording, "pt-BR")


class Counting(EspeakSynthesizer):
    """espeak-ng that counts its runs and can be made to fail."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.calls = 0
        self.fail = False
        self.delay = delay
        self._count_lock = threading.Lock()

    def synthesize(self, text: str, language: str, timeout: float) -> bytes:
        with self._count_lock:
            self.calls += 1
        if self.fail:
            raise SynthesisError("told to fail")
        time.sleep(self.delay)
        return super().synthesize(text, language, timeout)


@needs_espeak
def test_speaker_synthesizes_once_then_plays_the_cache(tmp_path: Path) -> None:
    syn = Counting()
    speaker = Speaker(AudioStore(tmp_path), {"pt-BR": syn}, timeout=5)
    first = speaker.speak("pt-BR", "Um momento, por favor.")
    again = speaker.speak("pt-BR", "Um momento, por favor.")
    assert (first.how, again.how) == (SYNTHESIZED, CACHE) and first.source == again.source
    assert syn.calls == 1 and Path(first.source).is_file() and first.ms is not None


@needs_espeak
def test_two_calls_needing_the_same_new_text_synthesize_it_once(tmp_path: Path) -> None:
    syn = Counting(delay=0.3)
    speaker = Speaker(AudioStore(tmp_path), {"pt-BR": syn}, timeout=5)
    results = []
    threads = [threading.Thread(target=lambda: results.append(speaker.speak("pt-BR", "Texto novo"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert syn.calls == 1
    assert sorted(r.how for r in results) == [CACHE, CACHE, CACHE, SYNTHESIZED]
    assert len({r.source for r in results}) == 1


def test_failed_synthesis_falls_back_to_say_and_cools_down(tmp_path: Path) -> None:
    syn = Counting()
    syn.fail = True
    speaker = Speaker(AudioStore(tmp_path), {"pt-BR": syn}, timeout=1, cooldown_s=60)
    first = speaker.speak("pt-BR", "Olá")
    second = speaker.speak("pt-BR", "Tchau")
    assert first.source == "say:Olá" and first.how == FALLBACK and "told to fail" in first.error
    assert second.source == "say:Tchau" and second.how == FALLBACK
    assert syn.calls == 1  # cooling down: the second text did not wait for it
    forced = speaker.speak("pt-BR", "Tchau", force=True)  # prompts render tries anyway
    assert forced.how == FALLBACK and syn.calls == 2


def test_freeswitch_engine_makes_no_files(tmp_path: Path) -> None:
    speaker = Speaker(AudioStore(tmp_path), {"pt-BR": FreeSwitchSynthesizer("tts_commandline", {"pt-BR": "pt-br"})})
    spoken = speaker.speak("pt-BR", "Olá")
    assert (spoken.source, spoken.how) == ("say:Olá", FREESWITCH_TTS)
    assert not list(tmp_path.rglob("*.wav"))
