"""A minimal protobuf wire-format walker (varint, fixed32/64, length-delimited).

Enough to read the few ONNX fields the scanner needs without the ``onnx`` package:
unknown fields are skipped by their wire type, groups (deprecated) are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["ProtobufError", "fields", "read_varint"]


class ProtobufError(ValueError):
    """The bytes are not a valid protobuf message."""


def read_varint(data: Any, pos: int, end: int) -> tuple[int, int]:
    """Decode a varint at ``pos``; return ``(value, next_pos)``."""
    value = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, a, b)`` for each field of the message in range.

    For varints ``a`` is the value; for length-delimited fields ``(a, b)`` is the payload's
    byte range; fixed-width fields yield their range too.
    """
    pos = start
    while pos < end:
        key, pos = read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, pos = read_varint(data, pos, end)
            yield number, wire, value, pos
        elif wire == 2:
            length, pos = read_varint(data, pos, end)
            if pos + length > end:
                raise ProtobufError("length-delimited field runs past its message")
            yield number, wire, pos, pos + length
            pos += length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise ProtobufError("truncated fixed-width field")
            yield number, wire, pos, pos + width
            pos += width
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
