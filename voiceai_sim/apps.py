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

from voiceai_sim.args import separate_string
from voiceai_sim.channel import AppRun, Listen, SimChannel
from voiceai_sim.clock import speech_seconds, stream_seconds

AppFunc = Callable[[SimChannel, AppRun], Awaitable[None]]

KEY_SPACING = 0.25  # simulated seconds between two keys a caller presses
FIRST_KEY_DELAY = 0.4  # after the prompt starts
_TRUE = ("true", "yes", "on", "1", "enabled", "active", "allow")  # switch_true


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
    ch.slot_armed = False
    if ch.actor is None:
        return Listen("silence")
    return await ch.actor.on_listen(ch, kind, prompt)


def _listen_done(ch: SimChannel) -> None:
    done = getattr(ch.actor, "listen_done", None)
    if callable(done):
        done(ch)


def _act(ch: SimChannel, listen: Listen) -> None:
    """What the party does with its turn on the leg: hang up, or press keys during
    the prompt (speech is the recogniser's business; silence does nothing)."""
    if listen.kind == "hangup":
        _hangup_soon(ch, "caller" if ch.role == "caller" else ch.role)
    elif listen.kind == "dtmf" and listen.text:
        _press_later(ch, listen.text, FIRST_KEY_DELAY)


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
    """``sleep MS``: a key ends it early and stays queued (``switch_ivr_sleep`` with
    empty input args); with ``sleep_eat_digits`` keys are read as playback reads them."""
    try:
        ms = int(run.arg.strip() or "0")
    except ValueError:
        ms = 0
    if (ch.get_var("sleep_eat_digits") or "").lower() in _TRUE:
        ch.set_var("playback_terminator_used", None)
        await _play(ch, f"silence_stream://{max(1, ms)}", playback_terminators(ch, default="*"))
        return
    await ch.pause(ms / 1000.0, on_dtmf=True)


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


def playback_terminators(ch: SimChannel, *, default: str) -> str:
    """The keys that end a prompt (``playback_terminators``): ``any`` is
    ``1234567890*#``, ``none`` nothing. Unset: ``*`` for playback and speak
    (mod_dptools ``on_dtmf``), nothing for play_and_detect_speech."""
    value = ch.get_var("playback_terminators")
    if value is None:
        return default
    if value.lower() == "any":
        return "1234567890*#"
    if value.lower() == "none":
        return ""
    return value


def playable(source: str) -> bool:
    """Whether the file layer can open ``source``. The simulator has no sound
    files, so any path is taken to exist, except what FreeSWITCH can never open: an
    empty name, or one in quotes (the quotes are part of the name: ``'say:Olá'``
    is a file ``'say:Olá'`` under the sound prefix, "Invalid file format")."""
    return bool(source) and source[0] not in "'\""


