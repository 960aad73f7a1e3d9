"""Hand-assembled pickle payloads for the scanner corpus (imported by generate.py).

Every payload's only effect, when loaded by a real unpickler, is to create the marker file
whose absolute path it is given. Nothing here is ever committed as a payload file.
"""

from __future__ import annotations

import marshal
import os
import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PICKLE_PAYLOADS", "Built", "Evil", "body", "call", "glob", "pk", "text", "tup"]


@dataclass(frozen=True)
class Built:
    """A generated sample: where it is, how to load it live, setup code for that load."""

    path: Path
    live: str | None = None
    setup: str = ""


def glob(module: str, name: str) -> bytes:
    """GLOBAL opcode."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(value: str) -> bytes:
    """BINUNICODE opcode."""
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def short(value: str) -> bytes:
    """SHORT_BINUNICODE opcode."""
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def raw_bytes(value: bytes) -> bytes:
    """BINBYTES opcode."""
    return b"B" + struct.pack("<I", len(value)) + value


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def call(func: bytes, *args: bytes) -> bytes:
    """REDUCE ``func`` with ``args``."""
    return func + tup(*args) + b"R"


def pk(payload: bytes, proto: int = 4) -> bytes:
    return b"\x80" + bytes([proto]) + payload + b"."


def body(marker: str) -> str:
    """Python source whose only effect is creating the marker file."""
    return f"open({marker!r}, 'w').close()"


def touch(marker: str) -> str:
    return f"touch '{marker}'"


class Evil:
    """An object whose pickle runs ``os.system('touch MARKER')`` (real pickler output)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (touch(self.marker),))


def _stack_global_memo(m: str) -> bytes:
    return pk(short("os") + b"\x94" + b"0" + short("system") + b"\x94" + b"0"
              + b"h\x00h\x01\x93" + tup(text(touch(m))) + b"R")


def _stack_global_overwrite(m: str) -> bytes:
    # A scanner that remembers the first value of each memo slot sees OrderedDict.
    return pk(short("collections") + b"q\x00" + b"0" + short("OrderedDict") + b"q\x01" + b"0"
              + short("os") + b"q\x00" + b"0" + short("system") + b"q\x01" + b"0"
              + b"h\x00h\x01\x93" + tup(text(touch(m))) + b"R")


def _stack_global_computed(m: str) -> bytes:
    # The module name is the *result* of builtins.str('os'): a str at load time.
    return pk(call(glob("builtins", "str"), text("os")) + short("system") + b"\x93"
              + tup(text(touch(m))) + b"R")


def _marshal_function(m: str) -> bytes:
    code = marshal.dumps(compile(body(m), "<corpus>", "exec"))
    function = call(glob("types", "FunctionType"), call(glob("marshal", "loads"),
                                                          raw_bytes(code)), b"}")
    return pk(call(function))


#: name -> (builder(marker) -> pickle bytes, setup code run before a live load).
PICKLE_PAYLOADS = {
    "pickle-os-system": (lambda m: pk(call(glob("os", "system"), text(touch(m)))), ""),
    "pickle-builtins-exec": (lambda m: pk(call(glob("builtins", "exec"), text(body(m)))), ""),
    "pickle-builtins-eval": (lambda m: pk(call(glob("builtins", "eval"), text(body(m)))), ""),
    "pickle-py2-builtin-eval": (
        lambda m: pk(call(glob("__builtin__", "eval"), text(body(m))), proto=2), ""),
    "pickle-timeit": (lambda m: pk(call(glob("timeit", "timeit"), text(body(m)), text("pass"),
                                        glob("time", "perf_counter"), b"K\x01")), ""),
    "pickle-pydoc-pipepager": (
        lambda m: pk(call(glob("pydoc", "pipepager"), text("x"), text(touch(m)))), ""),
    "pickle-code-interpreter": (lambda m: pk(call(call(
        glob("builtins", "getattr"), call(glob("code", "InteractiveInterpreter")),
        text("runsource")), text(body(m)))), ""),
    "pickle-cprofile-run": (lambda m: pk(call(glob("cProfile", "run"), text(body(m)))), ""),
    "pickle-marshal-functiontype": (_marshal_function, ""),
    "pickle-importlib-methodcaller": (lambda m: pk(call(
        call(glob("operator", "methodcaller"), text("system"), text(touch(m))),
        call(glob("importlib", "import_module"), text("os")))), ""),
    "pickle-builtins-getattr": (lambda m: pk(call(call(
        glob("builtins", "getattr"), call(glob("importlib", "import_module"), text("os")),
        text("system")), text(touch(m)))), ""),
    "pickle-functools-partial": (lambda m: pk(call(call(
        glob("functools", "partial"), glob("os", "system"), text(touch(m))))), ""),
    "pickle-stack-global-memo": (_stack_global_memo, ""),
    "pickle-stack-global-memo-overwrite": (_stack_global_overwrite, ""),
    "pickle-stack-global-computed": (_stack_global_computed, ""),
    "pickle-ext-code": (lambda m: pk(b"\x82\xe7" + tup(text(touch(m))) + b"R", proto=2),
                        "import copyreg; copyreg.add_extension('os', 'system', 0xe7)"),
    "pickle-protocol0-text": (lambda m: (b"cos\nsystem\n(V" + touch(m).encode() + b"\ntR."), ""),
    "pickle-inst-opcode": (lambda m: b"(V" + touch(m).encode() + b"\nios\nsystem\n.", ""),
}
