"""Known-answer vectors for the exact validators behind the detectors."""

from __future__ import annotations

import pytest

from garrison.privacy import validators as v

from .helpers import load_vector

VECTORS = load_vector("validators.json")
CHECKS = {
    "payment_card": v.is_payment_card,
    "iban": v.is_iban,
    "us_ssn": v.is_us_ssn,
    "email": v.is_email,
    "ipv4": v.is_ipv4,
    "ipv6": v.is_ipv6,
}


def _cases(valid: bool) -> list[tuple[str, str]]:
    key = "valid" if valid else "invalid"
    return [(name, value) for name in CHECKS for value in VECTORS[name][key]]


@pytest.mark.parametrize(("kind", "value"), _cases(True))
def test_valid_values_pass(kind: str, value: str) -> None:
    assert CHECKS[kind](value)


@pytest.mark.parametrize(("kind", "value"), _cases(False))
def test_invalid_values_fail(kind: str, value: str) -> None:
    assert not CHECKS[kind](value)


@pytest.mark.parametrize(("text", "expected"), sorted(VECTORS["parse_date"]["valid"].items()))
def test_dates_parse(text: str, expected: str) -> None:
    assert str(v.parse_date(text)) == expected


@pytest.mark.parametrize("text", VECTORS["parse_date"]["invalid"])
def test_non_dates_do_not_parse(text: str) -> None:
    assert v.parse_date(text) is None


def test_luhn_catches_every_single_digit_error() -> None:
    pan = "4111111111111111"
    for i in range(len(pan)):
        for digit in "0123456789":
            if digit != pan[i]:
                assert not v.luhn_ok(pan[:i] + digit + pan[i + 1 :])


def test_iban_mod97_catches_every_single_digit_error() -> None:
    iban = "DE89370400440532013000"
    for i in range(4, len(iban)):
        for digit in "0123456789":
            if digit != iban[i]:
                assert not v.is_iban(iban[:i] + digit + iban[i + 1 :])


def test_national_numbers_need_the_trunk_prefix_in_trunk_regions() -> None:
    # libphonenumber alone would call "301234567" a possible German number.
    assert v.phone_parse("301234567", "DE") == (False, False)
    assert v.phone_parse("030 1234567", "DE")[0]
    assert v.phone_parse("+49 30 1234567", "US")[1]