async def _play(ch: SimChannel, source: str, terminators: str) -> str:
    """Play one source for its length (``switch_ivr_play_file`` with mod_dptools'
    ``on_dtmf``): every key that arrives is read (its DTMF event is sent); one of
    ``terminators`` ends the playback. Returns timeout | break | hangup | terminator."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    seconds = source_seconds(source)
    while True:
        why = await ch.pause(seconds - (loop.time() - started) / ch.switch.clock.scale, on_dtmf=True)
        if why != "dtmf":
            break
        digit = ch.take_dtmf()
        if digit is not None and digit in terminators:
            ch.set_var("playback_terminator_used", digit)
            why = "terminator"
            break
    played = min(seconds, (loop.time() - started) / ch.switch.clock.scale)
    _playback_vars(ch, played)
    return why


def _listens_to_playback(ch: SimChannel, slot: str) -> bool:
    """A ``playback`` is a listen turn when the party behind the leg takes it as one:
    the scripted caller on the first prompt after ``voiceai_slot`` was set (a keyed
    turn; a prompt that follows a listen while the variable is still set is just a
    prompt), an agent on the announcement it is asked about."""
    check = getattr(ch.actor, "listens_to_playback", None)
    return bool(callable(check) and check(ch, slot))


async def app_playback(ch: SimChannel, run: AppRun) -> None:
    """``playback SOURCE`` (mod_dptools ``playback_function``). ``local_stream://``
    is music on hold (never ends by itself: stopped by ``uuid_break``, a key in
    ``playback_terminators``, a bridge or the hangup). While ``voiceai_slot`` is set
    a prompt is a keyed listen turn of the scripted caller: ``dtmf`` keys are pressed
    during it (the first one ends it through ``playback_terminators``), ``say`` is
    heard by nobody (no speech recognition runs), ``hangup`` hangs up."""
    source = run.arg.strip()
    ch.set_var("playback_terminator_used", None)
    if not playable(source):
        _respond(ch, "PLAYBACK ERROR" if not source else "FILE NOT FOUND")
        return
    is_hold = source.startswith("local_stream://")
    slot = _slot(ch)
    listen: Optional[Listen] = None
    if is_hold:
        ch.start_hold(source)
        ch.record({"from": "ivr", "kind": "hold", "text": source})
    elif _listens_to_playback(ch, slot):
        _say_prompt(ch, source, slot=slot)
        listen = await _listen(ch, "dtmf", source)
        _record_answer(ch, listen, slot)
        _act(ch, listen)
    else:
        _say_prompt(ch, source)
    why = await _play(ch, source, playback_terminators(ch, default="*"))
    if is_hold:
        reason = {"hangup": "hangup", "terminator": "dtmf", "timeout": "end"}.get(why, "")
        ch.stop_hold(reason or ("bridge" if ch.break_reason == "bridge" else "uuid_break"))
    if why == "hangup" or (why == "break" and ch.break_reason == "bridge"):
        _respond(ch, "PLAYBACK ERROR")
    else:
        _respond(ch, "FILE PLAYED")
    if listen is not None:
        _listen_done(ch)
    if run.internal and why == "timeout" and ch.actor is not None:
        ch.actor.on_event(ch, "broadcast_done")


async def app_speak(ch: SimChannel, run: AppRun) -> None:
    """``speak [ENGINE|VOICE|]TEXT``: the text for its length; keys as playback."""
    parts = run.arg.split("|", 2)
    text = parts[-1]
    ch.set_var("playback_terminator_used", None)
    ch.record({"from": "ivr", "kind": "say", "text": text})
    why = await _play(ch, "say:" + text, playback_terminators(ch, default="*"))
    if why == "hangup":
        _respond(ch, "PLAYBACK ERROR")


# --------------------------------------------------------------------------- play_and_get_digits


def _ms(value: str, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


async def app_play_and_get_digits(ch: SimChannel, run: AppRun) -> None:
    """``MIN MAX TRIES TIMEOUT TERMINATORS FILE INVALID_FILE VAR REGEXP DIGIT_TIMEOUT [TRANSFER]``
    (mod_dptools ``play_and_get_digits``). Keys already waiting (type-ahead) count."""
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
        _say_prompt(ch, prompt, slot=slot)
        listen = await _listen(ch, "dtmf", prompt)
        _record_answer(ch, listen, slot)
        _act(ch, listen)
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
        digit = ch.take_dtmf() or ""
        if digit in terminators:
            return digits, digit, "terminator"
        digits += digit
        timeout = digit_timeout
    return digits, "", "max"


# --------------------------------------------------------------------------- play_and_detect_speech

_PARAMS_RE = re.compile(r"^\{([^}]*)\}")
_C_SPACE = " \t\n\v\f\r"  # switch_isspace
ASR_CONFIDENCE = 87.3  # mod_test's default (0-100)
ASR_END_SILENCE = 0.7  # simulated seconds of silence that end an utterance (the kit's VAD)


def parse_detect_arg(arg: str) -> Optional[tuple[str, str, str]]:
    """``FILE detect:ENGINE GRAMMAR`` as mod_dptools ``play_and_detect_speech_function``
    reads it -> (file, engine, grammar), or None for "USAGE ERROR". The file is
    everything before the first ``detect:`` with trailing blanks trimmed, verbatim
    (quotes are part of it); the rest is split once on blanks
    (``switch_separate_string``)."""
    at = arg.find("detect:")
    if not arg or at < 0:
        return None
    source = arg[:at].rstrip(_C_SPACE)
    rest = arg[at + len("detect:") :]
    if not rest:
        return None
    argv = separate_string(rest, " ", 2)
    if len(argv) != 2:
        return None
    return source, argv[0], argv[1]


def split_grammar(grammar: str) -> tuple[dict[str, str], str]:
    """``{k=v,...}GRAMMAR`` -> (params, grammar) (``switch_core_asr_load_grammar``)."""
    params: dict[str, str] = {}
    match = _PARAMS_RE.match(grammar)
    if match:
        for item in match.group(1).split(","):
            key, sep, value = item.partition("=")
            if sep:
                params[key.strip()] = value.strip()
        grammar = grammar[match.end() :]
    return params, grammar


def _json_text(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def _xml_text(text: str) -> str:
    table = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
    return "".join(table.get(c, " " if ord(c) < 0x20 and c not in "\t\n\r" else c) for c in text)


def asr_result(fmt: str, text: str, grammar: str, confidence: float = ASR_CONFIDENCE) -> str:
    """What an ASR module hands back for recognised speech, byte for byte as the
    FreeSWITCH kit's scriptable test module writes it: ``json`` is mod_test's object
    (confidence 0-100, ``%f``), ``nlsml`` mod_unimrcp's NLSML (MRCPv2 0-1, ``%g``)."""
    if fmt == "nlsml":
        t = _xml_text(text)
        return (
            f'<?xml version="1.0"?><result><interpretation grammar="{_xml_text(grammar)}" '
            f'confidence="{confidence / 100.0:g}"><input mode="speech">{t}</input><instance>{t}</instance>'
            "</interpretation></result>"
        )
    return f'{{"grammar": "{_json_text(grammar)}", "text": "{_json_text(text)}", "confidence": {confidence:f}}}'


