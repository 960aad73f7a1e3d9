"""Decoding of pickle opcode arguments from a buffer, bounds-checked, without copying big data."""

from __future__ import annotations

import codecs
import struct
from typing import Any

from garrison.scanning._pickle_values import TEXT, Malformed

_TEXT_LIMIT = 1 << 16

_u16 = struct.Struct("<H").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from
_f64 = struct.Struct(">d").unpack_from

def _line(data: Any, pos: int, end: int) -> tuple[bytes, int]:
    nl = data.find(b"\n", pos, end)
    if nl < 0:
        raise Malformed("unterminated text argument", pos)
    return bytes(data[pos:nl]), nl + 1


def _need(pos: int, n: int, end: int) -> int:
    stop = pos + n
    if n < 0 or stop > end:
        raise Malformed("argument runs past the end of the data", pos)
    return stop


def _text(data: Any, pos: int, stop: int) -> Any:
    if stop - pos > _TEXT_LIMIT:
        return TEXT
    try:
        return str(data[pos:stop], "utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise Malformed("invalid UTF-8 in a text argument", pos) from exc


def _quoted(raw: bytes, offset: int) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[:1] in (b"'", b'"'):
        try:
            return codecs.escape_decode(raw[1:-1])[0].decode("latin-1")
        except ValueError as exc:
            raise Malformed("bad STRING escape", offset) from exc
    raise Malformed("the STRING opcode argument must be quoted", offset)


def _int_line(raw: bytes, offset: int, base: int = 10) -> int:
    text = raw[:-1] if raw.endswith(b"L") else raw
    for attempt in (base, 10):
        try:
            return int(text, attempt)
        except ValueError:
            continue
    raise Malformed("bad integer literal", offset)


