"""numpy ``.npy`` files (``.npz`` members arrive here through the zip scanner).

The header is a Python literal parsed with :func:`ast.literal_eval` (as numpy does) under a
size cap. Plain arrays carry only bytes: their size must match the header exactly. Object
arrays carry a pickle (written by ``np.save`` and read by ``np.load(allow_pickle=True)``
with an unrestricted unpickler): that pickle is scanned against the allow-list.
"""

from __future__ import annotations

import ast
import re
import struct
from typing import Any

from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.pickle_scan import scan_pickle_stream
from garrison.scanning.registry import ScannerInfo

__all__ = ["NpyScanner", "descr_layout"]

MAGIC = b"\x93NUMPY"
_MAX_HEADER = 1 << 16
_MAX_DEPTH = 16
_TYPESTR = re.compile(r"^[<>|=]?([biufcSUVaOMm])(\d*)(\[[A-Za-z0-9]+\])?$")
_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from


def _shape(value: Any) -> tuple[int, ...] | None:
    if type(value) is not tuple or not all(type(x) is int and x >= 0 for x in value):
        return None
    return value


def descr_layout(descr: Any, depth: int = 0) -> tuple[int, bool] | None:
    """``(itemsize, has_objects)`` of a .npy ``descr``, or ``None`` if it is not understood."""
    if depth > _MAX_DEPTH:
        return None
    if type(descr) is str:
        match = _TYPESTR.match(descr)
        if match is None:
            return None
        kind, digits = match.group(1), match.group(2)
        if kind == "O":
            return 8, True
        if not digits or int(digits) <= 0:
            return None
        return int(digits) * (4 if kind == "U" else 1), False
    if type(descr) is not list or not descr:
        return None
    total, objects = 0, False
    for field in descr:
        if type(field) is not tuple or len(field) not in (2, 3):
            return None
        inner = descr_layout(field[1], depth + 1)
        shape = _shape(field[2]) if len(field) == 3 else ()
        if inner is None or shape is None:
            return None
        count = 1
        for dim in shape:
            count *= dim
        total += inner[0] * count
        objects = objects or inner[1]
    return total, objects


class NpyScanner:
    """numpy's ``.npy`` format."""

    info = ScannerInfo(
        name="npy",
        description="Parses the .npy header safely; checks plain arrays' sizes and scans the "
        "pickle inside object arrays.",
        recognises="\\x93NUMPY magic",
        priority=10,
        extensions=(".npy",),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return bytes(data[:6]) == MAGIC

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        header = self._header(data, ctx)
        if header is None:
            return "npy"
        start, shape, layout = header
        if layout[1]:
            scan_pickle_stream(data, ctx.nested(), loader="pickle", buffers=False, start=start,
                               legacy_torch=False)
            return "npy"
        count = 1
        for dim in shape:
            count *= dim
        expected, actual = count * layout[0], len(data) - start
        if actual < expected:
            ctx.add("npy-bad-header", f"array data is truncated ({actual} of {expected} bytes)")
        elif actual > expected:
            ctx.add("npy-trailing-data", f"{actual - expected} bytes follow the array data",
                    offset=start + expected)
        return "npy"

    @staticmethod
    def _header(
        data: Buffer, ctx: ScanContext
    ) -> tuple[int, tuple[int, ...], tuple[int, bool]] | None:
        major = data[6] if len(data) > 7 else 0
        if major == 1 and len(data) >= 10:
            length, start = _u16(data, 8)[0], 10
        elif major in (2, 3) and len(data) >= 12:
            length, start = _u32(data, 8)[0], 12
        else:
            ctx.add("npy-bad-header", "unknown .npy version or truncated preamble")
            return None
        if length > _MAX_HEADER or start + length > len(data):
            ctx.add("npy-bad-header", f"header length {length} is out of bounds")
            return None
        raw = bytes(data[start : start + length])
        try:
            text = raw.decode("utf-8" if major == 3 else "latin-1")
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError,
                UnicodeDecodeError) as exc:
            ctx.add("npy-bad-header", f"header is not a Python literal ({type(exc).__name__})")
            return None
        if type(parsed) is not dict or set(parsed) != {"descr", "fortran_order", "shape"}:
            ctx.add("npy-bad-header", "header keys are not descr, fortran_order, shape")
            return None
        shape = _shape(parsed["shape"])
        layout = descr_layout(parsed["descr"])
        if shape is None or type(parsed["fortran_order"]) is not bool or layout is None:
            ctx.add("npy-bad-header", "header values are not a valid shape, order and dtype")
            return None
        return start + length, shape, layout
