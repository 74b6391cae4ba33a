from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from voiceai_ivr.errors import CommandError, StoreError, ValidationError
from voiceai_ivr.provision.dialplan import validate_spec
from voiceai_ivr.provision.fusionpbx import (
    build_dialplan,
    cache_file_name,
    cache_keys,
    clear_dialplan_cache,
    dialplan_uuid_for,
    install_fusionpbx,
)
from voiceai_ivr.stores import fusionpbx as store
from voiceai_ivr.stores.db import Database

DOMAIN_UUID = "3f2b8c1e-8d9a-4c0e-9b7a-2f4e6d8c0a11"
OTHER_DOMAIN_UUID = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"


@pytest.fixture
def db(fusion_dsn: str) -> Iterator[Database]:
    conn = psycopg2.connect(fusion_dsn)
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES (%s, %s, true), (%s, %s, true)",
            (DOMAIN_UUID, "acme.example.com", OTHER_DOMAIN_UUID, "other.example.com"),
        )
    conn.close()
    database = Database(fusion_dsn, pool_size=2)
    yield database
    database.close()


SPEC = {
    "domain": "acme.example.com",
    "did": "+551130000000",
    "secretary_id": 42,
    "secretary_name": "Front desk",
    "language": "pt-BR",
}


def test_install_round_trips_and_second_install_updates(db: Database, tmp_path: Path) -> None:
    first = install_fusionpbx(db, SPEC, cache_method="file", cache_dir=tmp_path)
    assert first.created
    assert first.domain_uuid == DOMAIN_UUID
    row = store.load_dialplan(db, first.dialplan_uuid)
    assert row is not None
    assert row["domain_uuid"] == DOMAIN_UUID
    assert row["app_uuid"] == store.INBOUND_ROUTES_APP_UUID
    assert row["dialplan_context"] == "public"
    assert row["dialplan_name"] == "voiceai_acme.example.com_551130000000"
    assert row["dialplan_number"] == "+551130000000"
    assert row["dialplan_enabled"] is True
    assert row["dialplan_continue"] is False
    assert row["dialplan_description"].startswith(store.MANAGED_DESCRIPTION)

    ext = ET.fromstring(row["dialplan_xml"])
    assert ext.tag == "extension"
    assert ext.get("uuid") == first.dialplan_uuid
    conditions = ext.findall("condition")
    assert conditions[0].get("field") == "destination_number"
    assert conditions[0].get("expression") == r"^\+?551130000000$"
    assert not list(conditions[0])  # socket mode: the DID, then one branch per call state
    first_arrival = conditions[1]
    assert first_arrival.get("break") == "on-true"
    actions = [(a.get("application"), a.get("data"), a.get("inline")) for a in first_arrival]
    assert actions[:3] == [
        ("export", "call_direction=inbound", "true"),
        ("set", f"domain_uuid={DOMAIN_UUID}", "true"),
        ("set", "domain_name=acme.example.com", "true"),
    ]
    assert ("set", "voiceai_secretary_id=42", None) in actions
    assert actions[-2:] == [("socket", "127.0.0.1:8084 async full", None),
                            ("transfer", "${destination_number} XML ${context}", None)]
    all_actions = [(a.get("application"), a.get("data"), a.get("inline")) for c in conditions for a in c]

    details = row["details"]
    detail_conditions = [d for d in details if d["dialplan_detail_tag"] == "condition"]
    assert [(d["dialplan_detail_type"], d["dialplan_detail_data"], d["dialplan_detail_break"])
            for d in detail_conditions] == [(c.get("field"), c.get("expression"), c.get("break")) for c in conditions]
    assert [d["dialplan_detail_group"] for d in detail_conditions] == list(range(len(conditions)))
    detail_actions = [(d["dialplan_detail_type"], d["dialplan_detail_data"]) for d in details
                      if d["dialplan_detail_tag"] == "action"]
    # the details are what the Dialplan Manager regenerates dialplan_xml from:
    # our actions, without the ones FusionPBX injects for the public context
    assert detail_actions == [(a, d) for a, d, inline in all_actions if inline is None]
    assert all(d["domain_uuid"] == DOMAIN_UUID for d in details)
    assert [d["dialplan_detail_order"] for d in details] == sorted(d["dialplan_detail_order"] for d in details)

    dest = store.load_destination(db, first.destination_uuid or "")
    assert dest is not None
    assert dest["dialplan_uuid"] == first.dialplan_uuid
    assert dest["domain_uuid"] == DOMAIN_UUID
    assert (dest["destination_type"], dest["destination_number"], dest["destination_context"]) == (
        "inbound", "551130000000", "public"
    )
    assert dest["destination_enabled"] is True
    # what FusionPBX's "single" dialplan mode serves for the number, dialled with or without +
    assert store.dialplans_for_number(db, "public", "551130000000") == [row["dialplan_xml"]]
    assert store.dialplans_for_number(db, "public", "+551130000000") == [row["dialplan_xml"]]

    second = install_fusionpbx(db, {**SPEC, "mode": "python", "recording": True}, cache_method="none")
    assert not second.created
    assert second.dialplan_uuid == first.dialplan_uuid
    assert store.count_dialplans(db, DOMAIN_UUID, "public", "+551130000000") == 1
    row2 = store.load_dialplan(db, first.dialplan_uuid)
    assert row2 is not None
    assert 'application="python" data="voiceai_ivr.modpython"' in row2["dialplan_xml"]
    # replaced, not appended: one condition and its actions, nothing left of socket mode
    assert len(row2["details"]) == 1 + len(ET.fromstring(row2["dialplan_xml"]).findall("condition/action")) - 3
    assert not any(d["dialplan_detail_type"] in ("socket", "transfer") for d in row2["details"])
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM v_dialplan_details")
        assert cur.fetchone()[0] == len(row2["details"])
        cur.execute("SELECT count(*) FROM v_destinations")
        assert cur.fetchone()[0] == 1
    assert second.destination_uuid == first.destination_uuid
    assert store.dialplans_for_number(db, "public", "551130000000") == [row2["dialplan_xml"]]


