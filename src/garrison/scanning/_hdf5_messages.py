"""Decoders of HDF5 header message bodies: what one message says, without the file around it.

:mod:`garrison.scanning._hdf5` finds an object's header messages in the file (superblock,
object headers, continuation blocks, B-trees and heaps); the functions here turn one message
body into facts: a link, a string attribute, a dataspace's element count, a filter
pipeline. They read only the bytes they are given, plus the file's sizes of offsets and
lengths; the one message that points back into the file, a variable-length string, gets
its bytes through the ``global_heap`` callback. A new message type or datatype to decode
changes this module; a new way of laying out the file changes the walker.

Layouts follow the HDF5 File Format Specification 3.0, section IV.A.2 (header messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "MSG_ATTRIBUTE",
    "MSG_ATTRIBUTE_INFO",
    "MSG_CONTINUATION",
    "MSG_EXTERNAL",
    "MSG_FILTERS",
    "MSG_LAYOUT",
    "MSG_LINK",
    "MSG_LINK_INFO",
    "MSG_SYMBOL_TABLE",
    "HDF5Error",
    "attribute_message",
    "filter_pipeline",
    "link_message",
    "uint",
    "undefined",
]

MSG_LINK, MSG_LINK_INFO, MSG_EXTERNAL, MSG_LAYOUT = 0x06, 0x02, 0x07, 0x08
MSG_FILTERS, MSG_ATTRIBUTE, MSG_CONTINUATION = 0x0B, 0x0C, 0x10
MSG_SYMBOL_TABLE, MSG_ATTRIBUTE_INFO = 0x11, 0x15
_MAX_ELEMENTS = 1_000_000

# Reads the bytes of a variable-length string: (collection address, object index, length).
GlobalHeap = Callable[[int, int, int], bytes]


class HDF5Error(Exception):
    """The structure cannot be walked (malformed, unsupported or over a cap)."""


def uint(raw: bytes, pos: int, size: int) -> int:
    """The little-endian unsigned integer of ``size`` bytes at ``pos``; raises when truncated."""
    if pos + size > len(raw):
        raise HDF5Error("a structure is truncated")
    return int.from_bytes(raw[pos:pos + size], "little")


def undefined(value: int, size: int) -> bool:
    """Whether ``value`` is the format's "undefined address" (all bits set)."""
    return value == (1 << (8 * size)) - 1


def link_message(body: bytes, osize: int) -> tuple[str, str, str]:
    """A link message as ``(name, kind, target)``: a hard link's target is its address."""
    if not body or body[0] != 1:
        raise HDF5Error("link message version is not 1")
    flags, pos = body[1], 2
    kind = 0
    if flags & 0x08:
        kind, pos = body[pos], pos + 1
    if flags & 0x04:
        pos += 8
    if flags & 0x10:
        pos += 1
    width = 1 << (flags & 0x03)
    length = uint(body, pos, width)
    pos += width
    name = body[pos:pos + length].decode("utf-8", "replace")
    pos += length
    if kind == 0:
        return name, "hard", str(uint(body, pos, osize))
    if kind == 1:
        return name, "soft", ""
    info = body[pos + 2:pos + 2 + uint(body, pos, 2)]
    if kind == 64:
        return name, "external", info[1:].split(b"\x00", 1)[0].decode("utf-8", "replace")
    return name, f"user-defined link type {kind}", ""


def attribute_message(body: bytes, osize: int, lsize: int,
                      global_heap: GlobalHeap) -> tuple[str, Any]:
    """An attribute as ``(name, value)``; the value is decoded for strings only."""
    version = body[0] if body else 0
    if version not in (1, 2, 3):
        raise HDF5Error(f"attribute message version {version}")
    flags = body[1]
    name_size, type_size, space_size = (uint(body, p, 2) for p in (2, 4, 6))
    pos = 8 + (1 if version == 3 else 0)

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = body[pos:pos + n]
        pos += (n + 7) // 8 * 8 if version == 1 else n
        return chunk

    name = take(name_size).split(b"\x00", 1)[0].decode("utf-8", "replace")
    dtype, space = take(type_size), take(space_size)
    if flags & 0x03:
        return name, None  # A shared (committed) datatype or dataspace: not decoded.
    return name, _strings(dtype, space, body[pos:], osize, lsize, global_heap)


def _count(space: bytes, lsize: int) -> int:
    version, rank, _flags = space[0], space[1], space[2]
    if version == 2 and space[3] == 0:
        return 1
    if version == 2 and space[3] == 2:
        return 0
    pos = 8 if version == 1 else 4
    total = 1
    for i in range(rank):
        total *= uint(space, pos + i * lsize, lsize)
    return total if rank else 1


def _strings(dtype: bytes, space: bytes, data: bytes, osize: int, lsize: int,
             global_heap: GlobalHeap) -> Any:
    """A string attribute's value (str, or list of str); other types give ``None``."""
    cls, size = dtype[0] & 0x0F, uint(dtype, 4, 4)
    count = _count(space, lsize)
    if count > _MAX_ELEMENTS:
        raise HDF5Error("attribute has too many elements")
    values: list[str] = []
    if cls == 3:
        for i in range(count):
            raw = data[i * size:(i + 1) * size]
            values.append(raw.split(b"\x00", 1)[0].decode("utf-8", "replace"))
    elif cls == 9 and (uint(dtype, 1, 1) & 0x0F) == 1:
        step = 4 + osize + 4
        for i in range(count):
            item = data[i * step:(i + 1) * step]
            length = uint(item, 0, 4)
            values.append(global_heap(uint(item, 4, osize), uint(item, 4 + osize, 4),
                                      length).decode("utf-8", "replace"))
    else:
        return None
    return values[0] if count == 1 and space[1] == 0 else values


def filter_pipeline(body: bytes) -> list[int]:
    """The filter ids of a filter pipeline message, in order."""
    version, count = body[0], body[1]
    pos = 8 if version == 1 else 2
    ids = []
    for _ in range(count):
        fid = uint(body, pos, 2)
        named = version == 1 or fid >= 256
        name_len = uint(body, pos + 2, 2) if named else 0
        pos += 4 if named else 2
        values = uint(body, pos + 2, 2)
        pos += 4
        pos += ((name_len + 7) // 8 * 8 if version == 1 else name_len)
        pos += 4 * values + (4 if version == 1 and values % 2 else 0)
        ids.append(fid)
    return ids
