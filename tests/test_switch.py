"""Switch: typed PBX commands over the inbound client, against a FreeSWITCH-like peer."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator

import pytest
from esl.peer import FakeInbound

from voiceai_ivr.errors import CommandError, DialStringError, ValidationError
from voiceai_ivr.esl.inbound import InboundClient
from voiceai_ivr.switch import (
    OriginateResult,
    Switch,
    build_dial_string,
    caller_id_name_problem,
    check_caller_id_name,
    clean_caller_id_name,
    dial_target,
    originate_value,
    parse_registrations,
    parse_socket_address,
    socket_app,
)
from voiceai_sim.args import parse_originate, separate_string

LEG = "127f8c19-0fc4-4ec4-92b7-d5a4727d9904"
CALLER = "a4584fba-42ba-4e2b-bafa-e4382cc8825e"

REG_XML = """<result row_count="2">
  <row row_id="1">
    <reg_user>1001</reg_user>
    <realm>demo.local</realm>
    <token>3c5a1b2e</token>
    <url>sofia/internal/sip:1001@192.0.2.10:5060;fs_nat=yes</url>
    <expires>1795536999</expires>
    <network_ip>192.0.2.10</network_ip>
    <network_port>5060</network_port>
    <network_proto>udp</network_proto>
    <hostname>vm</hostname>
    <metadata>Yealink SIP-T46S</metadata>
  </row>
  <row row_id="2">
    <reg_user>2001</reg_user>
    <realm>other.local</realm>
    <token>x</token>
    <url>sofia/internal/sip:2001@192.0.2.11:5060</url>
    <expires>1795536999</expires>
    <network_ip>192.0.2.11</network_ip>
    <network_port>5060</network_port>
    <network_proto>tcp</network_proto>
    <hostname>vm</hostname>
    <metadata></metadata>
  </row>
