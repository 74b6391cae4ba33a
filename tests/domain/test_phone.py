"""Phone numbers as callers and admins really give them (Brazil first), spoken digits."""

from __future__ import annotations

import pytest

from voiceai_ivr.domain.phone import (
    digits_from_speech,
    is_withheld,
    last_digits,
    normalize_phone,
    readback,
    readback_groups,
)
from voiceai_ivr.errors import ValidationError

VALID = [
    # mobile, every way it is written or typed
    ("+55 11 98765-4321", "+5511987654321"),
    ("+5511987654321", "+5511987654321"),
    ("55 11 98765 4321", "+5511987654321"),
    ("5511987654321", "+5511987654321"),
    ("(11) 98765-4321", "+5511987654321"),
    ("11 98765 4321", "+5511987654321"),
    ("11987654321", "+5511987654321"),
    ("011 98765-4321", "+5511987654321"),  # trunk prefix 0
    ("0 11 98765 4321", "+5511987654321"),
    ("0 21 11 98765 4321", "+5511987654321"),  # carrier code 21 (Embratel)
    ("0 15 11 98765-4321", "+5511987654321"),  # carrier code 15 (Vivo)
    ("014 11 987654321", "+5511987654321"),  # carrier code 14 (Oi)
    ("021 21 99876-5432", "+5521998765432"),  # Rio, carrier 21
    ("(11) 8765-4321", "+5511987654321"),  # old 8-digit mobile: ninth digit added
    ("21 9876-5432", "+5521998765432"),
    ("+55 (31) 99123-4567", "+5531991234567"),
    ("  +55 11 99999-0000  ", "+5511999990000"),
    ("+55.11.99999.0000", "+5511999990000"),
    # landlines
    ("(11) 3000-0000", "+551130000000"),
    ("+55 11 3000 0000", "+551130000000"),
    ("(21) 2555-1234", "+552125551234"),
    ("0 21 21 2555-1234", "+552125551234"),
    ("(61) 3222-3333", "+556132223333"),
    ("(51) 3333-4444", "+555133334444"),
    # non-geographic
    ("0800 123 4567", "+558001234567"),
    ("0300 123 4567", "+553001234567"),
    # international
    ("+1 650 253 0000", "+16502530000"),
    ("00 21 1 650 253 0000", "+16502530000"),  # from Brazil: 00 + carrier + country
    ("+44 20 7946 0958", "+442079460958"),
    ("+351 21 234 5678", "+351212345678"),
]


@pytest.mark.parametrize(("raw", "e164"), VALID)
def test_normalize_valid(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


def test_normalize_other_region() -> None:
    assert normalize_phone("(650) 253-0000", "US") == "+16502530000"


INVALID = [
    "",
    "   ",
    "12345",
    "98765-4321",  # no area code
    "+55 11 9999;x",
    "+55 11 99999-0000,user/1000",
    "${sip_from_user}",
    "1001@demo.local",
    "+55 (11) 0000-0000",
    "+55 11 98765 4321 +1",
    "abc",
    "+55 00 98765 4321",
]


@pytest.mark.parametrize("raw", INVALID)
def test_normalize_invalid(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw, field="callback.number")
    assert info.value.field == "callback.number"


def test_missing_area_code_is_explained() -> None:
    with pytest.raises(ValidationError, match="area code"):
        normalize_phone("98765-4321")


@pytest.mark.parametrize(
    ("caller_id", "withheld"),
    [
        ("anonymous", True), ("Anonymous", True), ("unknown", True), ("private", True),
        ("Privado", True), ("restricted", True), ("", True), (None, True), ("0000000000", True),
        ("0", True), ("_undef_", True), ("  ", True),
        ("+5511987654321", False), ("1001", False), ("11987654321", False), ("Maria", False),
    ],
)
def test_is_withheld(caller_id: str, withheld: bool) -> None:
    assert is_withheld(caller_id) is withheld


SPOKEN = [
    # Portuguese, as ASR returns it
    ("onze nove nove oito sete seis cinco quatro tres dois um", "pt-BR", "119987654321"),
    ("onze nove oito sete seis cinco quatro três dois um", "pt-BR", "11987654321"),
    ("meu número é onze, nove, oito sete meia cinco, quatro três dois um", "pt-BR", "11987654321"),
    ("onze nove nove oito sete meia cinco quatro três dois um", "pt-BR", "119987654321"),
    ("vinte e um nove oito sete seis cinco quatro três dois um", "pt-BR", "21987654321"),
    ("onze noventa e oito setenta e seis cinquenta e quatro trinta e dois um", "pt-BR", "11987654321"),
    ("zero onze nove oito sete seis cinco quatro três dois um", "pt-BR", "011987654321"),
    ("um um nove oito sete seis cinco quatro três dois um", "pt-BR", "11987654321"),
    ("dois um dois cinco cinco cinco um dois três quatro", "pt-BR", "2125551234"),
    ("duplo nove oito sete", "pt-BR", "9987"),
    ("11 9 9876 5432", "pt-BR", "11998765432"),
    ("é 11 98765-4321", "pt-BR", "11987654321"),
    ("onze 9 oito sete 6 cinco 4321", "pt-BR", "11987654321"),
    ("quarenta e sete trinta e dois", "pt-BR", "4732"),
    ("cento e vinte e três", "pt-BR", "123"),
    ("oitocentos", "pt-BR", "800"),
    ("zero oitocentos cento e vinte e três quarenta e cinco sessenta e sete", "pt-BR", "08001234567"),
    ("não sei", "pt-BR", ""),
    # English
    ("eleven double nine eight seven six five four three two one", "en-US", "119987654321"),
    ("six five oh two five three oh oh oh oh", "en-US", "6502530000"),
    ("my number is six five zero, two five three, zero zero zero zero", "en-US", "6502530000"),
    ("double five one one nine eight seven six five four three two one", "en-US", "5511987654321"),
    ("triple zero", "en-US", "000"),
    ("twenty one ninety eight", "en-US", "2198"),
    ("eight hundred five five five one two one two", "en-US", "8005551212"),
    ("one eight hundred", "en-US", "1800"),
    ("it's 650 253 0000", "en-US", "6502530000"),
    ("I want to talk to someone", "en-US", ""),
    ("o", "en-US", ""),
]


@pytest.mark.parametrize(("text", "language", "digits"), SPOKEN)
def test_digits_from_speech(text: str, language: str, digits: str) -> None:
    assert digits_from_speech(text, language) == digits


def test_spoken_number_normalises() -> None:
    spoken = digits_from_speech("onze nove oito sete meia cinco quatro três dois um", "pt-BR")
    assert normalize_phone(spoken) == "+5511987654321"


def test_readback() -> None:
    assert readback("+5511987654321", "pt-BR") == "um um, nove oito sete seis cinco, quatro três dois um"
    assert readback("+551130000000", "en-US") == "one one, three zero zero zero, zero zero zero zero"
    assert readback_groups("+16502530000") == ["1", "650", "253", "0000"]
    assert readback_groups("+16502530000", "US") == ["650", "253", "0000"]
    assert readback_groups("+558001234567") == ["0800", "123", "4567"]


def test_last_digits() -> None:
    assert last_digits("+5511987654321") == "4321"
    assert last_digits("+5511987654321", 2) == "21"
    assert last_digits("+5511987654321", 0) == ""
