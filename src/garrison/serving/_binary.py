"""Raw tensor bytes of the Open Inference Protocol (private to the OIP request reader).

The binary tensor data extension (REST) and ``raw_input_contents`` / ``raw_output_contents``
(gRPC) lay tensors out the same way: row-major, little-endian, fixed-size elements
(BOOL one byte, 0 or 1), and BYTES as a 4-byte little-endian length before each
element. Decoding checks every size before it reads: a buffer that does not hold
exactly ``count`` elements is a :class:`~garrison.errors.MalformedRequest`, never an
over-read, a giant allocation or a partial tensor.
"""

from __future__ import annotations

import struct
from typing import Any, cast

import numpy as np

from garrison.errors import MalformedRequest
from garrison.serving._checks import violation

__all__ = ["ELEMENT_DTYPES", "decode_tensor", "encode_tensor"]

#: Datatype -> numpy dtype (little-endian) of the fixed-size OIP v2 datatypes.
ELEMENT_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"), "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"), "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
_LENGTH = struct.Struct("<I")


def _malformed(fld: str, problem: str) -> MalformedRequest:
    return MalformedRequest(f"field {fld[:64]!r}: {problem}", field=fld[:64], problem=problem)


def decode_tensor(datatype: str, raw: bytes | memoryview, count: int, fld: str,
                  *, max_string_length: int) -> list[Any]:
    """``count`` elements of ``datatype`` from exactly the bytes of ``raw``.

    Numbers come back as Python ints and floats (FP16 and FP32 widened exactly), BOOL
    as ``bool``, BYTES as ``str`` (UTF-8; another encoding is refused like any wrong
    value). The element values are then checked by the validator like JSON ones.
    """
    if datatype == "BYTES":
        return _decode_bytes(raw, count, fld, max_string_length)
    dtype = ELEMENT_DTYPES.get(datatype)
    if dtype is None:
        raise _malformed(fld, "bad-datatype")
    if len(raw) != count * dtype.itemsize:
        raise _malformed(fld, "binary-size-mismatch")
    values = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if values.size and values.max() > 1:
            raise violation(fld, int(np.argmax(values > 1)), "datatype-mismatch")
        return cast(list[Any], values.astype(bool).tolist())
    if datatype in ("FP16", "FP32"):
        return cast(list[Any], values.astype(np.float64).tolist())
    return cast(list[Any], values.tolist())


def _decode_bytes(raw: bytes | memoryview, count: int, fld: str,
                  max_string_length: int) -> list[Any]:
    view = memoryview(raw)
    out: list[Any] = []
    offset, end = 0, len(view)
    while offset < end:
        if len(out) == count or end - offset < 4:
            raise _malformed(fld, "binary-size-mismatch")
        (size,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if size > end - offset:
            raise _malformed(fld, "binary-truncated")
        if size > max_string_length * 4:  # UTF-8 needs at most four bytes a character.
            raise violation(fld, len(out), "string-too-long")
        try:
            out.append(bytes(view[offset:offset + size]).decode("utf-8"))
        except UnicodeDecodeError:
            raise violation(fld, len(out), "not-utf8") from None
        offset += size
    if len(out) != count:
        raise _malformed(fld, "binary-size-mismatch")
    return out


def encode_tensor(datatype: str, values: np.ndarray) -> bytes:
    """Row-major little-endian bytes of an output tensor (BYTES length-prefixed)."""
    if datatype == "BYTES":
        parts = []
        for value in values.ravel().tolist():
            data = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(_LENGTH.pack(len(data)) + data)
        return b"".join(parts)
    return np.ascontiguousarray(values, dtype=ELEMENT_DTYPES[datatype]).tobytes()
