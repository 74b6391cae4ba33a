"""What both channel adapters send to FreeSWITCH's applications, validated in one
place: the outbound-socket adapter and the mod_python3 adapter build the same
``play_and_get_digits`` / ``play_and_detect_speech`` arguments from the same
checks, so a flow behaves the same under either."""

from __future__ import annotations

import re

from voiceai_ivr.errors import ValidationError
from voiceai_ivr.switch import check_source

ENGINE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
GRAMMAR_RE = re.compile(r"^[A-Za-z0-9_:/.\-?=;&+%]{1,512}$")
SLOT_RE = re.compile(r"^[A-Za-z0-9_\-]{0,64}$")
TERMINATORS_RE = re.compile(r"^[0-9*#]{0,12}$")
APP_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Channel variable play_and_get_digits collects into.
DIGITS_VAR = "voiceai_digits"
#: Keys a DTMF result may hold.
_KEYS = frozenset("0123456789*#ABCDabcd")


def ms(seconds: float, field_name: str) -> int:
    """Seconds (0 < s <= 3600) as FreeSWITCH's milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise ValidationError(field_name, f"must be between 0 and 3600 seconds: {seconds!r}")
    return round(seconds * 1000)


def check_engine(field_name: str, value: str) -> str:
    if not ENGINE_RE.match(value or ""):
        raise ValidationError(field_name, f"not an engine/voice name: {value!r}")
    return value


def check_app(app: str) -> str:
    if not APP_RE.match(app or ""):
        raise ValidationError("app", f"not an application name: {app!r}")
    return app


def check_digit_request(min_digits: int, max_digits: int, terminators: str) -> None:
    if not (isinstance(min_digits, int) and isinstance(max_digits, int) and 0 <= min_digits <= max_digits <= 128):
        raise ValidationError("max_digits", f"need 0 <= min_digits <= max_digits <= 128: {min_digits}, {max_digits}")
    if not TERMINATORS_RE.match(terminators or ""):
        raise ValidationError("terminators", f"only digits, * and #: {terminators!r}")


def clean_digits(value: object) -> str:
    """Only the keys of a DTMF result (FreeSWITCH may hand back anything)."""
    return "".join(c for c in str(value or "") if c in _KEYS)


_DETECT_RE = re.compile(r"detect:", re.IGNORECASE)


def detect_source(source: str) -> str:
    """The file part of ``play_and_detect_speech`` exactly as FreeSWITCH reads it
    (mod_dptools ``play_and_detect_speech_function``): everything before the first
    ``detect:``, trailing blanks trimmed, passed to the file layer verbatim, so it
    is never quoted, and ``say:`` text must not contain ``detect:`` (a colon after
    the word is replaced by a blank-separated one). Commas, colons and accents in
    ``say:`` text are played as they are."""
    src = check_source(source)
    if src.startswith("say:"):
        src = "say:" + _DETECT_RE.sub(lambda m: m.group(0)[:-1] + " :", src[4:])
    elif _DETECT_RE.search(src):
        raise ValidationError("source", f"a file name cannot contain 'detect:': {src[:80]!r}")
    return src.rstrip()


def detect_speech_arg(
    source: str, *, engine: str, grammar: str, slot: str, timeout_s: float, recognition_timeout_s: float
) -> str:
    """``SOURCE detect:ENGINE {start-input-timers=false,no-input-timeout=MS,recognition-timeout=MS}GRAMMAR``
    for ``play_and_detect_speech``; every part checked (the slot too: it is set on
    the channel just before). The source is not quoted (see ``detect_source``)."""
    if not SLOT_RE.match(slot or ""):
        raise ValidationError("slot", f"not a slot name: {slot!r}")
    if not GRAMMAR_RE.match(grammar or ""):
        raise ValidationError("grammar", f"not a grammar reference: {grammar!r}")
    check_engine("listen_engine", engine)
    src = detect_source(source)
    no_input_ms = ms(timeout_s, "timeout_s")
    recognition_ms = ms(recognition_timeout_s, "recognition_timeout_s")
    # start-input-timers=false: the no-input timer starts when the prompt ends
    # (play_and_detect_speech starts it then), not while a long greeting still plays.
    return (f"{src} detect:{engine} {{start-input-timers=false,no-input-timeout={no_input_ms},"
            f"recognition-timeout={recognition_ms}}}{grammar}")
