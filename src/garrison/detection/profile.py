"""Reference profile of a training or reference data set.

The profile is what the registry stores next to a model version (``to_dict`` is
JSON-safe and holds summary statistics only, never rows), what drift checks compare
live windows against, and what the gateway's input schema is derived from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from garrison.errors import InvalidInput
from garrison.schema import FeatureSpec, InputSchema

__all__ = ["QUANTILE_LEVELS", "FeatureProfile", "Profile", "infer_type"]

PROFILE_FORMAT = "garrison.profile"
PROFILE_VERSION = 1

#: Quantile levels stored per numeric feature; the tails are denser so that the
#: reference CDF used by the KS test stays accurate where the density is low.
QUANTILE_LEVELS: tuple[float, ...] = (
    0.0, 0.001, 0.002, 0.005,
    *(round(i / 100, 2) for i in range(1, 100)),
    0.995, 0.998, 0.999, 1.0,
)
NUMERIC_TYPES = ("float", "int", "bool")
MAX_CATEGORIES = 1000
DEFAULT_CATEGORY_LIMIT = 50
#: An int feature with at most this many distinct values also stores its value counts,
#: and drift checks treat it as categorical.
DISCRETE_LIMIT = 20


def infer_type(series: pd.Series, *, category_limit: int = DEFAULT_CATEGORY_LIMIT) -> str:
    """Garrison feature type of a column: float, int, bool, category or string."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    values = series.dropna()
    if len(values) and all(isinstance(v, bool | np.bool_) for v in values):
        return "bool"
    numeric = pd.to_numeric(values, errors="coerce")
    if len(values) and not numeric.isna().any():
        return "float"
    distinct = values.astype(str).nunique()
    if distinct <= category_limit:
        return "category"
    return "string"


def _finite(value: Any) -> float | None:
    out = float(value)
    return out if math.isfinite(out) else None


