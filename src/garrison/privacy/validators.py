"""Exact per-value validators used after the cheap regular-expression prefilter.

Each function takes one string and returns whether it is a valid instance of its
kind. They never raise on malformed input (that is the point of a validator that
runs on untrusted cells). Checksums follow their published definitions: Luhn
(ISO/IEC 7812-1 Annex B), IBAN mod-97 (ISO 13616 / ISO 7064), US SSN assignment
rules (SSA, randomization of 2011), IP addresses via the stdlib ``ipaddress``
module and telephone numbers via ``phonenumbers`` (Google libphonenumber).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re

import phonenumbers

__all__ = [
    "IBAN_LENGTHS",
    "card_network",
    "is_email",
    "is_iban",
    "is_ipv4",
    "is_ipv6",
    "is_payment_card",
    "is_us_ssn",
    "luhn_ok",
    "parse_date",
    "phone_parse",
]

# Country code -> total IBAN length (SWIFT IBAN registry, release 2024).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BI": 27,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DJ": 27,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FK": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "LY": 25,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MN": 20,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NI": 28,
    "NL": 18,
    "NO": 15,
    "OM": 23,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "RU": 33,
    "SA": 24,
    "SC": 31,
    "SD": 18,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "SO": 23,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
    "YE": 30,
}

_NON_DIGIT = re.compile(r"[^0-9]")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def luhn_ok(digits: str) -> bool:
    """Return whether a string of decimal digits passes the Luhn check."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """Name the card network of a primary account number by its issuer prefix and length."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    six = int(digits[:6]) if n >= 6 else 0
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925) and (
        16 <= n <= 19
    ):
        return "discover"
    # JCB: 3528-3589 today; the 35xx block and the legacy 15-digit 1800/2131 ranges
    # are still accepted by issuers' test suites and by Faker.
    if (two == 35 and 16 <= n <= 19) or (four in (1800, 2131) and n == 15):
        return "jcb"
    if (300 <= int(digits[:3]) <= 305 or two in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if (two in (50, 56, 57, 58, 63, 67) or four == 604) and 12 <= n <= 19:
        return "maestro"
    if two == 62 and 16 <= n <= 19:
        return "unionpay"
    return None


def is_payment_card(text: str) -> bool:
    """A 12-19 digit number (spaces or dashes allowed) with a known issuer prefix and Luhn."""
    digits = _NON_DIGIT.sub("", text)
    if not 12 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    return card_network(digits) is not None and luhn_ok(digits)


def is_iban(text: str) -> bool:
    """An IBAN of its country's registered length whose mod-97 remainder is 1."""
    compact = text.replace(" ", "").replace("-", "").upper()
    country = compact[:2]
    if IBAN_LENGTHS.get(country) != len(compact) or not compact.isalnum():
        return False
    if not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = "".join(str(int(ch, 36)) for ch in rearranged)
    except ValueError:
        return False
    return int(number) % 97 == 1


def is_us_ssn(text: str) -> bool:
    """A US Social Security number (``AAA-GG-SSSS``) that the SSA could have issued."""
    digits = _NON_DIGIT.sub("", text)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    # Numbers reserved for advertising and the famous Woolworth card.
    return digits not in ("078051120", "219099999", "123456789")


def is_email(text: str) -> bool:
    """An address ``local@domain`` within RFC 5321 lengths, with DNS-valid labels."""
    if len(text) > 254 or text.count("@") != 1:
        return False
    local, domain = text.rsplit("@", 1)
    if not 0 < len(local) <= 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    if not _EMAIL_LOCAL.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not labels[-1].isalpha() or len(labels[-1]) < 2:
        return False
    return all(_DNS_LABEL.fullmatch(label) for label in labels)


def is_ipv4(text: str) -> bool:
    """A dotted-quad IPv4 address (leading zeros are refused, as ``ipaddress`` does)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def is_ipv6(text: str) -> bool:
    """An IPv6 address in any of its textual forms (RFC 4291, RFC 5952)."""
    if ":" not in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


# Regions whose national format always starts with the trunk prefix 0.
_TRUNK_ZERO = frozenset({"GB", "DE", "FR", "NL", "AU", "AT", "CH", "BE", "IN"})


def phone_parse(text: str, region: str) -> tuple[bool, bool]:
    """Return ``(possible, valid)`` for a telephone number read in ``region``.

    Numbers written with ``+`` or ``00`` carry their own country code; the region
    only matters for national formats, and in regions with a trunk prefix a national
    number must start with 0 (libphonenumber alone accepts it without).
    """
    stripped = text.lstrip(" (")
    international = stripped.startswith(("+", "00"))
    if region in _TRUNK_ZERO and not international and not stripped.startswith("0"):
        return False, False
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False, False
    if not phonenumbers.is_possible_number(number):
        return False, False
    return True, phonenumbers.is_valid_number(number)


_ISO_DATE = re.compile(r"(\d{4})([-/]?)(\d{2})\2(\d{2})")
_DMY_DATE = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})")
_MIDNIGHT = frozenset({"00:00:00", "00:00", "00:00:00.000000", "00:00:00+00:00", "00:00:00.000"})


def _date(year: int, month: int, day: int) -> _dt.date | None:
    try:
        return _dt.date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str) -> _dt.date | None:
    """Parse a calendar date in a common format; ``None`` when none fits.

    Accepted: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``DD.MM.YYYY``,
    ``DD-MM-YYYY`` and ``MM/DD/YYYY`` (``DD/MM/YYYY`` when the month would be
    over 12). A trailing midnight time (``1980-05-01 00:00:00``, as Parquet
    timestamps print) is accepted; any other time of day means the value is an
    event, not a date.
    """
    value = text.strip()
    if len(value) > 10 and value[10] in " T":
        if value[11:].rstrip("Z") not in _MIDNIGHT:
            return None
        value = value[:10]
    match = _ISO_DATE.fullmatch(value)
    if match:
        return _date(int(match.group(1)), int(match.group(3)), int(match.group(4)))
    match = _DMY_DATE.fullmatch(value)
    if not match:
        return None
    first, sep, second, year = match.groups()
    a, b, y = int(first), int(second), int(year)
    if sep == "/":
        return _date(y, a, b) or _date(y, b, a)
    return _date(y, b, a)