def asr_no_input(fmt: str, grammar: str) -> str:
    """The no-input result: mod_unimrcp's ``Completion-Cause: 002`` (RECOGNITION-COMPLETE
    without a body), or mod_test's JSON error object."""
    if fmt == "nlsml":
        return "Completion-Cause: 002"
    return f'{{"grammar": "{_json_text(grammar)}", "text": "", "confidence": 0, "error": "no_input"}}'


def _result_style(ch: SimChannel, engine: str) -> tuple[str, float]:
    """(format, confidence) of this leg's results: the scenario's / switch's format;
    the ``test`` engine also reads mod_test's ``test_asr_format`` and
    ``test_asr_confidence`` channel variables, as the kit's module does."""
    fmt = ch.switch.asr_format_for(ch)
    confidence = ASR_CONFIDENCE
    if engine == "test":
        wanted = (ch.get_var("test_asr_format") or "").lower()
        if wanted in ("json", "nlsml"):
            fmt = wanted
        try:
            value = float(ch.get_var("test_asr_confidence") or "")
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 100.0:
            confidence = value
    return fmt, confidence


def _fire_speech(ch: SimChannel, speech_type: str, body: str = "") -> None:
    """DETECTED_SPEECH reaches event listeners only with ``fire_asr_events=true``
    (``SWITCH_ASR_FLAG_FIRE_EVENTS``); otherwise the application alone consumes it."""
    if (ch.get_var("fire_asr_events") or "").lower() in _TRUE:
        ch.fire("DETECTED_SPEECH", tail=[("Speech-Type", speech_type)], body=body)


