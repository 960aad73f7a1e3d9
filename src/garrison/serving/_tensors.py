"""Structural checks of Open Inference Protocol v2 tensors (private to validation).

Only the envelope is checked here (keys, name, shape, datatype, data layout and the
``parameters`` allow-list); element values are checked by the validator against the
datatype and the feature spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from garrison.errors import SchemaViolation
from garrison.serving._checks import ValidationLimits

__all__ = ["DATATYPES", "TensorHeader", "TensorReader"]

_F32 = 3.4028234663852886e38

# Datatype -> (family, smallest value, largest value) of the OIP v2 tensor types.
DATATYPES: dict[str, tuple[str, float, float]] = {
    "BOOL": ("bool", 0, 1),
    "INT8": ("int", -(2**7), 2**7 - 1),
    "INT16": ("int", -(2**15), 2**15 - 1),
    "INT32": ("int", -(2**31), 2**31 - 1),
    "INT64": ("int", -(2**63), 2**63 - 1),
    "UINT8": ("int", 0, 2**8 - 1),
    "UINT16": ("int", 0, 2**16 - 1),
    "UINT32": ("int", 0, 2**32 - 1),
    "UINT64": ("int", 0, 2**64 - 1),
    "FP16": ("fp", -65504.0, 65504.0),
    "FP32": ("fp", -_F32, _F32),
    "FP64": ("fp", -math.inf, math.inf),
    "BYTES": ("bytes", 0, 0),
}
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
_REQUIRED_ORDER = ("name", "shape", "datatype", "data")
_REQUIRED_KEYS = frozenset(_REQUIRED_ORDER)

Violation = Callable[[str, "int | None", str], SchemaViolation]


@dataclass(frozen=True, slots=True)
class TensorHeader:
    """A tensor whose envelope passed the structural checks."""

    name: str
    shape: tuple[int, ...]
    datatype: str
    data: Any
    field: str


class TensorReader:
    """Checks tensor envelopes and lays their data out as rows or a column."""

    def __init__(self, limits: ValidationLimits, violation: Violation, n_features: int) -> None:
        self._limits = limits
        self._violation = violation
        self._n_features = n_features

    def parameters(self, params: Any, fld: str) -> dict[str, Any]:
        """Check a ``parameters`` object against the allow-list; scalars only."""
        if params is None:
            return {}
        bad = self._violation
        if type(params) is not dict:
            raise bad(fld, None, "not-an-object")
        for key, value in params.items():
            if key not in self._limits.allowed_parameters:
                raise bad(key, None, "unknown-parameter")
            t = type(value)
            if t is str:
                if len(value) > self._limits.max_string_length:
                    raise bad(key, None, "string-too-long")
            elif t is float:
                if not math.isfinite(value):
                    raise bad(key, None, "not-finite")
            elif t is not int and t is not bool:
                raise bad(key, None, "wrong-type")
        return dict(params)

    def header(self, tensor: Any, index: int) -> TensorHeader:
        """Check one tensor's keys, name, shape and datatype."""
        bad = self._violation
        fld = f"inputs[{index}]"
        if type(tensor) is not dict:
            raise bad(fld, None, "not-an-object")
        if not tensor.keys() <= _TENSOR_KEYS:
            raise bad(next(k for k in tensor if k not in _TENSOR_KEYS), None, "unknown-field")
        if not tensor.keys() >= _REQUIRED_KEYS:
            missing = next(k for k in _REQUIRED_ORDER if k not in tensor)
            raise bad(f"{fld}.{missing}", None, "missing-field")
        name = tensor["name"]
        if type(name) is not str or not name:
            raise bad(f"{fld}.name", None, "wrong-type")
        if len(name) > self._limits.max_id_length:
            raise bad(f"{fld}.name", None, "string-too-long")
        shape = tensor["shape"]
        if type(shape) is not list or not 1 <= len(shape) <= 2:
            raise bad(f"{fld}.shape", None, "bad-shape")
        for size in shape:
            if type(size) is not int or size < 0:
                raise bad(f"{fld}.shape", None, "bad-shape")
        datatype = tensor["datatype"]
        if type(datatype) is not str or datatype not in DATATYPES:
            raise bad(f"{fld}.datatype", None, "bad-datatype")
        if "parameters" in tensor:
            self.parameters(tensor["parameters"], f"{fld}.parameters")
        return TensorHeader(name, tuple(shape), datatype, tensor["data"], fld)

    def flat(self, tensor: TensorHeader) -> list[Any]:
        """The data of an ``[n, d]`` tensor as one row-major list of ``n * d`` elements.

        ``data`` may be flat or nested one level (``n`` lists of ``d``); deeper nesting
        surfaces later as an element of the wrong type.
        """
        bad = self._violation
        n, d = tensor.shape
        data = tensor.data
        if type(data) is not list:
            raise bad(f"{tensor.field}.data", None, "not-a-list")
        if data and type(data[0]) is list:
            if len(data) != n:
                raise bad(f"{tensor.field}.data", None, "shape-mismatch")
            for r, row in enumerate(data):
                if type(row) is not list or len(row) != d:
                    raise bad(f"{tensor.field}.data", r, "shape-mismatch")
            return [v for row in data for v in row]
        if len(data) != n * d:
            raise bad(f"{tensor.field}.data", None, "shape-mismatch")
        return data

    def column(self, tensor: TensorHeader, feature: str) -> list[Any]:
        """The data of an ``[n]`` or ``[n, 1]`` tensor as a flat list of ``n`` elements."""
        bad = self._violation
        n = tensor.shape[0]
        data = tensor.data
        if type(data) is not list:
            raise bad(feature, None, "not-a-list")
        if len(data) != n:
            raise bad(feature, None, "shape-mismatch")
        if len(tensor.shape) == 2 and data and type(data[0]) is list:
            flat = []
            for r, row in enumerate(data):
                if type(row) is not list or len(row) != 1:
                    raise bad(feature, r, "shape-mismatch")
                flat.append(row[0])
            return flat
        return data
