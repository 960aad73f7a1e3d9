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
from typing import Any, ClassVar

from garrison.errors import InvalidInput

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


def _fraction(section: str, name: str, value: float, *, open_low: bool = False) -> None:
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        bound = "(0, 1]" if open_low else "[0, 1]"
        raise InvalidInput(
            f"gate policy {section}.{name} must be in {bound}", key=f"{section}.{name}"
        )


def _positive(section: str, name: str, value: float) -> None:
    if not value > 0:
        raise InvalidInput(
            f"gate policy {section}.{name} must be positive", key=f"{section}.{name}"
        )


class _Section:
    """Shared (de)serialization of one check's thresholds."""

    section: ClassVar[str] = ""

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}  # type: ignore[call-overload]


@dataclass(frozen=True)
class PerformanceThresholds(_Section):
    """The primary metric against an absolute floor and against production.

    ``floor``: the worst acceptable value of the primary metric (a ceiling for metrics
    where lower is better, such as ``rmse`` or ``log_loss``). ``None``: the model must
    beat a trivial baseline (the majority class, the class priors, or the label mean)
    on the holdout rows. ``confidence``: of the paired test against production (McNemar
    for accuracy, a paired bootstrap for the other metrics). ``tolerance``: a regression
    smaller than this fraction of production's score never blocks, significant or not;
    a larger one blocks only when it is significant at ``confidence``.
    """

    section: ClassVar[str] = "performance"
    enabled: bool = True
    floor: float | None = None
    confidence: float = 0.95
    tolerance: float = 0.01
    bootstrap_rounds: int = 1000

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1:
            raise InvalidInput(
                "gate policy performance.confidence must be in [0.5, 1)",
                key="performance.confidence",
            )
        _fraction(self.section, "tolerance", self.tolerance)
        if not 100 <= self.bootstrap_rounds <= 100_000:
            raise InvalidInput(
                "gate policy performance.bootstrap_rounds must be in [100, 100000]",
                key="performance.bootstrap_rounds",
            )


@dataclass(frozen=True)
class FairnessThresholds(_Section):
    """Group gaps over the policy's ``sensitive`` column (skipped when none is declared).

    Classification: the demographic-parity difference (largest gap between groups in the
    rate of each predicted class) and the equal-opportunity difference (largest gap in
    recall of each class). Regression: the gap between the worst and best group's mean
    absolute error, as a fraction of the overall mean absolute error. Each must stay
    within its maximum, and must not exceed production's by more than
    ``max_increase_vs_production``. Groups with fewer than ``min_group_size`` holdout rows
    are reported and not judged.
    """

    section: ClassVar[str] = "fairness"
    enabled: bool = True
    max_demographic_parity_difference: float = 0.1
    max_equal_opportunity_difference: float = 0.1
    max_group_error_gap: float = 0.25
    max_increase_vs_production: float = 0.05
    min_group_size: int = 30

    def __post_init__(self) -> None:
        for name in (
            "max_demographic_parity_difference",
            "max_equal_opportunity_difference",
            "max_increase_vs_production",
        ):
            _fraction(self.section, name, getattr(self, name))
        _positive(self.section, "max_group_error_gap", self.max_group_error_gap)
        if self.min_group_size < 1:
            raise InvalidInput(
                "gate policy fairness.min_group_size must be at least 1",
                key="fairness.min_group_size",
            )


