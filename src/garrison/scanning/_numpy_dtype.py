"""Statically check numpy dtypes rebuilt inside pickles.

numpy rebuilds a dtype as ``numpy.dtype(typestr, align, copy)`` followed by BUILD with a
state tuple ``(version, byteorder, subarray, names, fields, elsize, alignment, flags[,
metadata])``. numpy trusts that state: an ``'O'`` dtype whose flags lack the object bits
makes ``ndarray.__setstate__`` and ``scalar()`` read raw pickle bytes as ``PyObject*``
(memory corruption, demonstrated by the test corpus), and a flexible dtype's ``elsize``
silently overrides its type string. Joblib also needs the exact item size to know where
the pickle resumes after an array's bytes. So every dtype state must agree with its type
string; anything we cannot reproduce exactly is refused.
"""

from __future__ import annotations

import re
from typing import Any

from garrison.scanning._pickle_vm import Obj

__all__ = ["DTYPE", "dtype_layout"]

DTYPE = "numpy.dtype"
_TYPESTR = re.compile(r"^([biufcMmOSUVa])(\d*)$")
_FIXED = frozenset("biufcMm")
_MAX_DEPTH = 16
# NPY_ITEM_REFCOUNT | NPY_LIST_PICKLE, and NPY_ITEM_IS_POINTER on top for the "no" side.
_OBJECT_BITS = 0x03
_POINTER_BITS = 0x07


def _ints(shape: Any) -> tuple[int, ...] | None:
    if type(shape) not in (tuple, list):
        return None
    if not all(isinstance(x, int) and x >= 0 for x in shape):
        return None
    return tuple(int(x) for x in shape)


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for x in shape:
        total *= x
    return total


def dtype_layout(value: Any, depth: int = 0) -> tuple[int, bool] | None:
    """Return ``(itemsize, has_objects)`` of a rebuilt dtype, or ``None`` when the dtype is
    not a ``numpy.dtype`` call with a state we can reproduce exactly."""
    if depth > _MAX_DEPTH or type(value) is not Obj or value.callee is None:
        return None
    if value.callee.key != DTYPE or type(value.args) is not tuple or not value.args:
        return None
    typestr = value.args[0]
    match = _TYPESTR.match(typestr) if type(typestr) is str else None
    if match is None:
        return None
    kind, digits = match.group(1), match.group(2)
    if kind == "O":
        size, has_objects = 8, True
    elif not digits or int(digits) <= 0:
        return None
    else:
        size, has_objects = int(digits) * (4 if kind == "U" else 1), False
    state = value.state
    if state is None:
        return size, has_objects
    if type(state) is not tuple or len(state) not in (8, 9) or state[0] not in (3, 4):
        return None
    subarray, names, fields, elsize, flags = state[2], state[3], state[4], state[5], state[7]
    if not isinstance(elsize, int) or not isinstance(flags, int):
        return None
    if names is not None or fields is not None:
        if kind != "V" or type(names) is not tuple or type(fields) is not dict:
            return None
        for field_name in names:
            spec = fields.get(field_name) if isinstance(field_name, str) else None
            if type(spec) is not tuple or len(spec) not in (2, 3):
                return None
            inner = dtype_layout(spec[0], depth + 1)
            offset = spec[1]
            if inner is None or not isinstance(offset, int) or offset < 0:
                return None
            if offset + inner[0] > size:
                return None
            has_objects = has_objects or inner[1]
    if subarray is not None:
        if kind != "V" or type(subarray) is not tuple or len(subarray) != 2:
            return None
        base, shape = dtype_layout(subarray[0], depth + 1), _ints(subarray[1])
        if base is None or shape is None or base[0] * _product(shape) != size:
            return None
        has_objects = has_objects or base[1]
    if kind in _FIXED or kind == "O":
        if elsize != -1:
            return None
    elif elsize != size:
        return None
    if has_objects:
        if flags & _OBJECT_BITS != _OBJECT_BITS:
            return None
    elif flags & _POINTER_BITS:
        return None
    return size, has_objects
