from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.provision.dialplan import (
    MANAGED_MARKER,
    DialplanSpec,
    install_dialplan_file,
    is_managed,
    render_dialplan,
    validate_spec,
)

SECRETARIES = [
    {"domain": "demo.local", "did": "8000", "secretary_id": 1, "secretary_name": "Recepção", "language": "pt-BR"},
    {
        "domain": "acme.example.com",
        "did": "+551130000000",
        "secretary_id": 42,
        "secretary_name": "Front desk (main)",
        "language": "en-US",
        "recording": True,
        "host": "ivr-pool.internal",
        "port": 9000,
    },
    {"domain": "xn--bcher-kva.example", "did": "5511987654321", "mode": "python", "secretary_id": "7"},
    {"domain": "192.0.2.10", "did": "+15550100", "language": "en-US"},
]


def _parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "include"
    return root


def _variables(cond: ET.Element) -> dict[str, str]:
    out = {}
    for action in cond.findall("action"):
        if action.get("application") == "set":
            name, _, value = action.get("data", "").partition("=")
            out[name] = value
    return out


@pytest.mark.parametrize("raw", SECRETARIES)
def test_rendered_xml_has_freeswitch_structure(raw: dict) -> None:
    spec = validate_spec(raw)
    xml = render_dialplan(raw)
    root = _parse(xml)
    # The header comment marks the file as ours (ElementTree drops comments).
    assert xml.startswith(f"<!-- {MANAGED_MARKER} domain=")
    (ext,) = root.findall("extension")
    assert ext.get("name") == f"voiceai_{spec.domain}_{spec.did_digits}"
    assert ext.get("continue") == "false"
    conditions = ext.findall("condition")
    assert conditions[0].get("field") == "destination_number"
    assert conditions[0].get("expression") == rf"^\+?{spec.did_digits}$"
    # socket mode: the DID, then the first arrival's branch (see test_socket_state_machine)
    cond = conditions[0] if spec.mode == "python" else conditions[1]
    assert len(conditions) == (1 if spec.mode == "python" else 4)
    for action in cond:
        assert action.tag == "action"
        assert set(action.attrib) == {"application", "data"}
    variables = _variables(cond)
    assert variables["voiceai_domain"] == spec.domain
    assert variables["domain_name"] == spec.domain
    assert variables["voiceai_language"] == spec.language
    assert variables["voiceai_recording"] == ("true" if spec.recording else "false")
    if spec.secretary_id is None:
        assert "voiceai_secretary_id" not in variables
    else:
        assert variables["voiceai_secretary_id"] == str(spec.secretary_id)
    last = cond.findall("action")[-2 if spec.mode == "socket" else -1]
    if spec.mode == "socket":
        assert last.get("application") == "socket"
        assert last.get("data") == f"{spec.host}:{spec.port} async full"
    else:
        assert last.get("application") == "python"
        assert last.get("data") == "voiceai_ivr.modpython"


def test_expression_matches_the_did_only() -> None:
    xml = render_dialplan({"domain": "demo.local", "did": "+551130000000"})
    expr = _parse(xml).find("extension/condition").get("expression")  # type: ignore[union-attr]
    pattern = re.compile(expr)  # FreeSWITCH uses PCRE; this subset means the same in Python
    assert pattern.search("551130000000")
    assert pattern.search("+551130000000")
    for other in ("5511300000001", "1551130000000", "++551130000000", "55113000000", ""):
        assert not pattern.search(other), other


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("domain", 'demo.local"/><action application="bridge" data="x'),
        ("domain", "demo.local<evil/>"),
        ("domain", "demo.*"),
        ("domain", "demo.local|other"),
        ("domain", "${domain}"),
        ("domain", "-bad.example"),
        ("domain", "a..b"),
        ("domain", "demo local"),
        ("domain", ""),
        ("did", "8000|9000"),
        ("did", "80.0"),
        ("did", "^8000$"),
        ("did", "8000&amp;"),
        ("did", "(8000)"),
        ("did", "+"),
        ("did", "8000\n"),
        ("did", "++8000"),
        ("did", "1" * 21),
        ("host", "127.0.0.1 async full;"),
        ("host", "::1"),
        ("host", "host:8084"),
        ("port", 0),
        ("port", 70000),
        ("port", "80a"),
        ("secretary_id", "1 OR 1=1"),
        ("secretary_id", -3),
        ("secretary_name", "<script>"),
        ("secretary_name", "a -- b"),
        ("secretary_name", "${sofia_contact(1000)}"),
        ("secretary_name", 'Quote"d'),
        ("language", "fr-FR"),
        ("mode", "lua"),
        ("recording", "maybe"),
    ],
)
def test_malicious_or_invalid_values_are_refused_naming_the_field(field: str, value: object) -> None:
    raw: dict = {"domain": "demo.local", "did": "8000", field: value}
    with pytest.raises(ValidationError) as err:
        render_dialplan(raw)
    assert err.value.field == field


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        render_dialplan({"domain": "demo.local", "did": "8000", "context": "default"})
    assert err.value.field == "context"


