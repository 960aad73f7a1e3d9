"""The result type shared by every explainer, and the input checks they all apply."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from garrison.errors import InvalidInput, SchemaViolation

__all__ = [
    "AdditiveExplainer",
    "Explainer",
    "Explanation",
    "as_rows",
    "build_explanations",
    "check_feature_names",
    "ensure_fitted",
]

Contributions = dict[str, float] | dict[str, dict[str, float]]


@dataclass(frozen=True)
class Explanation:
    """Per-feature contributions to one model output for one row.

    Local accuracy holds by construction: ``base_value + sum(contributions) == output_value``
    (per class when the model has several outputs). For a model with one output
    (regressors, binary classifiers) the three value fields are floats and ``target`` names
    the explained class of a binary classifier. For a model with one output per class the
    fields are dicts keyed by the class label (as text) and ``target`` is ``None``.
    """

    method: str
    output_space: str
    base_value: float | dict[str, float]
    contributions: Contributions
    output_value: float | dict[str, float]
    baseline: str
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the gateway returns it under ``explanation`` for ``?explain=true``)."""
        return {
            "method": self.method,
            "output_space": self.output_space,
            "baseline": self.baseline,
            "target": self.target,
            "base_value": _jsonable(self.base_value),
            "output_value": _jsonable(self.output_value),
            "contributions": _jsonable(self.contributions),
        }


class Explainer(Protocol):
    """An object built once per model (weights precomputed) that explains rows."""

    method: str
    output_space: str
    feature_names: tuple[str, ...]

    def explain(self, X: Any) -> list[Explanation]:
        """Explain each row of ``X`` (2-D, or one 1-D row)."""
        ...


def _jsonable(value: Any) -> Any:
    # Non-finite floats are not valid JSON; they become null.
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value if math.isfinite(value) else None


def ensure_fitted(model: Any) -> None:
    """Raise InvalidInput if ``model`` is an unfitted scikit-learn-style estimator."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidInput("the model is not fitted") from exc
    except TypeError:
        pass  # Not an estimator at all: the explainer's own type checks refuse it.


def check_feature_names(
    feature_names: Sequence[str], n_features: int, model: Any = None
) -> tuple[str, ...]:
    """Return the names as a tuple, or raise InvalidInput if they do not fit the model.

    When the model was fitted on named columns (``feature_names_in_``), the names must be
    exactly those, in that order: otherwise every contribution would carry the wrong label.
    """
    names = tuple(str(name) for name in feature_names)
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None and tuple(str(name) for name in fitted) != names:
        raise InvalidInput(
            "the feature names differ from the columns the model was fitted on (same order)"
        )
    if len(names) != n_features:
        raise InvalidInput(
            f"the model takes {n_features} features but {len(names)} feature names were given",
            expected=n_features,
            got=len(names),
        )
    if len(set(names)) != len(names):
        raise InvalidInput("feature names must be unique")
    return names


def as_rows(X: Any, n_features: int, *, allow_nan: bool) -> np.ndarray:
    """Return ``X`` as a 2-D float64 array with ``n_features`` columns, or raise."""
    try:
        rows = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SchemaViolation("the rows to explain must be numeric") from exc
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    if rows.ndim != 2 or rows.shape[1] != n_features:
        raise SchemaViolation(
            f"expected rows of {n_features} features, got an array of shape {rows.shape}",
            expected=n_features,
        )
    if allow_nan:
        if np.isinf(rows).any():
            raise SchemaViolation("the rows to explain contain infinite values")
    elif not np.isfinite(rows).all():
        raise SchemaViolation("the rows to explain contain infinite or missing values")
    return rows


def build_explanations(
    *,
    method: str,
    output_space: str,
    baseline: str,
    feature_names: tuple[str, ...],
    labels: Sequence[str] | None,
    target: str | None,
    base: np.ndarray,
    phi: np.ndarray,
    output: np.ndarray,
) -> list[Explanation]:
    """Turn arrays into Explanations.

    ``base`` has shape (n_outputs,), ``phi`` (n_rows, n_outputs, n_features) and ``output``
    (n_rows, n_outputs). With ``labels`` None the model has one output and the fields are
    floats; otherwise they are dicts keyed by label.
    """
    base_list = base.tolist()
    phi_list = phi.tolist()
    out_list = output.tolist()
    result: list[Explanation] = []
    if labels is None:
        base_value = base_list[0]
        for row_phi, row_out in zip(phi_list, out_list, strict=True):
            result.append(
                Explanation(
                    method,
                    output_space,
                    base_value,
                    dict(zip(feature_names, row_phi[0], strict=True)),
                    row_out[0],
                    baseline,
                    target,
                )
            )
        return result
    base_map = dict(zip(labels, base_list, strict=True))
    for row_phi, row_out in zip(phi_list, out_list, strict=True):
        contributions = {
            label: dict(zip(feature_names, values, strict=True))
            for label, values in zip(labels, row_phi, strict=True)
        }
        result.append(
            Explanation(
                method,
                output_space,
                dict(base_map),
                contributions,
                dict(zip(labels, row_out, strict=True)),
                baseline,
                None,
            )
        )
    return result


class AdditiveExplainer:
    """``explain`` for explainers whose ``contributions(X)`` returns ``(phi, output)``
    around one ``_base`` value (linear models and TreeSHAP)."""

    method: str
    output_space: str
    baseline: str
    feature_names: tuple[str, ...]
    labels: Any
    target: Any
    _base: Any
    contributions: Callable[[Any], tuple[np.ndarray, np.ndarray]]  # Each subclass's own.

    def explain(self, X: Any) -> list[Explanation]:
        phi, output = self.contributions(X)
        return build_explanations(
            method=self.method,
            output_space=self.output_space,
            baseline=self.baseline,
            feature_names=self.feature_names,
            labels=self.labels,
            target=self.target,
            base=self._base,
            phi=phi,
            output=output,
        )
