"""The import document: the issue's sample parses, every mistake is reported with
its row and field, export round-trips."""

from __future__ import annotations

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from voiceai_ivr.domain.destinations import (
    Destination,
    Directory,
    check_music_on_hold,
    directory_to_doc,
    parse_directory,
)
from voiceai_ivr.domain.hours import HolidaySpec, parse_weekly
from voiceai_ivr.errors import DirectoryError, ValidationError

SAMPLE = """
domain: demo.local
timezone: America/Sao_Paulo
holidays: {calendar: BR, dates: ["2026-12-24"]}
hours: {mon-fri: ["08:00-12:00", "13:00-18:00"], sat: ["08:00-12:00"]}
secretaries:
  - name: Recepção
    dids: ["8000", "+551130000000"]
    language: pt-BR
    announce: true
    music_on_hold: local_stream://moh
    fallback: Financeiro
    callback: true
destinations:
  - name: Financeiro
    aliases: [contas a pagar, boleto, cobrança, pagamento]
    type: extension
    target: "1001"
    timeout: 25
  - name: Suporte Técnico
    aliases: [suporte, técnico, internet caiu]
    type: ring_group
    target: "2000"
    hours: {mon-sun: ["00:00-24:00"]}
  - name: Plantão
    type: external
    target: "+55 11 99999-0000"
    gateway: operadora
"""
SP = ZoneInfo("America/Sao_Paulo")


def sample() -> dict:
    return yaml.safe_load(SAMPLE)


def test_sample_parses() -> None:
    d = parse_directory(sample())
    assert d.domain == "demo.local"
    assert [x.name for x in d.destinations] == ["Financeiro", "Suporte Técnico", "Plantão"]
    fin, sup, pla = d.destinations
    assert fin == Destination(
        name="Financeiro", type="extension", target="1001",
        aliases=("contas a pagar", "boleto", "cobrança", "pagamento"), timeout=25,
    )
    assert sup.hours == parse_weekly({"mon-sun": ["00:00-24:00"]})
    assert pla.target == "+5511999990000"  # normalised to E.164
    assert pla.gateway == "operadora"
    sec = d.secretaries[0]
    assert sec.dids == ("8000", "+551130000000")
    assert sec.fallback == "Financeiro" and sec.callback and sec.announce
    assert d.secretary_for_did("8000") is sec
    assert d.secretary_for_did("+55 11 3000-0000") is sec
    assert d.holidays == HolidaySpec("BR", None, (datetime(2026, 12, 24).date(),))


def test_round_trip() -> None:
    d = parse_directory(sample())
    doc = directory_to_doc(d)
    assert parse_directory(doc) == d
    # and through YAML text, as the CLI writes it
    assert parse_directory(yaml.safe_load(yaml.safe_dump(doc, allow_unicode=True))) == d


def test_round_trip_every_field() -> None:
    doc = sample()
    doc["region"] = "BR"
    doc["secretaries"].append({
        "name": "Reception", "dids": [8001], "language": "en-us", "timezone": "America/New_York",
        "greeting": "Hello, this is ACME.", "announce": False, "music_on_hold": "/usr/share/freeswitch/sounds/moh.wav",
        "fallback": "Plantão", "callback": False, "ring_timeout": 40, "hours": {"mon-fri": "09:00-17:00"},
        "holidays": {"calendar": "US"}, "recording": True,
    })
    doc["destinations"].append({
        "name": "Vendas", "aliases": "comercial", "type": "queue", "target": "5000", "priority": 5,
        "enabled": False, "holidays": {}, "fallback": "destination:Financeiro", "menu_key": 3,
    })
    doc["destinations"][0]["menu_key"] = "1"
    doc["destinations"][0]["fallback"] = "callback"
    d = parse_directory(doc)
    assert parse_directory(directory_to_doc(d)) == d
    reception = d.secretary("Reception")
    assert reception is not None and reception.language == "en-US" and reception.dids == ("8001",)
    vendas = d.destination("Vendas")
    assert vendas is not None and vendas.fallback_destination == "Financeiro" and not vendas.enabled
    assert d.menu() == {"1": "Financeiro"}  # Vendas is disabled


def test_effective_hours() -> None:
    d = parse_directory(sample())
    fin = d.destination("Financeiro")
    sup = d.destination("Suporte Técnico")
    assert fin is not None and sup is not None
    sunday = datetime(2026, 5, 17, 10, tzinfo=SP)
    assert not d.hours_for(fin).is_open(sunday)
    assert d.hours_for(sup).is_open(sunday)  # its own 24x7 hours
    christmas = datetime(2026, 12, 25, 10, tzinfo=SP)
    assert not d.hours_for(sup).is_open(christmas)  # holidays are inherited...
    no_holidays = Destination(**{**sup.__dict__, "holidays": HolidaySpec()})
    assert d.hours_for(no_holidays).is_open(christmas)  # ...unless it sets `holidays: {}`
    lookup = d.hours_lookup()
    res = d.resolver().resolve("suporte", at=sunday, hours_for=lookup)
    assert res.match == "Suporte Técnico" and res.open is True
    res = d.resolver().resolve("financeiro", at=sunday, hours_for=lookup)
    assert res.match == "Financeiro" and res.open is False and "closed" in res.reason


