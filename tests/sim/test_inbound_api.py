"""Inbound ESL: auth, api/bgapi, originate per agent behaviour, uuid_* commands, show/sofia."""

from __future__ import annotations

import json
import time

import pytest

from sim.peer import InboundEsl
from voiceai_sim import Simulator

AGENTS = {
    "1001": {"behavior": "busy"},
    "1002": {"behavior": "answer", "answer_after": 1, "accept": True},
    "1003": {"behavior": "no_answer"},
    "1004": {"behavior": "offline"},
    "1005": {"behavior": "reject"},
    "1006": {"behavior": "invalid"},
    "1007": {"behavior": "answer", "answer_after": 30},
    "1008": {"behavior": "answer", "in_call": True},
    "1009": {"behavior": "dnd"},
    "1010": {"behavior": "answer", "answer_after": 0.5, "talk_for": 600},
    "2000": {"behavior": "answer", "registered": False},
    "+5511999990000": {"behavior": "answer"},
    "+5511999990001": {"behavior": "gateway_down"},
}


@pytest.fixture(scope="module")
def sim():
    with Simulator(scale=0.01, agents=AGENTS, gateways={"carrier": True, "backup": False}) as s:
        yield s


@pytest.fixture()
def esl(sim):
    client = InboundEsl(sim.inbound_address)
    assert client.command("event plain BACKGROUND_JOB").reply_text == "+OK event listener enabled plain"
    yield client
    client.close()


def test_auth_accepted_and_refused(sim):
    good = InboundEsl(sim.inbound_address)
    assert good.auth_reply.reply_text == "+OK accepted"
    good.close()
    bad = InboundEsl(sim.inbound_address, password="wrong")
    assert bad.auth_reply.reply_text == "-ERR invalid"
    bad.close()


@pytest.mark.parametrize(
    ("dial", "expected"),
    [
        ("{originate_timeout=5}user/1001@demo.local &park", "-ERR USER_BUSY"),
        ("{originate_timeout=2}user/1003@demo.local &park", "-ERR NO_ANSWER"),
        ("{originate_timeout=2}user/1007@demo.local &park", "-ERR NO_ANSWER"),  # answers too late
        ("user/1004@demo.local &park", "-ERR USER_NOT_REGISTERED"),
        ("user/1005@demo.local &park", "-ERR CALL_REJECTED"),
        ("user/1006@demo.local &park", "-ERR UNALLOCATED_NUMBER"),
        ("user/1009@demo.local &park", "-ERR USER_BUSY"),
        ("user/7777@demo.local &park", "-ERR SUBSCRIBER_ABSENT"),
        ("loopback/7777/demo.local &park", "-ERR NO_ROUTE_DESTINATION"),
        ("sofia/gateway/carrier/+5511999990001 &park", "-ERR GATEWAY_DOWN"),
        ("sofia/gateway/backup/+5511999990000 &park", "-ERR GATEWAY_DOWN"),
        ("sofia/gateway/nosuch/+5511999990000 &park", "-ERR INVALID_NUMBER_FORMAT"),
        ("{originate_timeout=5}error/user_busy &park", "-ERR USER_BUSY"),
    ],
)
def test_originate_failures_worded_as_freeswitch(esl, dial, expected):
    assert esl.api(f"originate {dial}").strip() == expected


def test_originate_answer_with_origination_uuid_and_kill(esl, sim):
    leg = "6f1c2f4e-0000-4000-8000-000000000001"
    esl.command("event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE")
    body = esl.bgapi(f"originate {{origination_uuid={leg},origination_caller_id_number=5511998765432}}"
                     "user/1002@demo.local &park")
    assert body == f"+OK {leg}\n"
    answer = esl.wait_event("CHANNEL_ANSWER", lambda e: e.get("Unique-ID") == leg)
    assert answer.get("Caller-Caller-ID-Number") == "5511998765432"
    assert esl.api(f"uuid_exists {leg}") == "true"
    assert esl.api(f"uuid_kill {leg}") == "+OK\n"
    done = esl.wait_event("CHANNEL_HANGUP_COMPLETE", lambda e: e.get("Unique-ID") == leg)
    assert done.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert esl.api(f"uuid_exists {leg}") == "false"
    assert esl.api(f"uuid_kill {leg}") == "-ERR No such channel!\n"
    assert sim.originate_counts()["1002"] >= 1


