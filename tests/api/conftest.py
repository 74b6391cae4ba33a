"""The API served by its real server (waitress behind ``api.server``) on port 0,
and response validation against the shipped OpenAPI document."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import pytest
import requests
import yaml
from openapi_schema_validator import OAS30Validator

import voiceai_ivr
from voiceai_ivr.api.app import create_app
from voiceai_ivr.api.resources import ApiServices
from voiceai_ivr.api.server import Limits, create_server
from voiceai_ivr.cli.api_cmd import build_services
from voiceai_ivr.config import APIToken

SPEC_PATH = Path(voiceai_ivr.__file__).parent / "openapi" / "openapi.yaml"
TOKEN_A = "token-for-domain-a-0123456789"
TOKEN_B = "token-for-domain-b-0123456789"


def _deref(node: Any, root: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _deref(target, root)
        return {k: _deref(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(v, root) for v in node]
    return node


class Contract:
    """Checks every response against the OpenAPI document."""

    def __init__(self) -> None:
        self.raw = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
        self.spec = _deref(self.raw, self.raw)
        self.checked = 0

    def check(self, method: str, template: str, resp: requests.Response) -> None:
        op = self.spec["paths"][template][method.lower()]
        status = str(resp.status_code)
        assert status in op["responses"], f"{method} {template}: {status} not documented"
        content = op["responses"][status].get("content", {})
        ctype = resp.headers.get("Content-Type", "").split(";")[0]
        assert ctype in content, f"{method} {template} {status}: content type {ctype} not documented"
        if ctype == "application/json":
            OAS30Validator(content[ctype]["schema"]).validate(resp.json())
        self.checked += 1


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


class Client:
    def __init__(self, base: str, contract: Contract) -> None:
        self.base = base
        self.contract = contract

    def request(
        self,
        method: str,
        template: str,
        token: Optional[str] = TOKEN_A,
        *,
        path: Optional[str] = None,
        check: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        resp = requests.request(method, self.base + (path or template), headers=headers, timeout=15, **kwargs)
        if check:
            self.contract.check(method, template, resp)
        return resp


class Served:
    """The API's own server (``api.server``: waitress behind the connection limits
    and read deadlines) on port 0 in a thread; ``close`` stops it (bounded)."""

    def __init__(self, app: Any, limits: Optional[Limits] = None, host: str = "127.0.0.1") -> None:
        self.server = create_server(app, host=host, port=0, threads=4, limits=limits, loop_timeout=0.05)
        self.url = f"http://{host}:{self.server.effective_port}"
        self.address = (host, int(self.server.effective_port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


@contextmanager
def click_to_call_served(cfg: Any, db: Any, sim: Any) -> Iterator[str]:
    """The API as ``voiceai-ivr api`` builds it (outbox drain, dispatcher on the
    simulator ``sim``) with click-to-call settings a test can wait for, served on
    port 0: yields its URL, then stops the server, the drain and the dispatcher.
    ``cfg`` may carry a test's own settings already (they are kept)."""
    cfg.esl.host, cfg.esl.port = sim.inbound_address
    cfg.callbacks.caller_id_number = "+551140040000"
    cfg.callbacks.gateway = "pstn"
    cfg.callbacks.agent_answer_timeout = 300  # simulated seconds
    cfg.api.agent_listen_port = 0
    cfg.dispatcher.availability_cache_seconds = 0.0
    cfg.dispatcher.whisper_timeout = 10.0
    services = build_services(cfg, db)
    assert services.dispatcher is not None, "the API could not reach the simulator"
    served = Served(create_app(cfg, services))
    try:
        yield served.url
    finally:
        served.close()
        if services.outbox is not None:
            services.outbox.stop()
        services.dispatcher.close()
        services.dispatcher.esl_client.close()


@pytest.fixture
def api_config(config):
    config.api.tokens = [APIToken(TOKEN_A, "a.example"), APIToken(TOKEN_B, "b.example")]
    config.api.max_body_bytes = 2048
    return config


@pytest.fixture
def api(api_config, db, contract) -> Iterator[Client]:
    served = Served(create_app(api_config, ApiServices(db=db)))
    try:
        yield Client(served.url, contract)
    finally:
        served.close()
