"""Open Inference Protocol v2 messages for the SDK: tensors, the binary extension, answers.

The SDK builds requests and reads answers here, without importing numpy unless the
caller hands it arrays or asks for them (``Tensor.as_numpy``, binary encoding).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from garrison.errors import GarrisonError, InvalidInput

__all__ = ["DATATYPES", "InferResponse", "PredictResult", "Tensor", "build_infer",
           "build_predict", "parse_infer", "parse_predict"]

#: Datatype -> (numpy dtype, bytes per element) of the fixed-size OIP v2 datatypes.
DATATYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("|b1", 1), "INT8": ("<i1", 1), "INT16": ("<i2", 2), "INT32": ("<i4", 4),
    "INT64": ("<i8", 8), "UINT8": ("|u1", 1), "UINT16": ("<u2", 2), "UINT32": ("<u4", 4),
    "UINT64": ("<u8", 8), "FP16": ("<f2", 2), "FP32": ("<f4", 4), "FP64": ("<f8", 8),
}
HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True)
class Tensor:
    """One named tensor: ``data`` is flat, in row-major order, ``shape`` its dimensions."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)

    def as_numpy(self) -> Any:
        """The data as a numpy array of its shape (BYTES as an object array of str)."""
        import numpy as np

        if self.datatype == "BYTES":
            return np.array(self.data, dtype=object).reshape(self.shape)
        return np.array(self.data, dtype=DATATYPES[self.datatype][0]).reshape(self.shape)

    def to_json(self, *, binary: bool) -> tuple[dict[str, Any], bytes | None]:
        """The tensor's JSON object, and its bytes when sent with the binary extension."""
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape),
                               "datatype": self.datatype}
        params = dict(self.parameters)
        if not binary:
            out["data"] = self.data
            if params:
                out["parameters"] = params
            return out, None
        raw = encode_binary(self.datatype, self.data)
        params["binary_data_size"] = len(raw)
        out["parameters"] = params
        return out, raw


def encode_binary(datatype: str, data: Sequence[Any]) -> bytes:
    """Row-major little-endian bytes; BYTES elements each get a 4-byte length prefix."""
    if datatype == "BYTES":
        parts = []
        for value in data:
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    if datatype not in DATATYPES:
        raise InvalidInput(f"unknown datatype {datatype!r}")
    if any(v is None for v in data):
        raise InvalidInput("a null cannot travel as binary data; send JSON instead")
    import numpy as np

    return np.asarray(list(data), dtype=DATATYPES[datatype][0]).tobytes()