@settings(max_examples=300, deadline=None)
@given(domain=st.text(max_size=40), did=st.text(max_size=25), name=st.text(max_size=30))
def test_any_input_is_refused_or_renders_well_formed_xml(domain: str, did: str, name: str) -> None:
    try:
        xml = render_dialplan({"domain": domain, "did": did, "secretary_name": name})
    except ValidationError:
        return
    root = _parse(xml)
    assert len(root) == 1
    cond = root.find("extension/condition")
    assert cond is not None
    assert re.fullmatch(r"\^\\\+\?[0-9]{2,20}\$", cond.get("expression", ""))
    assert "$" not in "".join(a.get("data", "") for a in cond)


def test_dataclass_spec_is_accepted() -> None:
    xml = render_dialplan(DialplanSpec(domain="Demo.Local", did="8000", mode="python"))
    assert 'data="voiceai_domain=demo.local"' in xml


# --------------------------------------------------------------------------- install


def test_install_creates_then_leaves_unchanged_then_updates(tmp_path: Path) -> None:
    spec = {"domain": "demo.local", "did": "8000", "secretary_id": 1}
    first = install_dialplan_file(tmp_path, spec)
    assert first.created and first.changed
    assert first.path == tmp_path / "voiceai_demo.local_8000.xml"
    assert is_managed(first.path)
    assert oct(first.path.stat().st_mode & 0o777) == "0o644"
    _parse(first.path.read_text())

    again = install_dialplan_file(tmp_path, spec)
    assert not again.created and not again.changed

    updated = install_dialplan_file(tmp_path, {**spec, "mode": "python"})
    assert not updated.created and updated.changed
    assert 'application="python"' in updated.path.read_text()
    # no temp files left behind, and nothing else matches FreeSWITCH's *.xml glob
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voiceai_demo.local_8000.xml"]


def test_install_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    target = tmp_path / "voiceai_demo.local_8000.xml"
    foreign = '<include><extension name="hand-made"/></include>\n'
    target.write_text(foreign)
    with pytest.raises(ValidationError) as err:
        install_dialplan_file(tmp_path, {"domain": "demo.local", "did": "8000"})
    assert err.value.field == "path"
    assert target.read_text() == foreign


def test_install_refuses_a_symlink_even_to_our_file(tmp_path: Path) -> None:
    real = install_dialplan_file(tmp_path, {"domain": "demo.local", "did": "8000"}).path
    link = tmp_path / "voiceai_demo.local_9000.xml"
    os.symlink(real, link)
    with pytest.raises(ValidationError):
        install_dialplan_file(tmp_path, {"domain": "demo.local", "did": "9000"})
    assert link.is_symlink()


def test_install_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        install_dialplan_file(tmp_path / "missing", {"domain": "demo.local", "did": "8000"})
    assert err.value.field == "dialplan.directory"


# --------------------------------------------------------------------------- mod_python3 config file


def test_python_mode_carries_the_config_file_to_mod_python3() -> None:
    spec = {"domain": "demo.local", "did": "8000", "mode": "python", "secretary_id": 1,
            "config_file": "/etc/voiceai-ivr/voiceai.yaml"}
    last = _parse(render_dialplan(spec)).findall("extension/condition/action")[-1]
    assert (last.get("application"), last.get("data")) == (
        "python", "voiceai_ivr.modpython config=/etc/voiceai-ivr/voiceai.yaml")
    # the shim reads exactly what mod_python3 hands it (everything after the module name)
    from voiceai_ivr.modpython import parse_args

    assert parse_args(str(last.get("data")).partition(" ")[2]) == "/etc/voiceai-ivr/voiceai.yaml"
    bare = _parse(render_dialplan({**spec, "config_file": ""})).findall("extension/condition/action")[-1]
    assert bare.get("data") == "voiceai_ivr.modpython"


@pytest.mark.parametrize("value", ["voiceai.yaml", "/etc/voice ai.yaml", "/etc/x'.yaml", "/etc/x).yaml",
                                   "/etc/${HOME}.yaml", "/etc/../shadow", '/etc/"x".yaml', "/etc/x,y.yaml"])
