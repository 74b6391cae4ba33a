"""Caller-ID names on the real switch (issue 19, defects 1 and 2): what a PBX admin
types for ``callbacks.caller_id_name`` (``&``, ``'``, commas, accents, digits) and
what a hostile caller sends (cleaned by ``switch.clean_caller_id_name``) go
through ``originate`` and arrive intact on the far leg -- through loopback (a
kit customer) and through SIP (a kit phone, the name in the From header) -- and a
caller whose name has no letter or digit is transferred showing their number."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from freeswitch.harness import DOMAIN, Deployment, Switchboard, deployed
from freeswitch.test_socket_keyed import CONFIG, DIRECTORY

from voiceai_ivr.switch import Switch, clean_caller_id_name, new_uuid

pytestmark = pytest.mark.timeout(180)

CUSTOMER = "+5511900000001"  # the kit's customers: a number ending in 1 answers after 1 s
RINGS_FOREVER = "1004"  # the kit phone that rings and never answers
DID = "8190"

ADMIN_NAMES = [
    "ACME & Co",
    "O'Brien, Souza & Cia. Ltda",
    "Padaria São João 24h (loja 2)",
    "Ações = #1; RH e Financeiro",
    "l'Été 50-50 * 2 ! ?",
]
# What callers send, and what the agent's phone must show after cleaning.
HOSTILE = [
    ('Ana "Bia" ${evil} <x> [y]', "Ana Bia evil x y"),
    ("Zé:_:user/1003@127.0.0.1", "Zé _ user 1003 127.0.0.1"),
    ("100% |pipe| ^^:a `b` %41", "100 pipe a b 41"),
]


def _as_a_caller_sends_it(value: str) -> str:
    """The test caller's own originate carries the raw hostile name (balanced
    braces included, which the product never sends): escaped for FreeSWITCH's
    three parser passes, like ``originate_value`` but without its refusals."""
    for delim in ("=", ",", ""):
        value = "".join("\\" + c if c in "\\'\"" or c == delim else "\\s" if c == " " else c for c in value)
    return value


def _wait(fetch: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not value and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fetch()
    return value


def _cid_name(board: Switchboard, uuid: str) -> str:
    dump = json.loads(board.api(f"uuid_dump {uuid} json"))
    return str(dump.get("Caller-Caller-ID-Name", ""))


def _other_leg(board: Switchboard, uuid: str) -> Optional[str]:
    reply = board.api(f"uuid_getvar {uuid} other_loopback_leg_uuid")
    return reply if len(reply) == 36 and not reply.startswith("-ERR") else None


def test_hostile_names_clean_to_what_these_tests_expect() -> None:
    assert [clean_caller_id_name(raw) for raw, _ in HOSTILE] == [clean for _, clean in HOSTILE]


@pytest.fixture
def switch(switchboard: Switchboard) -> Switch:
    """The product's own Switch (bgapi originate) over the session's Event Socket."""
    return Switch(switchboard.esl, timeout=10.0)


@pytest.mark.parametrize("name", ADMIN_NAMES + [clean for _, clean in HOSTILE])
def test_name_reaches_the_customer_through_loopback_intact(switchboard: Switchboard, switch: Switch,
                                                          name: str) -> None:
    leg = new_uuid()
    job = switch.originate(f"loopback/{CUSTOMER}/customers", uuid=leg, timeout_s=10,
                           caller_id_number="+551130000000", caller_id_name=name)
    try:
        far = _wait(lambda: _other_leg(switchboard, leg), 10)
        assert far, f"no customer leg; originate: {job.result()}"
        assert _cid_name(switchboard, far) == name
        assert _cid_name(switchboard, leg) == name
    finally:
        switch.kill(leg)
        job.wait(15)


@pytest.mark.parametrize("name", [ADMIN_NAMES[0], ADMIN_NAMES[1], ADMIN_NAMES[3], HOSTILE[0][1]])
def test_name_reaches_a_sip_phone_intact(switchboard: Switchboard, switch: Switch, name: str) -> None:
    """Through sofia: the display name of the INVITE's From header, as the phone's
    own leg (profile ``phones``) reads it."""
    leg = new_uuid()
    number = "+5511" + str(int(time.time() * 1000))[-8:]  # marks this attempt's legs
    mark = switchboard.mark()
    job = switch.originate(f"user/{RINGS_FOREVER}@{DOMAIN}", uuid=leg, timeout_s=15,
                           caller_id_number=number, caller_id_name=name)
    try:
        phone = switchboard.wait_event(
            lambda e: e.name == "CHANNEL_CREATE" and e.h.get("Channel-Name", "").startswith("sofia/phones/")
            and e.h.get("Caller-Caller-ID-Number") == number, 10, since=mark)
        assert phone is not None, f"the phone never saw the INVITE; originate: {job.result()}"
        assert _cid_name(switchboard, phone.uuid) == name
    finally:
        switch.kill(leg)
        job.wait(20)


# --------------------------------------------------------------------------- a transfer, end to end


@pytest.fixture(scope="module")
def deployment(switchboard: Switchboard, pg_admin_uri: str, tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[Deployment]:
    directory = dict(DIRECTORY, secretaries=[dict(DIRECTORY["secretaries"][0], dids=[DID])])
    with deployed(switchboard, pg_admin_uri, Path(tmp_path_factory.mktemp("callerid")), directory=directory,
                  did=DID, config=CONFIG) as dep:
        yield dep


@pytest.mark.parametrize(("caller_name", "phone_shows"), [
    ("!!!", "+5511987654321"),  # no letter or digit: the number (its + was refused: network_failure)
    ("☎☎", "+5511987654321"),
    (HOSTILE[0][0], HOSTILE[0][1]),
])
def test_any_caller_name_is_transferred(switchboard: Switchboard, deployment: Deployment, caller_name: str,
                                        phone_shows: str) -> None:
    """serve as deployed: the caller keys 1 (Financeiro, the kit phone 1001 answers
    and accepts); the transfer is bridged and the phone shows the cleaned name, also
    after the bridge (no display update brings the raw name back)."""
    call = switchboard.call(DID, caller="+5511987654321",
                            variables={"origination_caller_id_name": _as_a_caller_sends_it(caller_name)})
    try:
        call.wait_listen("intent")
        call.wait_prompt_started()
        call.press("1")
        bridged = switchboard.wait_event(lambda e: e.name == "CHANNEL_BRIDGE" and call.b in e.h.values(), 40,
                                         since=call.mark)
        assert bridged is not None, f"never bridged; prompts: {call.prompts()}"
        phones = [e for e in switchboard.since(call.mark)
                  if e.name == "CHANNEL_CREATE" and e.h.get("Channel-Name", "").startswith("sofia/phones/")]
        assert phones, f"no phone leg; prompts: {call.prompts()}"
        # The bridge's display update (the caller leg's raw name) would reach the
        # phone within milliseconds: the name it shows 1.5 s later is the one it keeps.
        time.sleep(1.5)
        shown = _cid_name(switchboard, phones[0].uuid)
        assert shown == phone_shows, (f"the phone shows {shown!r} ({len(phones)} phone legs); the call's fallback "
                                      f"mark: {switchboard.api(f'uuid_getvar {call.b} voiceai_fallback')!r}; "
                                      f"serve's log: {deployment.serve_log()[-3000:]}")
        assert deployment.call_row(call.b)["outcome"] == "transferred"
        (attempt,) = deployment.attempts(call.b)
        assert attempt["status"] == "accepted", attempt
    finally:
        call.hangup()
        call.wait_gone(15)
        for e in switchboard.since(call.mark):
            if e.name == "CHANNEL_CREATE":
                switchboard.api(f"uuid_kill {e.uuid}")
