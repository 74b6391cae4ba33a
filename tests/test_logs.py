from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from voiceai_ivr.logs import _SECRETS, call_context, current_call, redact, register_secrets, setup_logging


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    # A private logger tree: never touch the root logger other tests rely on.
    log = logging.getLogger("voiceai_ivr.test_logs")
    log.propagate = False
    yield log
    for h in list(log.handlers):
        log.removeHandler(h)
    _SECRETS.clear()


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_lines_carry_call_uuid_and_domain(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup_logging("DEBUG", json=False, stream=out, logger=logger)
    logger.info("before")
    with call_context("0b5c-uuid", "demo.local"):
        logger.info("greeting played to %s", "caller")
        assert current_call() == ("0b5c-uuid", "demo.local")
    logger.info("after")
    lines = _lines(out)
    assert len(lines) == 3
    assert "[call=" not in lines[0]
    assert "INFO voiceai_ivr.test_logs [call=0b5c-uuid domain=demo.local] greeting played to caller" in lines[1]
    assert "[call=" not in lines[2]
    assert current_call() == ("", "")


def test_json_lines_and_extra_fields(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup_logging("INFO", json=True, stream=out, logger=logger)
    with call_context("a1", "acme.example.com"):
        logger.warning("transfer %s", "busy", extra={"destination": "financeiro", "attempt": 2})
    logger.debug("not shown")
    (line,) = _lines(out)
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["msg"] == "transfer busy"
    assert data["call_uuid"] == "a1" and data["domain"] == "acme.example.com"
    assert data["destination"] == "financeiro" and data["attempt"] == 2
    assert data["ts"].endswith("+00:00")


def test_one_line_per_event_even_with_newlines_and_tracebacks(logger: logging.Logger) -> None:
    for as_json in (False, True):
        out = io.StringIO()
        setup_logging("INFO", json=as_json, stream=out, logger=logger)
        try:
            raise RuntimeError("line one\nline two")
        except RuntimeError:
            logger.exception("handler failed\nbadly")
        (line,) = _lines(out)
        assert "RuntimeError" in line
        if as_json:
            assert "Traceback" in json.loads(line)["exc"]


def test_contexts_are_per_thread(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup_logging("INFO", json=True, stream=out, logger=logger)
    barrier = threading.Barrier(2, timeout=5)

    def call(uuid: str) -> None:
        with call_context(uuid, f"{uuid}.example"):
            barrier.wait()
            logger.info("in call")
            barrier.wait()

    threads = [threading.Thread(target=call, args=(u,)) for u in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    records = [json.loads(line) for line in _lines(out)]
    assert sorted((r["call_uuid"], r["domain"]) for r in records) == [
        ("one", "one.example"),
        ("two", "two.example"),
    ]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting with password=hunter22 to db", "hunter22"),
        ("esl_password: ClueConX", "ClueConX"),
        ('{"password": "s3cr3t!", "user": "x"}', "s3cr3t!"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "eyJhbGciOiJIUzI1NiJ9"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ("dsn postgresql://voiceai:p4ssw0rd@db.internal:5432/voiceai", "p4ssw0rd"),
        ("host=db user=voiceai password=kv-secret dbname=voiceai", "kv-secret"),
        ("api_key=sk-live-1234567890", "sk-live-1234567890"),
        ("helpdesk token: tok_abcdef123456", "tok_abcdef123456"),
        ("sent: auth ClueCon", "ClueCon"),
        ("calling with Bearer abcdefghijkl0123", "abcdefghijkl0123"),
    ],
)
def test_secrets_are_redacted(logger: logging.Logger, text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)
    out = io.StringIO()
    setup_logging("INFO", json=False, stream=out, logger=logger)
    logger.info("%s", text)
    logger.info(text.replace("%", "%%"))
    assert secret not in out.getvalue()


def test_harmless_text_is_left_alone() -> None:
    for text in ("transfer to financeiro: busy", "tokens used: 3", "password reset prompt played", "job 5 done"):
        assert redact(text) == text


def test_registered_secret_values_are_redacted_everywhere(logger: logging.Logger) -> None:
    out = io.StringIO()
    setup_logging("INFO", json=True, stream=out, logger=logger, secrets=["Zm9vYmFyYmF6", None, "ab"])
    try:
        raise ValueError("server said Zm9vYmFyYmF6 is wrong")
    except ValueError:
        logger.exception("login with %s failed", "Zm9vYmFyYmF6", extra={"detail": "key Zm9vYmFyYmF6"})
    assert "Zm9vYmFyYmF6" not in out.getvalue()
    assert "ab" in redact("ab")  # too short to register


def test_setup_replaces_only_its_own_handler(logger: logging.Logger) -> None:
    other = logging.NullHandler()
    logger.addHandler(other)
    setup_logging("INFO", stream=io.StringIO(), logger=logger)
    setup_logging("WARNING", json=True, stream=io.StringIO(), logger=logger)
    assert other in logger.handlers
    ours = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and type(h) is logging.StreamHandler]
    assert len(ours) == 1
    assert logger.level == logging.WARNING
    with pytest.raises(ValueError):
        setup_logging("LOUD", logger=logger)
    register_secrets()  # no-op


def test_a_password_in_a_malformed_dsn_libpq_echoes_is_masked_but_sip_uris_are_not() -> None:
    # libpq quotes the DSN it could not parse; without "://" the URL rule does not apply
    assert redact('missing "=" after "postgresql//u:Pw123456@h/db" in connection info string') == (
        'missing "=" after "postgresql//u:***@h/db" in connection info string'
    )
    assert redact("postgresql://u:Pw123456@db.example:5432/x") == "postgresql://u:***@db.example:5432/x"
    for text in ("sofia/internal/sip:1001@10.0.0.1", "user/1001@demo.local", "mailto:ana@example.com"):
        assert redact(text) == text
