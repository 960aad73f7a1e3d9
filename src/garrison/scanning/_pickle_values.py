"""Symbolic values of the static pickle VM and the checks applied when they are called."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "BIGINT",
    "BUFFER",
    "BYTES",
    "SET",
    "TEXT",
    "Blob",
    "Global",
    "Hooks",
    "Malformed",
    "Obj",
    "Opaque",
    "call_value",
    "check_new",
    "describe",
    "escaped",
    "mutation",
    "new_value",
]

RECONSTRUCTOR = "copyreg._reconstructor"
NEWOBJ_FUNC = "copyreg.__newobj__"
NEWOBJ_EX_FUNC = "copyreg.__newobj_ex__"


class Malformed(Exception):
    """The stream is not a valid pickle (or exceeds a cap) at ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class Global:
    """An imported global: ``module.name`` after Python 2 name mapping.

    ``kind`` and ``guard`` come from the allow-list entry that admitted it (see
    ``_allow_entry.Kind``); a refused global is an inert ``value``.
    """

    __slots__ = ("allowed", "guard", "key", "kind", "module", "name")

    def __init__(
        self, module: str, name: str, allowed: bool, kind: str = "value",
        guard: str | None = None,
    ) -> None:
        self.module = module
        self.name = name
        self.key = f"{module}.{name}"
        self.allowed = allowed
        self.kind = kind
        self.guard = guard

    @property
    def guarded(self) -> bool:
        return self.kind == "guarded"


class Obj:
    """The result of a call or instantiation. ``made`` is ``call`` or ``new`` (no __init__)."""

    __slots__ = ("args", "attrs", "callee", "made", "state")

    def __init__(self, callee: Global | None, args: Any, made: str) -> None:
        self.callee = callee
        self.args = args
        self.made = made
        self.state: Any = None
        self.attrs: dict[str, Any] = {}


class Opaque:
    """A value whose content does not matter to any decision (bytes, buffers, sets...)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class Blob(Opaque):
    """A bytes argument: where it lies in the stream, so a check can read it if it must."""

    __slots__ = ("start", "stop")

    def __init__(self, start: int, stop: int) -> None:
        super().__init__("bytes")
        self.start = start
        self.stop = stop


BYTES = Opaque("bytes")
TEXT = Opaque("long text")
BIGINT = Opaque("big integer")
BUFFER = Opaque("buffer")
SET = Opaque("set")


class Hooks(Protocol):
    def resolve_global(self, module: str, name: str, offset: int, proto: int) -> Global: ...

    def unresolvable_global(self, module: Any, name: Any, offset: int) -> Global: ...

    def finding(self, rule_id: str, message: str, offset: int, name: str | None) -> None: ...

    def persistent_id(self, pid: Any, offset: int) -> Any: ...

    def after_build(self, obj: Obj, stack: list[Any], pos: int) -> int: ...

    def guarded_call(self, func: Global, args: Any, offset: int) -> Any: ...


def describe(value: Any) -> str:
    """A short human description of a symbolic value, for findings."""
    if isinstance(value, Global):
        return value.key
    if isinstance(value, Obj):
        return f"result of {value.callee.key if value.callee else 'a call'}(...)"
    if isinstance(value, Opaque):
        return value.kind
    return type(value).__name__


def _is_global(value: Any) -> bool:
    return type(value) is Global


def _partial_target(target: Any, offset: int, hooks: Hooks, where: str) -> None:
    """functools.partial may only wrap a directly imported, allow-listed value entry."""
    if type(target) is Global and (not target.allowed or target.kind == "value"):
        return  # A refused import is reported where it is imported.
    hooks.finding(
        "pickle-partial-target",
        f"functools.partial {where} wraps {describe(target)}, not an allow-listed function "
        "or class",
        offset,
        describe(target),
    )


def check_new(cls: Global, args: Any, offset: int, hooks: Hooks, how: str) -> None:
    """Checks for creating an instance of ``cls`` with ``args`` (by call or __new__)."""
    if cls.kind == "partial":
        first = args[0] if type(args) is tuple and args else None
        _partial_target(first, offset, hooks, "state" if how == "BUILD" else "constructor")
    elif cls.kind == "guarded" and how != "call":
        hooks.finding(
            "pickle-guarded-call",
            f"{how} creates {cls.key} through __new__, not the one allowed call",
            offset,
            cls.key,
        )


def call_value(func: Any, args: Any, offset: int, hooks: Hooks) -> Any:
    escaped((args,), offset, hooks)
    if type(func) is not Global:
        hooks.finding(
            "pickle-call-non-global",
            f"REDUCE calls {describe(func)}, not an imported global",
            offset,
            describe(func),
        )
        return Obj(None, args, "call")
    key = func.key
    if key in (RECONSTRUCTOR, NEWOBJ_FUNC, NEWOBJ_EX_FUNC):
        ok = type(args) is tuple and len(args) >= 1 and _is_global(args[0])
        if key == RECONSTRUCTOR:
            ok = ok and len(args) == 3 and _is_global(args[1])
        if not ok:
            hooks.finding(
                "pickle-reconstructor-args",
                f"{key} is called with a class that is not an imported global",
                offset,
                key,
            )
            return Obj(None, args, "call")
        if key == NEWOBJ_FUNC:
            check_new(args[0], args[1:], offset, hooks, key)
        elif key == NEWOBJ_EX_FUNC:
            check_new(args[0], args[1] if len(args) > 1 else (), offset, hooks, key)
        else:
            check_new(args[0], (), offset, hooks, key)
        return Obj(args[0], args[1:], "new")
    if func.kind == "reconstructor" and func.allowed:
        if not (type(args) is tuple and args and _is_global(args[0])):
            hooks.finding(
                "pickle-reconstructor-args",
                f"{key} is called with a class that is not an imported global",
                offset,
                key,
            )
            return Obj(None, args, "call")
        check_new(args[0], (), offset, hooks, key)
        return Obj(args[0], args[1:], "new")
    if func.kind == "guarded" and func.allowed:
        return hooks.guarded_call(func, args, offset)
    check_new(func, args, offset, hooks, "call")
    return Obj(func, args, "call")


def new_value(cls: Any, args: Any, offset: int, hooks: Hooks, opname: str) -> Obj:
    escaped((args,), offset, hooks)
    if type(cls) is not Global:
        hooks.finding(
            "pickle-call-non-global",
            f"{opname} instantiates {describe(cls)}, not an imported class",
            offset,
            describe(cls),
        )
        return Obj(None, args, "call")
    check_new(cls, args, offset, hooks, opname)
    return Obj(cls, args, "new" if opname.startswith("NEWOBJ") else "call")


def mutation(target: Any, offset: int, hooks: Hooks, opname: str) -> None:
    if type(target) is Global:
        hooks.finding(
            "pickle-mutates-global",
            f"{opname} modifies the imported global {target.key}",
            offset,
            target.key,
        )


def escaped(items: Any, offset: int, hooks: Hooks) -> None:
    """Report guarded globals that are stored, passed or returned instead of called."""
    for item in items:
        if type(item) is Global and item.kind == "guarded":
            hooks.finding(
                "pickle-guarded-call",
                f"the guarded global {item.key} is used as a value, not called",
                offset,
                item.key,
            )