def test_a_config_file_that_cannot_travel_in_the_action_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_spec({"domain": "demo.local", "did": "8000", "mode": "python", "config_file": value})
    assert err.value.field == "config_file"


def test_a_config_file_in_socket_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="only for python mode"):
        validate_spec({"domain": "demo.local", "did": "8000", "mode": "socket", "config_file": "/etc/v.yaml"})


def test_cli_renders_and_installs_the_config_file(tmp_path: Path) -> None:
    """``dialplan render|install --mode python --config FILE``: the file is rendered as
    ``config=FILE`` (absolute) and, without a global ``--config``, is also the
    command's own configuration."""
    import yaml
    from click.testing import CliRunner
    from doubles.fake_esl import FakeFreeSwitch

    from voiceai_ivr.cli import cli

    public = tmp_path / "public"
    public.mkdir()
    with FakeFreeSwitch() as fs:
        config = tmp_path / "voiceai.yaml"
        config.write_text(yaml.safe_dump({"dialplan": {"directory": str(public)},
                                          "esl": {"port": fs.port, "timeout": 3}}))
        secretary = ["--domain", "demo.local", "--did", "8000", "--secretary-id", "3", "--language", "pt-BR",
                     "--no-recording"]
        runner = CliRunner()
        rendered = runner.invoke(cli, ["dialplan", "render", *secretary, "--mode", "python", "--config", str(config)],
                                 env={"VOICEAI_CONFIG": ""}, catch_exceptions=False)
        assert rendered.exit_code == 0, rendered.output
        assert f'<action application="python" data="voiceai_ivr.modpython config={config}"/>' in rendered.output
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:  # a relative name is rendered absolute: FreeSWITCH's working directory is not ours
            installed = runner.invoke(cli, ["dialplan", "install", *secretary, "--mode", "python",
                                            "--config", "voiceai.yaml"], env={"VOICEAI_CONFIG": ""},
                                      catch_exceptions=False)
        finally:
            os.chdir(cwd)
        assert installed.exit_code == 0, installed.output
        # the directory and the ESL came from --config: the command read that file
        assert "reloadxml" in " ".join(fs.commands)
        written = (public / "voiceai_demo.local_8000.xml").read_text()
        assert f"config={config}" in written
        missing = runner.invoke(cli, ["dialplan", "render", *secretary, "--mode", "python", "--config",
                                      str(tmp_path / "nope.yaml")], env={"VOICEAI_CONFIG": ""})
        assert missing.exit_code == 2 and "--config" in missing.output and "no such file" in missing.output
        socket_mode = runner.invoke(cli, ["dialplan", "render", *secretary, "--mode", "socket", "--config",
                                          str(config)], env={"VOICEAI_CONFIG": ""})
        assert socket_mode.exit_code == 2 and "only for python mode" in socket_mode.output


# --------------------------------------------------------------------------- socket mode: the call-state branches

STATEFUL = {"domain": "demo.local", "did": "8000", "host": "10.0.0.1", "port": 8084,
            "failover": ["10.0.0.2:8084", "ivr3.internal:9000"],
            "fallback_type": "extension", "fallback_target": "1001", "fallback_timeout": 25}


def _hunt(xml: str, destination: str, variables: dict[str, str]) -> list[tuple[str, str]]:
    """The actions FreeSWITCH's XML dialplan would queue for this extension, as
    mod_dialplan_xml evaluates it: ``${var}`` fields expanded at hunt time, the
    default break on-false, ``on-true`` stopping at the first condition that passes."""
    (ext,) = _parse(xml).findall("extension")
    queued: list[tuple[str, str]] = []
    for cond in ext.findall("condition"):
        field = cond.get("field", "")
        if field.startswith("$"):
            value = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), ""), field)
        else:
            value = destination
        passed = re.search(cond.get("expression", ""), value) is not None
        if passed:
            queued += [(a.get("application", ""), a.get("data", "")) for a in cond.findall("action")]
        brk = cond.get("break", "on-false")
        if (brk == "on-false" and not passed) or (brk == "on-true" and passed):
            break
    return queued


