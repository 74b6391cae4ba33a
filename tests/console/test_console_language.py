"""Every console page in both languages: no internal code (a stored status,
outcome, result, trigger, type or category as the database spells it) and, on
a pt-BR page, no English word of the console's own text. Pages are rendered
with every code the database can hold, so a code without a display name, or a
sentence missing from one language's table, fails here.

What the console does not write itself is left out of the word check: the
tenant's own data (destination names, aliases, reasons...) and the messages
of the shared validation and dispatcher (the API's and the CLI's English
sentences), which pages mark ``lang="en"``."""

from __future__ import annotations

import html
import re
import string
from html.parser import HTMLParser
from typing import Any

import pytest
import requests

from voiceai_ivr.console.i18n import EN_US, KINDS, PT_BR, translator
from voiceai_ivr.domain.causes import ATTEMPT_OUTCOMES
from voiceai_ivr.domain.causes import STATUSES as TRANSFER_STATUSES
from voiceai_ivr.domain.destinations import DEST_TYPES
from voiceai_ivr.domain.lexicon import CATEGORIES
from voiceai_ivr.stores.calls import OUTCOMES as CALL_OUTCOMES

from .conftest import TOKEN_DEMO, TOKEN_OTHER, Console, csrf_of

CALLBACK_STATUSES = ("pending", "in_progress", "completed", "failed", "expired", "cancelled")
CODES: dict[str, tuple[str, ...]] = {
    "status": CALLBACK_STATUSES,
    "call_outcome": (*sorted(CALL_OUTCOMES), "in_progress"),
    "transfer_status": (*TRANSFER_STATUSES, "accepted"),
    "attempt_outcome": (*ATTEMPT_OUTCOMES, "in_progress"),
    "trigger": ("cron", "api"),
    "dest_type": DEST_TYPES,
    "category": CATEGORIES,
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Visible(HTMLParser):
    """The text a reader sees: text nodes outside <style>/<script> and, when
    ``skip_english``, outside elements marked ``lang="en"``."""

    def __init__(self, skip_english: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_english = skip_english
        self.stack: list[tuple[str, bool]] = []
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        if tag in VOID:
            return
        hidden = tag in ("style", "script") or (self.skip_english and dict(attrs).get("lang") == "en")
        self.stack.append((tag, hidden or any(h for _, h in self.stack[-1:])))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1][1]):
            self.parts.append(data)


def visible_text(html: str, *, skip_english: bool) -> str:
    parser = _Visible(skip_english)
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def _words(texts: Any) -> set[str]:
    out: set[str] = set()
    for text in texts:
        plain = re.sub(r"\{[^}]*\}", " ", text)
        out.update(w.lower() for w in re.findall(r"[^\W\d_]{3,}", plain))
    return out


ENGLISH_ONLY = _words(EN_US.values()) - _words(PT_BR.values())
PORTUGUESE_ONLY = _words(PT_BR.values()) - _words(EN_US.values())
INTERNAL = sorted({c for codes in CODES.values() for c in codes if "_" in c})


def _rows(db: Any, sql: str, params: tuple = ()) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _tenant_data(db: Any) -> list[str]:
    """Every string of the tenants' own data a page may show, longest first."""
    found: set[str] = set()
    for (row,) in _rows(db, "SELECT to_jsonb(d) FROM destinations d"):
        for key in ("name", "target", "gateway"):
            if row.get(key):
                found.add(str(row[key]))
        found.update(str(a) for a in row.get("aliases") or [])
        found.update(str(k) for k in row.get("keywords") or [])
    for name, number, reason, transcript, caller in _rows(
        db, "SELECT destination_name, number_e164, reason, transcript, caller_name FROM callbacks"
    ):
        found.update(str(v) for v in (name, number, reason, transcript, caller) if v)
    found.update(str(d) for (d,) in _rows(db, "SELECT domain FROM domains"))
    found.update(str(z) for (z,) in _rows(db, "SELECT timezone FROM domains"))
    return sorted(found, key=len, reverse=True)


