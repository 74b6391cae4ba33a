"""Dialplan applications, with FreeSWITCH's argument syntax and results.

Each application is a coroutine ``(channel, run) -> None`` that leaves its
result where FreeSWITCH leaves it: channel variables, and
``current_application_response`` (becomes ``Application-Response``; ``_none_``
when unset).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Callable, Optional
from xml.sax.saxutils import escape

from voiceai_ivr.sim.args import separate_string
from voiceai_ivr.sim.channel import AppRun, Listen, SimChannel
from voiceai_ivr.sim.clock import speech_seconds, stream_seconds

AppFunc = Callable[[SimChannel, AppRun], Awaitable[None]]

KEY_SPACING = 0.25  # simulated seconds between two keys a caller presses
FIRST_KEY_DELAY = 0.4  # after the prompt starts
SPEECH_CONFIDENCE = "0.90"


def _respond(ch: SimChannel, text: str) -> None:
    ch.set_var("current_application_response", text)


def describe_source(source: str, ch: Optional[SimChannel] = None) -> list[tuple[str, str]]:
    """What a caller hears from one playable source: [(kind, text)]."""
    if source.startswith("file_string://"):
        items: list[tuple[str, str]] = []
        for part in source[len("file_string://") :].split("!"):
            items.extend(describe_source(part, ch))
        return items
    if source.startswith("say:"):
        return [("say", source[4:])]
    if source.startswith("silence_stream://"):
        return []
    if source.startswith("tone_stream://"):
        return [("tone", source)]
    if source.startswith("local_stream://"):
        return [("hold", source)]
    if source.startswith("{") and "}" in source:
        return describe_source(source[source.index("}") + 1 :], ch)
    return [("play", source)]


def source_seconds(source: str) -> float:
    if source.startswith("file_string://"):
        return sum(source_seconds(p) for p in source[len("file_string://") :].split("!")) or 0.1
    if source.startswith("{") and "}" in source:
        return source_seconds(source[source.index("}") + 1 :])
    return stream_seconds(source)


def _say_prompt(ch: SimChannel, source: str, *, slot: str = "") -> None:
    for kind, text in describe_source(source, ch):
        entry = {"from": "ivr", "kind": kind, "text": text}
        if slot:
            entry["slot"] = slot
        ch.record(entry)


def _slot(ch: SimChannel) -> str:
    return ch.get_var("voiceai_slot") or ""


def _press_later(ch: SimChannel, digits: str, delay: float) -> None:
    async def press() -> None:
        if await ch.pause(delay) == "hangup":
            return
        for i, digit in enumerate(digits):
            if i:
                await ch.switch.clock.sleep(KEY_SPACING)
            if ch.hungup:
                return
            ch.press(digit)

    ch.spawn(press())


def _record_answer(ch: SimChannel, listen: Listen, slot: str) -> None:
    who = "caller" if ch.role == "caller" else ch.role
    kind = {"speech": "say", "dtmf": "dtmf", "silence": "silence", "hangup": "hangup"}[listen.kind]
    entry = {"from": who, "kind": kind, "text": listen.text}
    if slot:
        entry["slot"] = slot
    ch.record(entry)


async def _listen(ch: SimChannel, kind: str, prompt: str) -> Listen:
    ch.listens += 1
    if ch.actor is None:
        return Listen("silence")
    return await ch.actor.on_listen(ch, kind, prompt)


def _listen_done(ch: SimChannel) -> None:
    done = getattr(ch.actor, "listen_done", None)
    if callable(done):
        done(ch)


def _hangup_soon(ch: SimChannel, who: str) -> None:
    async def go() -> None:
        if await ch.pause(0.2) == "hangup":
            return
        if ch.call is not None and who == "caller":
            ch.call.caller_hungup = True
        ch.hangup("NORMAL_CLEARING", by=who)

    ch.spawn(go())


# --------------------------------------------------------------------------- simple apps


async def app_answer(ch: SimChannel, run: AppRun) -> None:
    ch.mark_answered()


async def app_noop(ch: SimChannel, run: AppRun) -> None:
    return None


def _assign(ch: SimChannel, item: str) -> None:
    name, sep, value = item.partition("=")
    name = name.strip()
    if name.startswith("nolocal:"):
        return
    if not name:
        return
    ch.set_var(name, value if sep else None)


async def app_set(ch: SimChannel, run: AppRun) -> None:
    _assign(ch, run.arg)


async def app_multiset(ch: SimChannel, run: AppRun) -> None:
    for item in separate_string(run.arg, " "):
        _assign(ch, item)


async def app_unset(ch: SimChannel, run: AppRun) -> None:
    ch.set_var(run.arg.strip(), None)


async def app_sleep(ch: SimChannel, run: AppRun) -> None:
    try:
        ms = int(run.arg.strip() or "0")
    except ValueError:
        ms = 0
    await ch.pause(ms / 1000.0)


async def app_hangup(ch: SimChannel, run: AppRun) -> None:
    cause = run.arg.strip().upper() or "NORMAL_CLEARING"
    ch.hangup(cause, by="application")


async def app_park(ch: SimChannel, run: AppRun) -> None:
    ch.park()


def _playback_vars(ch: SimChannel, seconds: float) -> None:
    ms = int(seconds * 1000)
    ch.set_var("playback_last_offset_pos", str(ms * 8))
    ch.set_var("playback_seconds", str(ms // 1000))
    ch.set_var("playback_ms", str(ms))
    ch.set_var("playback_samples", str(ms * 8))


async def _play(ch: SimChannel, source: str, *, hold: bool = False) -> str:
    """Play one source; returns how it ended (timeout | break | hangup | dtmf)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    terminators = ch.get_var("playback_terminators") or ""
    if terminators.lower() == "any":
        terminators = "0123456789*#"
    elif terminators.lower() == "none":
        terminators = ""
    seconds = source_seconds(source)
    while True:
        why = await ch.pause(seconds - (loop.time() - started) / ch.switch.clock.scale, on_dtmf=bool(terminators))
        if why != "dtmf":
            break
        digit = ch.dtmf.popleft()
        if digit in terminators:
            ch.set_var("playback_terminator_used", digit)
            why = "break"
            break
    played = min(seconds, (loop.time() - started) / ch.switch.clock.scale)
    _playback_vars(ch, played)
    return why