def problems_for(mutate) -> list[str]:
    doc = sample()
    mutate(doc)
    with pytest.raises(DirectoryError) as info:
        parse_directory(doc)
    assert isinstance(info.value, ValidationError)
    return info.value.problems


def _set(path: list, value):
    def mutate(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


BAD = [
    (_set(["destinations", 0, "type"], "fax"), "destinations[0].type", "unknown type"),
    (_set(["destinations", 0, "target"], "1001,user/666"), "destinations[0].target", "not allowed"),
    (_set(["destinations", 0, "target"], "1001|user/666"), "destinations[0].target", "not allowed"),
    (_set(["destinations", 0, "target"], "${caller_id_number}"), "destinations[0].target", "not allowed"),
    (_set(["destinations", 0, "target"], "{origination_caller_id_number=1}1001"), "destinations[0].target", ""),
    (_set(["destinations", 0, "target"], "10 01"), "destinations[0].target", "not allowed"),
    (_set(["destinations", 0, "target"], "1001'"), "destinations[0].target", ""),
    (_set(["destinations", 0, "target"], "a;b"), "destinations[0].target", ""),
    (_set(["destinations", 0, "target"], "1001&bridge"), "destinations[0].target", ""),
    (_set(["destinations", 0, "target"], "[x]1001"), "destinations[0].target", ""),
    (_set(["destinations", 0, "target"], "^^:1001"), "destinations[0].target", ""),
    (_set(["destinations", 2, "target"], "+55 11 9999-0000;x"), "destinations[2].target", "not allowed"),
    (_set(["destinations", 2, "target"], "+55 11 99999-0000,sofia/gateway/x/1"), "destinations[2].target", ""),
    (_set(["destinations", 2, "target"], "12345"), "destinations[2].target", "phone number"),
    (_set(["destinations", 2, "gateway"], "op|evil"), "destinations[2].gateway", ""),
    (_set(["destinations", 2, "gateway"], "op/evil"), "destinations[2].gateway", "gateway"),
    (_set(["destinations", 2, "gateway"], "${gw}"), "destinations[2].gateway", ""),
    (_set(["destinations", 2, "gateway"], None), "destinations[2].gateway", "needs a gateway"),
    (_set(["destinations", 0, "gateway"], "operadora"), "destinations[0].gateway", "only external"),
    (_set(["destinations", 1, "hours"], {"mon-fri": ["18:00-13:00"]}), "destinations[1].hours.mon-fri[0]", "bad range"),
    (_set(["destinations", 1, "hours"], {"someday": ["08:00-12:00"]}), "destinations[1].hours.someday", "bad day"),
    (_set(["destinations", 0, "colour"], "red"), "destinations[0].colour", "unknown key"),
    (_set(["destinations", 0, "timeout"], 2), "destinations[0].timeout", "5-300"),
    (_set(["destinations", 0, "timeout"], "soon"), "destinations[0].timeout", "whole number"),
    (_set(["destinations", 0, "enabled"], "yes"), "destinations[0].enabled", "true or false"),
    (_set(["destinations", 0, "menu_key"], 0), "destinations[0].menu_key", "1-9"),
    (_set(["destinations", 0, "fallback"], "pizza"), "destinations[0].fallback", "must be one of"),
    (_set(["destinations", 0, "fallback"], "destination:Nada"), "destinations[0].fallback", "no destination named"),
    (_set(["destinations", 0, "fallback"], "destination:Financeiro"), "destinations[0].fallback", "itself"),
    (_set(["destinations", 0, "name"], ""), "destinations[0].name", "empty"),
    (_set(["destinations", 1, "name"], "financeiro"), "destinations[1].name", "duplicate"),
    (_set(["destinations", 1, "aliases"], ["Plantão"]), "destinations[1].aliases[0]", "is the name of"),
    (_set(["destinations", 1, "aliases"], ["ok", 3]), "destinations[1].aliases[1]", "text"),
    (_set(["destinations", 1], "not a row"), "destinations[1]", "mapping"),
    (_set(["secretaries", 0, "fallback"], "Nada"), "secretaries[0].fallback", "no destination named"),
    (_set(["secretaries", 0, "music_on_hold"], "${system(reboot)}"), "secretaries[0].music_on_hold", "not a safe"),
    (_set(["secretaries", 0, "music_on_hold"], "local_stream://moh;evil"), "secretaries[0].music_on_hold", ""),
    (_set(["secretaries", 0, "music_on_hold"], "/etc/../etc/passwd.wav"), "secretaries[0].music_on_hold", ""),
    (_set(["secretaries", 0, "music_on_hold"], "tone_stream://%(1000,0,440)"), "secretaries[0].music_on_hold", ""),
    (_set(["secretaries", 0, "language"], "fr-FR"), "secretaries[0].language", "unsupported"),
    (_set(["secretaries", 0, "dids"], ["80a0"]), "secretaries[0].dids[0]", "dialled number"),
    (_set(["secretaries", 0, "announce"], 1), "secretaries[0].announce", "true or false"),
    (_set(["secretaries", 0, "ring_timeout"], 301), "secretaries[0].ring_timeout", "5-300"),
    (_set(["secretaries", 0, "timezone"], "Mars/Olympus"), "secretaries[0].timezone", "unknown timezone"),
    (_set(["secretaries", 0, "pin"], "1234"), "secretaries[0].pin", "unknown key"),
    (_set(["domain"], "demo local"), "domain", "domain"),
    (_set(["domain"], None), "domain", ""),
    (_set(["timezone"], "Nowhere/City"), "timezone", "unknown timezone"),
    (_set(["region"], "XX"), "region", "region"),
    (_set(["hours"], {"mon-fri": ["08:00-25:00"]}), "hours.mon-fri[0]", "out of"),
    (_set(["holidays"], {"calendar": "ZZ"}), "holidays.calendar", "unknown holiday calendar"),
    (_set(["destinations"], {"a": 1}), "destinations", "list"),
    (_set(["extra"], 1), "extra", "unknown key"),
]


@pytest.mark.parametrize(("mutate", "field", "reason"), BAD)
def test_bad_documents(mutate, field: str, reason: str) -> None:
    problems = problems_for(mutate)
    matching = [p for p in problems if p.split(": ", 1)[0] == field]
    assert matching, problems
    assert reason in matching[0]


def test_every_problem_is_reported_at_once() -> None:
    def mutate(doc: dict) -> None:
        doc["destinations"][0]["type"] = "fax"
        doc["destinations"][1]["target"] = "2000,user/1000"
        doc["destinations"][1]["hours"] = {"mon-fri": ["18:00-13:00"]}
        doc["destinations"][2]["gateway"] = "a b"
        doc["secretaries"][0]["fallback"] = "Ninguém"
        doc["destinations"].append({"name": "Financeiro", "type": "extension", "target": "1002"})

    problems = problems_for(mutate)
    fields = {p.split(": ", 1)[0] for p in problems}
    assert {
        "destinations[0].type", "destinations[1].target", "destinations[1].hours.mon-fri[0]",
        "destinations[2].gateway", "secretaries[0].fallback", "destinations[3].name",
    } <= fields
    assert len(problems) >= 6


def test_duplicate_dids_and_menu_keys() -> None:
    def mutate(doc: dict) -> None:
        doc["secretaries"].append({"name": "Outra", "dids": ["8000"]})
        doc["destinations"][0]["menu_key"] = 1
        doc["destinations"][1]["menu_key"] = 1

    problems = problems_for(mutate)
    assert any(p.startswith("secretaries[1].dids[0]: DID 8000 already belongs to secretaries[0]") for p in problems)
    assert any(p.startswith("destinations[1].menu_key: key 1 already used") for p in problems)


def test_not_a_mapping() -> None:
    with pytest.raises(DirectoryError):
        parse_directory(["domain", "demo.local"])


def test_error_message_lists_everything() -> None:
    doc = sample()
    doc["destinations"][0]["type"] = "fax"
    doc["destinations"][0]["timeout"] = 1
    with pytest.raises(DirectoryError) as info:
        parse_directory(doc)
    text = str(info.value)
    assert "destinations[0].type" in text and "destinations[0].timeout" in text
    assert info.value.field == info.value.problems[0].split(": ")[0]


def test_input_not_mutated() -> None:
    doc = sample()
    before = copy.deepcopy(doc)
    parse_directory(doc)
    assert doc == before


@pytest.mark.parametrize(
    "source", ["local_stream://moh", "local_stream://default/8000", "silence_stream://-1",
               "/usr/share/freeswitch/sounds/music/8000/suite.wav", "/var/lib/moh/hold_music.mp3"],
)
def test_safe_music_on_hold(source: str) -> None:
    assert check_music_on_hold(source) == source


def test_directory_defaults() -> None:
    d = parse_directory({"domain": "x.example"})
    assert d == Directory("x.example")
    assert d.business_hours().is_open(datetime(2026, 5, 17, 3, tzinfo=SP))  # no hours: always open