def _seed(console: Console, domain: str, destination: str) -> dict[str, Any]:
    """Calls, transfers and callbacks with every code the tables name, and a
    callback attempt per outcome (a callback in progress, one without a
    destination, one with a recording)."""
    with_dest = console.add_callback(domain, number="+5511900000001", destination=destination)
    no_dest = console.add_callback(domain, number="+5511900000002", destination=None, recording=False)
    closed = console.add_callback(domain, number="+5511900000003", destination=destination, recording=False)
    with console.db.cursor() as cur:
        for i, outcome in enumerate([*sorted(CALL_OUTCOMES), None, "a_code_of_a_newer_version"]):
            cur.execute(
                "INSERT INTO calls (call_uuid, domain, outcome, started_at) VALUES (%s, %s, %s, now())",
                (f"{domain}-call-{i}", domain, outcome),
            )
        for i, status in enumerate([*TRANSFER_STATUSES, "accepted"]):
            cur.execute(
                "INSERT INTO transfer_attempts (call_uuid, domain, destination_name, status, hangup_cause,"
                " started_at) VALUES (%s, %s, %s, %s, 'USER_BUSY', now())",
                (f"{domain}-call-{i}", domain, destination, status),
            )
        for no, outcome in enumerate([*ATTEMPT_OUTCOMES, None], start=1):
            cur.execute(
                "INSERT INTO callback_attempts (callback_id, attempt_no, domain, dispatcher, trigger,"
                " agent_extension, outcome, hangup_cause, sip_status, started_at, ended_at, details)"
                " VALUES (%s, %s, %s, 'host:1', %s, '1001', %s, %s, %s, now(), now(), %s)",
                (closed.id, no, domain, "api" if no % 2 else "cron", outcome,
                 None if outcome == "completed" else "NO_USER_RESPONSE", None if no % 3 else "480",
                 '{"reason": "the agent did not answer in time"}' if outcome else "{}"),
            )
        cur.execute("UPDATE callbacks SET status = 'failed', last_outcome = 'agent_no_answer', attempts = 3,"
                    " completed_at = now() WHERE id = %s", (closed.id,))
    return {"callbacks": [with_dest.public_id, no_dest.public_id, closed.public_id]}


