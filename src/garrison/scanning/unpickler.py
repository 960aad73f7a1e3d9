"""Defence in depth for loading: an unpickler that enforces the scanner's allow-list.

The scan decides before loading; this unpickler re-checks while loading, with the same
allow-list and policy, so a scanner bug or a file swapped after scanning still cannot
import a gadget. Beyond ``find_class`` it also enforces the scanner's call rules: REDUCE,
NEWOBJ, NEWOBJ_EX and OBJ may only call objects that ``find_class`` itself returned,
BUILD/SETITEM(S)/APPEND(S)/ADDITEMS may not modify such objects, EXT opcodes are refused.

It subclasses the pure-Python ``pickle._Unpickler`` (as joblib's ``NumpyUnpickler`` does)
because the C unpickler exposes ``find_class`` only, not its opcode table. To harden
another ``_Unpickler`` subclass (joblib)::

    class GuardedJoblibUnpickler(RestrictedUnpicklerMixin, NumpyUnpickler):
        dispatch = restricted_dispatch(NumpyUnpickler.dispatch)
        _garrison_loader = "joblib"
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from garrison.errors import ArtifactRefused, ArtifactUnscannable, GarrisonError
from garrison.scanning._pickle_guards import RUNTIME_GUARDS
from garrison.scanning.allowlist import (
    Loader,
    admission,
    loaded_name,
    verify_resolved_object,
)
from garrison.scanning.policy import DEFAULT_POLICY, ScanPolicy

__all__ = [
    "RestrictedUnpickler",
    "RestrictedUnpicklerMixin",
    "restricted_dispatch",
    "restricted_loads",
]

_COPYREG = {"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"}
#: What a guard hands out besides the guard itself: getattr's one allowed result.
_GUARD_RESULTS: dict[int, tuple[Any, str, str]] = {
    id(RUNTIME_GUARDS["zoneinfo"]): (RUNTIME_GUARDS["zoneinfo"], "zoneinfo.ZoneInfo._unpickle",
                                     "guarded"),
}


def _refuse(rule_id: str, message: str, name: str | None = None) -> ArtifactRefused:
    return ArtifactRefused(message, rule_id=rule_id, name=(name or "")[:300])


class RestrictedUnpicklerMixin:
    """``find_class`` and call checks; combine with a ``pickle._Unpickler`` subclass."""

    _garrison_policy: ClassVar[ScanPolicy] = DEFAULT_POLICY
    _garrison_loader: ClassVar[Loader] = "pickle"
    stack: list[Any]
    metastack: list[list[Any]]

    def _garrison_found(self) -> dict[int, tuple[Any, str, str]]:
        found = self.__dict__.get("_garrison_found_map")
        if found is None:
            found = self.__dict__["_garrison_found_map"] = {}
        return found

    def find_class(self, module: str, name: str) -> Any:
        proto = int(getattr(self, "proto", 0) or 0)
        module, name = loaded_name(module, name, proto)
        policy = self.__dict__.get("_garrison_policy_override", self._garrison_policy)
        loader = self.__dict__.get("_garrison_loader_override", self._garrison_loader)
        entry = admission(module, name, policy, loader=loader)
        if entry is None:
            raise _refuse("pickle-global-not-allowed",
                          "the pickle imports a global that is not on the allow-list",
                          f"{module}.{name}")
        if entry.kind == "guarded" and entry.guard is not None:
            # Hand out the checking stand-in, never the real callable; it must be called.
            obj = RUNTIME_GUARDS[entry.guard]
            self.__dict__["_garrison_pending"] = self.__dict__.get("_garrison_pending", 0) + 1
        else:
            try:
                __import__(module, level=0)
                obj = getattr(sys.modules[module], name)
            except (ImportError, AttributeError) as exc:
                raise ArtifactUnscannable("an allow-listed global cannot be imported here",
                                          name=f"{module}.{name}") from exc
            verify_resolved_object(module, name, obj, entry.entry)
        self._garrison_found()[id(obj)] = (obj, f"{module}.{name}", entry.kind)
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("pickle-persistent-id", "this loader accepts no persistent ids")

    def _garrison_hit(self, value: Any) -> tuple[str, str] | None:
        hit = self._garrison_found().get(id(value)) or _GUARD_RESULTS.get(id(value))
        return (hit[1], hit[2]) if hit is not None and hit[0] is value else None

    def _garrison_key(self, value: Any) -> str | None:
        hit = self._garrison_hit(value)
        return None if hit is None else hit[0]

    def _garrison_partial_target(self, target: Any) -> None:
        hit = self._garrison_hit(target)
        if hit is None or hit[1] != "value":
            raise _refuse("pickle-partial-target",
                          "functools.partial wraps something that is not an allow-listed "
                          "function or class", "functools.partial")

    def _garrison_call(self, func: Any, args: Any) -> None:
        hit = self._garrison_hit(func)
        if hit is None:
            raise _refuse("pickle-call-non-global",
                          "the pickle calls an object that was not imported by find_class")
        key, kind = hit
        if kind == "guarded":
            self.__dict__["_garrison_pending"] = max(0, self.__dict__.get("_garrison_pending", 0)
                                                     - 1)
        if key in _COPYREG or kind == "reconstructor":
            classes = args[:2] if key == "copyreg._reconstructor" else args[:1]
            if type(args) is not tuple or not classes or any(
                self._garrison_key(c) is None for c in classes
            ):
                raise _refuse("pickle-reconstructor-args",
                              f"{key} is called with a class that was not imported", key)
            if key == "copyreg.__newobj__":
                self._garrison_new(args[0], args[1:])
            elif key == "copyreg.__newobj_ex__":
                self._garrison_new(args[0], args[1] if len(args) > 1 else ())
        elif kind == "partial":
            self._garrison_partial_target(args[0] if type(args) is tuple and args else None)

    def _garrison_new(self, cls: Any, args: Any) -> None:
        """NEWOBJ / __newobj__: cls.__new__(cls, *args) must obey the call rules too."""
        hit = self._garrison_hit(cls)
        if hit is None:
            raise _refuse("pickle-call-non-global",
                          "the pickle instantiates a class that was not imported by find_class")
        if hit[1] == "partial":
            self._garrison_partial_target(args[0] if isinstance(args, tuple) and args else None)
        elif hit[1] == "guarded":
            raise _refuse("pickle-guarded-call", "a guarded global is created with __new__",
                          hit[0])

    def _garrison_target(self, target: Any) -> None:
        key = self._garrison_key(target)
        if key is not None:
            raise _refuse("pickle-mutates-global", "the pickle modifies an imported global", key)

    def _garrison_build(self, target: Any, state: Any) -> None:
        self._garrison_target(target)
        if isinstance(target, functools.partial):
            if type(state) is not tuple or len(state) != 4:
                raise _refuse("pickle-partial-target",
                              "functools.partial is rebuilt with a malformed state",
                              "functools.partial")
            self._garrison_partial_target(state[0])

    def load(self) -> Any:
        value = super().load()  # type: ignore[misc]
        if self.__dict__.get("_garrison_pending", 0):
            raise _refuse("pickle-guarded-call",
                          "a guarded global is stored or returned instead of being called")
        return value

    def _instantiate(self, klass: Any, args: Any) -> None:
        # INST and OBJ call the class with the marked items, like REDUCE.
        self._garrison_call(klass, tuple(args))
        super()._instantiate(klass, args)  # type: ignore[misc]


def _object_layout(dtype: Any, depth: int = 0) -> bool:
    if depth > 16:
        raise ArtifactRefused("numpy dtype nests too deeply", rule_id="pickle-numpy-dtype-forged")
    if dtype.fields:
        return any(_object_layout(spec[0], depth + 1) for spec in dtype.fields.values())
    if dtype.subdtype is not None:
        return _object_layout(dtype.subdtype[0], depth + 1)
    return bool(dtype.kind == "O")


def _check_built_dtype(self: Any) -> None:
    """After BUILD: a numpy dtype's flags must agree with whether it really holds objects."""
    numpy = sys.modules.get("numpy")
    value = self.stack[-1] if self.stack else None
    if numpy is None or not isinstance(value, numpy.dtype):
        return
    holds_objects = _object_layout(value)
    flags = int(value.flags)
    if (holds_objects and flags & 0x03 != 0x03) or (not holds_objects and flags & 0x07):
        raise _refuse("pickle-numpy-dtype-forged",
                      "a numpy dtype was rebuilt with flags that contradict its layout",
                      "numpy.dtype")


