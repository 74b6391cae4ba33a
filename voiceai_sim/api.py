"""API commands (``api X`` / ``bgapi X``), answered as FreeSWITCH 1.10/1.11 answers
them (mod_commands.c, mod_sofia; wording checked against the capture)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import TYPE_CHECKING, Any, Optional
from xml.sax.saxutils import escape

from voiceai_sim.apps import APPLICATIONS
from voiceai_sim.args import DialStringSyntaxError, parse_originate, separate_string
from voiceai_sim.channel import AppRun, SimChannel
from voiceai_sim.events import KNOWN_CAUSES, new_uuid

if TYPE_CHECKING:
    from voiceai_sim.engine import SimSwitch

ORIGINATE_SYNTAX = (
    "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] "
    "[<timeout_sec>]"
)
REG_COLUMNS = (
    "reg_user",
    "realm",
    "token",
    "url",
    "expires",
    "network_ip",
    "network_port",
    "network_proto",
    "hostname",
    "metadata",
)
CHANNEL_COLUMNS = (
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "application",
    "application_data",
    "dialplan",
    "context",
    "read_codec",
    "read_rate",
    "read_bit_rate",
    "write_codec",
    "write_rate",
    "write_bit_rate",
    "secure",
    "hostname",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "sent_callee_name",
    "sent_callee_num",
    "initial_cid_name",
    "initial_cid_num",
    "initial_ip_addr",
    "initial_dest",
    "initial_dialplan",
    "initial_context",
)


async def execute_api(switch: SimSwitch, command: str, *, owner: Optional[SimChannel], via: str) -> str:
    """Run one API command line; returns the response body."""
    line = command.strip()
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    handler = _HANDLERS.get(name)
    switch.stats[f"api:{name}" if handler else "api:unknown"] += 1
    if handler is None:
        return f"-ERR {name} Command not found!\n"
    result = await handler(switch, arg, owner, via)
    return result if result else "-ERR no reply\n"


# --------------------------------------------------------------------------- commands


async def api_status(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    up = max(0.0, time.monotonic() - switch.started_mono)
    secs = int(up)
    ms = int((up - secs) * 1000)
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    count = len(switch.channels)
    return (
        f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, {ms} milliseconds, "
        "0 microseconds\n"
        "FreeSWITCH (Version 1.11.1-release  64bit) is ready\n"
        f"{switch.sessions_since_start} session(s) since startup\n"
        f"{count} session(s) - peak {switch.peak_channels}, last 5min {switch.peak_channels} \n"
        "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
        "1000 session(s) max\n"
        "min idle cpu 0.00/99.00\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


async def api_originate(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    if not arg:
        return f"-USAGE {ORIGINATE_SYNTAX}\n"
    argc = len(separate_string(arg, " ", 10))
    if argc < 2 or argc > 7:
        return f"-USAGE: {ORIGINATE_SYNTAX}\n"
    try:
        spec = parse_originate(arg)
    except DialStringSyntaxError as exc:
        if exc.cause == "USAGE":
            return f"-USAGE: {ORIGINATE_SYNTAX}\n"
        return f"-ERR {exc.cause}\n"
    return await switch.originate(arg, spec, owner=owner, via=via)


async def api_uuid_kill(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ")
    if not argv:
        return "-USAGE: <uuid> [cause]\n"
    ch = switch.locate(argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    cause = argv[1].upper() if len(argv) > 1 and argv[1].upper() in KNOWN_CAUSES else "NORMAL_CLEARING"
    ch.hangup(cause, by="application")
    return "+OK\n"


SCHED_TRANSFER_SYNTAX = "[+]<time> <uuid> <extension> [<dialplan>] [<context>]"


async def api_sched_transfer(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    """mod_commands' ``sched_transfer``: a task in the group named after the uuid.
    The simulator has no dialplan to transfer into: when the task fires, the leg
    is hung up (NORMAL_CLEARING) where FreeSWITCH would re-enter the dialplan."""
    argv = separate_string(arg, " ")
    if not arg or not 2 <= len(argv) <= 5 or not argv[0]:
        return f"-USAGE: {SCHED_TRANSFER_SYNTAX}\n"
    when, uuid = argv[0], argv[1]
    try:
        seconds = float(when[1:]) if when.startswith("+") else float(when) - time.time()
    except ValueError:
        seconds = 0.0
    ch = switch.locate(uuid)
    if ch is None:
        return "-ERR No such channel!\n"

    def fire() -> None:
        tasks = switch.scheduled.get(uuid, [])
        if handle in tasks:
            tasks.remove(handle)
        target = switch.locate(uuid)
        if target is not None:
            target.hangup("NORMAL_CLEARING", by="application")

    # Real seconds, not simulated ones: the bound is computed from the handler's own
    # timers (ring timeout, announcement), which run in real time.
    handle = asyncio.get_running_loop().call_later(max(0.0, seconds), fire)
    switch.scheduled.setdefault(uuid, []).append(handle)
    return "+OK\n"


async def api_sched_del(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    """``sched_del <group>`` (a uuid): ``+OK Deleted: N``."""
    tasks = switch.scheduled.pop(arg.strip(), []) if arg.strip() else []
    for handle in tasks:
        handle.cancel()
    return f"+OK Deleted: {len(tasks)}\n"


async def api_uuid_break(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    if not arg:
        return "-USAGE: <uuid> [all]\n"
    uuid, _, flag = arg.partition(" ")
    ch = switch.locate(uuid)
    if ch is None:
        return "-ERR No such channel!\n"
    targets = [ch]
    if "both" in flag and ch.bridge is not None:
        targets.append(ch.bridge.b if ch.bridge.a is ch else ch.bridge.a)
    for target in targets:
        if "all" in flag:
            target.flush_queue()  # switch_core_session_flush_private_events
        # CF_BREAK (or CF_STOP_BROADCAST): only an application that is running sees
        # it; the next one clears it when it starts, so with nothing running (parked
        # between messages, a broadcast still reading its lead frames) it is lost.
        if target.running is not None:
            target.request_break("uuid_break")
    return "+OK\n"


#: uuid_broadcast, measured on FreeSWITCH 1.11.1 (simulated seconds, like every media
#: delay): the message waits up to one 20 ms frame for the leg to take it from its
#: queue, then ``lead-frames: 5`` are read before the application starts
#: (CHANNEL_EXECUTE 180-200 ms after the api reply).
BROADCAST_PICKUP_S = 0.02
BROADCAST_LEAD_S = 0.18


async def api_uuid_broadcast(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    """``switch_ivr_broadcast``: the application is queued behind what the leg already
    has queued (FIFO, ``event-lock``), so a running broadcast holds back later
    messages; it starts after the pickup and lead-frame delays above."""
    argv = separate_string(arg, " ", 4)
    if len(argv) < 2:
        return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
    ch = switch.locate(argv[0])
    if ch is None:
        return "-ERR invalid uuid\n"
    legs = (argv[2].lower() if len(argv) > 2 else "aleg")
    targets = []
    if "aleg" in legs or "both" in legs:
        targets.append(ch)
    if ("bleg" in legs or "both" in legs) and ch.bridge is not None:
        targets.append(ch.bridge.b if ch.bridge.a is ch else ch.bridge.a)
    pickup_at = asyncio.get_running_loop().time() + switch.clock.real(BROADCAST_PICKUP_S)
    for target in targets:
        path = argv[1]
        app, sep, app_arg = path.partition("::")
        if not sep:
            app, app_arg = "playback", path
        target.enqueue(
            AppRun(app, app_arg, app_uuid=new_uuid(), lock=True, internal=True, pickup_at=pickup_at,
                   lead=switch.clock.real(BROADCAST_LEAD_S))
        )
    return "+OK Message sent\n"


async def api_uuid_bridge(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ")
    if len(argv) < 2:
        return "-USAGE: <uuid> <other_uuid>\n"
    a = switch.locate(argv[0])
    b = switch.locate(argv[1])
    if a is None or b is None or a is b:
        return "-ERR Invalid uuid\n"
    switch.bridge(a, b)
    return f"+OK {b.uuid}\n"


async def api_uuid_exists(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    return "true" if arg and switch.locate(arg) is not None else "false"


async def api_uuid_getvar(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ")
    if len(argv) < 2:
        return "-USAGE: <uuid> <var>\n"
    ch = switch.locate(argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    value = ch.get_var(argv[1])
    return value if value is not None else "_undef_"


async def api_uuid_setvar(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ", 3)
    if len(argv) not in (2, 3):
        return "-USAGE: <uuid> <var> [value]\n"
    ch = switch.locate(argv[0])
    if ch is None:
        return "-ERR No such channel!\n"
    if not argv[1]:
        return "-ERR No variable specified\n"
    ch.set_var(argv[1], argv[2] if len(argv) == 3 else None)
    return "+OK\n"


async def api_uuid_setvar_multi(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    uuid, sep, rest = arg.partition(" ")
    if not sep:
        return "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
    ch = switch.locate(uuid)
    if ch is None:
        return "-ERR No such channel!\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
    count = 0
    for item in separate_string(rest, ";", 64):
        name, _, value = item.partition("=")
        if name:
            ch.set_var(name, value or None)
            count += 1
    return "+OK\n" if count else "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"


def _press_keys(switch: SimSwitch, arg: str, verb: str) -> str:
    """``uuid_send_dtmf`` / ``uuid_recv_dtmf UUID KEYS``: the keys are pressed on that leg."""
    argv = separate_string(arg, " ")
    if len(argv) < 2 or not argv[0] or not argv[1]:
        return "-USAGE: <uuid> <dtmf_data>\n"
    ch = switch.locate(argv[0])
    if ch is None:
        return "-ERR Cannot locate session!\n"
    for digit in argv[1]:
        if digit.isalnum() or digit in "*#":
            ch.press(digit.upper())
    return f"+OK {ch.uuid} {verb} DTMF {argv[1]}.\n"


async def api_uuid_recv_dtmf(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    """Keys received on the leg, as if its far end pressed them."""
    return _press_keys(switch, arg, "received")


async def api_uuid_send_dtmf(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    return _press_keys(switch, arg, "sent")


async def api_uuid_answer(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    ch = switch.locate(arg.split(" ")[0]) if arg else None
    if ch is None:
        return "-ERROR\n"
    ch.mark_answered()
    return "+OK\n"


async def api_uuid_park(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    ch = switch.locate(arg.split(" ")[0]) if arg else None
    if ch is None:
        return "-ERR No such channel!\n"
    if ch.running is not None:
        ch.request_break("uuid_break")
    ch.park()
    return "+OK\n"


async def api_hupall(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ")
    cause = argv[0].upper() if argv and argv[0].upper() in KNOWN_CAUSES else "MANAGER_REQUEST"
    for ch in list(switch.channels.values()):
        ch.hangup(cause, by="switch")
    return f"+OK hangup all channels with cause {cause}\n"


async def api_reloadxml(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    return "+OK [Success]\n"


async def api_version(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    return "FreeSWITCH Version 1.11.1-release~64bit (-release 64bit)\n"


async def api_module_exists(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    """``true`` / ``false`` (no newline); nothing at all (``-ERR no reply``) without a name."""
    name = arg.strip()
    if not name:
        return ""
    return "true" if name in {row["ikey"] for row in interface_rows(switch)} else "false"


# --------------------------------------------------------------------------- registrations / channels


def _agent_ip(key: str) -> str:
    digest = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:4], 16)  # noqa: S324 - not security
    return f"192.0.2.{10 + digest % 240}"


def registration_rows(switch: SimSwitch) -> list[dict[str, str]]:
    rows = []
    expires = str(int(time.time()) + 3600)
    for key, behavior in sorted(switch.all_agents().items()):
        if key.startswith("+") or not behavior.is_registered:
            continue
        user, _, realm = key.partition("@")
        realm = realm or switch.directory.domain
        ip = _agent_ip(key)
        rows.append(
            {
                "reg_user": user,
                "realm": realm,
                "token": hashlib.md5(key.encode("utf-8")).hexdigest(),  # noqa: S324 - a call-id, not security
                "url": f"sofia/internal/sip:{user}@{ip}:5060",
                "expires": expires,
                "network_ip": ip,
                "network_port": "5060",
                "network_proto": "udp",
                "hostname": switch.core.hostname,
                "metadata": "",
            }
        )
    return rows


def channel_rows(switch: SimSwitch) -> list[dict[str, str]]:
    rows = []
    for ch in sorted(switch.channels.values(), key=lambda c: c.created_us):
        if ch.hungup:
            continue
        domain = ch.get_var("dialed_domain") or ch.get_var("domain_name") or switch.directory.domain
        ext = ch.target or ch.profile.destination_number
        rows.append(_channel_row(switch, ch.uuid, ch.direction, ch.created_us, ch.name, ch.state,
                                 ch.profile.caller_id_name, ch.profile.caller_id_number,
                                 ch.profile.destination_number, ch.get_var("current_application") or "",
                                 ch.get_var("current_application_data") or "", ch.profile.context,
                                 f"{ext}@{domain}" if ch.role != "caller" else "",
                                 "ACTIVE" if ch.answered else "RINGING"))
    now_us = int(time.time() * 1_000_000)
    for key, behavior in sorted(switch.all_agents().items()):
        if not behavior.in_call:
            continue
        user, _, realm = key.partition("@")
        realm = realm or switch.directory.domain
        uuid = str(new_uuid())
        rows.append(_channel_row(switch, uuid, "inbound", now_us, f"sofia/internal/{user}@{realm}",
                                 "CS_EXCHANGE_MEDIA", user, user, "5000", "bridge", "", realm,
                                 f"{user}@{realm}", "ACTIVE"))
    return rows


def _channel_row(
    switch: SimSwitch, uuid: str, direction: str, created_us: int, name: str, state: str, cid_name: str,
    cid_num: str, dest: str, app: str, app_data: str, context: str, presence: str, callstate: str,
) -> dict[str, str]:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created_us / 1_000_000))
    values = {
        "uuid": uuid,
        "direction": direction,
        "created": created,
        "created_epoch": str(created_us // 1_000_000),
        "name": name,
        "state": state,
        "cid_name": cid_name,
        "cid_num": cid_num,
        "ip_addr": "192.0.2.10",
        "dest": dest,
        "application": app,
        "application_data": app_data,
        "dialplan": "XML",
        "context": context,
        "read_codec": "PCMU",
        "read_rate": "8000",
        "read_bit_rate": "64000",
        "write_codec": "PCMU",
        "write_rate": "8000",
        "write_bit_rate": "64000",
        "secure": "",
        "hostname": switch.core.hostname,
        "presence_id": presence,
        "presence_data": "",
        "accountcode": "",
        "callstate": callstate,
        "callee_name": "",
        "callee_num": "",
        "callee_direction": "",
        "call_uuid": uuid,
        "sent_callee_name": "",
        "sent_callee_num": "",
        "initial_cid_name": cid_name,
        "initial_cid_num": cid_num,
        "initial_ip_addr": "192.0.2.10",
        "initial_dest": dest,
        "initial_dialplan": "XML",
        "initial_context": context,
    }
    return {col: values[col] for col in CHANNEL_COLUMNS}


def render_rows(rows: list[dict[str, str]], columns: tuple[str, ...], fmt: str, *, count_only: bool = False) -> str:
    """show_function's three renderings: delim (default), xml, json."""
    if count_only:
        if fmt == "json":
            return json.dumps({"row_count": len(rows)})
        return f"\n{len(rows)} total.\n"
    if fmt == "json":
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))
    if fmt == "xml":
        if not rows:
            return '<result row_count="0"/>\n'
        parts = [f'<result row_count="{len(rows)}">']
        for i, row in enumerate(rows, 1):
            parts.append(f'  <row row_id="{i}">')
            for col in columns:
                parts.append(f"    <{col}>{escape(row.get(col, ''))}</{col}>")
            parts.append("  </row>")
        parts.append("</result>")
        return "\n".join(parts) + "\n"
    out = []
    if rows:
        out.append(",".join(columns) + "\n")
        for row in rows:
            out.append(",".join(row.get(col, "") for col in columns) + "\n")
    out.append(f"\n{len(rows)} total.\n")
    return "".join(out)


