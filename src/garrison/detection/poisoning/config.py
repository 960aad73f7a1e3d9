"""Settings of one poison check: which checks run, their thresholds and the model budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from garrison.errors import InvalidInput

__all__ = ["ModelKind", "PoisonCheckConfig"]

ModelKind = Literal["auto", "logistic", "hist_gradient_boosting", "ensemble"]
_MODELS = ("auto", "logistic", "hist_gradient_boosting", "ensemble")


@dataclass(frozen=True)
class PoisonCheckConfig:
    """What a poison check runs and how hard it looks.

    ``checks`` names the registered detectors to run (``None`` runs every registered
    one). ``thresholds`` overrides a detector's default threshold by id. ``folds`` is
    the number of cross-validation folds of the out-of-fold model; ``model`` picks that
    model (``auto``: logistic regression, histogram gradient boosting or their average,
    whichever has the lowest out-of-fold Brier score; ``logistic``;
    ``hist_gradient_boosting``; ``ensemble``: always the average). ``min_model_skill``
    is the least skill (out-of-fold balanced accuracy, 0 = chance, 1 = perfect) the model
    needs before the label checks judge labels with it; below it they flag nothing and the
    report carries a warning (0 turns the refusal off). ``max_rows`` refuses
    larger inputs with ``LimitExceeded``; ``neighbour_sample`` bounds the rows searched
    by the neighbour-based checks on big sets; ``max_categories`` caps the one-hot
    columns of one categorical feature (the rest share an "other" column).
    """

    checks: tuple[str, ...] | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    folds: int = 5
    model: ModelKind = "auto"
    min_model_skill: float = 0.5
    max_rows: int = 2_000_000
    neighbour_sample: int = 20_000
    max_categories: int = 50

    def __post_init__(self) -> None:
        if self.checks is not None:
            object.__setattr__(self, "checks", tuple(self.checks))
            if not self.checks:
                raise InvalidInput("checks must name at least one detector (or be None)")
        thresholds = dict(self.thresholds)
        for key, value in thresholds.items():
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise InvalidInput(f"threshold of {key!r} must be a number in [0, 1]")
        object.__setattr__(self, "thresholds", MappingProxyType(thresholds))
        if not 2 <= self.folds <= 20:
            raise InvalidInput("folds must be between 2 and 20")
        if not 0.0 <= float(self.min_model_skill) <= 1.0:
            raise InvalidInput("min_model_skill must be a number in [0, 1]")
        if self.model not in _MODELS:
            raise InvalidInput(f"unknown model {self.model!r}; expected one of {_MODELS}")
        for name in ("max_rows", "neighbour_sample", "max_categories"):
            if int(getattr(self, name)) < 1:
                raise InvalidInput(f"{name} must be positive")