def decode_binary(datatype: str, raw: bytes, count: int) -> list[Any]:
    """The inverse of :func:`encode_binary` for ``count`` elements."""
    if datatype == "BYTES":
        out, offset = [], 0
        while offset < len(raw):
            (size,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            out.append(raw[offset:offset + size].decode("utf-8", "replace"))
            offset += size
        return out
    import numpy as np

    dtype, width = DATATYPES[datatype]
    if len(raw) != width * count:
        raise GarrisonError("the server's binary output does not match its shape")
    return np.frombuffer(raw, dtype=dtype).tolist()


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can carry."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _datatype(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FP64"
    if all(isinstance(v, str) for v in present):
        return "BYTES"
    raise InvalidInput("each feature's values must all be numbers, all booleans or all strings")


def _tensors(inputs: Any) -> list[Tensor]:
    """Tensors from explicit tensors, a ``{feature: values}`` mapping or a 2-D matrix."""
    if isinstance(inputs, Tensor):
        return [inputs]
    if isinstance(inputs, Mapping):
        out = []
        for name, column in inputs.items():
            values = [_plain(v) for v in (column.tolist() if hasattr(column, "tolist")
                                          else column)]
            out.append(Tensor(str(name), (len(values),), _datatype(values), values))
        return out
    if isinstance(inputs, Sequence) and inputs and all(isinstance(t, Tensor) for t in inputs):
        return list(inputs)
    rows = inputs.tolist() if hasattr(inputs, "tolist") else inputs
    if not isinstance(rows, Sequence) or not rows or not all(
            isinstance(r, Sequence) and not isinstance(r, str) for r in rows):
        raise InvalidInput("inputs must be tensors, a {feature: values} mapping or a 2-D matrix")
    width = len(rows[0])
    if any(len(r) != width for r in rows):
        raise InvalidInput("every row of the matrix must have the same length")
    flat = [_plain(v) for r in rows for v in r]
    return [Tensor("input", (len(rows), width), "FP64", flat)]


def build_infer(inputs: Any, *, outputs: Sequence[str] | None, parameters: Mapping[str, Any]
                | None, request_id: str | None, binary: bool,
                ) -> tuple[bytes, dict[str, str]]:
    """The body and extra headers of an inference request."""
    body: dict[str, Any] = {}
    if request_id is not None:
        body["id"] = request_id
    params = dict(parameters or {})
    chunks: list[bytes] = []
    tensors = []
    for tensor in _tensors(inputs):
        obj, raw = tensor.to_json(binary=binary)
        tensors.append(obj)
        if raw is not None:
            chunks.append(raw)
    body["inputs"] = tensors
    if outputs is not None:
        body["outputs"] = [{"name": o, **({"parameters": {"binary_data": True}} if binary
                                          else {})} for o in outputs]
    elif binary:
        params["binary_data_output"] = True
    if params:
        body["parameters"] = params
    header = json.dumps(body, separators=(",", ":")).encode()
    if not binary:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {"content-type": "application/octet-stream",
                                       HEADER_LENGTH: str(len(header))}


@dataclass(frozen=True)
class InferResponse:
    """An OIP v2 inference answer. Garrison's request id is in ``parameters``."""

    model_name: str
    model_version: str | None
    id: str | None
    outputs: tuple[Tensor, ...]
    parameters: dict[str, Any]

    def output(self, name: str) -> Tensor:
        for tensor in self.outputs:
            if tensor.name == name:
                return tensor
        raise KeyError(name)

    @property
    def request_id(self) -> str:
        return str(self.parameters.get("request_id", ""))


def parse_infer(content: bytes, headers: Mapping[str, str]) -> InferResponse:
    """Read a JSON or binary-extension inference answer."""
    length = headers.get(HEADER_LENGTH)
    try:
        cut = int(length) if length is not None else len(content)
        body = json.loads(content[:cut])
        binary = content[cut:]
        tensors, offset = [], 0
        for out in body["outputs"]:
            params = dict(out.get("parameters") or {})
            shape = tuple(int(s) for s in out["shape"])
            count = 1
            for s in shape:
                count *= s
            if "binary_data_size" in params:
                size = int(params.pop("binary_data_size"))
                data = decode_binary(out["datatype"], binary[offset:offset + size], count)
                offset += size
            else:
                data = list(out["data"])
            tensors.append(Tensor(out["name"], shape, out["datatype"], data, params))
        return InferResponse(str(body["model_name"]), body.get("model_version"),
                             body.get("id"), tuple(tensors), dict(body.get("parameters") or {}))
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise GarrisonError("unexpected inference answer from the server") from exc


@dataclass(frozen=True)
class PredictResult:
    """A friendly-form answer: one prediction per row, in order."""

    predictions: tuple[dict[str, Any], ...]
    model_version: int
    request_id: str
    fallback: dict[str, Any] | None = None
    explanations: tuple[dict[str, Any], ...] | None = None
    flags: tuple[dict[str, Any], ...] = ()

    @property
    def labels(self) -> list[Any]:
        """Each row's label (or value, for a regressor)."""
        return [p.get("label", p.get("value")) for p in self.predictions]


def _rows(rows: Any) -> list[dict[str, Any]]:
    if hasattr(rows, "to_dict"):  # A pandas DataFrame, without importing pandas.
        rows = rows.to_dict(orient="records")
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, Sequence) or not all(isinstance(r, Mapping) for r in rows):
        raise InvalidInput("rows must be a list of {feature: value} mappings or a DataFrame")
    return [{str(k): _plain(v) for k, v in r.items()} for r in rows]


def build_predict(rows: Any) -> bytes:
    try:
        return json.dumps({"instances": _rows(rows)}, separators=(",", ":"),
                          allow_nan=False).encode()
    except (ValueError, TypeError) as exc:  # NaN, an infinity, or an object JSON cannot hold.
        raise InvalidInput("rows must hold finite numbers, booleans, strings or nulls") from exc


def parse_predict(content: bytes) -> PredictResult:
    try:
        body = json.loads(content)
        explanations = body.get("explanations")
        return PredictResult(
            predictions=tuple(body["predictions"]), model_version=int(body["model_version"]),
            request_id=str(body["request_id"]), fallback=body.get("fallback"),
            explanations=tuple(explanations) if explanations is not None else None,
            flags=tuple(body.get("flags") or ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise GarrisonError("unexpected prediction answer from the server") from exc
