"""Argument checks of the guarded allow-list entries, statically (the scanner) and at load
time (the restricted unpickler).

A guarded entry is a callable that would be a gadget with arbitrary arguments but that real
pickles call in one fixed form:

``getattr``   ``getattr(zoneinfo.ZoneInfo, '_unpickle')``: Python's pickling of that
              classmethod. Anything else (``getattr(os, 'system')``) is refused.
``zoneinfo``  ``ZoneInfo._unpickle(key, from_cache)``: ``key`` a plain relative IANA name,
              ``from_cache`` 0 or 1.
``ufunc``     numpy 1.x's ``_ufunc_reconstruct(module, name)`` (import + getattr): only
              ``('numpy', <ufunc on the list>)``.
``arrow``     ``pyarrow.lib._restore_array(data)``: see :mod:`_arrow_check`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from garrison.errors import ArtifactRefused
from garrison.scanning._allow_libs import NUMPY_UFUNCS
from garrison.scanning._arrow_check import arrow_problem
from garrison.scanning._pickle_values import Global, Obj, describe

__all__ = ["RUNTIME_GUARDS", "static_guard"]

_ZONE_KEY = re.compile(r"^[A-Za-z0-9_+-]{1,40}(/[A-Za-z0-9_+-]{1,40}){0,3}$")
_UFUNC_MODULES = frozenset({"numpy", "numpy.core.umath", "numpy._core.umath"})
ZONEINFO_UNPICKLE = Global("zoneinfo", "ZoneInfo._unpickle", True, "guarded", "zoneinfo")


def _zone_key_ok(key: Any) -> bool:
    return type(key) is str and _ZONE_KEY.match(key) is not None and ".." not in key


def _flag_ok(flag: Any) -> bool:
    """The from-cache flag: CPython writes 0 or 1 (an int), a bool means the same."""
    return type(flag) in (bool, int) and flag in (0, 1)


def _call_of(value: Any, key: str, arity: int) -> tuple[Any, ...] | None:
    if (type(value) is Obj and value.callee is not None and value.callee.key == key
            and type(value.args) is tuple and len(value.args) == arity):
        return value.args
    return None


def _static_alias(dtype: Any) -> str | None:
    args = _call_of(dtype, "pyarrow.lib.type_for_alias", 1)
    return args[0] if args is not None and type(args[0]) is str else None


def _static_buffer(buffer: Any, read: Callable[[Any], bytes | None]) -> bytes | None:
    args = _call_of(buffer, "pyarrow.lib.py_buffer", 1)
    return None if args is None else read(args[0])


def static_guard(func: Global, args: Any, read: Callable[[Any], bytes | None]) -> Any:
    """The symbolic result of a guarded call, or a refusal message (``str``).

    ``read`` turns a symbolic bytes value into its bytes (``None`` if it cannot).
    """
    if type(args) is not tuple:
        return f"{func.key} is called with {describe(args)}, not an argument tuple"
    if func.guard == "getattr":
        if (len(args) == 2 and type(args[0]) is Global and args[0].key == "zoneinfo.ZoneInfo"
                and args[1] == "_unpickle"):
            return ZONEINFO_UNPICKLE
        target = describe(args[0]) if args else "nothing"
        name = args[1] if len(args) > 1 and type(args[1]) is str else "?"
        return f"getattr({target}, {name[:40]!r}) is not the one allowed form"
    if func.guard == "zoneinfo":
        if len(args) == 2 and _zone_key_ok(args[0]) and _flag_ok(args[1]):
            return Obj(func, args, "call")
        return "ZoneInfo._unpickle is called with a key that is not a plain IANA zone name"
    if func.guard == "ufunc":
        if (len(args) == 2 and args[0] in _UFUNC_MODULES and type(args[1]) is str
                and args[1] in NUMPY_UFUNCS):
            return Global("numpy", args[1], True)
        shown = ".".join(str(a)[:40] for a in args[:2]) if all(
            type(a) is str for a in args[:2]) else "a computed name"
        return f"_ufunc_reconstruct would import {shown}, not a numpy ufunc on the list"
    if func.guard == "arrow":
        problem = arrow_problem(args[0] if len(args) == 1 else None, _static_alias,
                                lambda buffer: _static_buffer(buffer, read))
        return Obj(func, args, "call") if problem is None else problem
    return f"{func.key} has no argument check"


# -- Load time -------------------------------------------------------------------------------

def _refuse(message: str, name: str) -> ArtifactRefused:
    return ArtifactRefused(message, rule_id="pickle-guarded-call", name=name)


def _zoneinfo_unpickle(key: Any, from_cache: Any) -> Any:
    import zoneinfo

    if not _zone_key_ok(key) or not _flag_ok(from_cache):
        raise _refuse("ZoneInfo._unpickle is called with a forged key",
                      "zoneinfo.ZoneInfo._unpickle")
    return zoneinfo.ZoneInfo._unpickle(key, from_cache)  # type: ignore[attr-defined]


def _getattr(obj: Any, name: Any) -> Any:
    import zoneinfo

    if obj is zoneinfo.ZoneInfo and name == "_unpickle":
        return _zoneinfo_unpickle
    raise _refuse("getattr is called outside its one allowed form", "builtins.getattr")


def _ufunc_reconstruct(module: Any, name: Any) -> Any:
    numpy = sys.modules.get("numpy") or __import__("numpy")
    if module in _UFUNC_MODULES and type(name) is str and name in NUMPY_UFUNCS:
        value = getattr(numpy, name, None)
        if isinstance(value, numpy.ufunc):
            return value
    raise _refuse("_ufunc_reconstruct names something that is not a numpy ufunc",
                  "numpy.core._ufunc_reconstruct")


def _restore_array(data: Any) -> Any:
    import pyarrow
    import pyarrow.lib

    def alias(dtype: Any) -> str | None:
        return str(dtype) if isinstance(dtype, pyarrow.DataType) else None

    def raw(buffer: Any) -> bytes | None:
        return buffer.to_pybytes() if isinstance(buffer, pyarrow.Buffer) else None

    problem = arrow_problem(data, alias, raw)
    if problem is not None:
        raise ArtifactRefused(f"pyarrow array: {problem}", rule_id="pickle-arrow-array-forged",
                              name="pyarrow.lib._restore_array")
    array = pyarrow.lib._restore_array(data)
    try:
        array.validate(full=True)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowException) as exc:
        raise ArtifactRefused("a pyarrow array's buffers contradict its layout",
                              rule_id="pickle-arrow-array-forged",
                              name="pyarrow.lib._restore_array") from exc
    return array


#: Guard id -> the callable the restricted unpickler hands out instead of the real global.
RUNTIME_GUARDS: dict[str, Callable[..., Any]] = {
    "getattr": _getattr,
    "zoneinfo": _zoneinfo_unpickle,
    "ufunc": _ufunc_reconstruct,
    "arrow": _restore_array,
}