async def app_playback(ch: SimChannel, run: AppRun) -> None:
    source = run.arg.strip()
    is_hold = source.startswith("local_stream://")
    if run.internal and is_hold:
        ch.start_hold(source)
        ch.record({"from": "ivr", "kind": "hold", "text": source})
    else:
        _say_prompt(ch, source)
    why = await _play(ch, source)
    if is_hold:
        ch.stop_hold("hangup" if why == "hangup" else ("uuid_break" if why == "break" else "end"))
    if why == "hangup" or (why == "break" and ch.break_reason == "bridge"):
        _respond(ch, "PLAYBACK ERROR")
    else:
        _respond(ch, "FILE PLAYED")
    if run.internal and why == "timeout" and ch.actor is not None:
        ch.actor.on_event(ch, "broadcast_done")


async def app_speak(ch: SimChannel, run: AppRun) -> None:
    parts = run.arg.split("|", 2)
    text = parts[2] if len(parts) == 3 else run.arg
    ch.record({"from": "ivr", "kind": "say", "text": text})
    await ch.pause(speech_seconds(text))


# --------------------------------------------------------------------------- play_and_get_digits


def _ms(value: str, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


async def app_play_and_get_digits(ch: SimChannel, run: AppRun) -> None:
    """``MIN MAX TRIES TIMEOUT TERMINATORS FILE INVALID_FILE VAR REGEXP DIGIT_TIMEOUT [TRANSFER]``
    (mod_dptools ``play_and_get_digits``)."""
    argv = separate_string(run.arg, " ")
    if len(argv) < 5:
        _respond(ch, "_none_")
        if ch.call is not None:
            ch.call.errors.append(f"play_and_get_digits: bad arguments {run.arg!r}")
        return
    min_d = _ms(argv[0], 1)
    max_d = max(1, _ms(argv[1], 1))
    tries = max(1, _ms(argv[2], 1))
    timeout = _ms(argv[3], 5000) / 1000.0
    terminators = argv[4] if argv[4] != "none" else ""
    prompt = argv[5] if len(argv) > 5 else "silence_stream://250"
    invalid = argv[6] if len(argv) > 6 else ""
    var = argv[7] if len(argv) > 7 else ""
    regex = argv[8] if len(argv) > 8 else ""
    digit_timeout = _ms(argv[9], int(timeout * 1000)) / 1000.0 if len(argv) > 9 else timeout
    if var:
        ch.set_var(var, None)
    ch.set_var("read_result", None)
    slot = _slot(ch)
    for attempt in range(tries):
        ch.dtmf.clear()
        _say_prompt(ch, prompt, slot=slot)
        listen = await _listen(ch, "dtmf", prompt)
        _record_answer(ch, listen, slot)
        if listen.kind == "hangup":
            _hangup_soon(ch, "caller" if ch.role == "caller" else ch.role)
        elif listen.kind == "dtmf" and listen.text:
            _press_later(ch, listen.text, FIRST_KEY_DELAY)
        played = await _play_until_key(ch, prompt)
        if played == "hangup":
            return
        digits, terminator, why = await _collect(ch, max_d, terminators, timeout, digit_timeout)
        _listen_done(ch)
        if why == "hangup":
            return
        if terminator:
            ch.set_var("read_terminator_used", terminator)
        ok = len(digits) >= min_d and (not regex or re.fullmatch(regex, digits) is not None)
        if ok and digits:
            if var:
                ch.set_var(var, digits)
            ch.set_var("read_result", "success")
            return
        if digits and invalid and attempt < tries - 1:
            _say_prompt(ch, invalid)
            if await ch.pause(source_seconds(invalid)) == "hangup":
                return
    ch.set_var("read_result", "failure")


async def _play_until_key(ch: SimChannel, source: str) -> str:
    loop = asyncio.get_running_loop()
    started = loop.time()
    seconds = source_seconds(source)
    why = await ch.pause(seconds, on_dtmf=True)
    played = min(seconds, (loop.time() - started) / ch.switch.clock.scale)
    _playback_vars(ch, played)
    return why


async def _collect(
    ch: SimChannel, max_d: int, terminators: str, first_timeout: float, digit_timeout: float
) -> tuple[str, str, str]:
    digits = ""
    timeout = first_timeout
    while len(digits) < max_d:
        why = await ch.pause(timeout, on_dtmf=True)
        if why == "hangup":
            return digits, "", "hangup"
        if why != "dtmf":
            return digits, "", why
        digit = ch.dtmf.popleft()
        if digit in terminators:
            return digits, digit, "terminator"
        digits += digit
        timeout = digit_timeout
    return digits, "", "max"


# --------------------------------------------------------------------------- play_and_detect_speech

_PARAMS_RE = re.compile(r"^\{([^}]*)\}")


def parse_detect_arg(arg: str) -> Optional[tuple[str, str, dict[str, str], str]]:
    """``FILE detect:ENGINE {k=v,...}GRAMMAR`` -> (file, engine, params, grammar)."""
    argv = separate_string(arg, " ", 2)
    if len(argv) != 2 or not argv[1].startswith("detect:"):
        return None
    source = argv[0]
    rest = argv[1][len("detect:") :]
    engine, _, grammar = rest.partition(" ")
    grammar = grammar.strip()
    params: dict[str, str] = {}
    match = _PARAMS_RE.match(grammar)
    if match:
        for item in match.group(1).split(","):
            key, sep, value = item.partition("=")
            if sep:
                params[key.strip()] = value.strip()
        grammar = grammar[match.end() :]
    if not engine or not grammar:
        return None
    return source, engine, params, grammar


def nlsml(text: str, grammar: str, confidence: str = SPEECH_CONFIDENCE) -> str:
    return (
        f'<result><interpretation grammar="{escape(grammar, {chr(34): "&quot;"})}" confidence="{confidence}">'
        f'<input mode="speech">{escape(text)}</input></interpretation></result>'
    )


async def app_play_and_detect_speech(ch: SimChannel, run: AppRun) -> None:
    parsed = parse_detect_arg(run.arg)
    ch.set_var("detect_speech_result", None)
    if parsed is None:
        if ch.call is not None:
            ch.call.errors.append(f"play_and_detect_speech: bad arguments {run.arg!r}")
        return
    source, _engine, params, grammar = parsed
    no_input = _ms(params.get("no-input-timeout", ""), 5000) / 1000.0
    slot = _slot(ch)
    _say_prompt(ch, source, slot=slot)
    listen = await _listen(ch, "speech", source)
    _record_answer(ch, listen, slot)
    prompt_s = source_seconds(source)
    if listen.kind == "hangup":
        _hangup_soon(ch, "caller" if ch.role == "caller" else ch.role)
        await ch.pause(prompt_s + no_input)
        return
    if listen.kind == "dtmf" and listen.text:
        # The application is expected to uuid_break on the first key and read the
        # following DTMF events itself; until it does, the detection keeps running.
        _press_later(ch, listen.text, FIRST_KEY_DELAY)
        await ch.pause(prompt_s + no_input)
        _listen_done(ch)
        return
    if listen.kind == "speech" and listen.text:
        why = await ch.pause(prompt_s + speech_seconds(listen.text))
        if why == "timeout":
            result = nlsml(listen.text, grammar)
            ch.set_var("detect_speech_result", result)
            ch.fire("DETECTED_SPEECH", tail=[("Speech-Type", "detected-speech")], body=result)
        _listen_done(ch)
        return
    await ch.pause(prompt_s + no_input)
    _listen_done(ch)


async def app_record_session(ch: SimChannel, run: AppRun) -> None:
    """``record_session PATH``: FreeSWITCH attaches a media bug and returns at once;
    the simulator notes the path (no audio is written)."""
    path = run.arg.strip()
    ch.set_var("voiceai_sim_recording", path)
    ch.record({"from": "ivr", "kind": "record", "text": path})


APPLICATIONS: dict[str, AppFunc] = {
    "answer": app_answer,
    "pre_answer": app_noop,
    "ring_ready": app_noop,
    "log": app_noop,
    "info": app_noop,
    "set": app_set,
    "export": app_set,
    "multiset": app_multiset,
    "unset": app_unset,
    "sleep": app_sleep,
    "playback": app_playback,
    "speak": app_speak,
    "play_and_get_digits": app_play_and_get_digits,
    "play_and_detect_speech": app_play_and_detect_speech,
    "hangup": app_hangup,
    "park": app_park,
    "record_session": app_record_session,
}


async def run_application(ch: SimChannel, run: AppRun) -> None:
    func = APPLICATIONS[run.name]
    await func(ch, run)