def test_unknown_domain_is_refused(db: Database) -> None:
    with pytest.raises(ValidationError) as err:
        install_fusionpbx(db, {**SPEC, "domain": "nobody.example.com"}, cache_method="none")
    assert err.value.field == "domain"


def test_someone_elses_route_for_the_same_did_is_left_alone(db: Database) -> None:
    foreign = str(uuid.uuid4())
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO v_dialplans (dialplan_uuid, domain_uuid, dialplan_context, dialplan_name, "
            "dialplan_number, dialplan_enabled, dialplan_xml) VALUES (%s, %s, 'public', 'manual', %s, true, 'x')",
            (foreign, DOMAIN_UUID, "551130000000"),
        )
    with pytest.raises(ValidationError) as err:
        install_fusionpbx(db, SPEC, cache_method="none")
    assert err.value.field == "did"
    assert store.load_dialplan(db, dialplan_uuid_for(validate_spec(SPEC))) is None
    row = store.load_dialplan(db, foreign)
    assert row is not None and row["dialplan_xml"] == "x"


def test_someone_elses_destination_for_the_same_did_is_left_alone(db: Database) -> None:
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO v_destinations (destination_uuid, domain_uuid, destination_type, destination_number, "
            "destination_context, destination_enabled) VALUES (%s, %s, 'inbound', '551130000000', 'public', true)",
            (str(uuid.uuid4()), DOMAIN_UUID),
        )
    with pytest.raises(ValidationError) as err:
        install_fusionpbx(db, SPEC, cache_method="none")
    assert err.value.field == "did"
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM v_dialplans")
        assert cur.fetchone()[0] == 0  # the dialplan row was rolled back with it


def test_a_non_public_context_gets_no_destination(db: Database) -> None:
    result = install_fusionpbx(db, SPEC, context="acme.example.com", cache_method="none")
    assert result.destination_uuid is None
    row = store.load_dialplan(db, result.dialplan_uuid)
    assert row is not None and row["dialplan_context"] == "acme.example.com"
    assert 'data="domain_name=acme.example.com"' in row["dialplan_xml"]
    assert "call_direction=inbound" not in row["dialplan_xml"]


def test_same_did_in_another_domain_is_a_separate_dialplan(db: Database) -> None:
    a = install_fusionpbx(db, SPEC, cache_method="none")
    b = install_fusionpbx(db, {**SPEC, "domain": "other.example.com"}, cache_method="none")
    assert a.dialplan_uuid != b.dialplan_uuid
    assert a.created and b.created


def test_failed_save_writes_nothing(db: Database) -> None:
    # a domain_uuid FusionPBX does not have violates v_dialplans' foreign key
    spec = validate_spec(SPEC)
    dp = build_dialplan(spec, DOMAIN_UUID)
    broken = store.FusionDialplan(**{**dp.__dict__, "domain_uuid": str(uuid.uuid4())})
    with pytest.raises(StoreError):
        store.save_dialplan(db, broken)
    assert store.load_dialplan(db, dp.dialplan_uuid) is None


# --------------------------------------------------------------------------- cache


def test_file_cache_is_cleared_the_way_fusionpbx_names_it(tmp_path: Path) -> None:
    spec = validate_spec(SPEC)
    keys = cache_keys("public", spec)
    assert keys[0] == "dialplan:public"
    for name in ("dialplan.public", "dialplan.public.tmp", "dialplan.public.551130000000", "dialplan.default"):
        (tmp_path / name).write_text("<cached/>")
    done = clear_dialplan_cache(keys, method="file", cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dialplan.default"]
    assert len(done) == 3
    assert cache_file_name("dialplan:a/b\\c") == "dialplan.a_b_c"


def test_memcache_is_cleared_through_the_api() -> None:
    sent: list[str] = []

    def api(command: str) -> str:
        sent.append(command)
        return "-ERR NOT FOUND\n" if command.endswith("+551130000000") else "+OK\n"

    keys = cache_keys("public", validate_spec(SPEC))
    clear_dialplan_cache(keys, method="memcache", api=api)
    assert sent == [f"memcache delete {k}" for k in keys]

    with pytest.raises(CommandError):
        clear_dialplan_cache(keys, method="memcache", api=lambda c: "-ERR no such command")
    with pytest.raises(ValidationError):
        clear_dialplan_cache(keys, method="memcache", api=None)


def test_none_clears_nothing(tmp_path: Path) -> None:
    (tmp_path / "dialplan.public").write_text("x")
    assert clear_dialplan_cache(["dialplan:public"], method="none", cache_dir=tmp_path) == []
    assert (tmp_path / "dialplan.public").exists()