def test_uuid_kill_while_ringing_ends_the_originate(esl):
    leg = "6f1c2f4e-0000-4000-8000-000000000002"
    reply = esl.command(f"bgapi originate {{origination_uuid={leg},originate_timeout=60}}user/1003@demo.local &park")
    job = reply.get("Job-UUID")
    deadline = time.monotonic() + 5
    while esl.api(f"uuid_exists {leg}") != "true" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert esl.api(f"uuid_kill {leg} ORIGINATOR_CANCEL") == "+OK\n"
    result = esl.wait_event("BACKGROUND_JOB", lambda e: e.get("Job-UUID") == job, timeout=5)
    assert result.body == "-ERR ORIGINATOR_CANCEL\n"


def test_variables_and_uuid_commands(esl):
    leg = "6f1c2f4e-0000-4000-8000-000000000003"
    assert esl.bgapi(f"originate {{origination_uuid={leg},team=a\\,b}}user/1002@demo.local &park") == f"+OK {leg}\n"
    assert esl.api(f"uuid_getvar {leg} team") == "a,b"
    assert esl.api(f"uuid_getvar {leg} nothing_here") == "_undef_"
    assert esl.api(f"uuid_setvar {leg} color blue") == "+OK\n"
    assert esl.api(f"uuid_getvar {leg} color") == "blue"
    assert esl.api(f"uuid_setvar {leg} color") == "+OK\n"
    assert esl.api(f"uuid_getvar {leg} color") == "_undef_"
    # worded as FreeSWITCH 1.11.1 words them (checked with fs_cli)
    assert esl.api("uuid_getvar 00000000-0000-4000-8000-000000000000 x") == "-ERR No such channel!\n"
    assert esl.api("uuid_break 00000000-0000-4000-8000-000000000000") == "-ERR No such channel!\n"
    assert esl.api(f"uuid_bridge {leg} 00000000-0000-4000-8000-000000000000") == "-ERR Invalid uuid\n"
    assert esl.api(f"uuid_broadcast {leg} local_stream://moh aleg") == "+OK Message sent\n"
    assert esl.api(f"uuid_break {leg} all") == "+OK\n"
    esl.api(f"uuid_kill {leg}")


def test_bridge_two_parked_legs_and_hangup_propagates(esl):
    a = "6f1c2f4e-0000-4000-8000-00000000000a"
    b = "6f1c2f4e-0000-4000-8000-00000000000b"
    esl.command("event plain CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE")
    assert esl.bgapi(f"originate {{origination_uuid={a}}}sofia/gateway/carrier/+5511999990000 &park").startswith("+OK")
    assert esl.bgapi(f"originate {{origination_uuid={b}}}user/1002@demo.local &park").startswith("+OK")
    assert esl.api(f"uuid_bridge {a} {b}") == f"+OK {b}\n"
    bridge = esl.wait_event("CHANNEL_BRIDGE", lambda e: e.get("Unique-ID") == a)
    assert bridge.get("Bridge-A-Unique-ID") == a and bridge.get("Bridge-B-Unique-ID") == b
    esl.api(f"uuid_kill {b}")
    gone = esl.wait_event("CHANNEL_HANGUP_COMPLETE", lambda e: e.get("Unique-ID") == a)
    assert gone.get("variable_bridge_hangup_cause") == "NORMAL_CLEARING"


def test_park_after_bridge_keeps_the_other_leg(esl):
    a = "6f1c2f4e-0000-4000-8000-0000000000a1"
    b = "6f1c2f4e-0000-4000-8000-0000000000b1"
    esl.bgapi(f"originate {{origination_uuid={a},park_after_bridge=true}}user/1010@demo.local &park")
    esl.bgapi(f"originate {{origination_uuid={b}}}user/1010@demo.local &park")
    esl.api(f"uuid_bridge {a} {b}")
    time.sleep(0.1)
    esl.api(f"uuid_kill {b}")
    time.sleep(0.2)
    assert esl.api(f"uuid_exists {a}") == "true"
    esl.api(f"uuid_kill {a}")