def _wrap(
    original: Callable[[Any], None],
    check: Callable[[Any], None],
    after: Callable[[Any], None] | None = None,
) -> Callable[[Any], None]:
    def guarded(self: Any) -> None:
        try:
            check(self)
        except IndexError as exc:
            raise ArtifactUnscannable("pickle stack underflow") from exc
        original(self)
        if after is not None:
            after(self)

    return guarded


def _refuse_ext(self: Any) -> None:
    raise _refuse("pickle-ext-code", "EXT opcodes are refused")


def restricted_dispatch(base: dict[int, Callable[[Any], None]]) -> dict[int, Callable[[Any], None]]:
    """A copy of an ``_Unpickler`` dispatch table with Garrison's call and mutation checks.

    Wraps the given table's own handlers, so subclass overrides (joblib's BUILD, which
    reads array bytes) keep working after the check.
    """
    table = dict(base)
    checks: dict[bytes, Callable[[Any], None]] = {
        pickle.REDUCE: lambda u: u._garrison_call(u.stack[-2], u.stack[-1]),
        pickle.NEWOBJ: lambda u: u._garrison_new(u.stack[-2], u.stack[-1]),
        pickle.NEWOBJ_EX: lambda u: u._garrison_new(u.stack[-3], u.stack[-2]),
        pickle.BUILD: lambda u: u._garrison_build(u.stack[-2], u.stack[-1]),
        pickle.SETITEM: lambda u: u._garrison_target(u.stack[-3]),
        pickle.APPEND: lambda u: u._garrison_target(u.stack[-2]),
        pickle.SETITEMS: lambda u: u._garrison_target(u.metastack[-1][-1]),
        pickle.APPENDS: lambda u: u._garrison_target(u.metastack[-1][-1]),
        pickle.ADDITEMS: lambda u: u._garrison_target(u.metastack[-1][-1]),
    }
    for opcode, check in checks.items():
        after = _check_built_dtype if opcode == pickle.BUILD else None
        table[opcode[0]] = _wrap(base[opcode[0]], check, after)
    for opcode in (pickle.EXT1, pickle.EXT2, pickle.EXT4):
        table[opcode[0]] = _refuse_ext
    return table