@pytest.mark.parametrize(
    ("state", "expect"),
    [
        (("", "", ""), ("socket", "10.0.0.1:8084 async full")),  # first arrival
        (("1", "", ""), ("socket", "10.0.0.2:8084 async full")),  # serve 1 refused
        (("2", "", ""), ("socket", "ivr3.internal:9000 async full")),  # serve 2 refused
        (("3", "", ""), ("bridge", "user/1001@demo.local")),  # every serve refused
        (("1", "true", ""), ("bridge", "user/1001@demo.local")),  # serve 1 took it and died
        (("2", "true", ""), ("bridge", "user/1001@demo.local")),  # serve 2 took it and died
        (("1", "true", "true"), ("hangup", "NORMAL_CLEARING")),  # the handler ended normally
        (("1", "true", "bridged"), ("hangup", "NORMAL_CLEARING")),  # the bridge ended
    ],
)
def test_socket_state_machine(state: tuple[str, str, str], expect: tuple[str, str]) -> None:
    xml = render_dialplan(STATEFUL)
    variables = dict(zip(("voiceai_try", "voiceai_served", "voiceai_done"), state))
    queued = _hunt(xml, "+8000", variables)
    apps = [a for a, _ in queued]
    assert expect in queued, queued
    # One branch only: never two socket actions, never a socket and the fallback.
    assert apps.count("socket") + apps.count("bridge") + (apps.count("hangup") if expect[0] == "hangup" else 0) == 1
    if expect[0] == "socket":
        n = int(state[0] or 0) + 1
        reenter = ("transfer", "${destination_number} XML ${context}")
        assert queued[-3:] == [("set", f"voiceai_try={n}"), expect, reenter]
    if expect[0] == "bridge":
        assert ("set", "call_timeout=25") in queued and ("set", "continue_on_fail=true") in queued
        assert ("set", "transfer_ringback=%(2000,4000,440,480)") in queued
        # The fallback's leg is offered the profile's codecs too (not only the caller's:
        # 488 INCOMPATIBLE_DESTINATION from an extension lacking the caller's codec).
        mix = ("export", "nolocal:media_mix_inbound_outbound_codecs=true")
        assert queued.index(mix) < queued.index(expect)
        assert queued[-2][0] == "playback" and queued[-1] == ("hangup", "NORMAL_TEMPORARY_FAILURE")
    assert _hunt(xml, "8001", variables) == []


def test_without_fallback_the_caller_hears_a_busy_tone_not_silence() -> None:
    xml = render_dialplan({"domain": "demo.local", "did": "8000"})
    queued = _hunt(xml, "8000", {"voiceai_try": "1"})
    assert [a for a, _ in queued] == ["set", "answer", "playback", "hangup"]
    assert queued[2][1].startswith("tone_stream://")


@pytest.mark.parametrize(
    ("kind", "target", "gateway", "endpoint"),
    [
        ("extension", "1001", "", "user/1001@demo.local"),
        ("ring_group", "6000", "", "loopback/6000/demo.local"),
        ("voicemail", "1001", "", "loopback/*991001/demo.local"),
        ("external", "+5511987654321", "carrier", "sofia/gateway/carrier/+5511987654321"),
    ],
)
def test_fallback_endpoint_per_destination_type(kind: str, target: str, gateway: str, endpoint: str) -> None:
    xml = render_dialplan({"domain": "demo.local", "did": "8000", "fallback_type": kind,
                           "fallback_target": target, "fallback_gateway": gateway})
    assert ("bridge", endpoint) in _hunt(xml, "8000", {"voiceai_try": "1"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"failover": ["10.0.0.1:8084"]}, "failover[0]"),  # the main address again
        ({"failover": ["10.0.0.2:8084", "10.0.0.2:8084"]}, "failover[1]"),
        ({"failover": ["10.0.0.2"]}, "failover[0]"),
        ({"failover": ["10.0.0.2:8084 async full"]}, "failover[0]"),
        ({"failover": ["10.0.0.2:99999"]}, "failover[0]"),
        ({"failover": ["a b:8084"]}, "failover[0]"),
        ({"failover": [f"10.0.0.{i}:8084" for i in range(2, 12)]}, "failover"),
        ({"failover": "10.0.0.2:8084", "mode": "python"}, "failover"),
        ({"fallback_type": "fax"}, "fallback_type"),
        ({"fallback_type": "extension", "fallback_target": "1001,user/9999"}, "fallback_target"),
        ({"fallback_type": "extension", "fallback_target": "${evil}"}, "fallback_target"),
        ({"fallback_type": "external", "fallback_target": "+5511987654321", "fallback_gateway": "a/b"},
         "fallback_gateway"),
        ({"fallback_target": "1001"}, "fallback_type"),
        ({"fallback_type": "extension", "fallback_target": "1001", "fallback_timeout": 3}, "fallback_timeout"),
    ],
)
def test_failover_and_fallback_are_validated(changes: dict, field: str) -> None:
    raw = {"domain": "demo.local", "did": "8000", "host": "10.0.0.1", "port": 8084, **changes}
    with pytest.raises(ValidationError) as err:
        render_dialplan(raw)
    assert err.value.field == field, err.value
