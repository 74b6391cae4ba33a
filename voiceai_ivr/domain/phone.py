"""Phone numbers: E.164 normalisation, withheld caller ids, digits from speech,
digit-by-digit read-back.

Brazil specifics handled by ``normalize_phone`` (region ``BR``): with or without
``+55``/``55``, the trunk prefix ``0`` (``0 11 9...``), carrier selection codes
(``0 XX 11 9...``, ``00 XX 1 650...`` for international), the mobile ninth digit
(an old 8-digit mobile ``11 8765-4321`` gets its ``9``), landlines and 0800/0300.
"""

from __future__ import annotations

import re
from typing import Optional

import phonenumbers

from voiceai_ivr.domain.text import strip_accents
from voiceai_ivr.errors import ValidationError

_ALLOWED_RAW = re.compile(r"^[0-9+\-\s().\u00a0/]*$")
_WITHHELD = {
    "", "anonymous", "anonimo", "unknown", "desconhecido", "private", "privado", "restricted",
    "restrito", "unavailable", "withheld", "blocked", "bloqueado", "_undef_", "null", "none",
}


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def normalize_phone(raw: str, region: str = "BR", *, field: str = "number") -> str:
    """Return ``raw`` as E.164 (``+5511987654321``) or raise ``ValidationError``.

    Only digits and phone punctuation (space, ``+ - ( ) . /``) are accepted, so
    nothing else can ride along into a dial string."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(field, "a phone number is required")
    text = raw.strip()
    if not _ALLOWED_RAW.match(text):
        raise ValidationError(field, f"not a phone number: {raw!r}")
    if "+" in text[1:]:
        raise ValidationError(field, f"not a phone number: {raw!r}")
    digits = _digits(text)
    if len(digits) < 3 or len(digits) > 17:
        raise ValidationError(field, f"not a phone number (wrong length): {raw!r}")
    region = (region or "BR").upper()
    if text.startswith("+"):
        candidate = "+" + digits
    elif region == "BR" and digits.startswith("00") and len(digits) > 4:
        # International call from Brazil: 00 + carrier (2 digits) + country code.
        candidate = "+" + digits[4:]
    else:
        candidate = digits
    try:
        num = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field, f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_valid_number(num) and num.country_code == 55:
        num = _brazil_ninth_digit(num) or num
    if not phonenumbers.is_valid_number(num) and region == "BR" and not text.startswith("+"):
        # "55 11 98765 4321" typed without the plus.
        if digits.startswith("55") and len(digits) in (12, 13):
            try:
                alt = phonenumbers.parse("+" + digits, region)
            except phonenumbers.NumberParseException:
                alt = None
            if alt is not None and phonenumbers.is_valid_number(alt):
                num = alt
    if not phonenumbers.is_valid_number(num):
        nsn = phonenumbers.national_significant_number(num)
        if num.country_code == 55 and len(nsn) in (8, 9):
            raise ValidationError(field, f"missing area code (DDD): {raw!r}")
        raise ValidationError(field, f"not a valid phone number: {raw!r}")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _brazil_ninth_digit(num: phonenumbers.PhoneNumber) -> Optional[phonenumbers.PhoneNumber]:
    """An 8-digit mobile from before the ninth digit (DDD + [6-9]XXXXXXX): add the 9."""
    nsn = phonenumbers.national_significant_number(num)
    if len(nsn) == 10 and nsn[2] in "6789":
        fixed = phonenumbers.parse("+55" + nsn[:2] + "9" + nsn[2:], "BR")
        if phonenumbers.is_valid_number(fixed):
            return fixed
    return None


def is_withheld(caller_id: Optional[str]) -> bool:
    """True when the caller id says nothing usable: anonymous/private/unknown, empty,
    FreeSWITCH's ``_undef_``, or all zeros."""
    if caller_id is None:
        return True
    text = strip_accents(caller_id).strip().casefold()
    if text in _WITHHELD:
        return True
    digits = _digits(text)
    if text and not digits and not any(c.isalpha() for c in text):
        return True
    return bool(digits) and set(digits) == {"0"}


def last_digits(e164: str, n: int = 4) -> str:
    """The last ``n`` digits (what a prompt reads: "ending in 4321")."""
    if n <= 0:
        return ""
    return _digits(e164)[-n:]


# --------------------------------------------------------------------------- speech


_PT_UNITS = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5,
    "seis": 6, "meia": 6, "sete": 7, "oito": 8, "nove": 9,
}
_PT_TEENS = {
    "dez": 10, "onze": 11, "doze": 12, "treze": 13, "catorze": 14, "quatorze": 14, "quinze": 15,
    "dezesseis": 16, "dezasseis": 16, "dezessete": 17, "dezoito": 18, "dezenove": 19,
}
_PT_TENS = {
    "vinte": 20, "trinta": 30, "quarenta": 40, "cinquenta": 50, "cincoenta": 50, "sessenta": 60,
    "setenta": 70, "oitenta": 80, "noventa": 90,
}
_PT_HUNDREDS = {
    "cem": 100, "cento": 100, "duzentos": 200, "trezentos": 300, "quatrocentos": 400,
    "quinhentos": 500, "seiscentos": 600, "setecentos": 700, "oitocentos": 800, "novecentos": 900,
}
_PT_REPEAT = {"duplo": 2, "dobro": 2, "triplo": 3}

