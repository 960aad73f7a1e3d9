"""Strict validation of inference requests against a model's ``InputSchema``.

Two request shapes are accepted:

* friendly: ``{"instances": [{"feature": value, ...}, ...]}``;
* Open Inference Protocol v2: ``{"inputs": [...], "parameters"?: {...}, "id"?: str}``
  with either one 2-D tensor (shape ``[n, d]``, columns in schema order, ``data``
  flat or nested) or one 1-D tensor per feature (``name`` = feature name).

Validation is strict because the schema is a data-minimization contract: unknown
fields, missing features, wrong JSON types (``true`` is not a number), NaN or
infinity where not allowed, out-of-range values and unknown categories are refused
with :class:`SchemaViolation` whose ``detail`` names the field, the 0-based row and a
stable ``problem`` code. Messages never echo a submitted value, so they are safe to
return in a 422 answer. Oversized bodies and batches raise :class:`PayloadTooLarge`.

Numeric-only schemas take a vectorized fast path that only *accepts*: whenever it
has any doubt it hands over to the per-value path, which is the reference and
produces the precise error. ``bench/gateway_validation.py`` measures both.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from garrison.errors import PayloadTooLarge
from garrison.schema import InputSchema
from garrison.serving._checks import ValidationLimits, json_depth_exceeds, parse_json
from garrison.serving._checks import violation as _violation
from garrison.serving._fastpath import FastNumeric
from garrison.serving._tensors import DATATYPES, TensorHeader, TensorReader

__all__ = ["InputValidator", "ValidatedBatch", "ValidationLimits", "json_depth_exceeds"]

_FLOAT, _INT, _BOOL, _CAT, _STR = 0, 1, 2, 3, 4
_KINDS = {"float": _FLOAT, "int": _INT, "bool": _BOOL, "category": _CAT, "string": _STR}
_NONFINITE_WORDS = frozenset(
    {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
)
_NAN = math.nan


@dataclass(frozen=True, eq=False)
class ValidatedBatch:
    """A request that passed validation.

    ``matrix`` is a C-contiguous float64 array of shape ``(n_rows, len(names))`` in
    schema order when every feature is numeric (``float``/``int``/``bool``; booleans
    become 0.0/1.0, nullable nulls become NaN). Otherwise ``matrix`` is ``None`` and
    ``columns`` maps each feature name to a 1-D array: float64 for numeric features,
    ``object`` (``str`` or ``None``) for ``category`` and ``string`` features, which
    are kept as their string values for the model's own encoder.
    """

    names: tuple[str, ...]
    n_rows: int
    matrix: np.ndarray | None = None
    columns: dict[str, np.ndarray] | None = None
    protocol: str = "instances"
    request_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def as_columns(self) -> dict[str, np.ndarray]:
        """Column view of either representation (matrix columns are views)."""
        if self.columns is not None:
            return self.columns
        assert self.matrix is not None
        return {name: self.matrix[:, j] for j, name in enumerate(self.names)}


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    kind: int
    lo: float
    hi: float
    nullable: bool
    allow_nan: bool
    cats: frozenset[str]


class InputValidator:
    """Compiled validator for one deployment's schema; build once, reuse per request."""

    def __init__(self, schema: InputSchema, limits: ValidationLimits | None = None) -> None:
        self.schema = schema
        self.limits = limits or ValidationLimits()
        self._cols = tuple(
            _Column(
                name=f.name,
                kind=_KINDS[f.type],
                lo=-math.inf if f.minimum is None else float(f.minimum),
                hi=math.inf if f.maximum is None else float(f.maximum),
                nullable=f.nullable,
                allow_nan=f.allow_nan,
                cats=frozenset(f.categories or ()),
            )
            for f in schema.features
        )
        self._names = tuple(c.name for c in self._cols)
        self._by_name = {c.name: c for c in self._cols}
        self._numeric_only = all(c.kind <= _BOOL for c in self._cols)
        self._tensors = TensorReader(self.limits, _violation, len(self._cols))
        self._fastpath: FastNumeric | None = None
        # Each row's values in schema order, as a tuple (even for a single feature).
        getter = operator.itemgetter(*self._names)
        self._getter = getter if len(self._names) > 1 else (lambda row: (getter(row),))
        if self._numeric_only:
            self._fastpath = FastNumeric(
                lo=[c.lo for c in self._cols],
                hi=[c.hi for c in self._cols],
                integral=[c.kind == _INT for c in self._cols],
                boolean=[c.kind == _BOOL for c in self._cols],
            )

    # ----- entry points -------------------------------------------------------------

    def validate_json(self, body: bytes) -> ValidatedBatch:
        """Size-check, depth-check and parse a raw body, then :meth:`validate` it."""
        return self.validate(parse_json(body, self.limits))

    def validate(self, payload: Any) -> ValidatedBatch:
        """Validate an already parsed request (either shape)."""
        if type(payload) is not dict:
            raise _violation("$", None, "not-an-object")
        if "inputs" in payload:
            return self._validate_oip(payload)
        if "instances" in payload:
            if len(payload) != 1:
                extra = next(k for k in payload if k != "instances")
                raise _violation(extra, None, "unknown-field")
            return self._validate_instances(payload["instances"])
        raise _violation("$", None, "unknown-request-shape")

    # ----- the reference, per-value path --------------------------------------------

    def _coerce(self, col: _Column, v: Any, r: int) -> Any:
        """Check one value; return a float (numeric kinds) or the str/None (others)."""
        t = type(v)
        kind = col.kind
        if kind <= _BOOL:
            if t is float:
                if kind == _BOOL:
                    raise _violation(col.name, r, "wrong-type")
                if not math.isfinite(v):
                    if col.allow_nan:
                        return v
                    raise _violation(col.name, r, "not-finite")
                if kind == _INT and not v.is_integer():
                    raise _violation(col.name, r, "not-an-integer")
            elif t is int:
                if kind == _BOOL:
                    raise _violation(col.name, r, "wrong-type")
                try:
                    v = float(v)
                except OverflowError:
                    problem = "above-maximum" if v > 0 else "below-minimum"
                    raise _violation(col.name, r, problem) from None
            elif t is bool:
                if kind != _BOOL:
                    raise _violation(col.name, r, "wrong-type")
                return 1.0 if v else 0.0
            elif v is None:
                if col.nullable:
                    return _NAN
                raise _violation(col.name, r, "null-not-allowed")
            else:
                word = t is str and len(v) <= 16 and v.strip().lower() in _NONFINITE_WORDS
                raise _violation(col.name, r, "not-finite" if word else "wrong-type")
            if v < col.lo:
                raise _violation(col.name, r, "below-minimum")
            if v > col.hi:
                raise _violation(col.name, r, "above-maximum")
            return v
        if t is str:
            if len(v) > self.limits.max_string_length:
                raise _violation(col.name, r, "string-too-long")
            if kind == _CAT and v not in col.cats:
                raise _violation(col.name, r, "unknown-category")
            return v
        if v is None:
            if col.nullable:
                return None
            raise _violation(col.name, r, "null-not-allowed")
        raise _violation(col.name, r, "wrong-type")

    def _element(self, col: _Column, v: Any, r: int, datatype: str) -> Any:
        """Check an OIP element against its tensor datatype, then the feature spec."""
        family, lo, hi = DATATYPES[datatype]
        t = type(v)
        if v is None:
            return self._coerce(col, v, r)
        if family == "fp":
            if t is not float and t is not int:
                if t is str and len(v) <= 16 and v.strip().lower() in _NONFINITE_WORDS:
                    raise _violation(col.name, r, "not-finite")
                raise _violation(col.name, r, "datatype-mismatch")
            if not (lo <= v <= hi) and math.isfinite(v):
                raise _violation(col.name, r, "out-of-datatype-range")
        elif family == "int":
            if t is not int:
                raise _violation(col.name, r, "datatype-mismatch")
            if not lo <= v <= hi:
                raise _violation(col.name, r, "out-of-datatype-range")
        elif family == "bool":
            if t is not bool:
                raise _violation(col.name, r, "datatype-mismatch")
        elif t is not str:
            raise _violation(col.name, r, "datatype-mismatch")
        if col.kind == _BOOL and family in ("fp", "int"):
            if v != 0 and v != 1:
                raise _violation(col.name, r, "wrong-type")
            v = bool(v)
        return self._coerce(col, v, r)

    def _key_problem(self, row: dict[str, Any], r: int) -> Exception:
        for key in row:
            if key not in self._by_name:
                return _violation(key, r, "unknown-field")
        missing = next(n for n in self._names if n not in row)
        return _violation(missing, r, "missing-field")

    def _check_rows(self, n: int) -> None:
        if n == 0:
            raise _violation("$", None, "empty-batch")
        if n > self.limits.max_rows:
            raise PayloadTooLarge(
                "too many rows in one request", problem="too-many-rows", limit=self.limits.max_rows
            )

    def _batch(self, values: list[list[Any]], n: int, **extra: Any) -> ValidatedBatch:
        """Assemble column-major checked values into a batch."""
        if self._numeric_only:
            matrix = np.ascontiguousarray(np.array(values, dtype=np.float64).T)
            return ValidatedBatch(names=self._names, n_rows=n, matrix=matrix, **extra)
        columns: dict[str, np.ndarray] = {}
        for col, vals in zip(self._cols, values, strict=True):
            if col.kind <= _BOOL:
                columns[col.name] = np.array(vals, dtype=np.float64)
            else:
                columns[col.name] = arr = np.empty(n, dtype=object)
                arr[:] = vals
        return ValidatedBatch(names=self._names, n_rows=n, columns=columns, **extra)

    # ----- friendly shape -----------------------------------------------------------

    def _validate_instances(self, instances: Any) -> ValidatedBatch:
        if type(instances) is not list:
            raise _violation("instances", None, "not-a-list")
        n = len(instances)
        self._check_rows(n)
        names = self._names
        if self._fastpath is not None:
            try:  # Row by row in C: one itemgetter call per row, no per-value bytecode.
                flat = list(chain.from_iterable(map(self._getter, instances)))
            except (KeyError, TypeError, IndexError):
                flat = None
            if flat is not None and sum(map(len, instances)) == n * len(names):
                m = self._fastpath.instances(flat, n)
                if m is not None:
                    return ValidatedBatch(names=names, n_rows=n, matrix=m)
        cols = self._cols
        d = len(cols)
        coerce = self._coerce
        values: list[list[Any]] = [[None] * n for _ in range(d)]
        for r, row in enumerate(instances):
            if type(row) is not dict:
                raise _violation("instances", r, "not-an-object")
            if len(row) != d:
                raise self._key_problem(row, r)
            for j, col in enumerate(cols):
                try:
                    v = row[col.name]
                except KeyError:
                    raise self._key_problem(row, r) from None
                values[j][r] = coerce(col, v, r)
        return self._batch(values, n)

    # ----- Open Inference Protocol v2 ----------------------------------------------

    def _validate_oip(self, payload: dict[str, Any]) -> ValidatedBatch:
        tensors = self._tensors
        for key in payload:
            if key not in ("inputs", "parameters", "id"):
                raise _violation(key, None, "unknown-field")
        request_id = payload.get("id")
        if request_id is not None:
            if type(request_id) is not str:
                raise _violation("id", None, "wrong-type")
            if len(request_id) > self.limits.max_id_length:
                raise _violation("id", None, "string-too-long")
        extra = {
            "protocol": "v2",
            "request_id": request_id,
            "parameters": tensors.parameters(payload.get("parameters"), "parameters"),
        }
        inputs = payload["inputs"]
        if type(inputs) is not list or not inputs:
            raise _violation("inputs", None, "not-a-list" if type(inputs) is not list else "empty")
        first = tensors.header(inputs[0], 0)
        single = len(inputs) == 1 and len(first.shape) == 2
        if single and (first.shape[1] != 1 or len(self._cols) == 1):
            return self._oip_matrix(first, extra)
        return self._oip_columns(inputs, first, extra)

    def _oip_matrix(self, tensor: TensorHeader, extra: dict[str, Any]) -> ValidatedBatch:
        n, d = tensor.shape
        if d != len(self._cols):
            raise _violation("inputs[0].shape", None, "shape-mismatch")
        self._check_rows(n)
        flat = self._tensors.flat(tensor)
        if self._fastpath is not None:
            m = self._fastpath.tensor(flat, n, tensor.datatype)
            if m is not None:
                return ValidatedBatch(names=self._names, n_rows=n, matrix=m, **extra)
        element = self._element
        dt = tensor.datatype
        values = [
            [element(col, flat[r * d + j], r, dt) for r in range(n)]
            for j, col in enumerate(self._cols)
        ]
        return self._batch(values, n, **extra)

    def _oip_columns(
        self, inputs: list[Any], first: TensorHeader, extra: dict[str, Any]
    ) -> ValidatedBatch:
        tensors = self._tensors
        headers = [first] + [tensors.header(t, i) for i, t in enumerate(inputs[1:], start=1)]
        by_name: dict[str, TensorHeader] = {}
        for i, h in enumerate(headers):
            if h.name not in self._by_name:
                raise _violation(h.name, None, "unknown-field")
            if h.name in by_name:
                raise _violation(h.name, None, "duplicate-input")
            if len(h.shape) == 2 and h.shape[1] != 1:
                raise _violation(f"inputs[{i}].shape", None, "shape-mismatch")
            by_name[h.name] = h
        for name in self._names:
            if name not in by_name:
                raise _violation(name, None, "missing-field")
        n = first.shape[0]
        self._check_rows(n)
        ordered = [by_name[name] for name in self._names]
        data: list[list[Any]] = []
        for col, h in zip(self._cols, ordered, strict=True):
            if h.shape[0] != n:
                raise _violation(col.name, None, "shape-mismatch")
            data.append(tensors.column(h, col.name))
        if self._fastpath is not None:
            m = self._fastpath.columns(data, [h.datatype for h in ordered], n)
            if m is not None:
                return ValidatedBatch(names=self._names, n_rows=n, matrix=m, **extra)
        element = self._element
        values = [
            [element(col, v, r, h.datatype) for r, v in enumerate(column)]
            for col, h, column in zip(self._cols, ordered, data, strict=True)
        ]
        return self._batch(values, n, **extra)
