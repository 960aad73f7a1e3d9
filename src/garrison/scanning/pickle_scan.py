"""Pickle, joblib, cloudpickle and legacy PyTorch streams: opcode analysis, never unpickling.

One stream may hold several pickles; every one is scanned, and bytes after the last STOP
that are not a further complete pickle are refused (``pickle-trailing-data``). joblib's
``NumpyArrayWrapper`` is followed exactly: after its BUILD the array bytes (and alignment
padding) are skipped by their computed size, or, for object arrays, the nested pickle is
scanned, and the outer pickle resumes where joblib's unpickler resumes. A stream whose
first pickle is PyTorch's legacy magic number is handed to the legacy PyTorch reader.
"""

from __future__ import annotations

import contextlib
from typing import Any

from garrison.scanning._numpy_dtype import DTYPE, dtype_layout
from garrison.scanning._pickle_guards import static_guard
from garrison.scanning._pickle_values import Blob, check_new
from garrison.scanning._pickle_vm import Global, Malformed, Obj, Opaque, describe, run
from garrison.scanning.allowlist import Loader, admission, loaded_name
from garrison.scanning.context import Buffer, ScanAborted, ScanContext
from garrison.scanning.registry import ScannerInfo

__all__ = ["PickleRun", "PickleScanner", "run_pickle", "scan_pickle_stream"]

WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
_ARRAY_TYPES = frozenset({"numpy.ndarray", "numpy.matrix"})
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_PADDING = 16
#: What the shadow read of old-joblib array bytes reports: every attack rule of the pickle
#: VM (mutating a global, forged reconstructor args and forged dtypes each need an imported
#: global first, which array bytes do not spell by chance). Malformed streams and persistent
#: ids, which random bytes do produce and at which ``pickle.load`` stops, are left out.
_SHADOW_RULES = frozenset({
    "pickle-global-not-allowed", "pickle-unresolvable-global", "pickle-ext-code",
    "pickle-call-non-global", "pickle-mutates-global", "pickle-reconstructor-args",
    "pickle-numpy-dtype-forged",
})
#: First bytes a pickle can start with: every opcode of protocols 0 to 5.
_OPCODES = frozenset(b"()0123FGIJKLMNPQRSTUVXabcdeghijlopqrstu}]\x80\x81\x82\x83\x84\x85\x86"
                     b"\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97"
                     b"\x98BC.")