_EN_UNITS = {
    "zero": 0, "oh": 0, "o": 0, "nought": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}
_EN_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_EN_REPEAT = {"double": 2, "triple": 3}

# "o" is zero only next to another digit word ("five o one"), never on its own.
_EN_WEAK = {"o"}

_TOKEN_RE = re.compile(r"[a-z]+|\d+")


def digits_from_speech(text: str, language: str = "pt-BR") -> str:
    """Digits in a spoken (ASR) phrase: "onze nove nove oito sete..." -> "11 9 9 8 7".

    Portuguese: "onze" (11), "meia" (6), "dois/duas", "vinte e um" (21), "cento e
    vinte" (120), "duplo/dobro/triplo N"; English: "eleven", "oh" (0), "double nine",
    "twenty one". Numerals in the text ("11 9 9876-5432") are kept. Other words are
    ignored. Returns only digits (possibly empty)."""
    lang = (language or "pt-BR").lower()
    english = lang.startswith("en")
    words = _TOKEN_RE.findall(strip_accents(text or "").casefold())
    if english:
        units, teens, tens, hundreds, repeat = _EN_UNITS, _EN_TEENS, _EN_TENS, {}, _EN_REPEAT
    else:
        units, teens, tens, hundreds, repeat = _PT_UNITS, _PT_TEENS, _PT_TENS, _PT_HUNDREDS, _PT_REPEAT
    connector = "and" if english else "e"

    def is_number_word(w: Optional[str]) -> bool:
        if w is None:
            return False
        if w.isdigit():
            return True
        if english and w in _EN_WEAK:
            return False
        return w in units or w in teens or w in tens or w in hundreds or w in repeat or w == "hundred"

    out: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        w = words[i]
        if w.isdigit():
            out.append(w)
            i += 1
            continue
        if english and w in _EN_WEAK:
            prev_w = words[i - 1] if i > 0 else None
            next_w = words[i + 1] if i + 1 < n else None
            if is_number_word(prev_w) or is_number_word(next_w):
                out.append(str(units[w]))
            i += 1
            continue
        if w in repeat and i + 1 < n and (words[i + 1] in units or words[i + 1].isdigit()):
            nxt = words[i + 1]
            digit = nxt if nxt.isdigit() else str(units[nxt])
            out.append(digit * repeat[w])
            i += 2
            continue
        if w in hundreds:
            value = hundreds[w]
            i += 1
            value, i = _tail(words, i, value, connector, units, teens, tens)
            out.append(str(value))
            continue
        if w in tens:
            value = tens[w]
            i += 1
            j = i
            if j < n and words[j] == connector:
                j += 1
            if j < n and words[j] in units and units[words[j]] > 0 and not (english and words[j] in _EN_WEAK):
                value += units[words[j]]
                i = j + 1
            out.append(str(value))
            continue
        if w in teens:
            out.append(str(teens[w]))
            i += 1
            continue
        if w in units:
            value = units[w]
            # English "eight hundred" -> 800
            if english and i + 1 < n and words[i + 1] == "hundred":
                value *= 100
                i += 2
                value, i = _tail(words, i, value, connector, units, teens, tens)
                out.append(str(value))
                continue
            out.append(str(value))
            i += 1
            continue
        i += 1
    return "".join(out)


def _tail(
    words: list[str], i: int, value: int, connector: str,
    units: dict[str, int], teens: dict[str, int], tens: dict[str, int],
) -> tuple[int, int]:
    """After a hundreds word: "[e] vinte [e] um" / "[and] twenty one"."""
    n = len(words)
    j = i
    if j < n and words[j] == connector:
        j += 1
    if j < n and words[j] in teens:
        return value + teens[words[j]], j + 1
    if j < n and words[j] in tens:
        value += tens[words[j]]
        j += 1
        k = j
        if k < n and words[k] == connector:
            k += 1
        if k < n and words[k] in units and units[words[k]] > 0:
            return value + units[words[k]], k + 1
        return value, j
    if j < n and j > i and words[j] in units and units[words[j]] > 0:
        return value + units[words[j]], j + 1
    return value, i


# --------------------------------------------------------------------------- read-back

_SAY_PT = ("zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove")
_SAY_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def readback_groups(e164: str, region: str = "BR") -> list[str]:
    """Digit groups as a person writes the number: ["11", "98765", "4321"]; the
    country code comes first when the number is not from ``region``."""
    try:
        num = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError("number", f"not a phone number: {e164!r}") from exc
    own = phonenumbers.region_code_for_number(num) == (region or "").upper()
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [g for g in re.split(r"\D+", national) if g]
    if groups and num.country_code == 55 and groups[0] == "0" and len(groups) > 1:
        groups = groups[1:]
    if not own:
        groups = [str(num.country_code), *groups]
    return groups


def readback(e164: str, language: str = "pt-BR", *, region: str = "BR") -> str:
    """Digit by digit, grouped for speech: "um um, nove oito sete seis cinco, quatro
    três dois um". Groups are separated by commas so TTS pauses between them."""
    say = _SAY_EN if (language or "").lower().startswith("en") else _SAY_PT
    groups = readback_groups(e164, region)
    return ", ".join(" ".join(say[int(c)] for c in g) for g in groups)


__all__ = [
    "digits_from_speech",
    "is_withheld",
    "last_digits",
    "normalize_phone",
    "readback",
    "readback_groups",
]