_SHOW_USAGE = (
    "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|"
    "channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|"
    "complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
)
INTERFACE_COLUMNS = ("type", "name", "ikey")
# show_function: these read the interfaces table for one type ("show codecs" too).
_TYPE_COMMANDS = ("codec", "dialplan", "file", "timer", "chat", "limit", "say", "management", "endpoint")
# What a module registers besides its applications and API commands (a trimmed
# copy of the FreeSWITCH kit's "show interfaces"; speech modules come from the
# simulator's settings).
_STATIC_INTERFACES = (
    ("codec", "G.711 alaw", "CORE_PCM_MODULE"),
    ("codec", "G.711 ulaw", "CORE_PCM_MODULE"),
    ("dialplan", "XML", "mod_dialplan_xml"),
    ("dialplan", "inline", "mod_dptools"),
    ("endpoint", "error", "mod_dptools"),
    ("endpoint", "group", "mod_dptools"),
    ("endpoint", "loopback", "mod_loopback"),
    ("endpoint", "sofia", "mod_sofia"),
    ("endpoint", "user", "mod_dptools"),
    ("file", "file_string", "mod_dptools"),
    ("file", "local_stream", "mod_local_stream"),
    ("file", "silence_stream", "mod_tone_stream"),
    ("file", "tone_stream", "mod_tone_stream"),
    ("file", "wav", "mod_sndfile"),
    ("timer", "soft", "CORE_SOFTTIMER_MODULE"),
)
# Speech modules that register an engine under another name, or a TTS interface too.
_SPEECH_MODULES = {"test": ("mod_test", True), "unimrcp": ("mod_unimrcp", True), "flite": ("mod_flite", False),
                   "tts_commandline": ("mod_tts_commandline", False)}


