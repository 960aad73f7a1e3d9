"""safetensors: an 8-byte header length, a strict JSON header, then the tensor bytes.

The header length is bounded like the reference implementation (100 MB): that bound also
guarantees a safetensors file can never be a valid pickle at the same time (the length's
third byte, which a pickle reader would take as an opcode, is at most 0x05, which is no
opcode). The header must be strict JSON without duplicate keys; every tensor has a known
dtype, non-negative shape and offsets whose size matches; the tensors tile the data area
exactly (sorted by offset: contiguous from zero, no overlap, no gap, no tail); and
``__metadata__`` maps strings to strings.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.registry import ScannerInfo

__all__ = ["DTYPE_BITS", "SafetensorsScanner"]

MAX_HEADER = 100_000_000
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
    "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
_u64 = struct.Struct("<Q").unpack_from


class _Bad(Exception):
    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Bad("duplicate key in the header", key)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise _Bad(f"non-standard JSON constant {name}")


def _tensor(name: str, spec: Any) -> tuple[int, int]:
    if type(spec) is not dict or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _Bad("tensor entry must have exactly dtype, shape and data_offsets", name)
    bits = DTYPE_BITS.get(spec["dtype"]) if type(spec["dtype"]) is str else None
    shape, offsets = spec["shape"], spec["data_offsets"]
    if bits is None:
        raise _Bad(f"unknown dtype {str(spec['dtype'])[:40]!r}", name)
    if type(shape) is not list or not all(type(x) is int and x >= 0 for x in shape):
        raise _Bad("shape must be a list of non-negative integers", name)
    if (
        type(offsets) is not list
        or len(offsets) != 2
        or not all(type(x) is int for x in offsets)
        or not 0 <= offsets[0] <= offsets[1]
    ):
        raise _Bad("data_offsets must be [begin, end] with 0 <= begin <= end", name)
    total_bits = bits
    for dim in shape:
        total_bits *= dim
    if total_bits % 8 or total_bits // 8 != offsets[1] - offsets[0]:
        raise _Bad("data_offsets do not match dtype and shape", name)
    return offsets[0], offsets[1]


def check_header(header: bytes, data_len: int) -> None:
    """Raise ``_Bad`` unless ``header`` describes ``data_len`` bytes of tensors exactly."""
    try:
        parsed = json.loads(header.decode("utf-8"), object_pairs_hook=_pairs,
                            parse_constant=_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Bad(f"header is not strict UTF-8 JSON ({type(exc).__name__})") from exc
    if type(parsed) is not dict:
        raise _Bad("header is not a JSON object")
    spans: list[tuple[int, int, str]] = []
    for name, spec in parsed.items():
        if name == "__metadata__":
            if type(spec) is not dict or not all(type(v) is str for v in spec.values()):
                raise _Bad("__metadata__ must map strings to strings", name)
            continue
        begin, end = _tensor(name, spec)
        spans.append((begin, end, name))
    expected = 0
    for begin, end, name in sorted(spans):
        if begin != expected:
            raise _Bad("tensors overlap or leave a gap" if begin < expected else
                       "tensors leave a gap in the data", name)
        expected = end
    if expected != data_len:
        raise _Bad(f"tensors cover {expected} bytes but the data area has {data_len}")


class SafetensorsScanner:
    """Hugging Face's safetensors format."""

    info = ScannerInfo(
        name="safetensors",
        description="Bounds the header length, parses the header as strict JSON and checks "
        "dtypes, shapes, offsets (in bounds, contiguous, non-overlapping, exact cover) and "
        "string-only __metadata__.",
        recognises="little-endian u64 header length N <= 100 MB, then '{' at offset 8",
        priority=30,
        extensions=(".safetensors",),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        if len(data) < 10 or data[8] != 0x7B:
            return False
        length = int(_u64(data, 0)[0])
        return 2 <= length <= MAX_HEADER

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        length = _u64(data, 0)[0]
        if length > len(data) - 8:
            ctx.add("safetensors-bad-header", f"header length {length} runs past the file",
                    offset=0)
            return "safetensors"
        try:
            check_header(bytes(data[8 : 8 + length]), len(data) - 8 - length)
        except _Bad as exc:
            ctx.add("safetensors-bad-header", str(exc), offset=8, name=exc.name)
        return "safetensors"
