from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.metrics import (
    CALLBACK_EVENTS,
    MAX_DOMAIN_LABELS,
    METRICS,
    Metrics,
    start_metrics_server,
    write_textfile,
)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _exercise(m: Metrics) -> None:
    with m.track_call("demo.local"):
        m.intent("transfer")
        m.transfer("busy")
        m.transfer("answered", wait_s=7.5)
        m.callback("created")
    m.call_started("demo.local")  # still in progress
    m.callback("dispatched", 2)
    m.set_outbox(4, 93.0)
    m.esl_reconnect()
    m.handler_error(RuntimeError("boom"))


def test_exposition_parses_and_counts() -> None:
    m = Metrics()
    _exercise(m)
    samples = _samples(m.exposition().decode())
    assert samples[("voiceai_ivr_calls_total", (("domain", "demo.local"),))] == 2
    assert samples[("voiceai_ivr_calls_active", ())] == 1
    assert samples[("voiceai_ivr_call_duration_seconds_count", ())] == 1
    assert samples[("voiceai_ivr_intents_total", (("kind", "transfer"),))] == 1
    assert samples[("voiceai_ivr_transfers_total", (("status", "busy"),))] == 1
    assert samples[("voiceai_ivr_transfers_total", (("status", "answered"),))] == 1
    assert samples[("voiceai_ivr_transfer_wait_seconds_count", ())] == 1
    assert samples[("voiceai_ivr_transfer_wait_seconds_bucket", (("le", "5.0"),))] == 0
    assert samples[("voiceai_ivr_transfer_wait_seconds_bucket", (("le", "10.0"),))] == 1
    assert samples[("voiceai_ivr_transfer_wait_seconds_sum", ())] == 7.5
    for event in CALLBACK_EVENTS:  # every event is exported, zero until it happens
        assert ("voiceai_ivr_callbacks_total", (("event", event),)) in samples
    assert samples[("voiceai_ivr_callbacks_total", (("event", "created"),))] == 1
    assert samples[("voiceai_ivr_callbacks_total", (("event", "dispatched"),))] == 2
    assert samples[("voiceai_ivr_callbacks_total", (("event", "expired"),))] == 0
    assert samples[("voiceai_ivr_outbox_backlog", ())] == 4
    assert samples[("voiceai_ivr_outbox_oldest_age_seconds", ())] == 93
    assert samples[("voiceai_ivr_esl_reconnects_total", ())] == 1
    assert samples[("voiceai_ivr_handler_errors_total", (("error", "RuntimeError"),))] == 1


def test_own_registry_not_the_global_one() -> None:
    assert METRICS.registry is not REGISTRY
    assert REGISTRY.get_sample_value("voiceai_ivr_calls_active") is None
    a, b = Metrics(), Metrics()
    a.call_started("x")
    assert b.registry.get_sample_value("voiceai_ivr_calls_active") == 0


def test_unknown_callback_event_is_refused() -> None:
    with pytest.raises(ValueError, match="callback event"):
        Metrics().callback("lost")


def test_label_values_are_sanitised() -> None:
    m = Metrics()
    m.intent('evil"}\nnext 1')
    m.call_started("")
    families = list(text_string_to_metric_families(m.exposition().decode()))
    intents = next(f for f in families if f.name == "voiceai_ivr_intents")
    (sample,) = [s for s in intents.samples if s.name.endswith("_total")]
    assert sample.labels["kind"] == "evil___next_1"
    assert m.registry.get_sample_value("voiceai_ivr_calls_total", {"domain": "unknown"}) == 1


def test_only_known_domains_become_labels_and_at_most_a_bounded_number() -> None:
    m = Metrics()
    m.call_started("demo.local", known=True)
    for i in range(300):
        m.call_started(f"invented-{i}.example", known=False)
    assert m.registry.get_sample_value("voiceai_ivr_calls_total", {"domain": "unknown"}) == 300
    for i in range(MAX_DOMAIN_LABELS + 50):  # even known ones are bounded: one series each, forever
        m.call_started(f"tenant-{i}.example", known=True)
    labels = {s.labels["domain"] for f in m.registry.collect() for s in f.samples
              if s.name == "voiceai_ivr_calls_total"}
    assert len(labels) == MAX_DOMAIN_LABELS + 2  # the first 500 known, "unknown", "other"
    # demo.local and tenant-0..498 fill the 500: the 51 after them are "other"
    assert m.registry.get_sample_value("voiceai_ivr_calls_total", {"domain": "other"}) == 51
    assert m.registry.get_sample_value("voiceai_ivr_calls_total", {"domain": "demo.local"}) == 1


def test_metrics_server_serves_metrics_over_http() -> None:
    m = Metrics()
    server, thread = start_metrics_server("127.0.0.1", 0, m)
    try:
        assert isinstance(thread, threading.Thread) and thread.is_alive()
        base = f"http://127.0.0.1:{server.server_port}"
        m.call_started("demo.local")
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
        assert _samples(body)[("voiceai_ivr_calls_total", (("domain", "demo.local"),))] == 1
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/other", timeout=5)
        assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    thread.join(5)
    assert not thread.is_alive()


def test_textfile_is_valid_exposition_and_written_atomically(tmp_path: Path) -> None:
    m = Metrics()
    _exercise(m)
    target = tmp_path / "voiceai_ivr.prom"
    target.write_text("stale\n")
    assert write_textfile(target, m) == target
    samples = _samples(target.read_text())
    assert samples[("voiceai_ivr_callbacks_total", (("event", "dispatched"),))] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voiceai_ivr.prom"]  # no temp left
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_textfile_path_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        write_textfile(tmp_path / "metrics.txt", Metrics())
    with pytest.raises(ValidationError):
        write_textfile(tmp_path / "missing" / "m.prom", Metrics())


def test_serve_health_says_whether_callers_can_be_heard() -> None:
    import json

    m = Metrics()
    server, thread = start_metrics_server("127.0.0.1", 0, m)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with urllib.request.urlopen(f"{base}/health", timeout=5) as resp:
            assert json.loads(resp.read())["speech_recognition"] is True
        m.speech_available(False)  # the PBX has no such ASR engine: keys only
        with urllib.request.urlopen(f"{base}/health", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "ok" and body["speech_recognition"] is False
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            samples = _samples(resp.read().decode())
        assert samples[("voiceai_ivr_speech_recognition_available", ())] == 0
    finally:
        server.shutdown()
        server.server_close()
    thread.join(5)


def test_serve_health_is_degraded_while_the_switch_link_is_down() -> None:
    import json

    m = Metrics()
    assert b"voiceai_ivr_esl_connected" not in m.exposition()  # no PBX link (serve --flow minimal): no series
    assert "pbx" not in m.health()
    server, thread = start_metrics_server("127.0.0.1", 0, m)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        m.esl_state(True)
        with urllib.request.urlopen(f"{base}/health", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["pbx"] == {"connected": True}
        m.esl_state(False)  # FreeSWITCH restarting
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/health", timeout=5)
        body = json.loads(err.value.read())
        assert err.value.code == 503 and body["status"] == "degraded" and body["pbx"]["connected"] is False
        assert body["pbx"]["down_seconds"] >= 0
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            assert _samples(resp.read().decode())[("voiceai_ivr_esl_connected", ())] == 0
        m.esl_state(True)
        with urllib.request.urlopen(f"{base}/health", timeout=5) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            assert _samples(resp.read().decode())[("voiceai_ivr_esl_connected", ())] == 1
    finally:
        server.shutdown()
        server.server_close()
    thread.join(5)