class PickleRun:
    """The hooks of one pickle: import decisions, persistent ids, joblib buffers."""

    def __init__(self, data: Buffer, ctx: ScanContext, loader: Loader, buffers: bool) -> None:
        self.data = data
        self.ctx = ctx
        self.loader: Loader = loader
        self.buffers = buffers
        self.persistent_ids: list[tuple[Any, int]] = []
        self.saw_wrapper = False
        self.saw_cloudpickle = False

    def resolve_global(self, module: str, name: str, offset: int, proto: int) -> Global:
        module, name = loaded_name(module, name, proto)
        found = admission(module, name, self.ctx.policy, loader=self.loader)
        allowed = found is not None
        glob = Global(module, name, allowed) if found is None else Global(
            module, name, True, found.kind, found.guard)
        if not allowed:
            self.ctx.add(
                "pickle-global-not-allowed",
                f"imports {glob.key}, which is not on the allow-list",
                offset=offset,
                name=glob.key,
            )
        if glob.key == WRAPPER:
            self.saw_wrapper = True
        if module.split(".", 1)[0] == "cloudpickle":
            self.saw_cloudpickle = True
        return glob

    def unresolvable_global(self, module: Any, name: Any, offset: int) -> Global:
        self.ctx.add(
            "pickle-unresolvable-global",
            f"STACK_GLOBAL operands are {describe(module)} and {describe(name)}, "
            "not string constants",
            offset=offset,
            name=f"{describe(module)}.{describe(name)}",
        )
        return Global("<unresolvable>", "<unresolvable>", False)

    def finding(self, rule_id: str, message: str, offset: int, name: str | None) -> None:
        self.ctx.add(rule_id, message, offset=offset, name=name)

    def persistent_id(self, pid: Any, offset: int) -> Any:
        self.persistent_ids.append((pid, offset))
        if self.loader != "torch":
            self.ctx.add(
                "pickle-persistent-id",
                "persistent id in a pickle whose loader defines no persistent_load",
                offset=offset,
            )
        return Opaque("persistent object")

    def guarded_call(self, func: Global, args: Any, offset: int) -> Any:
        result = static_guard(func, args, self.read_bytes)
        if type(result) is str:
            rule = "pickle-arrow-array-forged" if func.guard == "arrow" else "pickle-guarded-call"
            self.ctx.add(rule, result, offset=offset, name=func.key)
            return Obj(None, args, "call")
        return result

    def read_bytes(self, value: Any) -> bytes | None:
        """The bytes a symbolic bytes value stands for, or ``None`` if the pickle does not
        spell them out (out-of-band buffers, text over the VM's text limit)."""
        if type(value) is Blob:
            return bytes(self.data[value.start:value.stop])
        if type(value) is Obj and value.callee is not None and type(value.args) is tuple:
            key, args = value.callee.key, value.args
            if key in ("builtins.bytearray", "builtins.bytes") and len(args) == 1:
                return self.read_bytes(args[0])
            if (key == "_codecs.encode" and len(args) == 2 and type(args[0]) is str
                    and args[1] in ("latin1", "latin-1")):
                return args[0].encode("latin-1")
        return None

    def after_build(self, obj: Obj, stack: list[Any], pos: int) -> int:
        key = obj.callee.key if obj.callee is not None else None
        if obj.callee is not None and obj.callee.kind == "partial":
            # partial.__setstate__ replaces the function: (func, args, kwds, dict).
            state = obj.state
            if type(state) is not tuple or len(state) != 4:
                self.ctx.add("pickle-partial-target",
                             "functools.partial is rebuilt with a state that is not "
                             "(func, args, kwds, dict)", offset=pos - 1, name=key)
            else:
                check_new(obj.callee, state, pos - 1, self, "BUILD")
        if key == DTYPE:
            if dtype_layout(obj) is None:
                self.ctx.add(
                    "pickle-numpy-dtype-forged",
                    f"numpy.dtype({describe_args(obj.args)}) is rebuilt with a state that "
                    "contradicts its type string",
                    offset=pos - 1,
                    name=DTYPE,
                )
        elif key == WRAPPER and self.buffers:
            return self._skip_array(obj, stack, pos)
        return pos

    def _skip_array(self, wrapper: Obj, stack: list[Any], pos: int) -> int:
        attrs = wrapper.attrs
        subclass = attrs.get("subclass")
        shape = attrs.get("shape")
        layout = dtype_layout(attrs.get("dtype"))
        problem = None
        if wrapper.made != "new":
            problem = "the wrapper is created by calling its class, not as joblib writes it"
        elif type(subclass) is not Global or subclass.key not in _ARRAY_TYPES:
            problem = f"subclass is {describe(subclass)}, not a numpy array type"
        elif shape is None or type(shape) not in (tuple, list) or not all(
            isinstance(x, int) and x >= 0 for x in shape
        ):
            problem = "shape is not a sequence of non-negative integers"
        elif layout is None:
            problem = "its dtype cannot be resolved exactly"
        if problem is not None:
            self.ctx.add("joblib-bad-wrapper", f"NumpyArrayWrapper: {problem}", offset=pos - 1)
            raise ScanAborted
        assert layout is not None and isinstance(shape, (tuple, list))
        count = 1
        for dim in shape:
            count *= int(dim)
        # joblib's unpickler pops the wrapper and pushes the array it read.
        stack[-1] = Opaque("ndarray")
        if layout[1]:
            # Object arrays are a nested pickle read by a plain Unpickler that shares the
            # outer find_class: same allow-list, no buffer reads.
            nested = PickleRun(self.data, self.ctx, self.loader, buffers=False)
            end, _ = run_pickle(self.data, pos, nested)
            return end
        if attrs.get("numpy_array_alignment_bytes") is not None:
            if pos >= len(self.data):
                raise Malformed("array padding byte missing", pos)
            padding = self.data[pos]
            if not 1 <= padding <= _MAX_PADDING:
                # joblib writes 1..16; a larger "padding" could hide opcodes that a plain
                # unpickler would run while joblib skips them.
                self.ctx.add("joblib-bad-wrapper", f"array padding of {padding} bytes",
                             offset=pos)
                raise ScanAborted
            pos += 1 + padding
        else:
            self._shadow(pos)
        end = pos + count * layout[0]
        if end > len(self.data):
            raise Malformed("joblib array data is truncated", pos)
        return end


    def _shadow(self, pos: int) -> None:
        """Read the array bytes as a plain unpickler would, and report what that imports.

        Wrappers without the alignment padding (joblib <= 1.1) put array bytes right after
        BUILD, where ``pickle.load`` (not joblib) would execute them as opcodes.
        """
        shadow_ctx = ScanContext.root(self.ctx.policy)
        with contextlib.suppress(Malformed, ScanAborted):
            run_pickle(self.data, pos, PickleRun(self.data, shadow_ctx, "pickle", buffers=False))
        for finding in shadow_ctx.findings:
            if finding.rule_id in _SHADOW_RULES:
                self.ctx.add(
                    finding.rule_id,
                    f"array bytes run as opcodes under pickle.load: {finding.message}",
                    offset=finding.offset,
                    name=finding.name,
                )


