"""The literal opcodes the static VM decodes apart (``_pickle_args.literal``), checked against
CPython's own unpickler on the same bytes, and attacked with malformed arguments."""

from __future__ import annotations

import pickle
import struct

import pytest

from garrison.scanning._pickle_args import LITERAL_OPCODES, literal
from garrison.scanning._pickle_values import BIGINT, TEXT, Malformed

VALID = [
    b"I42\n", b"I-7\n", b"I01\n", b"I00\n", b"L12345678901234567890L\n", b"L-3\n",
    b"F2.5\n", b"F-0.0\n", b"S'abc'\n", b'S"a\\nb"\n', b"Vcaf\\u00e9\n",
    b"U\x03abc", b"T" + struct.pack("<i", 2) + b"hi",
    b"\x8a\x01\x7f", b"\x8a\x02\x00\x80", b"\x8a\x00",
    b"\x8b" + struct.pack("<i", 3) + b"\x01\x02\x03",
]


@pytest.mark.parametrize("raw", VALID)
def test_a_literal_decodes_as_cpython_decodes_it(raw: bytes) -> None:
    assert raw[0] in LITERAL_OPCODES
    data = raw + b"."
    value, after = literal(data[0], data, 1, len(data), 0)
    assert after == len(raw)
    expected = pickle.loads(data, encoding="latin-1")
    assert value == expected and type(value) is type(expected)


def test_oversized_values_become_placeholders_without_being_decoded() -> None:
    big = b"\x8b" + struct.pack("<i", 65) + b"\x01" * 65
    assert literal(big[0], big, 1, len(big), 0) == (BIGINT, len(big))
    text = b"T" + struct.pack("<i", (1 << 16) + 1) + b"a" * ((1 << 16) + 1)
    assert literal(text[0], text, 1, len(text), 0) == (TEXT, len(text))


@pytest.mark.parametrize("raw", [
    b"Inot-a-number\n", b"F1.2.3\n", b"Sabc\n", b"S'unterminated\n", b"V\\u12\n",
    b"I42",  # No newline: the text argument never ends.
    b"U\x09abc",  # A length past the end of the data.
    b"T" + struct.pack("<i", -1),  # A negative length.
    b"\x8b" + struct.pack("<i", 1000) + b"\x01",
    b"\x8a\x05\x01",
])
def test_a_malformed_literal_is_refused(raw: bytes) -> None:
    with pytest.raises(Malformed):
        literal(raw[0], raw, 1, len(raw), 0)