</result>
"""

CHANNELS = {"row_count": 1, "rows": [{
    "uuid": CALLER, "direction": "inbound", "name": "sofia/internal/1002@demo.local", "state": "CS_EXECUTE",
    "cid_num": "1002", "presence_id": "1002@demo.local", "callstate": "ACTIVE",
}]}


class Answers:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, cmd: str) -> str:
        self.seen.append(cmd)
        name, _, rest = cmd.partition(" ")
        if name == "originate":
            if "user_busy" in rest or "1001@" in rest:
                return "-ERR USER_BUSY\n"
            return f"+OK {LEG}\n"
        if name == "uuid_kill":
            return "+OK\n" if rest.startswith(LEG) else "-ERR No such channel!\n"
        if name == "uuid_bridge":
            return f"+OK {rest.split()[1]}\n" if LEG in rest else "-ERR Invalid uuid\n"
        if name in ("uuid_broadcast",):
            return "+OK Message sent\n"
        if name == "uuid_break":
            return "+OK\n" if LEG in rest else "-ERR no such channel\n"
        if name == "uuid_exists":
            return "true" if LEG in rest else "false"
        if name == "uuid_getvar":
            return "agent" if rest.endswith("role") else "_undef_"
        if name == "uuid_setvar":
            return "+OK\n"
        if cmd == "show registrations as xml":
            return REG_XML
        if cmd == "show channels as json":
            return json.dumps(CHANNELS)
        if name == "sofia_contact":
            if rest.startswith("1001@"):
                return "sofia/internal/sip:1001@192.0.2.10:5060"
            return "error/user_not_registered"
        if name == "reloadxml":
            return "+OK [Success]\n"
        if name == "sched_transfer":  # FreeSWITCH 1.11's answers (checked on the kit)
            return "+OK\n" if LEG in rest else "-ERR No such channel!\n"
        if name == "sched_del":
            return "+OK Deleted: 1\n" if rest == LEG else "+OK Deleted: 0\n"
        return f"-ERR {name} Command not found!\n"


@pytest.fixture
def fs() -> Iterator[tuple[Switch, Answers, FakeInbound]]:
    answers = Answers()
    peer = FakeInbound(api=answers)
    client = InboundClient("127.0.0.1", peer.port, "ClueCon", timeout=3).connect()
    yield Switch(client, timeout=3), answers, peer
    client.close()
    peer.close()


def test_originate_busy_and_ok(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, answers, _ = fs
    dial = build_dial_string(dial_target("extension", "1001", "demo.local"))
    busy = switch.originate_sync(dial, uuid=LEG, timeout_s=20, caller_id_number="+5511998765432")
    assert busy == OriginateResult(False, None, "USER_BUSY", "-ERR USER_BUSY", dial)
    job = switch.originate(build_dial_string(dial_target("extension", "1002", "demo.local")), uuid=LEG,
                           timeout_s=25, caller_id_number="8000", caller_id_name="Secretária Virtual",
                           variables={"voiceai_role": "agent"})
    got: list[OriginateResult] = []
    done = threading.Event()
    job.add_done_callback(lambda r: (got.append(r), done.set()))
    result = job.wait(3)
    assert result.ok and result.uuid == LEG
    assert done.wait(1) and got == [result]
    name, _, line = answers.seen[-1].partition(" ")
    assert name == "originate"
    parsed = parse_originate(line)  # read back the way FreeSWITCH would
    assert parsed.variables["origination_uuid"] == LEG
    assert parsed.variables["originate_timeout"] == "25"
    assert parsed.variables["origination_caller_id_number"] == "8000"
    assert parsed.variables["origination_caller_id_name"] == "Secretária Virtual"
    assert parsed.variables["voiceai_role"] == "agent"
    assert parsed.app == "park"


def test_agent_leg_dials_back_into_the_outbound_server(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, answers, _ = fs
    app = socket_app("127.0.0.1", 8084)
    assert app == "&socket('127.0.0.1:8084 async full')"
    dial = build_dial_string(dial_target("extension", "1002", "demo.local"), {"voiceai_transfer": "t-1"})
    switch.originate(dial, uuid=LEG, timeout_s=25, caller_id_number="8000", app=app).wait(3)
    parsed = parse_originate(answers.seen[-1].partition(" ")[2])
    assert (parsed.app, parsed.app_arg) == ("socket", "127.0.0.1:8084 async full")
    assert parsed.variables["voiceai_transfer"] == "t-1"  # the dial string's own block is merged
    assert parse_socket_address("192.0.2.5:8084") == ("192.0.2.5", 8084)
    for bad in ("nohost", "h:0", "h:99999", "a b:1", "x;y:8084"):
        with pytest.raises(DialStringError):
            parse_socket_address(bad)


@pytest.mark.parametrize("kwargs", [
    {"dial_string": "user/1002@demo.local &park()"},
    {"dial_string": "user/1002@demo.local,user/${evil}"},
    {"dial_string": "user/1002@demo.local'"},
    {"caller_id_number": "123,origination_uuid=x"},
    {"caller_id_number": "+55 11"},
    {"caller_id_name": "Ana'}user/9999"},
    {"caller_id_name": "Ana ${evil}"},
    {"caller_id_name": "a:_:user/9999"},
    {"caller_id_name": "Ana\nB"},
    {"caller_id_name": 'Ana "x"'},
    {"app": "&socket(127.0.0.1:8084 async full)"},
    {"app": "&system('rm -rf /')"},
    {"app": "&bridge(user/1)\nx"},
    {"timeout_s": 0},
    {"uuid": "not a uuid"},
    {"variables": {"origination_uuid": "x"}},
    {"variables": {"bad name": "x"}},
    {"variables": {"a": "x}user/9"}},
])
def test_injection_attempts_are_refused_before_the_wire(fs: tuple[Switch, Answers, FakeInbound],
                                                         kwargs: dict) -> None:
    switch, answers, _ = fs
    args = {"dial_string": "user/1002@demo.local", "uuid": LEG, "timeout_s": 20, "caller_id_number": "8000",
            "caller_id_name": "", "app": "&park()", "variables": None}
    args.update(kwargs)
    before = len(answers.seen)
    with pytest.raises(ValidationError):  # DialStringError is one
        switch.originate(args.pop("dial_string"), **args)
    assert len(answers.seen) == before


# Values a PBX admin types, and what callers send: each must reach the channel as it was.
ODD_NAMES = [
    "ACME & Co", "O'Brien, Ltda", "José Ñ Çã 123", "x,y", "a=b=c", "Ana 'Bia' (RH)", "+5511998765432",
    "l'Été 50-50 #1 *2 !?", "Müller & Söhne; Sales ~ Ops (HQ)", "日本語 テスト", "'", "''", "\\'", "'x", "a ,b",
    "Dona Maria_da-Silva.", "= x", "x '",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_caller_id_names_reach_the_channel_intact(fs: tuple[Switch, Answers, FakeInbound], name: str) -> None:
    """Read back with FreeSWITCH's own three switch_separate_string passes (api
    line on blanks, block on commas, item on '='): the name arrives unchanged,
    and no other variable is disturbed."""
    switch, answers, _ = fs
    if caller_id_name_problem(name):  # blanks at either end, a lone quote mark: not a name we send
        assert clean_caller_id_name(name) != name
        return
    dial = build_dial_string(dial_target("extension", "1002", "demo.local"), {"voiceai_transfer": "t,1"})
    job = switch.originate(dial, uuid=LEG, timeout_s=25, caller_id_number="8000", caller_id_name=name,
                           variables={"voiceai_role": "agent"})
    job.wait(3)
    line = answers.seen[-1].partition(" ")[2]
    assert " " not in line.split(" &", 1)[0]  # one token for the api's blank split
    parsed = parse_originate(line)
    assert parsed.variables["origination_caller_id_name"] == name
    assert parsed.variables["origination_uuid"] == LEG
    assert parsed.variables["voiceai_role"] == "agent"
    assert parsed.variables["voiceai_transfer"] == "t,1"
    assert parsed.app == "park"
    assert [e.target for group in parsed.endpoints for e in group] == ["1002"]


def test_originate_value_survives_freeswitchs_three_passes() -> None:
    """Any value without braces or ``${`` (quotes, backslashes, blanks, = , / : @)
    is read back by FreeSWITCH's parser exactly."""
    rng = random.Random(1911)
    alphabet = [chr(c) for c in range(0x20, 0x7f) if chr(c) not in "{}"] + list("çã€")
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).replace("${", "$ {")
        line = f"{{a=1,v={originate_value(value)},b=2}}user/1002@demo.local &park()"
        assert " " not in line.split(" &")[0]
        assert parse_originate(line).variables == {"a": "1", "v": value, "b": "2"}, (value, line)
    for bad in ("a}b", "a{b", "x ${y}", "a\nb"):
        with pytest.raises(DialStringError):
            originate_value(bad)