def describe_args(args: Any) -> str:
    if type(args) is tuple and args and type(args[0]) is str:
        return repr(args[0])[:40]
    return "..."


def run_pickle(data: Buffer, pos: int, hooks: PickleRun) -> tuple[int, Any]:
    """Run one pickle at ``pos`` with the policy's caps (raises :class:`Malformed`)."""
    policy = hooks.ctx.policy
    return run(data, pos, hooks, policy.max_pickle_items, policy.max_pickle_marks)


def scan_pickle_stream(
    data: Buffer,
    ctx: ScanContext,
    *,
    loader: Loader,
    buffers: bool,
    start: int = 0,
    runs: list[PickleRun] | None = None,
    legacy_torch: bool = True,
) -> str:
    """Scan every pickle from ``start`` to the end of ``data``; return the format name.

    ``runs`` (when given) receives each pickle's :class:`PickleRun`, for callers that
    validate persistent ids afterwards.
    """
    pos = start
    fmt = "pickle"
    index = 0
    while pos < len(data):
        hooks = PickleRun(data, ctx, loader, buffers)
        if runs is not None:
            runs.append(hooks)
        try:
            pos, value = run_pickle(data, pos, hooks)
        except Malformed as exc:
            if index == 0:
                ctx.add("pickle-malformed", str(exc), offset=exc.offset)
            else:
                ctx.add(
                    "pickle-trailing-data",
                    f"bytes from offset {pos} are not a complete pickle ({exc})",
                    offset=pos,
                )
            break
        if hooks.saw_wrapper and buffers:
            fmt = "joblib"
        elif hooks.saw_cloudpickle and fmt == "pickle":
            fmt = "cloudpickle"
        if legacy_torch and index == 0 and type(value) is int and value == TORCH_LEGACY_MAGIC:
            from garrison.scanning.torch_scan import scan_torch_legacy

            scan_torch_legacy(data, pos, ctx)
            return "pytorch-legacy"
        index += 1
    return fmt


class PickleScanner:
    """Registered scanner for raw pickle streams (pickle, joblib, cloudpickle, legacy torch)."""

    info = ScannerInfo(
        name="pickle",
        description="Opcode-level analysis of pickle protocols 0-5, joblib array buffers, "
        "cloudpickle and legacy PyTorch streams against the allow-list.",
        recognises="first byte is a pickle opcode (0x80 PROTO for protocols 2-5)",
        priority=900,
        extensions=(".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".sav"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        first = data[0]
        if first == 0x80:
            return len(data) > 1 and data[1] <= 5
        return first in _OPCODES

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        return scan_pickle_stream(data, ctx, loader="joblib", buffers=True)
