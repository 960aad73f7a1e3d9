"""Registry of explanation methods.

Each method is registered by id with a description, the model types it covers and the
output space it explains. Garrison's own methods are registered through
``register_explainer`` exactly like a third party's would be; the first registered method
whose ``supports`` predicate accepts a model is used for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from garrison.errors import AlreadyExists, UnsupportedModel

from .base import Explainer

__all__ = [
    "ExplainerSpec",
    "ensure_explainable",
    "explainer_for",
    "explainers",
    "register_explainer",
    "spec_for",
]

Factory = Callable[[Any, Sequence[str], Any], Explainer]


@dataclass(frozen=True)
class ExplainerSpec:
    """Metadata and factory of one explanation method.

    ``supports(model)`` must be cheap and must not import optional libraries; ``factory``
    builds the explainer (precomputing what it can) as ``factory(model, feature_names,
    background)``.
    """

    id: str
    description: str
    model_types: tuple[str, ...]
    output_space: str
    exact: bool
    supports: Callable[[Any], bool]
    factory: Factory

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "model_types": list(self.model_types),
            "output_space": self.output_space,
            "exact": self.exact,
        }


_REGISTRY: dict[str, ExplainerSpec] = {}


def register_explainer(spec: ExplainerSpec, *, replace: bool = False) -> ExplainerSpec:
    """Add a method to the registry (``replace=True`` to override one with the same id)."""
    if spec.id in _REGISTRY and not replace:
        raise AlreadyExists(f"an explainer with id {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec
    return spec


def explainers() -> list[ExplainerSpec]:
    """Every registered method, in lookup order."""
    return list(_REGISTRY.values())


def spec_for(model: Any) -> ExplainerSpec:
    """The method that explains ``model``; raises UnsupportedModel when none does."""
    for spec in _REGISTRY.values():
        if spec.supports(model):
            return spec
    supported = sorted({name for spec in _REGISTRY.values() for name in spec.model_types})
    raise UnsupportedModel(
        f"no explanation method supports {type(model).__name__}; supported: {', '.join(supported)}",
        model_type=type(model).__name__,
    )


def ensure_explainable(model: Any) -> None:
    """Return None if some method explains ``model``; raise UnsupportedModel otherwise.

    This only looks at the model's type and structure. Building the explainer can still
    refuse a supported type whose configuration is not additive (for example a
    ``MinMaxScaler(clip=True)`` step); call ``explainer_for`` at registration time to be sure.
    """
    spec_for(model)


def explainer_for(model: Any, feature_names: Sequence[str], background: Any = None) -> Explainer:
    """Build the explainer for ``model`` (weights and tree paths are precomputed here)."""
    return spec_for(model).factory(model, feature_names, background)