class RestrictedUnpickler(RestrictedUnpicklerMixin, pickle._Unpickler):
    """A ``pickle`` unpickler that only imports allow-listed globals (raises ArtifactRefused)."""

    dispatch = restricted_dispatch(pickle._Unpickler.dispatch)

    def __init__(
        self, file: Any, *, policy: ScanPolicy = DEFAULT_POLICY, loader: Loader = "pickle"
    ) -> None:
        super().__init__(file)
        self.__dict__["_garrison_policy_override"] = policy
        self.__dict__["_garrison_loader_override"] = loader


def restricted_loads(
    data: bytes, policy: ScanPolicy = DEFAULT_POLICY, *, loader: Loader = "pickle"
) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; refuse trailing bytes.

    Raises :class:`ArtifactRefused` for anything the allow-list forbids and
    :class:`ArtifactUnscannable` for a stream that is not a valid pickle.
    """
    buffer = io.BytesIO(data)
    try:
        value = RestrictedUnpickler(buffer, policy=policy, loader=loader).load()
    except GarrisonError:
        raise
    except Exception as exc:
        raise ArtifactUnscannable("the pickle could not be loaded",
                                  error=type(exc).__name__) from exc
    if buffer.tell() != len(data):
        raise _refuse("pickle-trailing-data", "bytes follow the pickle's STOP")
    return value
