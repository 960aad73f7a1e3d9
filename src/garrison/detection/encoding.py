"""Category features as integer codes, so model-based detectors see every model input.

The multivariate detectors work on the numeric columns. A model over mixed columns
(a pipeline with a ``OneHotEncoder`` beside numeric features) needs its category inputs
too: :class:`CategoryCodes` turns each category feature into an integer code column
appended after the numeric ones, and :class:`FrameModel` turns such a matrix back into
the rows the model takes (a DataFrame under the model's own column names, category
values as they were in the reference), so a detector can perturb the numeric part and
ask the model through its own pipeline. Everything here is vectorized per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from garrison.detection.profile import Profile, category_label
from garrison.schema import InputSchema

__all__ = ["CategoryCodes", "FrameModel"]


class CategoryCodes:
    """Integer codes of the schema's category features (in schema order).

    A value the reference never held (the rules flag it as ``unseen-category``) gets
    the code of the feature's most frequent category, as a missing number gets the
    median: the detectors still see a complete row.
    """

    def __init__(self, schema: InputSchema, profile: Profile, reference: pd.DataFrame) -> None:
        self.names = [f.name for f in schema.features if f.type == "category" and f.categories]
        self.index: list[dict[str, int]] = []
        self.values: list[np.ndarray] = []
        self.impute: list[int] = []
        for name in self.names:
            spec = schema[name]
            labels = list(spec.categories or ())
            index = {lab: i for i, lab in enumerate(labels)}
            # The model saw the reference's own values (an int stays an int): keep one
            # original value per label to hand back to it.
            originals: dict[str, Any] = {}
            for value in pd.unique(reference[name].dropna()):
                originals.setdefault(category_label(value), value)
            values = np.empty(len(labels), dtype=object)
            for lab, i in index.items():
                values[i] = originals.get(lab, lab)
            counts = profile[name].categories
            top = max(labels, key=lambda lab: counts.get(lab, 0))
            self.index.append(index)
            self.values.append(values)
            self.impute.append(index[top])
        self.sizes = [len(v) for v in self.values]

    def __len__(self) -> int:
        return len(self.names)

    def _code(self, k: int, value: Any) -> int:
        if value is None or (isinstance(value, float) and value != value):
            return self.impute[k]
        return self.index[k].get(category_label(value), self.impute[k])

    def frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Codes of every row of ``frame`` (a missing column counts as missing values)."""
        out = np.empty((len(frame), len(self.names)))
        for k, name in enumerate(self.names):
            if name not in frame.columns:
                out[:, k] = self.impute[k]
                continue
            index, fill = self.index[k], self.impute[k]
            labels = frame[name].map(category_label, na_action="ignore")
            out[:, k] = [index.get(lab, fill) if isinstance(lab, str) else fill
                         for lab in labels]
        return out

    def row(self, row: Mapping[str, Any]) -> np.ndarray:
        return np.array([self._code(k, row.get(name)) for k, name in enumerate(self.names)],
                        dtype=float)

    def batch(self, rows: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Codes from a 2-D array whose columns are ``names`` in order."""
        position = {n: i for i, n in enumerate(names)}
        out = np.empty((len(rows), len(self.names)))
        for k, name in enumerate(self.names):
            column = rows[:, position[name]]
            out[:, k] = [self._code(k, v) for v in column]
        return out


class FrameModel:
    """``predict_proba`` over ``[numeric | category codes]`` matrices for a model that
    takes the raw columns (numbers and category values) under their names."""

    def __init__(self, model: Any, numeric: Sequence[str], codes: CategoryCodes,
                 order: Sequence[str]) -> None:
        self.model = model
        self.numeric = list(numeric)
        self.codes = codes
        fitted = getattr(model, "feature_names_in_", None)
        self.order = [str(n) for n in fitted] if fitted is not None else list(order)
        self.named = fitted is not None
        self.width = len(self.numeric) + len(codes)

    def frame(self, matrix: np.ndarray) -> pd.DataFrame:
        columns: dict[str, Any] = {n: matrix[:, j] for j, n in enumerate(self.numeric)}
        base = len(self.numeric)
        for k, name in enumerate(self.codes.names):
            codes = np.clip(np.rint(matrix[:, base + k]).astype(np.intp), 0,
                            self.codes.sizes[k] - 1)
            columns[name] = self.codes.values[k][codes]
        return pd.DataFrame(columns)[self.order]

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        frame = self.frame(np.asarray(matrix, dtype=float))
        data: Any = frame if self.named else frame.to_numpy(dtype=object)
        return np.asarray(self.model.predict_proba(data), dtype=float)