@dataclass(frozen=True)
class FeatureProfile:
    """Summary of one column.

    Numeric features (float, int, bool as 0/1, and the length of a string) carry
    ``quantiles`` at ``QUANTILE_LEVELS``, a decile ``histogram`` (interior ``edges``
    and ``counts`` of the open-ended bins) and robust location/scale. Category and bool
    features carry ``categories`` (value -> count, the ``MAX_CATEGORIES`` most frequent),
    ``other_count`` for the rest and ``singletons`` (values seen once, used as the
    Good-Turing estimate of the mass of unseen values).
    """

    name: str
    type: str
    count: int
    missing: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    std: float | None = None
    median: float | None = None
    mad: float | None = None
    quantiles: tuple[float, ...] = ()
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    categories: Mapping[str, int] = field(default_factory=dict)
    other_count: int = 0
    singletons: int = 0

    @property
    def missing_rate(self) -> float:
        return self.missing / self.count if self.count else 0.0

    @property
    def present(self) -> int:
        return self.count - self.missing

    @property
    def is_numeric(self) -> bool:
        return self.type in ("float", "int", "string")

    @property
    def is_categorical(self) -> bool:
        return self.type in ("category", "bool")

    @property
    def is_discrete(self) -> bool:
        """Categorical for drift purposes: category, bool, or a low-cardinality int."""
        return self.is_categorical or (self.type == "int" and bool(self.categories))

    @property
    def robust_scale(self) -> float:
        """A positive spread: 1.4826 MAD, else IQR/1.349, else std, else 1."""
        if self.mad:
            return 1.4826 * self.mad
        if len(self.quantiles) == len(QUANTILE_LEVELS):
            iqr = self.quantile(0.75) - self.quantile(0.25)
            if iqr > 0:
                return iqr / 1.349
        return self.std if self.std else 1.0

    def quantile(self, level: float) -> float:
        return float(np.interp(level, QUANTILE_LEVELS, self.quantiles))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "type": self.type, "count": self.count, "missing": self.missing,
        }
        if self.quantiles:
            out.update(
                minimum=self.minimum, maximum=self.maximum, mean=self.mean, std=self.std,
                median=self.median, mad=self.mad, quantiles=list(self.quantiles),
                histogram={"edges": list(self.edges), "counts": list(self.counts)},
            )
        if self.categories or self.is_categorical:
            out.update(
                categories=dict(self.categories), other_count=self.other_count,
                singletons=self.singletons,
            )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        try:
            hist = data.get("histogram") or {"edges": [], "counts": []}
            return cls(
                name=str(data["name"]), type=str(data["type"]), count=int(data["count"]),
                missing=int(data["missing"]), minimum=data.get("minimum"),
                maximum=data.get("maximum"), mean=data.get("mean"), std=data.get("std"),
                median=data.get("median"), mad=data.get("mad"),
                quantiles=tuple(float(q) for q in data.get("quantiles", ())),
                edges=tuple(float(e) for e in hist["edges"]),
                counts=tuple(int(c) for c in hist["counts"]),
                categories={str(k): int(v) for k, v in data.get("categories", {}).items()},
                other_count=int(data.get("other_count", 0)),
                singletons=int(data.get("singletons", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed feature profile: {exc}") from exc

    @classmethod
    def from_series(cls, name: str, series: pd.Series, kind: str) -> FeatureProfile:
        count = len(series)
        present = series.dropna()
        missing = count - len(present)
        if kind in ("category", "bool"):
            labels = present.map(category_label)
            freq = labels.value_counts()
            top = freq.iloc[:MAX_CATEGORIES]
            return cls(
                name=name, type=kind, count=count, missing=missing,
                categories={str(k): int(v) for k, v in top.items()},
                other_count=int(freq.iloc[MAX_CATEGORIES:].sum()),
                singletons=int((freq == 1).sum()),
            )
        if kind == "string":
            values = present.astype(str).str.len().to_numpy(dtype=float)
        else:
            values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]
        if len(values) == 0:
            return cls(name=name, type=kind, count=count, missing=missing)
        quantiles = np.quantile(values, QUANTILE_LEVELS)
        edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        median = float(np.median(values))
        discrete: dict[str, int] = {}
        if kind == "int":
            uniq, ucounts = np.unique(values, return_counts=True)
            if len(uniq) <= DISCRETE_LIMIT:
                discrete = {
                    category_label(float(u)): int(c)
                    for u, c in zip(uniq, ucounts, strict=True)
                }
        return cls(
            name=name, type=kind, count=count, missing=missing,
            minimum=_finite(values.min()), maximum=_finite(values.max()),
            mean=_finite(values.mean()), std=_finite(values.std()), median=median,
            mad=_finite(np.median(np.abs(values - median))),
            quantiles=tuple(float(q) for q in quantiles), edges=tuple(float(e) for e in edges),
            counts=tuple(int(c) for c in counts), categories=discrete,
        )


def category_label(value: Any) -> str:
    """Canonical text of a category value (bools as ``true``/``false``)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Profile:
    """Per-feature profiles in column order plus the Spearman correlation structure."""

    features: tuple[FeatureProfile, ...]
    rows: int
    correlation: tuple[tuple[float, ...], ...] = ()
    correlation_features: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.features:
            raise InvalidInput("a profile needs at least one feature")

    def without(self, names: Iterable[str]) -> Profile:
        """This profile with the features ``names`` left out (and their correlations)."""
        gone = set(names)
        unknown = gone - {f.name for f in self.features}
        if unknown:
            raise InvalidInput(f"the profile has no feature {sorted(unknown)[0]!r} to leave out")
        keep = [i for i, n in enumerate(self.correlation_features) if n not in gone]
        return Profile(
            features=tuple(f for f in self.features if f.name not in gone), rows=self.rows,
            correlation=tuple(tuple(self.correlation[i][j] for j in keep) for i in keep)
            if self.correlation else (),
            correlation_features=tuple(self.correlation_features[i] for i in keep),
            outputs=tuple(n for n in self.outputs if n not in gone))

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        types: Mapping[str, str] | None = None,
        outputs: Iterable[str] = (),
        category_limit: int = DEFAULT_CATEGORY_LIMIT,
    ) -> Profile:
        """Profile every column of ``frame``; ``outputs`` names model-output columns."""
        if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0 or len(frame) == 0:
            raise InvalidInput("the reference must be a non-empty DataFrame")
        types = dict(types or {})
        outputs = tuple(outputs)
        for name in (*types, *outputs):
            if name not in frame.columns:
                raise InvalidInput(f"unknown column {name!r}")
        feats = []
        for name in frame.columns:
            kind = types.get(str(name)) or infer_type(frame[name], category_limit=category_limit)
            if kind not in ("float", "int", "bool", "category", "string"):
                raise InvalidInput(f"column {name!r}: unknown type {kind!r}")
            feats.append(FeatureProfile.from_series(str(name), frame[name], kind))
        corr_names = tuple(f.name for f in feats if f.type in ("float", "int") and f.std)
        matrix: tuple[tuple[float, ...], ...] = ()
        if len(corr_names) >= 2:
            numeric = frame[list(corr_names)].apply(pd.to_numeric, errors="coerce")
            corr = numeric.corr(method="spearman").fillna(0.0).to_numpy()
            matrix = tuple(tuple(float(v) for v in row) for row in corr)
        return cls(tuple(feats), len(frame), matrix, corr_names if matrix else (), outputs)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def input_names(self) -> list[str]:
        return [f.name for f in self.features if f.name not in self.outputs]

    def __getitem__(self, name: str) -> FeatureProfile:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def input_schema(self, *, margin: float = 0.1, nullable_above: float = 0.0) -> InputSchema:
        """The gateway schema: observed range widened by ``margin`` x range on each side,
        categories as seen, nullable where the reference missing rate is above
        ``nullable_above``. Category features with more than ``MAX_CATEGORIES`` values
        become ``string`` (the list would be incomplete)."""
        specs = []
        for f in self.features:
            if f.name in self.outputs:
                continue
            nullable = f.missing_rate > nullable_above
            if f.type in ("float", "int") and f.minimum is not None and f.maximum is not None:
                width = f.maximum - f.minimum
                pad = margin * (width if width > 0 else max(abs(f.minimum), 1.0))
                low, high = f.minimum - pad, f.maximum + pad
                if f.type == "int":
                    low, high = float(math.floor(low)), float(math.ceil(high))
                specs.append(FeatureSpec(f.name, f.type, low, high, nullable=nullable))  # type: ignore[arg-type]
            elif f.type == "category" and f.categories and not f.other_count:
                cats = tuple(sorted(f.categories))
                specs.append(FeatureSpec(f.name, "category", categories=cats, nullable=nullable))
            elif f.type == "category":
                specs.append(FeatureSpec(f.name, "string", nullable=nullable))
            else:
                specs.append(FeatureSpec(f.name, f.type, nullable=nullable))  # type: ignore[arg-type]
        return InputSchema(tuple(specs))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "quantile_levels": list(QUANTILE_LEVELS),
            "outputs": list(self.outputs),
            "features": [f.to_dict() for f in self.features],
            "correlation": {
                "method": "spearman",
                "features": list(self.correlation_features),
                "matrix": [list(r) for r in self.correlation],
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
            raise InvalidInput("not a garrison profile")
        if data.get("version") != PROFILE_VERSION:
            raise InvalidInput(f"unsupported profile version {data.get('version')!r}")
        if list(data.get("quantile_levels", [])) != list(QUANTILE_LEVELS):
            raise InvalidInput("profile was made with different quantile levels")
        corr = data.get("correlation") or {}
        try:
            return cls(
                features=tuple(FeatureProfile.from_dict(f) for f in data["features"]),
                rows=int(data["rows"]),
                correlation=tuple(tuple(float(v) for v in r) for r in corr.get("matrix", [])),
                correlation_features=tuple(str(n) for n in corr.get("features", [])),
                outputs=tuple(str(n) for n in data.get("outputs", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed profile: {exc}") from exc
