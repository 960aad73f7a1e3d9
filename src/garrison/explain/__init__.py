"""Per-decision explanations: exact for linear models, TreeSHAP for tree ensembles.

Build an explainer once per model version (weights and tree paths are precomputed) and call
it per request::

    explainer = explainer_for(model, feature_names)      # or Explainer.for_model(...)
    [explanation] = explainer.explain(x_row)
    explanation.to_dict()

``explain(model, X, feature_names)`` does both in one call. Every explanation satisfies local
accuracy: ``base_value + sum(contributions) == output_value`` in the stated output space.
Models no registered method covers (k-NN, neural networks, kernel SVMs, ...) raise
``garrison.errors.UnsupportedModel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Explainer as ExplainerProtocol
from .base import Explanation
from .boosting import LIGHTGBM_SPEC, XGBOOST_SPEC
from .linear import LINEAR_SPEC
from .onnx_linear import ONNX_LINEAR_SPEC
from .registry import (
    ExplainerSpec,
    ensure_explainable,
    explainer_for,
    explainers,
    register_explainer,
    spec_for,
)
from .tree import SKLEARN_TREE_SPEC

__all__ = [
    "Explainer",
    "ExplainerProtocol",
    "ExplainerSpec",
    "Explanation",
    "ensure_explainable",
    "explain",
    "explainer_for",
    "explainers",
    "register_explainer",
    "spec_for",
]

# Garrison's own methods go through the same extension point as anyone else's.
for _spec in (LINEAR_SPEC, SKLEARN_TREE_SPEC, XGBOOST_SPEC, LIGHTGBM_SPEC, ONNX_LINEAR_SPEC):
    register_explainer(_spec)


class Explainer:
    """Namespace for the constructor spelled ``Explainer.for_model(model, names, background)``."""

    @staticmethod
    def for_model(
        model: Any, feature_names: Sequence[str], background: Any = None
    ) -> ExplainerProtocol:
        """Build the registered explainer for ``model``; raises UnsupportedModel."""
        return explainer_for(model, feature_names, background)


def explain(
    model: Any, X: Any, feature_names: Sequence[str], *, background: Any = None
) -> list[Explanation]:
    """Explain every row of ``X`` (builds the explainer each call; cache it for serving)."""
    return explainer_for(model, feature_names, background).explain(X)
