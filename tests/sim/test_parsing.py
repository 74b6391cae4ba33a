"""switch_separate_string, dial strings and the scenario format."""

from __future__ import annotations

import pytest

from voiceai_ivr.errors import ValidationError
from voiceai_sim.args import DialStringSyntaxError, parse_originate, separate_string
from voiceai_sim.scenario import CallerInput, check_expect, parse_scenario


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 4 1 3000 # a b digits \\d+ 2000", ["1", "4", "1", "3000", "#", "a", "b", "digits", "\\d+", "2000"]),
        ("a   b", ["a", "b"]),
        ("'say:Olá mundo' detect:x g", ["say:Olá mundo", "detect:x", "g"]),
        ("it\\'s x", ["it's", "x"]),
        ("a\\sb c", ["a b", "c"]),
        ("'' x", ["", "x"]),
        ("^^;a b;c", ["a b", "c"]),
    ],
)
def test_separate_string_blank(text, expected):
    assert separate_string(text) == expected


def test_separate_string_char_delim_keeps_quote_without_pair():
    assert separate_string("a=1,b='x,y',c=it's", ",") == ["a=1", "b=x,y", "c=it's"]


def test_parse_originate_blocks_and_endpoints():
    spec = parse_originate(
        "{origination_uuid=u1,originate_timeout=10,team=a\\,b}[leg=1]user/1001@demo.local,"
        "sofia/gateway/gw1/+5511999990000|loopback/2000/demo.local &park()"
    )
    assert spec.variables == {"origination_uuid": "u1", "originate_timeout": "10", "team": "a,b"}
    first, second = spec.endpoints
    assert [(e.kind, e.target) for e in first] == [("user", "1001"), ("gateway", "+5511999990000")]
    assert first[0].variables == {"leg": "1"} and first[0].domain == "demo.local"
    assert first[1].gateway == "gw1"
    assert [(e.kind, e.target, e.domain) for e in second] == [("loopback", "2000", "demo.local")]
    assert (spec.app, spec.app_arg) == ("park", "")


def test_parse_originate_refuses_bad_input():
    with pytest.raises(DialStringSyntaxError):
        parse_originate("{a=1 user/1001")
    with pytest.raises(DialStringSyntaxError):
        parse_originate("onlyone")


def test_scenario_contract_example():
    sc = parse_scenario(
        {
            "domain": "demo.local",
            "did": "8000",
            "caller": "+5511998765432",
            "at": "2026-11-24T10:30:00-03:00",
            "caller_inputs": [
                {"say": "quero falar com o financeiro"},
                {"dtmf": "1"},
                {"silence": True},
                {"hangup": True},
                {"hangup": {"after": 2.5}},
            ],
            "agents": {"1001": {"behavior": "busy"}, "1002": {"behavior": "answer", "answer_after": 2, "accept": True}},
        }
    )
    assert sc.caller_inputs == [
        CallerInput("say", "quero falar com o financeiro"),
        CallerInput("dtmf", "1"),
        CallerInput("silence"),
        CallerInput("hangup"),
        CallerInput("hangup", after=2.5),
    ]
    assert sc.agents["1002"].answer_after == 2 and sc.agents["1002"].accept is True
    assert sc.at is not None and sc.at.utcoffset() is not None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"caller_inputs": [{"dtmf": "12x"}]}, "caller_inputs[0].dtmf"),
        ({"caller_inputs": [{"shout": "x"}]}, "caller_inputs[0]"),
        ({"caller_inputs": [{"hangup": {"afterr": 1}}]}, "caller_inputs[0].hangup.afterr"),
        ({"caller_inputs": [{"hangup": {"after": -1}}]}, "caller_inputs[0].hangup.after"),
        ({"agents": {"1001": {"behavior": "sleepy"}}}, "agents.1001.behavior"),
        ({"agents": {"1001": {"accept": "yes"}}}, "agents.1001.accept"),
        ({"at": "2026-11-24T10:30:00"}, "at"),
        ({"caller": "12ab"}, "caller"),
        ({"language": "fr-FR"}, "language"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_scenario_errors_name_the_field(doc, field):
    with pytest.raises(ValidationError) as info:
        parse_scenario(doc)
    assert info.value.field == field


def test_expect_checks():
    sc = parse_scenario({"expect": {"outcome": "transferred", "transcript_contains": "Financeiro"}})
    ok = {"outcome": "transferred", "transcript": [{"text": "Vou transferir para Financeiro"}]}
    assert check_expect(sc, ok) == []
    assert len(check_expect(sc, {"outcome": "ended", "transcript": []})) == 2


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        # everything before the first "detect:", trailing blanks trimmed, verbatim
        ("say:Olá, tudo bem?  detect:test {a=1}builtin:grammar/boolean",
         ("say:Olá, tudo bem?", "test", "{a=1}builtin:grammar/boolean")),
        ("'say:Olá' detect:unimrcp g", ("'say:Olá'", "unimrcp", "g")),  # quotes stay: a file that cannot play
        ("say:Hi, detect: me  detect:test g", ("say:Hi,", "me", "detect:test g")),  # as FreeSWITCH splits it
        ("say:x detect:test    g h", ("say:x", "test", "g h")),
        ("say:x detect:test", None),  # one token: USAGE ERROR
        ("say:x detect:", None),
        ("say:x", None),
        ("", None),
    ],
)
def test_play_and_detect_speech_argument_as_mod_dptools_reads_it(arg, expected):
    from voiceai_sim.apps import parse_detect_arg

    assert parse_detect_arg(arg) == expected


def test_asr_results_escape_as_the_kit_module_does():
    from voiceai_sim.apps import asr_no_input, asr_result

    assert asr_result("json", 'a "b" \\ c\n', "g") == (
        '{"grammar": "g", "text": "a \\"b\\" \\\\ c\\u000a", "confidence": 87.300000}'
    )
    assert asr_result("nlsml", "a & 'b'\x01", "g", 90.0) == (
        '<?xml version="1.0"?><result><interpretation grammar="g" confidence="0.9">'
        "<input mode=\"speech\">a &amp; &apos;b&apos; </input><instance>a &amp; &apos;b&apos; </instance>"
        "</interpretation></result>"
    )
    assert asr_no_input("nlsml", "g") == "Completion-Cause: 002"
    assert asr_no_input("json", "g") == '{"grammar": "g", "text": "", "confidence": 0, "error": "no_input"}'


def test_scenario_speech_keys():
    sc = parse_scenario({"asr_engines": ["unimrcp"], "asr_format": "NLSML"})
    assert sc.asr_engines == ("unimrcp",) and sc.asr_format == "nlsml"
    assert parse_scenario({}).asr_engines is None
    assert parse_scenario({"asr_engines": []}).asr_engines == ()
    with pytest.raises(ValidationError, match="asr_engines: must be a list"):
        parse_scenario({"asr_engines": "unimrcp"})
    with pytest.raises(ValidationError, match=r"asr_engines\[0\]: not an engine name"):
        parse_scenario({"asr_engines": ["uni mrcp"]})
    with pytest.raises(ValidationError, match="asr_format: must be one of json, nlsml"):
        parse_scenario({"asr_format": "xml"})
