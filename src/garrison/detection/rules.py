"""Rule checks of one request or a batch against the schema derived from the profile.

Rules are not calibrated: a violation is a fact (missing value where none is allowed,
wrong type, NaN or infinity, out of the widened reference range, a category never
seen, a feature the model does not take). Each violation is a reason string
``"<rule>:<feature>"``; values are never copied into reasons, which may be logged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from garrison.detection.profile import category_label
from garrison.schema import InputSchema

__all__ = ["RULES", "RuleChecker"]

#: The rule names, in the order reasons are reported.
RULES = (
    "unknown-feature", "missing-value", "wrong-type", "non-finite", "out-of-range",
    "unseen-category",
)
_NUMERIC = ("float", "int", "bool")
_INFINITIES = (math.inf, -math.inf)


class RuleChecker:
    """Checks rows against ``schema`` and extracts the numeric columns.

    ``impute`` gives the value used for a numeric column whose entry is missing or
    invalid, so that the multivariate detectors still see a finite vector (the row is
    flagged by the rules anyway).
    """

    def __init__(self, schema: InputSchema, impute: Mapping[str, float]) -> None:
        self.schema = schema
        self.numeric_names = [f.name for f in schema.features if f.type in _NUMERIC]
        self._impute = np.array([float(impute[n]) for n in self.numeric_names])
        self._impute_list = self._impute.tolist()
        self._specs = []
        for spec in schema.features:
            low = -math.inf if spec.minimum is None else spec.minimum
            high = math.inf if spec.maximum is None else spec.maximum
            cats = frozenset(spec.categories or ())
            num_pos = self.numeric_names.index(spec.name) if spec.type in _NUMERIC else -1
            self._specs.append((spec.name, spec.type, low, high, cats, spec.nullable, num_pos))
        self._known = frozenset(schema.names)
        # The all-numeric batch path's bounds, as arrays once.
        self._all_numeric = all(s[1] in ("float", "int") for s in self._specs)
        self._low = np.array([s[2] for s in self._specs])
        self._high = np.array([s[3] for s in self._specs])
        self._nullable = np.array([s[5] for s in self._specs], dtype=bool)
        self._is_int = np.array([s[1] == "int" for s in self._specs], dtype=bool)

    # The per-request path is a plain loop: for ~20 features it costs a few
    # microseconds, far less than building a DataFrame would.
    def check_row(self, row: Mapping[str, Any]) -> tuple[list[str], np.ndarray]:
        reasons: list[str] = []
        values = list(self._impute_list)
        if len(row) > len(self._known) or not self._known.issuperset(row):
            reasons.extend(f"unknown-feature:{k}" for k in row if k not in self._known)
        get = row.get
        for name, kind, low, high, cats, nullable, pos in self._specs:
            value: Any = get(name)
            vtype = type(value)
            # Fast path: a plain float or int for a numeric feature.
            if (vtype is float or vtype is int) and pos >= 0 and kind != "bool":
                if value != value or value in _INFINITIES:
                    reasons.append(f"non-finite:{name}")
                elif kind == "int" and vtype is float and not value.is_integer():
                    reasons.append(f"wrong-type:{name}")
                else:
                    if value < low or value > high:
                        reasons.append(f"out-of-range:{name}")
                    values[pos] = value
                continue
            if value is None:
                if not nullable:
                    reasons.append(f"missing-value:{name}")
                continue
            if kind == "float" or kind == "int":
                if isinstance(value, bool | np.bool_) or not isinstance(
                    value, int | float | np.number
                ):
                    reasons.append(f"wrong-type:{name}")
                    continue
                number = float(value)
                if not math.isfinite(number):
                    reasons.append(f"non-finite:{name}")
                    continue
                if kind == "int" and not number.is_integer():
                    reasons.append(f"wrong-type:{name}")
                    continue
                if number < low or number > high:
                    reasons.append(f"out-of-range:{name}")
                values[pos] = number
            elif kind == "bool":
                if isinstance(value, bool | np.bool_) or (
                    isinstance(value, int) and value in (0, 1)
                ):
                    values[pos] = float(value)
                else:
                    reasons.append(f"wrong-type:{name}")
            elif kind == "category":
                if not isinstance(value, str | int) or isinstance(value, bool):
                    reasons.append(f"wrong-type:{name}")
                elif category_label(value) not in cats:
                    reasons.append(f"unseen-category:{name}")
            elif not isinstance(value, str):
                reasons.append(f"wrong-type:{name}")
        return reasons, np.array(values, dtype=float)

    def check_frame(self, frame: pd.DataFrame) -> tuple[list[list[str]], np.ndarray]:
        """Vectorized rules over a frame: reasons per row and the numeric matrix."""
        n = len(frame)
        reasons: list[list[str]] = [[] for _ in range(n)]
        numeric = np.tile(self._impute, (n, 1))

        def add(mask: np.ndarray, reason: str) -> None:
            for i in np.flatnonzero(mask):
                reasons[i].append(reason)

        for col in frame.columns:
            if col not in self._known:
                add(np.ones(n, dtype=bool), f"unknown-feature:{col}")
        for name, kind, low, high, cats, nullable, pos in self._specs:
            if name not in frame.columns:
                if not nullable:
                    add(np.ones(n, dtype=bool), f"missing-value:{name}")
                continue
            column = frame[name]
            missing = column.isna().to_numpy()
            if not _plain_numeric(column):
                missing = np.array([_is_missing(v) for v in column], dtype=bool)
            if not nullable:
                add(missing, f"missing-value:{name}")
            present = ~missing
            if kind in _NUMERIC:
                parsed, wrong = _parse_numeric(column, kind)
                wrong &= present
                add(wrong, f"wrong-type:{name}")
                ok = present & ~wrong
                infinite = ok & ~np.isfinite(parsed)
                add(infinite, f"non-finite:{name}")
                ok &= ~infinite
                add(ok & ((parsed < low) | (parsed > high)), f"out-of-range:{name}")
                numeric[ok, pos] = parsed[ok]
            elif kind == "category":
                labels = [
                    category_label(v) if p else ""
                    for v, p in zip(column, present, strict=True)
                ]
                types_ok = np.array(
                    [not p or (isinstance(v, str | int | np.integer) and not isinstance(v, bool))
                     or (isinstance(v, float) and v.is_integer())
                     for v, p in zip(column, present, strict=False)], dtype=bool)
                add(~types_ok, f"wrong-type:{name}")
                unseen = np.array([lab not in cats for lab in labels], dtype=bool)
                add(present & types_ok & unseen, f"unseen-category:{name}")
            else:
                wrong = np.array([
                    p and not isinstance(v, str) for v, p in zip(column, present, strict=True)
                ], dtype=bool)
                add(wrong, f"wrong-type:{name}")
        return reasons, numeric

    def passes_all(self, array: np.ndarray) -> bool:
        """Cheap proof that no rule can fire: a float array of an all-numeric schema whose
        values are finite, in range and integral where required (what the gateway's
        validator has already enforced)."""
        if array.dtype.kind != "f" or not self._all_numeric or array.ndim != 2 \
                or array.shape[1] != len(self._specs):
            return False
        if not (np.isfinite(array).all()
                and ((array >= self._low) & (array <= self._high)).all()):
            return False
        ints = array[:, self._is_int]
        return bool((ints == np.round(ints)).all())

    def check_batch(self, rows: np.ndarray | Sequence[Sequence[Any]]) -> tuple[
        list[list[str]], np.ndarray
    ]:
        """Rules over a 2-D array whose columns are the schema's features in order."""
        array = np.asarray(rows)
        if array.ndim != 2 or array.shape[1] != len(self.schema.features):
            from garrison.errors import SchemaViolation

            raise SchemaViolation(
                f"expected a 2-D array with {len(self.schema.features)} columns"
            )
        if array.dtype.kind == "f" and self._all_numeric:
            return self._check_float_batch(array)
        frame = pd.DataFrame(array, columns=self.schema.names)
        return self.check_frame(frame)

    def _check_float_batch(self, array: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
        """Fast path for an all-numeric float array; NaN means a missing value."""
        n = array.shape[0]
        reasons: list[list[str]] = [[] for _ in range(n)]
        low, high, nullable, is_int = self._low, self._high, self._nullable, self._is_int
        missing = np.isnan(array)
        infinite = np.isinf(array)
        finite = ~missing & ~infinite
        with np.errstate(invalid="ignore"):
            wrong = finite & is_int & (array != np.round(array))
            out = finite & ~wrong & ((array < low) | (array > high))
        bad = (missing & ~nullable) | infinite | wrong | out
        if bad.any():
            names = self.schema.names
            for i, j in zip(*np.nonzero(bad), strict=False):
                if missing[i, j]:
                    reasons[i].append(f"missing-value:{names[j]}")
                elif infinite[i, j]:
                    reasons[i].append(f"non-finite:{names[j]}")
                elif wrong[i, j]:
                    reasons[i].append(f"wrong-type:{names[j]}")
                else:
                    reasons[i].append(f"out-of-range:{names[j]}")
        numeric = np.where(finite & ~wrong, array, self._impute)
        return reasons, numeric


def _wrong_number(v: Any, kind: str) -> bool:
    """True for a bool or non-number, and for a non-integral number in an int feature."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
        return True
    return kind == "int" and math.isfinite(float(v)) and not float(v).is_integer()


def _plain_numeric(column: pd.Series) -> bool:
    """A numeric or bool dtype (object and text columns need a per-value look)."""
    return bool(pd.api.types.is_numeric_dtype(column.dtype)
                or pd.api.types.is_bool_dtype(column.dtype))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _parse_numeric(column: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Parsed float values and a wrong-type mask (meaningful only where present)."""
    n = len(column)
    if _plain_numeric(column):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        wrong = np.zeros(n, dtype=bool)
        if kind == "bool":
            wrong = ~np.isin(values, (0.0, 1.0)) & ~np.isnan(values)
        elif kind == "int":
            with np.errstate(invalid="ignore"):
                wrong = np.isfinite(values) & (values != np.round(values))
        return values, wrong
    values = np.full(n, np.nan)
    wrong = np.zeros(n, dtype=bool)
    for i, v in enumerate(column):
        if _is_missing(v):
            continue
        if kind == "bool":
            if isinstance(v, bool | np.bool_) or (isinstance(v, int) and v in (0, 1)):
                values[i] = float(v)
            else:
                wrong[i] = True
        elif _wrong_number(v, kind):
            wrong[i] = True
        else:
            values[i] = float(v)
    return values, wrong