def _pages(console: Console, token: str, seeded: dict[str, Any], language: str) -> dict[str, str]:
    """Every page (and the error pages) of one domain's session: path -> HTML."""
    s = console.login(token)
    pages: dict[str, str] = {}

    def get(path: str, status: int = 200) -> None:
        resp = console.get(s, path)
        assert resp.status_code == status, (path, resp.status_code, resp.text[:300])
        pages[path] = resp.text

    get("/console/dashboard")
    get("/console/dashboard?period=7d")
    get("/console/callbacks")
    get("/console/callbacks?status=cancelled")  # empty
    for pid in seeded["callbacks"]:
        get(f"/console/callbacks/{pid}")
    get("/console/destinations")
    (dest_id,) = re.findall(r'href="/console/destinations/([0-9]+)" class="edit"', pages["/console/destinations"])[:1]
    page = f"/console/destinations/{dest_id}"
    form = console.get(s, page).text
    fields = dict(re.findall(r'<input type="text" name="(\w+)" id="\w+" value="([^"]*)"', form))
    fields.update((k, html.unescape(v)) for k, v in re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', form))
    saved = s.post(console.url + page, data={"csrf": csrf_of(form), **fields, "category": "billing",
                                              "type": "extension", "target": "1099", "enabled": "on"},
                   allow_redirects=False, timeout=10)
    assert saved.status_code == 303, saved.text[:500]
    get(page + "?done=saved")  # with its change history
    refused = s.post(console.url + page, data={"csrf": csrf_of(form), **fields, "menu_key": "12", "type": "extension",
                                                "target": "1099"}, allow_redirects=False, timeout=10)
    assert refused.status_code == 400
    pages[page + " (refused)"] = refused.text
    pid = seeded["callbacks"][0]
    snooze = console.post_form(s, f"/console/callbacks/{pid}", f"/console/callbacks/{pid}/snooze", {"minutes": "abc"})
    assert snooze.status_code == 400
    pages["snooze (refused)"] = snooze.text
    get("/console/nowhere", 404)
    get("/console/dashboard?period=year", 400)
    get("/console/callbacks?from=yesterday", 400)
    get("/console/callbacks?after=garbage", 400)
    get("/console/logout", 405)
    forged = s.post(console.url + "/console/logout", data={"csrf": "forged"}, allow_redirects=False, timeout=10)
    assert forged.status_code == 403
    pages["logout (forged)"] = forged.text
    action = console.url + f"/console/callbacks/{pid}/cancel"
    not_form = s.post(action, json={"reason": "x"}, allow_redirects=False, timeout=10)
    assert not_form.status_code == 415
    pages["cancel (not a form)"] = not_form.text
    too_big = s.post(action, data={"reason": "x" * 5000}, allow_redirects=False, timeout=10)
    assert too_big.status_code == 413
    pages["cancel (too large)"] = too_big.text

    anonymous = requests.Session()
    anonymous.headers["Accept-Language"] = language
    login = anonymous.get(console.url + "/console/login", timeout=10)
    pages["login"] = login.text
    failed = anonymous.post(console.url + "/console/login", data={"csrf": csrf_of(login.text), "token": "x" * 24},
                            allow_redirects=False, timeout=10)
    assert failed.status_code == 401
    pages["login (failed)"] = failed.text
    pages["404 (anonymous)"] = anonymous.get(console.url + "/console/callbacks/nope", timeout=10).text
    return pages


def _problems(pages: dict[str, str], language: str, data: list[str]) -> list[str]:
    problems = []
    foreign = ENGLISH_ONLY if language == "pt-BR" else PORTUGUESE_ONLY
    for where, page in pages.items():
        assert f'<html lang="{language}">' in page, where
        text = visible_text(page, skip_english=(language == "pt-BR"))
        for code in INTERNAL:
            if re.search(rf"\b{re.escape(code)}\b", text):
                problems.append(f"{where}: internal code {code!r} shown")
        for raw in ("(none)", "None", "…)"):
            if raw in text.split() or raw in text:
                problems.append(f"{where}: {raw!r} shown")
        for value in data:  # the tenant's own words are not the console's
            text = text.replace(value, " ")
        leaked = sorted({w for w in re.findall(r"[^\W\d_]{3,}", text) if w.lower() in foreign})
        if leaked:
            problems.append(f"{where}: {leaked} in a {language} page")
    return problems


def test_both_languages_have_every_sentence_with_the_same_placeholders() -> None:
    assert set(PT_BR) == set(EN_US)
    fields = string.Formatter()
    for key in PT_BR:
        names = [{f for _, f, _, _ in fields.parse(table[key]) if f} for table in (PT_BR, EN_US)]
        assert names[0] == names[1], key
    for kind, codes in CODES.items():
        assert kind in KINDS
        for code in codes:
            assert f"{kind}.{code}" in PT_BR, f"{kind}.{code} has no display name"


def test_an_unknown_code_is_shown_readable() -> None:
    t = translator("pt-BR")
    assert t.code("call_outcome", "a_code_of_a_newer_version") == "a code of a newer version"
    assert t.code("status", None) == "—"
    assert translator("xx-YY")("calls") == "Chamadas"  # an unknown language: pt-BR


@pytest.mark.parametrize(("token", "domain", "destination", "language"), [
    (TOKEN_DEMO, "demo.local", "Financeiro", "pt-BR"),
    (TOKEN_OTHER, "other.example", "Sales", "en-US"),
])
def test_every_page_speaks_the_domains_language_without_internal_codes(
    console: Console, token: str, domain: str, destination: str, language: str
) -> None:
    seeded = _seed(console, domain, destination)
    pages = _pages(console, token, seeded, language)
    assert len(pages) >= 20
    problems = _problems(pages, language, _tenant_data(console.db))
    assert not problems, "\n".join(problems)
    dashboard = pages["/console/dashboard"]
    # an outcome a newer version wrote: shown readable, the page still renders
    assert "a code of a newer version" in dashboard


def test_the_check_catches_a_leak() -> None:
    """The checker itself: an internal code or an English word on a pt-BR page is caught;
    English inside lang="en" (the shared validation's message) is not."""
    page = ('<html lang="pt-BR"><body><p>callback_created</p><p>Callbacks created</p>'
            '<p lang="en">key 1 already used</p></body></html>')
    found = _problems({"page": page}, "pt-BR", [])
    assert any("callback_created" in p for p in found) and any("created" in p for p in found)
    assert not any("already" in p for p in found)
