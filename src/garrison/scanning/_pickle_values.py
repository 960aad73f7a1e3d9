"""Symbolic values of the static pickle VM and the checks applied when they are called."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "BIGINT",
    "BUFFER",
    "BYTES",
    "SET",
    "TEXT",
    "Global",
    "Hooks",
    "Malformed",
    "Obj",
    "Opaque",
    "call_value",
    "describe",
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
    """An imported global: ``module.name`` after Python 2 name mapping."""

    __slots__ = ("allowed", "key", "module", "name")

    def __init__(self, module: str, name: str, allowed: bool) -> None:
        self.module = module
        self.name = name
        self.key = f"{module}.{name}"
        self.allowed = allowed


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


def call_value(func: Any, args: Any, offset: int, hooks: Hooks) -> Obj:
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
        return Obj(args[0], args[1:], "new")
    return Obj(func, args, "call")


def new_value(cls: Any, args: Any, offset: int, hooks: Hooks, opname: str) -> Obj:
    if type(cls) is not Global:
        hooks.finding(
            "pickle-call-non-global",
            f"{opname} instantiates {describe(cls)}, not an imported class",
            offset,
            describe(cls),
        )
        return Obj(None, args, "call")
    return Obj(cls, args, "new" if opname.startswith("NEWOBJ") else "call")


def mutation(target: Any, offset: int, hooks: Hooks, opname: str) -> None:
    if type(target) is Global:
        hooks.finding(
            "pickle-mutates-global",
            f"{opname} modifies the imported global {target.key}",
            offset,
            target.key,
        )
