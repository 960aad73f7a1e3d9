"""Decoding of pickle opcode arguments from a buffer, bounds-checked, without copying big data.

The VM (:mod:`garrison.scanning._pickle_vm`) owns what opcodes do to the stack, the memo and
the security tracking; this module owns how their arguments are encoded. ``literal`` decodes
the literal opcodes that the VM's loop hands over whole: the text protocol's (INT, LONG,
FLOAT, STRING, UNICODE, BINSTRING, SHORT_BINSTRING) and the long integers (LONG1, LONG4).
The frequent binary literals stay inline in the loop, where a call per opcode would cost.
"""

from __future__ import annotations

import codecs
import struct
from typing import Any

from garrison.scanning._pickle_values import BIGINT, TEXT, Malformed

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




# The literal opcodes the VM hands to ``literal``: the text protocol's, and the long
# integers'. The frequent binary literals (BININT*, BINFLOAT, BINUNICODE, ...) stay inline
# in the VM's loop.
LITERAL_OPCODES = frozenset(b"\x8a\x8bILFSTUV")


def literal(op: int, data: Any, pos: int, end: int, start: int) -> tuple[Any, int]:
    """The value a literal opcode pushes and the offset after its argument.

    ``pos`` is just past the opcode byte at ``start``; ``op`` is one of ``LITERAL_OPCODES``.
    Strings over the text cap become ``TEXT``, integers over 64 bytes ``BIGINT``.
    """
    if op == 0x8A:  # LONG1
        stop = _need(pos + 1, data[pos], end)
        return int.from_bytes(data[pos + 1 : stop], "little", signed=True), stop
    if op == 0x8B:  # LONG4
        _need(pos, 4, end)
        n = _i32(data, pos)[0]
        stop = _need(pos + 4, n, end)
        if n > 64:
            return BIGINT, stop
        return int.from_bytes(data[pos + 4 : stop], "little", signed=True), stop
    if op == 0x54 or op == 0x55:  # BINSTRING, SHORT_BINSTRING
        if op == 0x54:
            _need(pos, 4, end)
            n, pos = _i32(data, pos)[0], pos + 4
        else:
            n, pos = data[pos], pos + 1
        stop = _need(pos, n, end)
        return (TEXT if n > _TEXT_LIMIT else bytes(data[pos:stop]).decode("latin-1")), stop
    raw, pos = _line(data, pos, end)
    if op == 0x49 or op == 0x4C:  # INT, LONG
        if op == 0x49 and raw in (b"00", b"01"):
            return raw == b"01", pos
        return _int_line(raw, start, 0), pos
    if op == 0x46:  # FLOAT
        try:
            return float(raw), pos
        except ValueError as exc:
            raise Malformed("bad float literal", start) from exc
    if op == 0x53:  # STRING
        return _quoted(raw, start), pos
    try:  # UNICODE
        return raw.decode("raw-unicode-escape"), pos
    except UnicodeDecodeError as exc:
        raise Malformed("bad UNICODE escape", start) from exc
