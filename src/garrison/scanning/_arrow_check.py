"""Check the layout of a pyarrow array before ``pyarrow.lib._restore_array`` rebuilds it.

pandas 3 keeps string columns in pyarrow arrays, and a pickled DataFrame rebuilds them with
``_restore_array((type, length, null_count, offset, buffers, children, dictionary))``,
which makes an ``ArrayData`` without validating it: offsets that point past the data
buffer make every later read copy process memory into the column (the test corpus shows
heap bytes coming back as strings). So, like a numpy dtype, every restored array must be
checkable: a string, binary or fixed-width type by alias, buffers of the right count and
size, offsets that start at or above zero, never decrease and end inside the data buffer.
Anything else (nested, dictionary or parametrised types, buffers whose bytes are not in
the pickle) cannot be checked and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BINARY_TYPES", "FIXED_WIDTH_TYPES", "arrow_problem"]

#: Alias -> width in bytes of one offset.
BINARY_TYPES: dict[str, int] = {"string": 4, "utf8": 4, "binary": 4, "large_string": 8,
                                "large_utf8": 8, "large_binary": 8}
#: Alias -> width in bytes of one value (0: one bit per value).
FIXED_WIDTH_TYPES: dict[str, int] = {
    "bool": 0, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "halffloat": 2, "float16": 2,
    "int32": 4, "uint32": 4, "float": 4, "float32": 4, "date32": 4, "date32[day]": 4,
    "time32[s]": 4, "time32[ms]": 4, "int64": 8, "uint64": 8, "double": 8, "float64": 8,
    "date64": 8, "date64[ms]": 8, "time64[us]": 8, "time64[ns]": 8,
    **{f"{kind}[{unit}]": 8 for kind in ("timestamp", "duration") for unit in ("s", "ms", "us",
                                                                               "ns")},
}
_MAX_LENGTH = 1 << 40


def _bits(n: int) -> int:
    return (n + 7) // 8


def _offsets_problem(raw: bytes, width: int, first: int, count: int, data_size: int) -> str | None:
    fmt = "<i" if width == 4 else "<q"
    import struct

    view = memoryview(raw)[first * width:(first + count) * width]
    values = [v[0] for v in struct.iter_unpack(fmt, view)]
    if values[0] < 0:
        return "the first offset is negative"
    previous = values[0]
    for value in values:
        if value < previous:
            return "the offsets decrease"
        previous = value
    if previous > data_size:
        return f"the last offset ({previous}) is past the data buffer ({data_size} bytes)"
    return None


def arrow_problem(
    data: Any,
    alias_of: Callable[[Any], str | None],
    buffer_bytes: Callable[[Any], bytes | None],
) -> str | None:
    """Why the ``_restore_array`` argument ``data`` cannot be trusted, or ``None``.

    ``alias_of`` gives the type alias of the first field (``None`` when the type is not
    a plain alias); ``buffer_bytes`` gives a buffer's bytes (``None`` when unreadable).
    """
    if type(data) is not tuple or len(data) != 7:
        return "the array data is not a (type, length, nulls, offset, buffers, children, "\
            "dictionary) tuple"
    dtype, length, null_count, offset, buffers, children, dictionary = data
    alias = alias_of(dtype)
    if alias is None or (alias not in BINARY_TYPES and alias not in FIXED_WIDTH_TYPES):
        return "the array type is not a string, binary or fixed-width type named by alias"
    if not all(type(x) is int for x in (length, null_count, offset)):
        return "length, null count and offset must be integers"
    if not (0 <= length <= _MAX_LENGTH and 0 <= offset <= _MAX_LENGTH
            and -1 <= null_count <= length):
        return "length, null count or offset is out of range"
    if type(children) not in (list, tuple) or len(children) != 0 or dictionary is not None:
        return "a flat array has no children and no dictionary"
    wanted = 3 if alias in BINARY_TYPES else 2
    if type(buffers) not in (list, tuple) or len(buffers) != wanted:
        return f"a {alias} array has {wanted} buffers"
    raw: list[bytes | None] = []
    for buffer in buffers:
        if buffer is None:
            raw.append(None)
            continue
        value = buffer_bytes(buffer)
        if value is None:
            return "a buffer's bytes are not in the pickle"
        raw.append(value)
    end = offset + length
    if raw[0] is not None and len(raw[0]) < _bits(end):
        return "the validity bitmap is shorter than the array"
    if null_count > 0 and raw[0] is None:
        return "nulls are counted but there is no validity bitmap"
    if alias in FIXED_WIDTH_TYPES:
        width = FIXED_WIDTH_TYPES[alias]
        need = _bits(end) if width == 0 else end * width
        if length and (raw[1] is None or len(raw[1]) < need):
            return f"the data buffer holds fewer than {need} bytes"
        return None
    width = BINARY_TYPES[alias]
    if raw[1] is None:
        return None if length == 0 else "a non-empty array has no offsets buffer"
    if len(raw[1]) < (end + 1) * width:
        return "the offsets buffer is shorter than the array"
    return _offsets_problem(raw[1], width, offset, length + 1, len(raw[2] or b""))
