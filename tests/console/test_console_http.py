"""The console over plain HTTP: sessions, CSRF, Range requests, domain isolation,
destination edits with their audit, and the console password command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner

from voiceai_ivr.cli import cli as cli_main

from .conftest import TOKEN_DEMO, TOKEN_OTHER, Console, csrf_of


def _rows(db: Any, sql: str, params: tuple = ()) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


# --------------------------------------------------------------------------- sessions


def test_token_login_sets_a_strict_httponly_session_cookie_and_pages_need_it(console: Console) -> None:
    anonymous = requests.Session()
    resp = console.get(anonymous, "/console/callbacks")
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
    page = anonymous.get(console.url + "/console/login", timeout=10)
    resp = anonymous.post(console.url + "/console/login", data={"csrf": csrf_of(page.text), "token": TOKEN_DEMO},
                          allow_redirects=False, timeout=10)
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/dashboard"
    cookie = next(c for c in resp.raw.headers.getlist("Set-Cookie") if c.startswith("voiceai_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    dash = console.get(anonymous, "/console/dashboard")
    assert dash.status_code == 200 and "demo.local" in dash.text
    assert "default-src 'none'" in dash.headers["Content-Security-Policy"]
    assert TOKEN_DEMO not in dash.text and TOKEN_DEMO not in cookie


def test_wrong_token_or_password_is_refused_without_a_session(console: Console) -> None:
    s = requests.Session()
    page = s.get(console.url + "/console/login", timeout=10)
    for data in ({"token": "not-a-token-0123456789"}, {"domain": "demo.local", "password": "wrong password!"}):
        resp = s.post(console.url + "/console/login", data={"csrf": csrf_of(page.text), **data},
                      allow_redirects=False, timeout=10)
        assert resp.status_code == 401 and 'id="error"' in resp.text
        assert "voiceai_console=" not in resp.headers.get("Set-Cookie", "").replace("voiceai_console_login", "")
        page = resp  # the form shown again carries a fresh login token
    assert console.get(s, "/console/dashboard").status_code == 303


def test_login_without_its_csrf_token_is_refused(console: Console) -> None:
    resp = requests.post(console.url + "/console/login", data={"token": TOKEN_DEMO}, allow_redirects=False,
                         timeout=10)
    assert resp.status_code == 403


def test_logout_ends_the_session_even_for_a_copied_cookie(console: Console) -> None:
    s = console.login()
    copied = requests.Session()
    copied.cookies.update(s.cookies)
    assert console.get(copied, "/console/dashboard").status_code == 200
    resp = console.post_form(s, "/console/dashboard", "/console/logout", {})
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
    assert console.get(copied, "/console/dashboard").status_code == 303


def test_a_session_is_shared_by_api_processes_on_one_database_and_a_logout_in_one_ends_it_in_all(
    console: Console, console_config: Any
) -> None:
    """A second API application (another process, or this one restarted) over the
    same database accepts the first one's cookie; after a logout in the second,
    the first refuses it. Nothing is shared between them but the database."""
    from api.conftest import Served

    from voiceai_ivr.api.app import create_app
    from voiceai_ivr.api.resources import ApiServices

    second = Served(create_app(console_config, ApiServices(db=console.db)))
    try:
        s = console.login()
        copied = requests.Session()
        copied.cookies.update(s.cookies)
        assert console.get(copied, "/console/dashboard").status_code == 200
        other = requests.get(second.url + "/console/dashboard", cookies=s.cookies, allow_redirects=False, timeout=10)
        assert other.status_code == 200 and 'id="calls-total"' in other.text
        # a form of the first process posted to the second: the CSRF token is the installation's too
        page = console.get(s, "/console/dashboard")
        resp = requests.post(second.url + "/console/logout", data={"csrf": csrf_of(page.text)}, cookies=s.cookies,
                             allow_redirects=False, timeout=10)
        assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
        assert console.get(copied, "/console/dashboard").status_code == 303  # refused by the first process
        again = requests.get(second.url + "/console/dashboard", cookies=s.cookies, allow_redirects=False, timeout=10)
        assert again.status_code == 303
        assert _rows(console.db, "SELECT count(*) FROM console_keys") == [(1,)]
    finally:
        second.close()


def test_expired_sessions_are_refused_and_their_rows_cleaned_up(console: Console) -> None:
    s = console.login()
    with console.db.cursor() as cur:
        cur.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    assert console.get(s, "/console/dashboard").status_code == 303  # the row says it is over
    console.login()  # a login deletes the expired rows
    assert _rows(console.db, "SELECT count(*) FROM console_sessions WHERE expires_at <= now()") == [(0,)]
    assert _rows(console.db, "SELECT count(*) FROM console_sessions") == [(1,)]


def test_console_password_set_by_the_cli_logs_in_and_a_new_password_ends_old_sessions(
    console: Console, cli_env: dict[str, str]
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_main, ["console", "passwd", "--domain", "demo.local", "--password-stdin"],
                           input="correct horse battery\n", env=cli_env)
    assert result.exit_code == 0, result.output
    (stored,) = _rows(console.db, "SELECT password_hash FROM console_passwords WHERE domain = 'demo.local'")
    assert stored[0].startswith("scrypt$") and "correct horse" not in stored[0]
    s = console.login(None, domain="demo.local", password="correct horse battery")
    assert console.get(s, "/console/callbacks").status_code == 200
    result = runner.invoke(cli_main, ["console", "passwd", "--domain", "demo.local", "--password-stdin"],
                           input="another long password\n", env=cli_env)
    assert result.exit_code == 0, result.output
    assert console.get(s, "/console/callbacks").status_code == 303
    short = runner.invoke(cli_main, ["console", "passwd", "--domain", "demo.local", "--password-stdin"],
                          input="short\n", env=cli_env)
    assert short.exit_code == 1 and "a console password has 10-1024 characters" in short.output
    unknown = runner.invoke(cli_main, ["console", "passwd", "--domain", "nowhere.example", "--password-stdin"],
                            input="long enough password\n", env=cli_env)
    assert unknown.exit_code == 1 and "no such domain" in unknown.output


# --------------------------------------------------------------------------- CSRF


def test_actions_without_the_session_csrf_token_are_refused_and_change_nothing(console: Console) -> None:
    cb = console.add_callback()
    s = console.login()
    other = console.login(TOKEN_OTHER)
    foreign = csrf_of(console.get(other, "/console/dashboard").text)
    for data in ({"minutes": "30"}, {"minutes": "30", "csrf": "0" * 64}, {"minutes": "30", "csrf": foreign}):
        resp = s.post(f"{console.url}/console/callbacks/{cb.public_id}/snooze", data=data, allow_redirects=False,
                      timeout=10)
        assert resp.status_code == 403, resp.text[:300]
    ((next_at,),) = _rows(console.db, "SELECT next_attempt_at FROM callbacks WHERE id = %s", (cb.id,))
    assert next_at == cb.next_attempt_at
    resp = console.post_form(s, f"/console/callbacks/{cb.public_id}", f"/console/callbacks/{cb.public_id}/snooze",
                             {"minutes": "45"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("?done=snoozed")
    ((moved,),) = _rows(console.db, "SELECT next_attempt_at FROM callbacks WHERE id = %s", (cb.id,))
    assert moved != cb.next_attempt_at


def test_snooze_and_cancel_follow_the_api_rules(console: Console) -> None:
    cb = console.add_callback()
    s = console.login()
    page = f"/console/callbacks/{cb.public_id}"
    resp = console.post_form(s, page, page + "/snooze", {"minutes": "0"})
    assert resp.status_code == 422 and "minutes: out of range" in resp.text
    resp = console.post_form(s, page, page + "/snooze", {"minutes": "soon"})
    assert resp.status_code == 400 and "minutes: must be a whole number" in resp.text
    resp = console.post_form(s, page, page + "/call", {"agent_extension": "1001"})
    assert resp.status_code == 503 and "click-to-call is not available" in resp.text  # no PBX in this API
    resp = console.post_form(s, page, page + "/cancel", {"reason": "duplicado"})
    assert resp.status_code == 303
    assert _rows(console.db, "SELECT status FROM callbacks WHERE id = %s", (cb.id,)) == [("cancelled",)]
    kinds = [k for (k,) in _rows(console.db, "SELECT kind FROM helpdesk_outbox WHERE callback_id = %s ORDER BY id",
                                 (cb.id,))]
    assert "callback.result" in kinds  # the API's own event for the helpdesk
    html = console.get(s, page).text
    assert 'id="snooze"' not in html  # no actions on a closed callback
    resp = s.post(console.url + page + "/snooze", data={"csrf": csrf_of(html), "minutes": "10"},
                  allow_redirects=False, timeout=10)
    assert resp.status_code == 409 and "no longer pending" in resp.text


def test_a_form_larger_than_the_body_limit_is_refused(console: Console) -> None:
    cb = console.add_callback()
    s = console.login()
    html = console.get(s, f"/console/callbacks/{cb.public_id}").text
    resp = s.post(f"{console.url}/console/callbacks/{cb.public_id}/cancel",
                  data={"csrf": csrf_of(html), "reason": "x" * 5000}, allow_redirects=False, timeout=10)
    assert resp.status_code == 413
    assert _rows(console.db, "SELECT status FROM callbacks WHERE id = %s", (cb.id,)) == [("pending",)]


# --------------------------------------------------------------------------- recording


def test_recording_is_served_whole_and_by_range(console: Console) -> None:
    cb = console.add_callback()
    data = Path(cb.recording_path).read_bytes()
    s = console.login()
    url = f"/console/callbacks/{cb.public_id}/recording"
    whole = console.get(s, url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Type"] == "audio/wav" and whole.headers["Accept-Ranges"] == "bytes"
    part = console.get(s, url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    tail = console.get(s, url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    opened = console.get(s, url, headers={"Range": "bytes=16000-"})
    assert opened.status_code == 206 and opened.content == data[16000:]
    past = console.get(s, url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
    head = s.head(console.url + url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data) and not head.content


def test_a_recording_path_outside_the_domains_recordings_is_never_served(console: Console, tmp_path: Path) -> None:
    cb = console.add_callback()
    s = console.login()
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF-not-yours")
    base = console.config.server.call_recordings_dir
    link = Path(base) / "demo.local" / "2026-11-24" / "0f1e2d3c-aaaa-bbbb-cccc-000000000001.wav"
    link.symlink_to(secret)
    other_domain = Path(base) / "other.example" / "2026-11-24" / "0f1e2d3c-aaaa-bbbb-cccc-000000000002.wav"
    other_domain.parent.mkdir(parents=True)
    other_domain.write_bytes(b"RIFF-other")
    for stored in (str(secret), f"{base}/demo.local/../../secret.wav", str(link), str(other_domain), "/etc/passwd"):
        with console.db.cursor() as cur:
            cur.execute("UPDATE callbacks SET recording_path = %s WHERE id = %s", (stored, cb.id))
        assert console.get(s, f"/console/callbacks/{cb.public_id}/recording").status_code == 404, stored
        assert 'id="recording"' not in console.get(s, f"/console/callbacks/{cb.public_id}").text


# --------------------------------------------------------------------------- isolation


def test_another_domains_session_sees_none_of_it(console: Console) -> None:
    cb = console.add_callback()
    mine = console.login()
    theirs = console.login(TOKEN_OTHER)
    assert cb.public_id in console.get(mine, "/console/callbacks").text
    listing = console.get(theirs, "/console/callbacks")
    assert listing.status_code == 200 and cb.public_id not in listing.text and "+5511998765432" not in listing.text
    for path in (f"/console/callbacks/{cb.public_id}", f"/console/callbacks/{cb.public_id}/recording"):
        resp = console.get(theirs, path)
        assert resp.status_code == 404 and "segunda via" not in resp.text
    csv = console.get(theirs, "/console/callbacks/export.csv")
    assert csv.status_code == 200 and cb.public_id not in csv.text
    (dest_id,) = _rows(console.db, "SELECT id FROM destinations WHERE domain = 'demo.local' AND name = 'Comercial'")
    assert console.get(theirs, f"/console/destinations/{dest_id[0]}").status_code == 404
    assert "Comercial" not in console.get(theirs, "/console/destinations").text
    html = console.get(theirs, "/console/dashboard").text
    resp = theirs.post(f"{console.url}/console/destinations/{dest_id[0]}",
                       data={"csrf": csrf_of(html), "name": "Hacked", "type": "extension", "target": "1003"},
                       allow_redirects=False, timeout=10)
    assert resp.status_code == 404
    resp = theirs.post(f"{console.url}/console/callbacks/{cb.public_id}/cancel", data={"csrf": csrf_of(html)},
                       allow_redirects=False, timeout=10)
    assert resp.status_code == 404
    assert _rows(console.db, "SELECT status FROM callbacks WHERE id = %s", (cb.id,)) == [("pending",)]
    assert _rows(console.db, "SELECT count(*) FROM destinations WHERE name = 'Hacked'") == [(0,)]


# --------------------------------------------------------------------------- callbacks list


def test_list_filters_and_keyset_pages(console: Console) -> None:
    for i in range(55):
        console.add_callback(number=f"+55119900{i:05d}", recording=False,
                             destination="Financeiro" if i % 2 else "Comercial")
    console.add_callback("other.example", number="+12125550100", recording=False, destination="Sales")
    s = console.login()
    first = console.get(s, "/console/callbacks")
    assert first.text.count('class="callback-row"') == 50
    import re

    nxt = re.search(r'href="([^"]+)" id="next-page"', first.text)
    assert nxt
    second = console.get(s, nxt.group(1).replace("&amp;", "&"))
    assert second.text.count('class="callback-row"') == 5 and 'id="next-page"' not in second.text
    ids = set(re.findall(r'data-id="([^"]+)"', first.text)) | set(re.findall(r'data-id="([^"]+)"', second.text))
    assert len(ids) == 55
    fin = console.get(s, "/console/callbacks", params={"destination": "Financeiro"})
    assert fin.text.count('class="callback-row"') == 27
    assert console.get(s, "/console/callbacks", params={"status": "cancelled"}).text.count("callback-row") == 0
    bad = console.get(s, "/console/callbacks", params={"status": "nope"})
    assert bad.status_code == 400 and "Situação: situação desconhecida" in bad.text
    bad = console.get(s, "/console/callbacks", params={"from": "24/11/2026"})
    assert bad.status_code == 400 and "De: deve ser uma data AAAA-MM-DD" in bad.text  # the domain's language
    bad = console.get(s, "/console/callbacks", params={"after": "forged"})
    assert bad.status_code == 400 and "Página: não é um link de página deste console" in bad.text
    csv = console.get(s, "/console/callbacks/export.csv", params={"destination": "Comercial"})
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 1 + 28


# --------------------------------------------------------------------------- destinations


def _dest_id(console: Console, name: str) -> int:
    ((dest_id,),) = _rows(console.db, "SELECT id FROM destinations WHERE domain = 'demo.local' AND name = %s", (name,))
    return int(dest_id)


def _form(console: Console, s: requests.Session, dest_id: int) -> dict[str, str]:
    import html as htmlmod
    import re

    page = console.get(s, f"/console/destinations/{dest_id}").text
    values = dict(re.findall(r'<input type="text" name="(\w+)" id="\w+" value="([^"]*)"', page))
    values.update(re.findall(r'<textarea name="(\w+)" id="\w+" rows="\d+"[^>]*>([^<]*)</textarea>', page))
    for name in ("type", "category"):
        found = re.search(rf'<select name="{name}".*?<option value="([^"]*)" selected>', page, re.S)
        values[name] = found.group(1) if found else ""
    if 'id="enabled" checked' in page:
        values["enabled"] = "on"
    return {k: htmlmod.unescape(v) for k, v in values.items()}


def test_a_bad_destination_edit_is_refused_naming_the_field_and_nothing_is_saved(console: Console) -> None:
    s = console.login()
    dest_id = _dest_id(console, "Comercial")
    before = _rows(console.db, "SELECT * FROM destinations WHERE id = %s", (dest_id,))
    (version,) = _rows(console.db, "SELECT updated_at FROM domains WHERE domain = 'demo.local'")
    cases = [  # (change, the field named, words of the refusal)
        ({"menu_key": "1"}, "menu_key", "Financeiro"),  # Financeiro has it
        ({"menu_key": "12"}, "menu_key", ""),
        ({"target": "1003;hangup"}, "target", ""),
        ({"hours": "mon-fri: [08:00-25:00]"}, "hours", ""),
        ({"hours": "mon-fri: [\"08:00"}, "hours", "not valid YAML"),
        ({"category": "astrology"}, "category", ""),
        ({"name": "Financeiro"}, "name", ""),
    ]
    labels = {"menu_key": "Tecla do menu", "target": "Alvo", "hours": "Horário", "category": "Categoria",
              "name": "Nome"}
    for change, field, words in cases:
        form = _form(console, s, dest_id)
        form.update(aliases="promoções\nmarketing", **change)
        resp = console.post_form(s, f"/console/destinations/{dest_id}", f"/console/destinations/{dest_id}", form)
        assert resp.status_code == 400, (change, resp.text[:300])
        error = resp.text[resp.text.find('id="error"'):]
        # the field by the name its label has on the form, in the domain's language
        assert f'<li data-field="{field}"><strong>{labels[field]}</strong>' in error, (change, error[:400])
        assert words in error, (change, error[:400])
    assert _rows(console.db, "SELECT * FROM destinations WHERE id = %s", (dest_id,)) == before
    assert _rows(console.db, "SELECT updated_at FROM domains WHERE domain = 'demo.local'") == [version]
    assert _rows(console.db, "SELECT count(*) FROM console_audit") == [(0,)]


def test_a_destination_edit_is_stored_with_its_audit_row(console: Console) -> None:
    s = console.login()
    dest_id = _dest_id(console, "Comercial")
    form = _form(console, s, dest_id)
    assert form["name"] == "Comercial" and form["menu_key"] == "3"
    form.update(aliases=form["aliases"] + "\nmarketing", menu_key="4", category="sales",
                hours="mon-fri:\n- 09:00-17:00")
    resp = console.post_form(s, f"/console/destinations/{dest_id}", f"/console/destinations/{dest_id}", form)
    assert resp.status_code == 303, resp.text[:500]
    row = _rows(console.db, "SELECT aliases, menu_key, category, hours FROM destinations WHERE id = %s", (dest_id,))
    assert row == [(["vendas", "orçamento", "sales", "marketing"], 4, "sales", {"mon-fri": ["09:00-17:00"]})]
    ((actor, action, target, changes),) = _rows(
        console.db, "SELECT actor, action, target, changes FROM console_audit WHERE domain = 'demo.local'")
    assert actor.startswith("token:") and actor.endswith("@127.0.0.1") and TOKEN_DEMO not in actor
    assert (action, target) == ("destination.update", "Comercial")
    assert changes["menu_key"] == {"from": 3, "to": 4}
    assert changes["aliases"]["to"][-1] == "marketing" and set(changes) == {"aliases", "menu_key", "category", "hours"}
    page = console.get(s, f"/console/destinations/{dest_id}?done=saved").text
    assert 'id="done"' in page and "menu_key" in page  # the history shows it


def test_dashboard_renders_in_both_languages(console: Console) -> None:
    console.add_callback()
    old = console.add_callback(number="+5511911112222", recording=False)
    with console.db.cursor() as cur:  # asked for before the 7 days, called back an hour ago
        cur.execute("UPDATE callbacks SET status = 'completed', created_at = now() - interval '7 days 1 hour',"
                    " completed_at = now() - interval '1 hour' WHERE id = %s", (old.id,))
    pt = console.get(console.login(), "/console/dashboard?period=7d")
    assert pt.status_code == 200 and "Retornos criados" in pt.text and "<svg" in pt.text
    assert 'id="callbacks-created">1<' in pt.text  # created in the period: the new one only
    assert 'id="callbacks-completed">1<' in pt.text  # closed in the period, created before it
    assert 'id="median">7 d 0 h<' in pt.text
    en = console.get(console.login(TOKEN_OTHER), "/console/dashboard")
    assert en.status_code == 200 and "Callbacks created" in en.text and 'id="callbacks-created">0<' in en.text
    bad = console.get(console.login(), "/console/dashboard?period=year")
    assert bad.status_code == 400 and "Período: deve ser today ou 7d" in bad.text


def test_dashboard_shows_speech_recognition_as_serves_health_reports_it(console: Console) -> None:
    from voiceai_ivr.metrics import Metrics, start_metrics_server

    metrics = Metrics()
    metrics.speech_available(False)
    server, _thread = start_metrics_server("127.0.0.1", 0, metrics)
    try:
        console.config.server.metrics_host = "127.0.0.1"
        console.config.server.metrics_port = server.server_port
        html = console.get(console.login(), "/console/dashboard").text
        assert 'id="speech" class="health-keys_only">só teclas<' in html  # serve says callers can only key
    finally:
        server.shutdown()
        server.server_close()


def test_repeated_failed_logins_block_the_address(console: Console) -> None:
    s = requests.Session()
    page = s.get(console.url + "/console/login", timeout=10)
    for _ in range(10):
        page = s.post(console.url + "/console/login", data={"csrf": csrf_of(page.text), "token": "x" * 20},
                      allow_redirects=False, timeout=10)
        assert page.status_code == 401
    resp = s.post(console.url + "/console/login", data={"csrf": csrf_of(page.text), "token": TOKEN_DEMO},
                  allow_redirects=False, timeout=10)
    assert resp.status_code == 429  # even the right token, until the window passes


def test_console_off_leaves_only_the_json_api(console_config: Any, db: Any) -> None:
    from api.conftest import Served

    from voiceai_ivr.api.app import create_app
    from voiceai_ivr.api.resources import ApiServices

    console_config.api.console = False
    served = Served(create_app(console_config, ApiServices(db=db)))
    try:
        resp = requests.get(served.url + "/console/login", timeout=10)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    finally:
        served.close()


def test_health_card_shows_the_domains_outbox_from_the_database_and_says_where_serve_is_not_reachable(
    console: Console,
) -> None:
    import socket

    from voiceai_ivr.stores import outbox

    s = console.login()
    empty = console.get(s, "/console/dashboard").text
    assert 'id="outbox">nada a enviar<' in empty  # no API drain in this process: read from the database
    with console.db.transaction() as cur:
        for i, (domain, hours) in enumerate([("demo.local", 2), ("demo.local", 1), ("other.example", 30)]):
            outbox.enqueue(cur, domain, "call.missed", {"n": i}, f"health-test-{i}")
            cur.execute("UPDATE helpdesk_outbox SET created_at = now() - %s * interval '1 hour'"
                        " WHERE idempotency_key = %s", (hours, f"health-test-{i}"))
        cur.execute("SELECT count(*) FROM helpdesk_outbox WHERE domain = 'demo.local' AND status = 'pending'")
        (waiting,) = cur.fetchone()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    console.config.server.metrics_host = "127.0.0.1"
    console.config.server.metrics_port = port
    html = console.get(s, "/console/dashboard").text
    # this domain's rows only (another domain's 30-hour-old row is not its business)
    assert f'id="outbox">{waiting} a enviar, a mais antiga há 2 h 00 min<' in html
    assert f"serve não acessível em 127.0.0.1:{port}<" in html
    assert console.config.database.dsn not in html
    en = console.get(console.login(TOKEN_OTHER), "/console/dashboard").text
    assert 'id="outbox">1 waiting, the oldest for 30 h 00 min<' in en
    assert f"serve not reachable at 127.0.0.1:{port}<" in en


def test_callback_without_a_destination_says_where_it_goes_as_callbacks_show_does(
    console: Console, cli_env: dict[str, str]
) -> None:
    """The route the dispatcher would take (its own joins), in the console in
    the domain's language and in ``callbacks show`` in English."""
    import re

    runner = CliRunner()

    def shown(cb: Any, session: requests.Session) -> tuple[str, str]:
        html = console.get(session, f"/console/callbacks/{cb.public_id}").text
        cell = re.search(r'<td id="cb-destination">(.*?)</td>', html, re.S)
        assert cell, html[:2000]
        result = runner.invoke(cli_main, ["callbacks", "show", cb.public_id], env=cli_env)
        assert result.exit_code == 0, result.output
        line = next((x for x in result.output.splitlines() if x.startswith("route ")), "")
        return cell.group(1), line[len("route"):].strip()

    s, other = console.login(), console.login(TOKEN_OTHER)
    named = console.add_callback(number="+5511900000011", recording=False)
    assert shown(named, s) == ("Financeiro", "Financeiro")
    nobody_named = console.add_callback(number="+5511900000012", destination=None, recording=False)
    page, cli = shown(nobody_named, s)
    assert page == "sem destino — vai para Financeiro (destino de reserva da secretária)"
    assert cli == "no destination — goes to Financeiro (the secretary's fallback destination)"
    gone = console.add_callback(number="+5511900000013", destination="Antigo Setor", recording=False)
    page, cli = shown(gone, s)
    assert page == "Antigo Setor não existe mais — vai para Financeiro (destino de reserva da secretária)"
    assert cli == "Antigo Setor no longer exists — goes to Financeiro (the secretary's fallback destination)"
    # a domain whose secretaries have no fallback: nobody, and what to fix (the dispatcher's words)
    lost = console.add_callback("other.example", number="+15550000014", destination=None, recording=False)
    page, cli = shown(lost, other)
    assert page.startswith("no destination — nobody to call<div") and "set a secretary&#39;s fallback" in page
    assert cli == "no destination — nobody to call"
    assert runner.invoke(cli_main, ["callbacks", "show", lost.public_id], env=cli_env).output.count(
        "set a secretary's fallback") == 1
    # callbacks.default_destination, when it names an enabled destination, comes before the fallback
    console.config.callbacks.default_destination = "Comercial"
    page, _cli = shown(nobody_named, s)
    assert page == "sem destino — vai para Comercial (destino padrão, callbacks.default_destination)"