async def app_play_and_detect_speech(ch: SimChannel, run: AppRun) -> None:
    """``FILE detect:ENGINE {params}GRAMMAR`` (mod_dptools / ``switch_ivr_play_and_detect_speech``).

    Application-Response: ``USAGE ERROR`` (argument), ``ASR INIT ERROR`` (engine not
    loaded: at once, nothing played), ``GRAMMAR ERROR`` (empty grammar), ``ERROR``
    (the file cannot be played: at once), else ``DONE`` with ``detect_speech_result``
    the engine's result (speech), its no-input result, or ``DIGIT: K`` when a key in
    ``playback_terminators`` ended it. The no-input timer runs from the start of
    recognition (during the prompt: a longer prompt is cut) unless
    ``start-input-timers=false``, then from the prompt's end. ``uuid_break`` cuts the
    prompt only; recognition goes on."""
    ch.set_var("detect_speech_result", None)
    parsed = parse_detect_arg(run.arg)
    if parsed is None:
        _respond(ch, "USAGE ERROR")
        return
    source, engine, grammar_spec = parsed
    if engine not in ch.switch.asr_engines_for(ch):
        _respond(ch, "ASR INIT ERROR")  # switch_core_asr.c: Invalid ASR module [ENGINE]
        return
    params, grammar = split_grammar(grammar_spec)
    if not grammar:
        _respond(ch, "GRAMMAR ERROR")
        return
    if not playable(source):
        _respond(ch, "ERROR")
        return
    fmt, confidence = _result_style(ch, engine)
    no_input = _ms(params.get("no-input-timeout", ""), 5000) / 1000.0
    timers_at_start = params.get("start-input-timers", "true").lower() in _TRUE
    prompt_s = source_seconds(source)
    no_input_at = (0.0 if timers_at_start else prompt_s) + no_input
    slot = _slot(ch)
    _say_prompt(ch, source, slot=slot)
    listen = await _listen(ch, "speech", source)
    speech = ""
    if listen.kind == "speech" and listen.text and prompt_s >= no_input_at:
        # The recogniser gives up before the caller's turn comes: they speak at the
        # next listen.
        put_back = getattr(ch.actor, "put_back", None)
        if callable(put_back):
            put_back(ch)
    else:
        _record_answer(ch, listen, slot)
        if listen.kind == "speech" and listen.text:
            speech = listen.text
        _act(ch, listen)
    loop = asyncio.get_running_loop()
    started = loop.time()

    def elapsed() -> float:
        return (loop.time() - started) / ch.switch.clock.scale

    prompt_end = prompt_s  # earlier when uuid_break cuts the prompt

    def result_at() -> float:
        """When the recogniser answers: after the caller's words (they start when
        the prompt ends, and stop the no-input timer), else at no-input; timers not
        started with recognition start when the prompt ends (play_and_detect_speech
        calls start_input_timers then)."""
        if speech:
            return prompt_end + speech_seconds(speech) + ASR_END_SILENCE
        return (0.0 if timers_at_start else prompt_end) + no_input

    result: Optional[str] = None
    spoke = False
    while result is None:
        if speech and not spoke and elapsed() >= prompt_end:
            spoke = True
            _fire_speech(ch, "begin-speaking")
        until = result_at() if spoke or not speech else prompt_end
        why = await ch.pause(until - elapsed(), on_dtmf=True)
        if why == "hangup" or (why == "break" and ch.break_reason == "bridge"):
            _playback_vars(ch, min(prompt_end, elapsed()))
            _respond(ch, "ERROR")
            _listen_done(ch)
            return
        if why == "break":  # uuid_break: the prompt stops, recognition goes on
            prompt_end = min(prompt_end, elapsed())
        elif why == "dtmf":
            digit = ch.take_dtmf()
            if digit is not None and digit in playback_terminators(ch, default=""):
                ch.set_var("playback_terminator_used", digit)
                result = f"DIGIT: {digit}"
        elif speech and not spoke:
            continue  # the caller starts speaking
        elif speech:
            result = asr_result(fmt, speech, grammar, confidence)
            _fire_speech(ch, "detected-speech", result)
        else:
            result = asr_no_input(fmt, grammar)
            _fire_speech(ch, "detected-speech", result)
    _playback_vars(ch, min(prompt_end, elapsed()))
    ch.set_var("detect_speech_result", result)
    _respond(ch, "DONE")
    _listen_done(ch)


async def app_record_session(ch: SimChannel, run: AppRun) -> None:
    """``record_session PATH``: FreeSWITCH attaches a media bug and returns at once;
    the simulator notes the path (no audio is written)."""
    path = run.arg.strip()
    ch.set_var("voiceai_sim_recording", path)
    ch.record({"from": "ivr", "kind": "record", "text": path})


async def app_record(ch: SimChannel, run: AppRun) -> None:
    """``record PATH [LIMIT] [THRESH] [SILENCE_S]`` (mod_dptools ``record``). Minimal:
    the simulator carries no audio, so nobody speaks into it and it writes no file.
    It lasts the silence window (``SILENCE_S``, 3 s when only a threshold is given,
    else ``LIMIT``), a key in ``playback_terminators`` ends it early (left in
    ``playback_terminator_used``); ``record_samples`` is 0 (nothing recorded)."""
    argv = separate_string(run.arg, " ")
    limit = _ms(argv[1].lstrip("+"), 0) if len(argv) > 1 else 0
    thresh = _ms(argv[2], 0) if len(argv) > 2 else 0
    silence = _ms(argv[3], 0) if len(argv) > 3 else (3 if thresh else 0)
    seconds = min([x for x in (limit, silence) if x > 0] or [1])
    ch.set_var("playback_terminator_used", "")
    ch.record({"from": "ivr", "kind": "record", "text": argv[0] if argv else ""})
    why = await _play(ch, f"silence_stream://{seconds * 1000}", playback_terminators(ch, default="*"))
    for name in ("record_ms", "record_samples"):
        ch.set_var(name, "0")
    ch.set_var("silence_hits_exhausted", "true" if why == "timeout" and silence else "false")


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
    "record": app_record,
}


async def run_application(ch: SimChannel, run: AppRun) -> None:
    func = APPLICATIONS[run.name]
    await func(ch, run)