def test_unknown_command_status_and_reloadxml(esl):
    assert esl.api("nosuchcommand") == "-ERR nosuchcommand Command not found!\n"
    status = esl.api("status")
    assert status.startswith("UP ") and "is ready" in status
    assert esl.api("reloadxml") == "+OK [Success]\n"
    assert esl.bgapi("nosuchcommand").startswith("-ERR nosuchcommand Command not found!")


def test_registrations_contact_and_channels(esl):
    plain = esl.api("show registrations")
    header = "reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata\n"
    assert plain.startswith(header)
    users = {line.split(",")[0] for line in plain.splitlines()[1:] if "," in line}
    assert "1002" in users and "1004" not in users and "2000" not in users
    data = json.loads(esl.api("show registrations as json"))
    assert data["row_count"] == len(data["rows"]) == len(users)
    xml = esl.api("show registrations as xml")
    assert xml.startswith(f'<result row_count="{len(users)}">') and "<reg_user>1002</reg_user>" in xml
    assert esl.api("sofia_contact 1002@demo.local").startswith("sofia/internal/sip:1002@")
    assert esl.api("sofia_contact */1004@demo.local") == "error/user_not_registered"
    channels = json.loads(esl.api("show channels as json"))
    assert any(row["presence_id"] == "1008@demo.local" for row in channels.get("rows", []))
    assert "profiles" in esl.api("sofia status")


def test_filters_limit_events(esl):
    leg = "6f1c2f4e-0000-4000-8000-0000000000f1"
    assert esl.command("event plain CHANNEL_ANSWER").reply_text == "+OK event listener enabled plain"
    assert esl.command(f"filter Unique-ID {leg}").reply_text == f"+OK filter added. [Unique-ID]=[{leg}]"
    # the filter applies to every event, BACKGROUND_JOB included: use the blocking api
    esl.api("originate user/1002@demo.local &park")  # not ours: filtered out
    esl.api(f"originate {{origination_uuid={leg}}}user/1002@demo.local &park")
    event = esl.wait_event("CHANNEL_ANSWER")
    assert event.get("Unique-ID") == leg
    esl.api(f"uuid_kill {leg}")


def test_exit(esl):
    assert esl.command("exit").reply_text == "+OK bye"


def test_sched_transfer_and_sched_del_as_mod_commands_answers(esl):
    """Answers as FreeSWITCH 1.11 gives them (checked on the kit); the simulator
    has no dialplan, so a task that fires hangs the leg up (docs/simulator.md)."""
    kept = "6f1c2f4e-0000-4000-8000-0000000000a1"
    fired = "6f1c2f4e-0000-4000-8000-0000000000a2"
    for leg in (kept, fired):
        assert esl.bgapi(f"originate {{origination_uuid={leg}}}user/1010@demo.local &park") == f"+OK {leg}\n"
    assert esl.api("sched_transfer") == "-USAGE: [+]<time> <uuid> <extension> [<dialplan>] [<context>]\n"
    assert esl.api("sched_transfer +5 6f1c2f4e-0000-4000-8000-0000000000ff 8000 XML public") == \
        "-ERR No such channel!\n"
    # real seconds (the handler's timers that the bound covers run in real time)
    assert esl.api(f"sched_transfer +1 {kept} 8000 XML public") == "+OK\n"
    assert esl.api(f"sched_transfer +1 {fired} 8000 XML public") == "+OK\n"
    assert esl.api(f"sched_del {kept}") == "+OK Deleted: 1\n"
    assert esl.api(f"sched_del {kept}") == "+OK Deleted: 0\n"
    time.sleep(1.5)
    assert esl.api(f"uuid_exists {kept}") == "true"
    assert esl.api(f"uuid_exists {fired}") == "false"
    esl.api(f"uuid_kill {kept}")
