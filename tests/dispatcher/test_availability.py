"""Availability: registration and calls from the PBX (simulator), DND from a
FusionPBX-shaped database, and the short-lived cache."""

from __future__ import annotations

import secrets

import psycopg2
import pytest

from voiceai_ivr.availability import AvailabilityChecker, dnd_lookup_from_config
from voiceai_ivr.errors import DialStringError
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.stores.fusionpbx import FUSIONPBX_DND_QUERY, FusionPBXDnd
from voiceai_ivr.switch import Switch

from .conftest import DOMAIN


@pytest.fixture
def fusionpbx_dsn(pg_admin_uri):
    name = f"fusionpbx_{secrets.token_hex(4)}"
    admin = psycopg2.connect(pg_admin_uri)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base, _, query = pg_admin_uri.partition("?")
    dsn = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE v_domains (domain_uuid uuid PRIMARY KEY, domain_name text)")
        cur.execute(
            "CREATE TABLE v_extensions (extension_uuid uuid PRIMARY KEY, domain_uuid uuid,"
            " extension text, do_not_disturb text)"
        )
        cur.execute("INSERT INTO v_domains VALUES ('11111111-1111-1111-1111-111111111111', %s)", (DOMAIN,))
        cur.execute(
            "INSERT INTO v_extensions VALUES (gen_random_uuid(), '11111111-1111-1111-1111-111111111111',"
            " '1001', 'false'), (gen_random_uuid(), '11111111-1111-1111-1111-111111111111', '1002', 'true')"
        )
    conn.close()
    yield dsn
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def switch(sim):
    host, port = sim.inbound_address
    client = InboundClient(host, port, "ClueCon", events=()).connect()
    yield Switch(client)
    client.close()


def test_fusionpbx_dnd_query(fusionpbx_dsn):
    dnd = FusionPBXDnd(fusionpbx_dsn, FUSIONPBX_DND_QUERY)
    try:
        assert dnd("1001", DOMAIN) is False
        assert dnd("1002", DOMAIN) is True
        assert dnd("1002", "other.example") is False  # no row: DND off
        assert dnd("1001' OR '1'='1", DOMAIN) is False  # parameters, never formatted
    finally:
        dnd.close()
    assert dnd_lookup_from_config("", FUSIONPBX_DND_QUERY) is None
    with pytest.raises(ValueError, match="extension"):
        FusionPBXDnd(fusionpbx_dsn, "SELECT true")


def test_checker_with_pbx_and_dnd(sim, switch, fusionpbx_dsn):
    sim.set_endpoints(
        agents={
            "1001": {"behavior": "answer"},
            "1002": {"behavior": "answer"},
            "1003": {"behavior": "answer", "in_call": True},
            "1004": {"behavior": "offline"},
        }
    )
    checker = AvailabilityChecker(switch, cache_seconds=0, dnd_lookup=FusionPBXDnd(fusionpbx_dsn, FUSIONPBX_DND_QUERY))
    got = {ext: checker.check(ext, DOMAIN) for ext in ("1001", "1002", "1003", "1004")}
    assert got["1001"].available and got["1001"].reason == ""
    assert (got["1002"].dnd, got["1002"].available, got["1002"].reason) == (True, False, "dnd")
    assert (got["1003"].in_call, got["1003"].reason) == (True, "in_call")
    assert (got["1004"].registered, got["1004"].reason) == (False, "unregistered")
    with pytest.raises(DialStringError):
        checker.check("1001,user/2000", DOMAIN)


def test_cache_is_short_lived(sim, switch):
    now = [0.0]
    sim.set_endpoints(agents={"1001": {"behavior": "answer"}})
    checker = AvailabilityChecker(switch, cache_seconds=10, clock=lambda: now[0])
    assert checker.check("1001", DOMAIN).in_call is False
    sim.set_endpoints(agents={"1001": {"behavior": "answer", "in_call": True}})
    now[0] = 5.0
    assert checker.check("1001", DOMAIN).in_call is False  # cached
    assert checker.check("1001", DOMAIN, fresh=True).in_call is True
    sim.set_endpoints(agents={"1001": {"behavior": "answer"}})
    now[0] = 16.0
    assert checker.check("1001", DOMAIN).in_call is False  # expired, asked again
    checker.forget("1001", DOMAIN)