@pytest.mark.parametrize(("raw", "shown"), [
    ("!!!", "!!!"), ("☎☎", ""), ("  Ana   Maria  ", "Ana Maria"), ('Ana "Bia" ${x}', "Ana Bia x"),
    ("a{b}c[d]<e>|f^g`h%i\\j", "abcdefghij"), ("x:_:y", "x _ y"),
    ("RH/Financeiro@hq", "RH Financeiro hq"), ("Ana\u202eB\u200bC\x00\n", "AnaBC"),
    ("x" * 100, "x" * 64), ("José\tÑ", "José Ñ"),
])
def test_clean_caller_id_name_keeps_what_freeswitch_delivers(raw: str, shown: str) -> None:
    cleaned = clean_caller_id_name(raw)
    assert cleaned == shown
    assert caller_id_name_problem(cleaned) is None or cleaned == ""


def test_any_caller_name_cleaned_survives_the_originate_line(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    """Random hostile names (every ASCII character, accents, symbols): cleaned,
    never refused, and read back by the FreeSWITCH parser exactly as cleaned."""
    switch, _answers, _ = fs
    rng = random.Random(19)
    alphabet = [chr(c) for c in range(0x20, 0x7f)] + list("áéíóúãõçÁÉÇñü☎€™\t\u00a0\u200b")
    for _ in range(200):
        name = clean_caller_id_name("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
        if not name:
            continue
        line = switch.build_originate("user/1002@demo.local", uuid=LEG, timeout_s=20, caller_id_number="+5511",
                                      caller_id_name=name)
        assert parse_originate(line).variables["origination_caller_id_name"] == name, line


@pytest.mark.parametrize(("name", "reason"), [
    ('ACME "Co"', "double quote"), ("ACME\\Co", "escape"), ("100% ACME", "URL-decodes"),
    ("ACME $5", "variable expansion"), ("ACME {Co}", "brackets"), ("a:_:b", "keeps only what follows"),
    ("RH/Financeiro", "keeps only what follows the last /"), ("a@b", "cuts it at @"),
    (" ACME", "blanks"), ("x" * 65, "longer than 64"), ("ACME ☎", "'☎' not allowed"),
    ("ACME\tCo", "U+0009"),
])
def test_caller_id_name_problem_says_why(name: str, reason: str) -> None:
    why = caller_id_name_problem(name)
    assert why is not None and reason in why, why
    with pytest.raises(DialStringError) as err:
        check_caller_id_name("callbacks.caller_id_name", name)
    assert str(err.value).startswith("callbacks.caller_id_name: ")


def test_channel_commands(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, answers, _ = fs
    switch.bridge(CALLER, LEG)
    with pytest.raises(CommandError):
        switch.bridge(CALLER, CALLER)
    assert switch.kill(LEG) is True
    assert switch.kill(CALLER, "USER_BUSY") is False
    assert switch.exists(LEG) and not switch.exists(CALLER)
    assert switch.getvar(LEG, "voiceai_role") == "agent"
    assert switch.getvar(LEG, "nothing") is None
    switch.setvar(LEG, "voiceai_note", "a\nb ${x}")
    switch.broadcast(CALLER, "say:Aguarde na linha, por favor", "aleg")
    switch.broadcast(CALLER, "local_stream://moh")
    assert switch.break_media(LEG) and not switch.break_media(CALLER)
    switch.reloadxml()
    assert f"uuid_setvar {LEG} voiceai_note a b $ {{x}}" in answers.seen
    assert f"uuid_broadcast {CALLER} 'say:Aguarde na linha, por favor' aleg" in answers.seen
    assert separate_string(f"{CALLER} 'say:Aguarde na linha, por favor' aleg")[1] == "say:Aguarde na linha, por favor"
    assert f"uuid_kill {CALLER} USER_BUSY" in answers.seen
    assert f"uuid_break {LEG} all" in answers.seen
    with pytest.raises(ValidationError):
        switch.kill("x;y")
    with pytest.raises(ValidationError):
        switch.broadcast(CALLER, "/tmp/a.wav", "everyone")


def test_originate_cancel_kills_the_leg(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, answers, _ = fs
    job = switch.originate("user/1002@demo.local", uuid=LEG, timeout_s=20, caller_id_number="8000")
    assert job.cancel() is True
    assert f"uuid_kill {LEG} ORIGINATOR_CANCEL" in answers.seen


def test_registrations_contacts_channels(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, _, _ = fs
    regs = switch.registrations()
    assert [(r.user, r.realm) for r in regs] == [("1001", "demo.local"), ("2001", "other.local")]
    assert regs[0].contact == "sofia/internal/sip:1001@192.0.2.10:5060;fs_nat=yes"
    assert regs[0].agent == "Yealink SIP-T46S" and regs[0].extra["network_proto"] == "udp"
    assert [r.user for r in switch.registrations("demo.local")] == ["1001"]
    assert switch.sofia_contact("1001", "demo.local") == "sofia/internal/sip:1001@192.0.2.10:5060"
    assert switch.sofia_contact("1003", "demo.local") is None
    assert switch.channels()[0]["uuid"] == CALLER
    assert switch.in_call("1002", "demo.local") and not switch.in_call("1001", "demo.local")


def test_registration_plain_forms() -> None:
    assert parse_registrations("\n0 total.\n") == []
    plain = ("reg_user,realm,token,url,expires,network_ip,network_port,network_proto,hostname,metadata\n"
             "1001,demo.local,abc,sofia/internal/sip:1001@192.0.2.10:5060,1795536999,192.0.2.10,5060,udp,vm,"
             "Agent, with comma\n\n1 total.\n")
    regs = parse_registrations(plain)
    assert len(regs) == 1 and regs[0].user == "1001" and regs[0].agent == "Agent, with comma"
    assert parse_registrations('<result row_count="0">\n</result>\n') == []
    with pytest.raises(CommandError):
        parse_registrations('<!DOCTYPE x [<!ENTITY a "b">]><result/>')
    with pytest.raises(CommandError):
        parse_registrations("-ERR no reply")


def test_disconnect_reaches_originate_callbacks() -> None:
    answers = Answers()
    peer = FakeInbound(api=answers, bg_delay=2.0)
    client = InboundClient("127.0.0.1", peer.port, "ClueCon", timeout=3, reconnect_max_delay=0.2).connect()
    try:
        job = Switch(client).originate("user/1002@demo.local", uuid=LEG, timeout_s=20, caller_id_number="8000")
        got: list[OriginateResult] = []
        done = threading.Event()
        job.add_done_callback(lambda r: (got.append(r), done.set()))
        peer.drop()
        assert done.wait(2)
        assert not got[0].ok and got[0].cause == "ESL_DISCONNECTED"
    finally:
        client.close()
        peer.close()


def test_schedule_transfer_and_cancel(fs: tuple[Switch, Answers, FakeInbound]) -> None:
    switch, answers, _ = fs
    switch.schedule_transfer(LEG, 40, "+551130000000", "public")
    assert answers.seen[-1] == f"sched_transfer +40 {LEG} +551130000000 XML public"
    assert switch.cancel_scheduled(LEG) is True
    assert switch.cancel_scheduled(CALLER) is False
    with pytest.raises(CommandError):
        switch.schedule_transfer(CALLER, 40, "8000", "public")
    for seconds, extension, context in ((0, "8000", "public"), (40, "8000 XML evil", "public"),
                                        (40, "8000", "public evil"), (40, "${x}", "public")):
        sent = len(answers.seen)
        with pytest.raises(ValidationError):
            switch.schedule_transfer(LEG, seconds, extension, context)
        assert len(answers.seen) == sent  # refused before anything reached FreeSWITCH