@dataclass(frozen=True)
class RobustnessThresholds(_Section):
    """Stability under small perturbations, and resistance to a black-box attack.

    Numeric features get Gaussian noise of ``noise`` times their spread (the robust
    standard deviation of the holdout column); categorical columns are swapped to another
    observed category with probability ``noise``. ``max_score_drop``: the largest
    acceptable fall of accuracy (classification) or relative rise of RMSE (regression)
    under that noise. The attack is a decision-based boundary search on ``attack_rows``
    correctly classified rows with ``attack_budget`` model queries per row; it succeeds
    on a row when it flips the prediction within ``attack_radius`` (root-mean-square
    change per numeric feature, in units of that feature's spread). Its success rate must
    stay under ``max_attack_success`` and within ``max_attack_increase`` of production's.
    """

    section: ClassVar[str] = "robustness"
    enabled: bool = True
    noise: float = 0.05
    repeats: int = 3
    max_score_drop: float = 0.05
    attack_rows: int = 100
    attack_budget: int = 200
    attack_radius: float = 0.25
    max_attack_success: float = 0.9
    max_attack_increase: float = 0.15

    def __post_init__(self) -> None:
        _fraction(self.section, "noise", self.noise, open_low=True)
        for name in ("max_score_drop", "max_attack_success", "max_attack_increase"):
            _fraction(self.section, name, getattr(self, name))
        _positive(self.section, "attack_radius", self.attack_radius)
        if not 1 <= self.repeats <= 100:
            raise InvalidInput(
                "gate policy robustness.repeats must be in [1, 100]", key="robustness.repeats"
            )
        if not 0 <= self.attack_rows <= 10_000:
            raise InvalidInput(
                "gate policy robustness.attack_rows must be in [0, 10000]",
                key="robustness.attack_rows",
            )
        if not 20 <= self.attack_budget <= 100_000:
            raise InvalidInput(
                "gate policy robustness.attack_budget must be in [20, 100000]",
                key="robustness.attack_budget",
            )


@dataclass(frozen=True)
class PrivacyThresholds(_Section):
    """Membership inference: can a loss-threshold attacker tell training rows from holdout rows?

    ``max_membership_auc``: the largest acceptable ROC AUC of that attack (0.5 is chance).
    ``sample_rows``: rows drawn from each side. Needs the training set recorded in the
    model's lineage; without it the check is skipped, or fails when ``require_training``.
    """

    section: ClassVar[str] = "privacy"
    enabled: bool = True
    max_membership_auc: float = 0.7
    sample_rows: int = 2000
    require_training: bool = False

    def __post_init__(self) -> None:
        if not 0.5 <= self.max_membership_auc <= 1:
            raise InvalidInput(
                "gate policy privacy.max_membership_auc must be in [0.5, 1]",
                key="privacy.max_membership_auc",
            )
        if self.sample_rows < 50:
            raise InvalidInput(
                "gate policy privacy.sample_rows must be at least 50", key="privacy.sample_rows"
            )


@dataclass(frozen=True)
class LeakageThresholds(_Section):
    """Contaminated holdout rows and features that are near-copies of the label.

    ``max_overlap_fraction``: the largest acceptable share of holdout rows whose digest
    (features and label) also appears in the training set (skipped without one, or failed
    when ``require_training``). ``max_feature_auc``: the largest acceptable ROC AUC of any
    single feature alone against the label (for regression, the absolute Spearman
    correlation); categorical features are target-encoded out of fold.
    """

    section: ClassVar[str] = "leakage"
    enabled: bool = True
    max_overlap_fraction: float = 0.01
    max_feature_auc: float = 0.99
    require_training: bool = False

    def __post_init__(self) -> None:
        _fraction(self.section, "max_overlap_fraction", self.max_overlap_fraction)
        if not 0.5 < self.max_feature_auc <= 1:
            raise InvalidInput(
                "gate policy leakage.max_feature_auc must be in (0.5, 1]",
                key="leakage.max_feature_auc",
            )


@dataclass(frozen=True)
class CalibrationThresholds(_Section):
    """Expected calibration error of the predicted probabilities (classifiers with predict_proba).

    ``max_ece``: the largest acceptable top-label ECE over ``bins`` equal-width
    confidence bins.
    """

    section: ClassVar[str] = "calibration"
    enabled: bool = True
    max_ece: float = 0.1
    bins: int = 10

    def __post_init__(self) -> None:
        _fraction(self.section, "max_ece", self.max_ece)
        if not 2 <= self.bins <= 100:
            raise InvalidInput(
                "gate policy calibration.bins must be in [2, 100]", key="calibration.bins"
            )


_SECTIONS: dict[str, type[_Section]] = {
    "performance": PerformanceThresholds,
    "fairness": FairnessThresholds,
    "robustness": RobustnessThresholds,
    "privacy": PrivacyThresholds,
    "leakage": LeakageThresholds,
    "calibration": CalibrationThresholds,
}


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
            if key in _SECTIONS:
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
            if isinstance(value, _Section):
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


def _section_from(name: str, value: Any) -> _Section:
    cls = _SECTIONS[name]
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
