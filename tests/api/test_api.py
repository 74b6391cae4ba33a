"""The helpdesk API over a real waitress server and PostgreSQL; every response
is checked against the shipped OpenAPI document."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from dispatcher.helpers import add_callbacks, add_domain, callback_row, fetch
from openapi_spec_validator import validate

from .conftest import SPEC_PATH, TOKEN_B


@pytest.fixture
def data(db_dsn):
    add_domain(db_dsn, "a.example")
    add_domain(db_dsn, "b.example")
    a = add_callbacks(db_dsn, "a.example", 3)
    b = add_callbacks(db_dsn, "b.example", 2, number_base=5521900000000)
    return {"a": a, "b": b}


def test_openapi_document_is_valid():
    validate(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def test_health_without_token(api):
    r = api.request("GET", "/health", token=None)
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "pbx": "not_configured"}


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not-a-known-token-xxxxxxxx"])
def test_auth_required(api, header):
    headers = {"Authorization": header} if header else {}
    r = api.request("GET", "/callbacks", token=None, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["field"] == "Authorization"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_domain_isolation(api, data, db_dsn):
    mine = api.request("GET", "/callbacks").json()["items"]
    assert sorted(i["id"] for i in mine) == sorted(data["a"])
    assert {i["domain"] for i in mine} == {"a.example"}
    other = data["b"][0]
    for method, template, body in [
        ("GET", "/callbacks/{id}", None),
        ("POST", "/callbacks/{id}/snooze", {"minutes": 30}),
        ("POST", "/callbacks/{id}/cancel", {}),
        ("POST", "/callbacks/{id}/call", {"agent_extension": "1001"}),
    ]:
        r = api.request(method, template, path=template.replace("{id}", other), json=body)
        assert r.status_code in (403, 404, 503), (template, r.status_code)
        if template != "/callbacks/{id}/call":
            assert r.status_code == 404 and r.json()["error"]["field"] == "id"
    # domain B's rows are untouched and B's own token sees them
    assert callback_row(db_dsn, other)["status"] == "pending"
    theirs = api.request("GET", "/callbacks", token=TOKEN_B).json()["items"]
    assert sorted(i["id"] for i in theirs) == sorted(data["b"])
    exported = api.request("GET", "/callbacks/export.csv").text
    assert other not in exported and data["a"][0] in exported
    # B's attempts are not visible to A either
    attempt = fetch(
        db_dsn,
        "INSERT INTO callback_attempts (callback_id, attempt_no, domain, dispatcher)"
        " SELECT id, 1, domain, 'x' FROM callbacks WHERE public_id = %s RETURNING id",
        (other,),
    )
    r = api.request("GET", "/attempts/{attempt_id}", path=f"/attempts/{attempt[0][0]}")
    assert r.status_code == 404
    assert (
        api.request("GET", "/attempts/{attempt_id}", token=TOKEN_B, path=f"/attempts/{attempt[0][0]}").status_code
        == 200
    )


@pytest.mark.parametrize(
    ("template", "path", "field"),
    [
        ("/callbacks/{id}", "/callbacks/not-a-uuid", "id"),
        ("/callbacks/{id}", "/callbacks/1;DROP TABLE callbacks", "id"),
        ("/attempts/{attempt_id}", "/attempts/-1", "attempt_id"),
        ("/extensions/{ext}/availability", "/extensions/10{01/availability", "ext"),
        ("/callbacks", "/callbacks?status=bogus", "status"),
        ("/callbacks", "/callbacks?limit=0", "limit"),
        ("/callbacks", "/callbacks?limit=abc", "limit"),
        ("/callbacks", "/callbacks?cursor=%%%", "cursor"),
        ("/callbacks", "/callbacks?from=yesterday", "from"),
        ("/callbacks", "/callbacks?from=2026-01-01T00:00:00", "from"),
        ("/callbacks", "/callbacks?domain=b.example", "domain"),
        ("/callbacks", "/callbacks?status=pending&status=failed", "status"),
        ("/callbacks", "/callbacks?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("/callbacks/export.csv", "/callbacks/export.csv?to=nope", "to"),
    ],
)
def test_bad_input_names_the_field(api, data, template, path, field):
    r = api.request("GET", template, path=path)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=1899-01-01T00:00:00Z", "from"), ("to=2150-01-01T00:00:00Z", "to")],
)
def test_out_of_range_dates(api, data, query, field):
    r = api.request("GET", "/callbacks", path=f"/callbacks?{query}")
    assert r.status_code == 422 and r.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"minutes": 30, "colour": "red"}, 400, "colour"),
        ({}, 400, "until"),
        ({"minutes": 30, "until": "2030-01-01T00:00:00Z"}, 400, "until"),
        ({"minutes": "30"}, 400, "minutes"),
        ({"minutes": True}, 400, "minutes"),
        ({"minutes": 0}, 422, "minutes"),
        ({"minutes": 10**9}, 422, "minutes"),
        ({"until": "2001-01-01T00:00:00Z"}, 422, "until"),
        ({"until": "2999-01-01T00:00:00Z"}, 422, "until"),
        ({"until": "tomorrow"}, 400, "until"),
        ({"until": "2030-01-01T10:00:00"}, 400, "until"),
    ],
)
def test_snooze_validation(api, data, body, status, field):
    pid = data["a"][0]
    r = api.request("POST", "/callbacks/{id}/snooze", path=f"/callbacks/{pid}/snooze", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field


def test_body_errors(api, data, db_dsn):
    pid = data["a"][0]
    path = f"/callbacks/{pid}/snooze"
    r = api.request(
        "POST", "/callbacks/{id}/snooze", path=path, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = api.request(
        "POST", "/callbacks/{id}/snooze", path=path, data=b"[1, 2]", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    deep = b'{"minutes": ' + b"[" * 1000 + b"]" * 1000 + b"}"  # 2 KB, deeper than Python's recursion limit
    r = api.request("POST", "/callbacks/{id}/snooze", path=path, data=deep,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "body" and "nested" in r.json()["error"]["message"]
    r = api.request(
        "POST",
        "/callbacks/{id}/snooze",
        path=path,
        data=b"minutes=5",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    r = api.request("POST", "/callbacks/{id}/snooze", path=path, json={"minutes": 5, "pad": "x" * 5000})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    r = api.request(
        "POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent_extension": "1001,user/evil"}
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "agent_extension"
    r = api.request("POST", "/callbacks/{id}/call", path=f"/callbacks/{pid}/call", json={"agent": "1001"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "agent"
    row = callback_row(db_dsn, pid)
    assert (row["status"], row["attempts"]) == ("pending", 0)  # nothing changed


def test_snooze_and_cancel(api, data, db_dsn):
    pid = data["a"][0]
    before = datetime.now(timezone.utc)
    r = api.request("POST", "/callbacks/{id}/snooze", path=f"/callbacks/{pid}/snooze", json={"minutes": 90})
    assert r.status_code == 200, r.text
    nxt = datetime.fromisoformat(r.json()["next_attempt_at"])
    assert before + timedelta(minutes=89) < nxt < before + timedelta(minutes=91)
    later = (before + timedelta(days=2)).isoformat()
    r = api.request("POST", "/callbacks/{id}/snooze", path=f"/callbacks/{pid}/snooze", json={"until": later})
    body = r.json()
    assert r.status_code == 200 and datetime.fromisoformat(body["window_start"]) == datetime.fromisoformat(later)
    assert datetime.fromisoformat(body["window_end"]) > datetime.fromisoformat(later)
    r = api.request("POST", "/callbacks/{id}/cancel", path=f"/callbacks/{pid}/cancel", json={"reason": "resolvido"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = api.request("POST", "/callbacks/{id}/cancel", path=f"/callbacks/{pid}/cancel")
    assert r.status_code == 409 and r.json()["error"]["code"] == "closed"
    kinds = fetch(db_dsn, "SELECT kind, payload->>'status' FROM helpdesk_outbox ORDER BY id")
    assert kinds == [("callback.updated", None), ("callback.updated", None), ("callback.result", "cancelled")]


def test_in_progress_is_409(api, data, db_dsn):
    pid = data["a"][1]
    fetch(
        db_dsn,
        "UPDATE callbacks SET status = 'in_progress', lease_owner = 'h:1:x',"
        " lease_until = now() + interval '5 minutes' WHERE public_id = %s RETURNING id",
        (pid,),
    )
    for template in ("/callbacks/{id}/snooze", "/callbacks/{id}/cancel"):
        r = api.request(
            "POST", template, path=template.replace("{id}", pid), json={"minutes": 5} if "snooze" in template else {}
        )
        assert r.status_code == 409 and r.json()["error"]["code"] == "in_progress"


def test_pagination_and_filters(api, db_dsn):
    add_domain(db_dsn, "a.example")
    base = datetime(2026, 3, 1, tzinfo=timezone.utc)
    ids = []
    for day in range(7):
        ids += add_callbacks(
            db_dsn, "a.example", 1, created_at=base + timedelta(days=day), number_base=5511900000000 + day * 10
        )
    seen = []
    cursor = None
    pages = 0
    while True:
        q = "/callbacks?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.request("GET", "/callbacks", path=q).json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == list(reversed(ids))
    r = api.request("GET", "/callbacks", path="/callbacks?from=2026-03-02T00:00:00Z&to=2026-03-04T00:00:00Z")
    assert [i["id"] for i in r.json()["items"]] == [ids[2], ids[1]]
    r = api.request("GET", "/callbacks", path="/callbacks?status=completed")
    assert r.json() == {"items": [], "next_cursor": None}


def test_export_csv_streams_every_row(api, db_dsn):
    add_domain(db_dsn, "a.example")
    ids = add_callbacks(db_dsn, "a.example", 1200, reason="=HYPERLINK(evil)")
    r = api.request("GET", "/callbacks/export.csv", stream=True)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "Content-Length" not in r.headers  # streamed
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1200 and {row["public_id"] for row in rows} == set(ids)
    assert all(row["reason"].startswith("'=") for row in rows)  # formula neutralised


def test_metrics_and_unknown_routes(api, data):
    r = api.request("GET", "/metrics")
    assert r.status_code == 200 and 'voiceai_callbacks{status="pending"} 3' in r.text
    r = api.request("GET", "/callbacks", check=False, path="/nope")
    assert r.status_code == 404
    r = api.request("DELETE", "/callbacks", check=False)
    assert r.status_code == 405


def test_availability_without_pbx_is_503(api):
    r = api.request("GET", "/extensions/{ext}/availability", path="/extensions/1001/availability")
    assert r.status_code == 503


def test_unknown_callback_is_404(api, data):
    pid = str(uuid.uuid4())
    r = api.request("GET", "/callbacks/{id}", path=f"/callbacks/{pid}")
    assert r.status_code == 404 and r.json()["error"]["field"] == "id"
