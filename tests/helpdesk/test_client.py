"""HelpdeskClient against a real local HTTP helpdesk (tests/doubles/helpdesk.py)."""

from __future__ import annotations

import socket

import pytest
from doubles.helpdesk import HelpdeskServer

from voiceai_ivr.errors import HelpdeskError, ValidationError
from voiceai_ivr.integrations.helpdesk import HelpdeskClient, route

CB = "3f0c6f0e-2a43-4a4e-9a3c-7f1c6c1f6e11"


@pytest.fixture
def hd():
    with HelpdeskServer() as server:
        yield server


def _client(hd: HelpdeskServer, timeout: float = 2.0, token: str = "") -> HelpdeskClient:
    return HelpdeskClient(hd.url, token or hd.token, timeout)


def test_create_sends_bearer_and_key_and_parses_json(hd):
    with _client(hd) as c:
        resp = c.create_callback_ticket({"callback_id": CB, "reason": "boleto"}, idempotency_key="k1")
    assert resp.status == 201 and not resp.duplicate
    assert resp.body["ticket_id"].startswith("T-")
    (rec,) = hd.requests
    assert (rec.method, rec.path, rec.key) == ("POST", "/v1/callbacks", "k1")
    assert rec.body["reason"] == "boleto"


def test_same_key_twice_is_processed_once_and_reported_duplicate(hd):
    with _client(hd) as c:
        c.create_callback_ticket({"callback_id": CB}, idempotency_key="k1")
        again = c.create_callback_ticket({"callback_id": CB}, idempotency_key="k1")
    assert again.duplicate and again.status == 409
    assert hd.processed_count("k1") == 1 and len(hd.tickets[CB]) == 1


def test_every_kind_routes_with_its_key(hd):
    with _client(hd) as c:
        c.create_callback_ticket({"callback_id": CB}, idempotency_key="a")
        c.update_callback_ticket({"callback_id": CB}, idempotency_key="b")
        c.report_attempt({"callback_id": CB, "attempt_no": 1}, idempotency_key="c")
        c.report_result({"callback_id": CB, "status": "completed"}, idempotency_key="d")
        c.transfer_completed({"call_id": "call-1"}, idempotency_key="e")
        c.missed_call({"call_id": "call-2"}, idempotency_key="f")
        c.send_whatsapp({"to": "+5511987654321", "template": "x"}, idempotency_key="g")
    kinds = [(r.kind, r.key, r.status) for r in hd.requests]
    assert kinds == [
        ("callback.created", "a", 201),
        ("callback.updated", "b", 200),
        ("callback.attempt", "c", 200),
        ("callback.result", "d", 200),
        ("transfer.completed", "e", 200),
        ("call.missed", "f", 201),
        ("whatsapp.send", "g", 202),
    ]


def test_path_ids_are_escaped_and_required():
    assert route("callback.updated", {"callback_id": "a/../b"}) == ("PATCH", "/v1/callbacks/a%2F..%2Fb")
    with pytest.raises(ValidationError, match="callback_id"):
        route("callback.attempt", {})
    with pytest.raises(ValidationError, match="kind"):
        route("nope", {})


def test_4xx_is_permanent_but_408_429_and_5xx_are_retryable(hd):
    with _client(hd) as c:
        for status, permanent in (
            (400, True),
            (404, True),
            (422, True),
            (408, False),
            (429, False),
            (500, False),
            (503, False),
        ):
            hd.fail_next(1, status)
            with pytest.raises(HelpdeskError) as err:
                c.create_callback_ticket({"callback_id": CB}, idempotency_key=f"s{status}")
            assert err.value.status == status and err.value.permanent is permanent, status


def test_wrong_token_is_permanent(hd):
    with _client(hd, token="wrong-token-xxxxxxxx") as c, pytest.raises(HelpdeskError) as err:
        c.create_callback_ticket({"callback_id": CB}, idempotency_key="k")
    assert err.value.status == 401 and err.value.permanent


def test_unknown_callback_update_is_permanent(hd):
    with _client(hd) as c, pytest.raises(HelpdeskError) as err:
        c.update_callback_ticket({"callback_id": CB}, idempotency_key="k")
    assert err.value.status == 404 and err.value.permanent


def test_timeout_is_retryable_and_bounded(hd):
    hd.delay = 3.0
    with _client(hd, timeout=0.3) as c, pytest.raises(HelpdeskError) as err:
        c.create_callback_ticket({"callback_id": CB}, idempotency_key="slow")
    assert not err.value.permanent and "timed out" in str(err.value)
    assert hd.processed_count("slow") == 1  # processed; only the answer was lost


def test_connection_refused_is_retryable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with HelpdeskClient(f"http://127.0.0.1:{port}", "tok", 1.0) as c, pytest.raises(HelpdeskError) as err:
        c.create_callback_ticket({"callback_id": CB}, idempotency_key="k")
    assert not err.value.permanent and "cannot connect" in str(err.value)


def test_bad_settings_are_refused():
    with pytest.raises(ValidationError, match=r"helpdesk\.url"):
        HelpdeskClient("ftp://x", "t")
    with pytest.raises(ValidationError, match=r"helpdesk\.timeout"):
        HelpdeskClient("http://x", "t", 0)
    assert "tok" not in repr(HelpdeskClient("http://x", "secret-tok"))
