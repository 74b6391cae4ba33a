"""The console served by the API's own server (waitress behind ``api.server``)
on port 0, over a real PostgreSQL, with two domains: ``demo.local`` (the
scenario directory) and ``other.example``."""

from __future__ import annotations

import re
import struct
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
from api.conftest import Served

from voiceai_ivr.api.app import create_app
from voiceai_ivr.api.resources import ApiServices
from voiceai_ivr.config import APIToken
from voiceai_ivr.domain.destinations import parse_directory
from voiceai_ivr.integrations.helpdesk_messages import confirmed_messages
from voiceai_ivr.stores import callbacks as cbstore
from voiceai_ivr.stores.directory import import_directory

TESTS = Path(__file__).resolve().parent.parent
DIRECTORY = TESTS / "scenarios" / "directory.yaml"
TOKEN_DEMO = "console-token-demo-0123456789"
TOKEN_OTHER = "console-token-other-0123456789"
OTHER = {
    "domain": "other.example",
    "timezone": "America/New_York",
    "secretaries": [{"name": "Front desk", "dids": ["9000"], "language": "en-US"}],
    "destinations": [{"name": "Sales", "aliases": ["sales"], "type": "extension", "target": "3001", "menu_key": 1}],
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    """A real 16-bit mono WAV (a 440 Hz square-ish tone): what FreeSWITCH's
    record_session leaves on disk; the simulator writes no audio."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(struct.pack("<h", 6000 if (i // 9) % 2 else -6000) for i in range(int(rate * seconds)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:2000]
    return found.group(1)


@dataclass
class Console:
    url: str
    db: Any
    config: Any

    def session(self) -> requests.Session:
        return requests.Session()

    def login(self, token: Optional[str] = TOKEN_DEMO, *, domain: str = "", password: str = "") -> requests.Session:
        s = requests.Session()
        page = s.get(self.url + "/console/login", timeout=10)
        data = {"csrf": csrf_of(page.text)}
        data.update({"token": token} if token else {"domain": domain, "password": password})
        resp = s.post(self.url + "/console/login", data=data, allow_redirects=False, timeout=10)
        assert resp.status_code == 303, (resp.status_code, resp.text[:500])
        return s

    def get(self, s: requests.Session, path: str, **kwargs: Any) -> requests.Response:
        return s.get(self.url + path, allow_redirects=False, timeout=10, **kwargs)

    def post_form(self, s: requests.Session, page_path: str, action: str, data: dict[str, str]) -> requests.Response:
        """POST ``data`` to ``action`` with the CSRF token of the page at ``page_path``."""
        page = self.get(s, page_path)
        assert page.status_code == 200, page.text[:500]
        return s.post(self.url + action, data={"csrf": csrf_of(page.text), **data}, allow_redirects=False, timeout=10)

    def add_callback(self, domain: str = "demo.local", *, number: str = "+5511998765432", recording: bool = True,
                     destination: Optional[str] = "Financeiro", reason: str = "segunda via do boleto") -> Any:
        """A callback written by the store's own durable write (as the capture flow
        does), with a recording on disk when ``recording``."""
        call_uuid = "0f1e2d3c-aaaa-bbbb-cccc-" + number[-12:].rjust(12, "0")
        path = None
        if recording:
            path = f"{self.config.server.call_recordings_dir}/{domain}/2026-11-24/{call_uuid}.wav"
            write_wav(Path(path))
        start = datetime.now(timezone.utc) + timedelta(hours=1)
        with self.db.cursor() as cur:  # the destination's id, as the capture flow records it when it exists
            cur.execute("SELECT id FROM destinations WHERE domain = %s AND name = %s", (domain, destination))
            found = cur.fetchone()
        request = cbstore.CallbackRequest(
            domain=domain, number_e164=number, window_start=start, window_end=start + timedelta(hours=2),
            reason=reason, transcript=reason, destination_name=destination, call_uuid=call_uuid,
            destination_id=found[0] if found else None,
            recording_path=path,
        )
        return cbstore.save_confirmed_callback(self.db, request, confirmed_messages()).callback


@pytest.fixture
def console_config(config: Any, tmp_path: Path) -> Any:
    config.api.tokens = [APIToken(TOKEN_DEMO, "demo.local"), APIToken(TOKEN_OTHER, "other.example")]
    config.api.max_body_bytes = 4096
    config.server.call_recordings_dir = str(tmp_path / "recordings")
    config.server.metrics_port = 0  # no serve beside these tests: speech recognition "unknown"
    return config


@pytest.fixture
def console(console_config: Any, db: Any) -> Iterator[Console]:
    import yaml

    import_directory(db, parse_directory(yaml.safe_load(DIRECTORY.read_text(encoding="utf-8"))))
    import_directory(db, parse_directory(OTHER))
    served = Served(create_app(console_config, ApiServices(db=db)))
    try:
        yield Console(served.url, db, console_config)
    finally:
        served.close()