def _speech_module(engine: str) -> str:
    return _SPEECH_MODULES.get(engine, (f"mod_{engine}", False))[0]


def interface_rows(switch: SimSwitch) -> list[dict[str, str]]:
    """``show interfaces``: (type, name, ikey) sorted as its SQL sorts them."""
    rows = set(_STATIC_INTERFACES)
    rows.update(("api", name, "mod_sofia" if name.startswith("sofia") else "mod_commands") for name in _HANDLERS)
    rows.update(("application", name, "mod_dptools") for name in APPLICATIONS)
    rows.add(("application", "socket", "mod_event_socket"))
    modules = switch.modules
    for engine in modules.asr_engines:
        module = _speech_module(engine)
        rows.add(("asr", engine, module))
        if _SPEECH_MODULES.get(engine, ("", False))[1]:
            rows.add(("speech", engine, module))  # mod_test and mod_unimrcp also speak
    for engine in modules.tts_engines:
        rows.add(("speech", engine, _speech_module(engine)))
    return [dict(zip(INTERFACE_COLUMNS, row)) for row in sorted(rows, key=lambda r: (r[0], r[1]))]

_LIKE_COLUMNS = ("uuid", "name", "cid_name", "cid_num", "presence_id")


async def api_show(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = separate_string(arg, " ", 6)
    if not argv:
        return _SHOW_USAGE
    what = argv[0].lower()
    fmt = "delim"
    count_only = len(argv) > 1 and argv[1].lower() == "count"
    if len(argv) > 2 and argv[1].lower() == "as":
        fmt = argv[2].lower()
    if count_only and len(argv) > 3 and argv[2].lower() == "as":
        fmt = argv[3].lower()
    if fmt not in ("delim", "csv", "xml", "json"):
        return f"-ERR Cannot find format {fmt}\n"
    if what == "registrations":
        return render_rows(registration_rows(switch), REG_COLUMNS, fmt, count_only=count_only)
    if what == "interfaces":
        return render_rows(interface_rows(switch), INTERFACE_COLUMNS, fmt)
    if what == "interface_types":
        totals: dict[str, int] = {}
        for row in interface_rows(switch):
            totals[row["type"]] = totals.get(row["type"], 0) + 1
        rows = [{"type": k, "total": str(v)} for k, v in sorted(totals.items())]
        return render_rows(rows, ("type", "total"), fmt)
    kind = what[:-1] if what.endswith("s") else what
    if kind in _TYPE_COMMANDS:
        rows = [row for row in interface_rows(switch) if row["type"] == kind]
        return render_rows(rows, INTERFACE_COLUMNS, fmt)
    if what in ("channels", "calls"):
        rows = channel_rows(switch)
        if len(argv) > 2 and argv[1].lower() == "like":
            needle = argv[2].replace("%", "")
            rows = [r for r in rows if any(needle in r[c] for c in _LIKE_COLUMNS)]
            fmt = argv[4].lower() if len(argv) > 4 and argv[3].lower() == "as" else "delim"
        return render_rows(rows, CHANNEL_COLUMNS, fmt, count_only=count_only)
    return _SHOW_USAGE


_SOFIA_STATUS = (
    "                     Name\t   Type\t                                      Data\tState\n"
    "=================================================================================================\n"
    "                192.0.2.2\t  alias\t                                  internal\tALIASED\n"
    "                 external\tprofile\t              sip:mod_sofia@192.0.2.2:5080\tRUNNING (0)\n"
    "                 internal\tprofile\t              sip:mod_sofia@192.0.2.2:5060\tRUNNING (0)\n"
    "=================================================================================================\n"
    "2 profiles 1 alias\n"
)


async def api_sofia(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    argv = arg.split()
    if argv[:1] == ["status"] and len(argv) == 1:
        return _SOFIA_STATUS
    if argv[:3] == ["status", "profile", "internal"] and argv[3:4] == ["reg"]:
        rows = registration_rows(switch)
        wanted = argv[4] if len(argv) > 4 else ""
        lines = ["\nRegistrations:", "=" * 97]
        shown = 0
        for row in rows:
            if wanted and wanted not in (row["reg_user"], f"{row['reg_user']}@{row['realm']}"):
                continue
            shown += 1
            lines.extend(
                [
                    f"Call-ID:    \t{row['token']}",
                    f"User:       \t{row['reg_user']}@{row['realm']}",
                    f"Contact:    \t\"{row['reg_user']}\" <sip:{row['reg_user']}@{row['network_ip']}:5060>",
                    "Agent:      \tsim",
                    "Status:     \tRegistered(UDP)(unknown) EXP(2030-01-01 00:00:00) EXPSECS(3600)",
                    "Ping-Status:\tReachable",
                    "Ping-Time:\t0.00",
                    f"Host:       \t{switch.core.hostname}",
                    f"IP:         \t{row['network_ip']}",
                    "Port:       \t5060",
                    f"Auth-User:  \t{row['reg_user']}",
                    f"Auth-Realm: \t{row['realm']}",
                    f"MWI-Account:\t{row['reg_user']}@{row['realm']}",
                    "",
                ]
            )
        lines.append(f"Total items returned: {shown}")
        lines.append("=" * 97)
        return "\n".join(lines) + "\n"
    if argv[:1] == ["status"]:
        return "Invalid Profile!\n"
    return "-ERR Usage: sofia status|...\n" if argv else _SOFIA_STATUS


async def api_sofia_contact(switch: SimSwitch, arg: str, owner: Optional[SimChannel], via: str) -> str:
    text = arg.strip()
    if not text:
        return "-ERR Usage: sofia_contact [profile/]<user>@<domain>\n"
    if "/" in text:
        text = text.split("/", 1)[1]
    user = text.partition("@")[0]
    agents = switch.all_agents()
    behavior = agents.get(user) or agents.get(text)
    if behavior is None or not behavior.is_registered or user.startswith("+"):
        return "error/user_not_registered"
    return f"sofia/internal/sip:{user}@{_agent_ip(user if user in agents else text)}:5060"


_HANDLERS: dict[str, Any] = {
    "status": api_status,
    "originate": api_originate,
    "uuid_kill": api_uuid_kill,
    "sched_transfer": api_sched_transfer,
    "sched_del": api_sched_del,
    "uuid_break": api_uuid_break,
    "uuid_broadcast": api_uuid_broadcast,
    "uuid_bridge": api_uuid_bridge,
    "uuid_exists": api_uuid_exists,
    "uuid_getvar": api_uuid_getvar,
    "uuid_setvar": api_uuid_setvar,
    "uuid_setvar_multi": api_uuid_setvar_multi,
    "uuid_send_dtmf": api_uuid_send_dtmf,
    "uuid_recv_dtmf": api_uuid_recv_dtmf,
    "module_exists": api_module_exists,
    "uuid_answer": api_uuid_answer,
    "uuid_park": api_uuid_park,
    "hupall": api_hupall,
    "reloadxml": api_reloadxml,
    "version": api_version,
    "show": api_show,
    "sofia": api_sofia,
    "sofia_contact": api_sofia_contact,
}
