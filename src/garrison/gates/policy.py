"""The gate policy: which holdout set, which task, and the thresholds of every check.

A policy is a small JSON/TOML document. Only ``holdout_dataset`` is required: every
other key has a default chosen so that a policy naming just a holdout set is already a
meaningful gate (the model must beat a trivial baseline, must not be significantly
worse than production, must stay stable under small perturbations, must not memorize
its training rows, must not have been evaluated on its training rows or on a leaked
label, and its probabilities must be calibrated). ``docs/gates-checks.md`` explains each
threshold and how to choose it.

::

    holdout_dataset = "churn-holdout:3"
    task = "classification"
    label = "churned"
    sensitive = "region"

    [performance]
    floor = 0.8

    [fairness]
    max_demographic_parity_difference = 0.05

Unknown keys are refused with an error naming the key, so a misspelt threshold never
silently falls back to its default. ``digest()`` is the SHA-256 of the canonical JSON
of ``to_mapping()``, which lists every value (defaults included), so two policies with
the same effect have the same digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from garrison.errors import InvalidInput
from garrison.gates.thresholds import (
    SECTIONS,
    CalibrationThresholds,
    FairnessThresholds,
    LeakageThresholds,
    PerformanceThresholds,
    PrivacyThresholds,
    RobustnessThresholds,
    Section,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "POLICY_VERSION",
    "REGRESSION_METRICS",
    "TASKS",
    "CalibrationThresholds",
    "FairnessThresholds",
    "GatePolicy",
    "LeakageThresholds",
    "PerformanceThresholds",
    "PrivacyThresholds",
    "RobustnessThresholds",
    "higher_is_better",
]

POLICY_VERSION = 1
TASKS = ("classification", "regression")
#: Metric name -> True when a higher value is better.
CLASSIFICATION_METRICS: dict[str, bool] = {
    "accuracy": True,
    "roc_auc": True,
    "f1": True,
    "log_loss": False,
}
REGRESSION_METRICS: dict[str, bool] = {"rmse": False, "mae": False, "r2": True}
_DEFAULT_METRIC = {"classification": "accuracy", "regression": "rmse"}
# A registered dataset pinned to one version: NAME:VERSION, never a path.
_DATASET_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}:\d{1,9}$")
_COLUMN = re.compile(r"^[^\x00-\x1f]{1,256}$")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is the better one."""
    if metric in CLASSIFICATION_METRICS:
        return CLASSIFICATION_METRICS[metric]
    if metric in REGRESSION_METRICS:
        return REGRESSION_METRICS[metric]
    raise InvalidInput(f"unknown metric {metric!r}", metric=str(metric)[:80])


@dataclass(frozen=True)
class GatePolicy:
    """What a model version must pass before approval and promotion.

    ``holdout_dataset`` is ``NAME:VERSION`` of a registered dataset. ``label`` ``None``
    means the holdout dataset's declared target column; the caller resolves it
    (``dataclasses.replace(policy, label=...)``) before ``evaluate``. ``primary_metric``
    defaults to ``accuracy`` (classification) or ``rmse`` (regression).
    """

    holdout_dataset: str
    task: str = "classification"
    label: str | None = None
    primary_metric: str = ""
    sensitive: str | None = None
    performance: PerformanceThresholds = field(default_factory=PerformanceThresholds)
    fairness: FairnessThresholds = field(default_factory=FairnessThresholds)
    robustness: RobustnessThresholds = field(default_factory=RobustnessThresholds)
    privacy: PrivacyThresholds = field(default_factory=PrivacyThresholds)
    leakage: LeakageThresholds = field(default_factory=LeakageThresholds)
    calibration: CalibrationThresholds = field(default_factory=CalibrationThresholds)

    def __post_init__(self) -> None:
        if not isinstance(self.holdout_dataset, str) or not _DATASET_REF.fullmatch(
            self.holdout_dataset
        ):
            raise InvalidInput(
                "gate policy holdout_dataset must be NAME:VERSION of a registered dataset",
                key="holdout_dataset",
            )
        if self.task not in TASKS:
            raise InvalidInput(
                "gate policy task must be 'classification' or 'regression'", key="task"
            )
        metrics = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if not self.primary_metric:
            object.__setattr__(self, "primary_metric", _DEFAULT_METRIC[self.task])
        elif self.primary_metric not in metrics:
            raise InvalidInput(
                f"gate policy primary_metric for {self.task} must be one of {', '.join(metrics)}",
                key="primary_metric",
            )
        for name in ("label", "sensitive"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not _COLUMN.fullmatch(value)):
                raise InvalidInput(f"gate policy {name} must be a column name", key=name)
        if self.label is not None and self.label == self.sensitive:
            raise InvalidInput("gate policy sensitive must differ from the label", key="sensitive")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GatePolicy:
        """Build a policy from its JSON/TOML shape; unknown keys and wrong types are refused."""
        if not isinstance(data, Mapping):
            raise InvalidInput("a gate policy is a mapping of keys to values")
        version = data.get("version", POLICY_VERSION)
        if version != POLICY_VERSION or isinstance(version, bool):
            raise InvalidInput(f"gate policy version must be {POLICY_VERSION}", key="version")
        top = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "version":
                continue
            if key in SECTIONS:
                kwargs[key] = _section_from(key, value)
            elif key in top:
                kwargs[key] = _coerce(key, top[key], value)
            else:
                raise InvalidInput(f"unknown gate policy key {str(key)[:80]!r}", key=str(key)[:80])
        if "holdout_dataset" not in kwargs:
            raise InvalidInput("a gate policy must name its holdout_dataset", key="holdout_dataset")
        return cls(**kwargs)

    def to_mapping(self) -> dict[str, Any]:
        """The JSON/TOML shape, every value present (``None`` values left out)."""
        out: dict[str, Any] = {"version": POLICY_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Section):
                out[f.name] = value.to_mapping()
            elif value is not None:
                out[f.name] = value
        return out

    def canonical_json(self) -> bytes:
        return json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """Hex SHA-256 of the canonical JSON of ``to_mapping()``."""
        return hashlib.sha256(self.canonical_json()).hexdigest()

    @property
    def higher_is_better(self) -> bool:
        return higher_is_better(self.primary_metric)


def _section_from(name: str, value: Any) -> Section:
    cls = SECTIONS[name]
    if not isinstance(value, Mapping):
        raise InvalidInput(f"gate policy {name} must be a table of thresholds", key=name)
    hints = typing.get_type_hints(cls)
    allowed = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        if key not in allowed:
            full = f"{name}.{str(key)[:80]}"
            raise InvalidInput(f"unknown gate policy key {full!r}", key=full)
        kwargs[key] = _coerce(f"{name}.{key}", hints[key], item)
    return cls(**kwargs)


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Check ``value`` against the field's annotation (ints are accepted where floats are)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise InvalidInput(f"gate policy {key} must be true or false", key=key)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InvalidInput(f"gate policy {key} must be an integer", key=key)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise InvalidInput(f"gate policy {key} must be a finite number", key=key)
    if hint is str:
        if isinstance(value, str):
            return value
        raise InvalidInput(f"gate policy {key} must be a string", key=key)
    raise InvalidInput(f"gate policy {key} has an unsupported value", key=key)  # pragma: no cover
