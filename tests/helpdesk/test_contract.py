"""``integrations.helpdesk_contract`` and ``docs/helpdesk-api.md`` say the same
thing, and what a helpdesk echoes back is never stored or printed with secrets.

* every message kind of the module is documented with the same method and path;
* the attempt and result bodies have exactly the documented fields, and every
  attempt outcome is documented;
* a helpdesk echoing our ``Authorization`` header, a token or a URL password in
  its error (or success) body: the outbox row's ``last_error``/``response`` and
  ``outbox flush``'s output carry ``***`` instead (issue 12, point 8).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from voiceai_ivr.cli import cli
from voiceai_ivr.integrations import helpdesk_contract as contract
from voiceai_ivr.integrations.helpdesk import HelpdeskClient
from voiceai_ivr.integrations.outbox_worker import deliver_due
from voiceai_ivr.stores import outbox

DOC = (Path(__file__).resolve().parents[2] / "docs" / "helpdesk-api.md").read_text(encoding="utf-8")
TOKEN = "hd-secret-token-5f1e2d3c4b5a"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _documented_routes() -> dict[str, tuple[str, str]]:
    found = {}
    for method, path, kind in re.findall(r"^### `(\w+) (\S+)` — .*?\((?:outbox )?kind `([a-z._]+)`\)", DOC, re.M):
        found[kind] = (method, path)
    return found


def _example(heading_path: str) -> dict[str, Any]:
    """The JSON example under the heading of ``heading_path``."""
    section = DOC[DOC.index(heading_path):]
    block = section[section.index("```json") + 7 : section.index("```", section.index("```json") + 7)]
    return json.loads(re.sub(r"\"…\"|\"3f0c…\"", '"x"', block))


def test_every_kind_is_documented_with_its_route() -> None:
    documented = _documented_routes()
    assert set(documented) == set(contract.KINDS)
    for kind, (method, template) in contract.ROUTES.items():
        assert documented[kind] == (method, template), kind


def test_attempt_and_result_bodies_are_the_documented_ones() -> None:
    attempt = contract.attempt_payload(
        callback_id="c", domain="d", attempt_no=1, outcome="completed", status="completed"
    )
    assert set(attempt) == set(_example("/v1/callbacks/{callback_id}/attempts"))
    result = contract.result_payload(callback_id="c", domain="d", status="completed", attempts=1)
    assert set(result) == set(_example("/v1/callbacks/{callback_id}/result"))
    outcomes = DOC[DOC.index("`outcome` is one of") :].split(".", 1)[0]
    for outcome in contract.ATTEMPT_OUTCOMES:
        assert f"`{outcome}`" in outcomes, outcome
    for status in contract.RESULT_STATUSES:
        assert f"`{status}`" in DOC


def test_builders_refuse_what_the_contract_does_not_know() -> None:
    from voiceai_ivr.errors import ValidationError

    with pytest.raises(ValidationError, match="outcome"):
        contract.attempt(callback_id="c", domain="d", attempt_no=1, outcome="maybe")
    with pytest.raises(ValidationError, match="status"):
        contract.result(callback_id="c", domain="d", status="pending", attempts=1)
    with pytest.raises(ValidationError, match="change"):
        contract.change("c", "d", "renamed")
    event = contract.attempt(callback_id="c", domain="d", attempt_no=2, outcome="customer_busy",
                             next_attempt_at=NOW, status="pending")
    assert (event.kind, event.idempotency_key) == ("callback.attempt", "callback.attempt:c:2")
    assert event.payload["next_attempt_at"] == NOW.isoformat()
    final = contract.attempt(callback_id="c", domain="d", attempt_no=3, outcome="completed",
                             next_attempt_at=NOW, status="completed")
    assert final.payload["next_attempt_at"] is None  # no retry planned


def test_redaction_masks_echoed_credentials() -> None:
    body = {
        "error": f"bad request: Authorization: Bearer {TOKEN}",
        "headers": {"Authorization": f"Bearer {TOKEN}", "X-Trace": "t-1"},
        "detail": "upstream postgresql://app:s3cr3t-pw@db.internal/helpdesk?token=abc123xyz said no",
        "items": [{"password": "hunter22"}, {"note": f"echo {TOKEN}"}],
    }
    clean = contract.redact_body(body, (TOKEN,))
    text = json.dumps(clean)
    for secret in (TOKEN, "s3cr3t-pw", "abc123xyz", "hunter22"):
        assert secret not in text
    assert clean["headers"]["X-Trace"] == "t-1"  # what is not secret stays readable
    assert "postgresql://app:***@db.internal" in clean["detail"]


class _Echo(BaseHTTPRequestHandler):
    """A helpdesk that echoes the request headers back: 500 for attempts, 201 otherwise."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        failing = self.path.endswith("/attempts")
        body = json.dumps(
            {
                "error": f"rejected (got Authorization: {self.headers.get('Authorization')})",
                "echo": {"Authorization": self.headers.get("Authorization")},
                "hint": "retry via https://svc:pw-in-url-42@helpdesk.example/api",
            }
            if failing
            else {"ticket_id": "T-1", "received_headers": {"authorization": self.headers.get("Authorization")}}
        ).encode()
        self.send_response(500 if failing else 201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def _helpdesk(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real local HTTP helpdesk answering with ``handler``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo_helpdesk() -> Iterator[str]:
    with _helpdesk(_Echo) as url:
        yield url


def _deliver(db: Any, config: Any, url: str, token: str, messages: list[tuple[str, dict, str]]) -> tuple[list, Any]:
    """Queue ``(kind, payload, key)`` messages and deliver them to the helpdesk at ``url``."""
    with db.transaction() as cur:
        ids = [outbox.enqueue(cur, "d.example", kind, payload, key) for kind, payload, key in messages]
    config.helpdesk.url = url
    config.helpdesk.token = token
    with HelpdeskClient.from_config(config) as client:
        return ids, deliver_due(db, client, config, limit=10)


def test_echoed_credentials_never_reach_the_outbox_or_the_terminal(db, config, cli_env, echo_helpdesk) -> None:
    (failing, ok), report = _deliver(db, config, echo_helpdesk, TOKEN, [
        ("callback.attempt", {"callback_id": "c-1"}, "k-attempt"),
        ("call.missed", {"call_id": "call-1"}, "k-missed"),
    ])
    assert (report.delivered, report.retried) == (1, 1)
    with db.cursor() as cur:
        failed_row = outbox.get(cur, failing)
        ok_row = outbox.get(cur, ok)
    assert failed_row is not None and ok_row is not None
    stored = f"{failed_row.last_error} {json.dumps(ok_row.response)} {report.errors}"
    assert TOKEN not in stored and "pw-in-url-42" not in stored
    assert "***" in (failed_row.last_error or "") and ok_row.response["ticket_id"] == "T-1"
    # `outbox flush` prints the errors: masked too
    env = dict(cli_env, VOICEAI_HELPDESK_URL=echo_helpdesk, VOICEAI_HELPDESK_TOKEN=TOKEN)
    result = CliRunner().invoke(cli, ["outbox", "flush", "--now"], env=env)
    assert result.exit_code == 1  # the attempt is still refused
    assert "HTTP 500" in result.output and TOKEN not in result.output and "pw-in-url-42" not in result.output


def test_migration_masks_what_older_versions_stored(empty_db_dsn, tmp_path) -> None:
    """sql/003: rows stored before redaction existed are masked in place (and a
    response stays valid JSON)."""
    import shutil

    from voiceai_ivr.stores.db import Database
    from voiceai_ivr.stores.migrate import migrate

    sql = Path(__file__).resolve().parents[2] / "sql"
    older = tmp_path / "sql"
    older.mkdir()
    for name in ("001_initial.sql", "002_directory_details.sql"):
        shutil.copy(sql / name, older / name)
    db = Database(empty_db_dsn, pool_size=2)
    try:
        migrate(db, older)
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO helpdesk_outbox (domain, kind, idempotency_key, payload, status, last_error, response)"
                " VALUES ('d', 'callback.attempt', 'k1', '{}', 'pending', %s, NULL),"
                "        ('d', 'call.missed', 'k2', '{}', 'delivered', NULL, %s),"
                "        ('d', 'call.missed', 'k3', '{}', 'delivered', 'HTTP 500 (busy)', %s)",
                (
                    f"POST /v1/x: HTTP 400 (echo Authorization: Bearer {TOKEN}; see"
                    " https://svc:pw-in-url-42@helpdesk.example/api?token=abc123xyz)",
                    json.dumps({"ticket_id": "T-9", "headers": {"Authorization": f"Bearer {TOKEN}"},
                                "password": 'p"w\\d', "note": "via postgres://u:dbpass77@h/db"}),
                    json.dumps({"ticket_id": "T-10"}),
                ),
            )
        migrate(db)  # 003 (and whatever follows)
        with db.cursor() as cur:
            cur.execute("SELECT idempotency_key, last_error, response FROM helpdesk_outbox ORDER BY id")
            stored = cur.fetchall()
    finally:
        db.close()
    text = json.dumps(stored)
    for secret in (TOKEN, "pw-in-url-42", "abc123xyz", "dbpass77", 'p\\"w'):
        assert secret not in text, secret
    assert stored[1][2]["ticket_id"] == "T-9" and stored[1][2]["password"] == "***"
    assert stored[2][1:] == ("HTTP 500 (busy)", {"ticket_id": "T-10"})  # nothing secret: untouched


# --------------------------------------------------------------------------- issue 19, defect 7

ODD_TOKEN = "hd+Secret/Token=5f1e2d3c4b5a=="  # base64-like: + / = are what URL encoding changes


class _Leaky(BaseHTTPRequestHandler):
    """A helpdesk that echoes our token where the old masking did not look: as a
    JSON key, URL-encoded (upper- and lower-case hex, form encoding), and in a
    2xx plain-text body where the token straddles the 500th character."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = (self.headers.get("Authorization") or "").partition(" ")[2]
        if self.path.endswith("/attempts"):
            ctype, status = "text/plain", 202
            body = ("accepted " + "." * 485 + " " + token + " trailer").encode()
        else:
            ctype, status = "application/json", 201
            body = json.dumps({
                "ticket_id": "T-9",
                token: "seen as a key",
                "query": "https://hd.example/cb?auth=" + quote(token, safe=""),
                "lower": quote(token, safe="").lower().replace("secret", "Secret").replace("token", "Token"),
                "form": quote_plus(token),
                "mixed": token.replace("+", "%2b", 1),
                "escaped_json_text": json.dumps({"t": token}).replace("/", "\\/"),
            }).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def leaky_helpdesk() -> Iterator[str]:
    with _helpdesk(_Leaky) as url:
        yield url


def _fragments(token: str, n: int = 8) -> set[str]:
    """Every n-character piece of the token, as written and URL-encoded."""
    pieces = {token[i:i + n] for i in range(len(token) - n + 1)}
    return pieces | {quote(p, safe="") for p in pieces} | {quote(p, safe="").lower() for p in pieces}


def test_token_echoed_as_a_key_url_encoded_or_past_the_cut_is_masked(db, config, leaky_helpdesk) -> None:
    (ticket, text), report = _deliver(db, config, leaky_helpdesk, ODD_TOKEN, [
        ("call.missed", {"call_id": "call-9"}, "k-missed-9"),
        ("callback.attempt", {"callback_id": "c-9"}, "k-attempt-9"),
    ])
    assert report.delivered == 2, report
    with db.cursor() as cur:
        rows = [outbox.get(cur, ticket), outbox.get(cur, text)]
    stored = json.dumps([r.response for r in rows if r is not None])
    leaked = sorted(f for f in _fragments(ODD_TOKEN) if f in stored)
    assert leaked == [], stored
    ticket_row, text_row = rows
    assert ticket_row is not None and text_row is not None
    assert ticket_row.response["ticket_id"] == "T-9" and ticket_row.response["***"] == "seen as a key"
    assert ticket_row.response["query"] == "https://hd.example/cb?auth=***"
    body = text_row.response["text"]
    assert body.startswith("accepted ....") and "***" in body and len(body) == contract.RESPONSE_TEXT_LIMIT
