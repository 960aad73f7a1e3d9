"""The thresholds of each release-gate check: one frozen dataclass per policy section.

Every field has a default (see ``docs/gates-checks.md`` for what each one means and how to
choose it) and is range-checked on construction, so an impossible threshold never reaches
a check.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from garrison.errors import InvalidInput

__all__ = [
    "SECTIONS",
    "CalibrationThresholds",
    "FairnessThresholds",
    "LeakageThresholds",
    "PerformanceThresholds",
    "PrivacyThresholds",
    "RobustnessThresholds",
    "Section",
]


def _fraction(section: str, name: str, value: float, *, open_low: bool = False) -> None:
    low_ok = value > 0 if open_low else value >= 0
    if not (low_ok and value <= 1):
        bound = "(0, 1]" if open_low else "[0, 1]"
        raise InvalidInput(
            f"gate policy {section}.{name} must be in {bound}", key=f"{section}.{name}"
        )


def _within(section: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidInput(
            f"gate policy {section}.{name} must be in [{low}, {high}]", key=f"{section}.{name}"
        )


def _positive(section: str, name: str, value: float) -> None:
    if not value > 0:
        raise InvalidInput(
            f"gate policy {section}.{name} must be positive", key=f"{section}.{name}"
        )


class Section:
    """Shared (de)serialization of one check's thresholds (the base of every section)."""

    section: ClassVar[str] = ""

    def to_mapping(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}  # type: ignore[call-overload]


@dataclass(frozen=True)
class PerformanceThresholds(Section):
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
        _within(self.section, "bootstrap_rounds", self.bootstrap_rounds, 100, 100_000)


@dataclass(frozen=True)
class FairnessThresholds(Section):
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
class RobustnessThresholds(Section):
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
        _within(self.section, "repeats", self.repeats, 1, 100)
        _within(self.section, "attack_rows", self.attack_rows, 0, 10_000)
        _within(self.section, "attack_budget", self.attack_budget, 20, 100_000)


@dataclass(frozen=True)
class PrivacyThresholds(Section):
    """Membership inference: can a loss-threshold attacker tell training rows from holdout rows?

    ``max_membership_auc``: the largest acceptable ROC AUC of that attack (0.5 is chance),
    judged by the AUC's one-sided 95% lower confidence bound (Hanley and McNeil).
    ``sample_rows``: rows drawn from each side. Needs the training set recorded in the
    model's lineage; without it the check is skipped, or fails when ``require_training``.
    """

    section: ClassVar[str] = "privacy"
    enabled: bool = True
    max_membership_auc: float = 0.8
    sample_rows: int = 2000
    require_training: bool = False

    def __post_init__(self) -> None:
        _within(self.section, "max_membership_auc", self.max_membership_auc, 0.5, 1)
        if self.sample_rows < 50:
            raise InvalidInput(
                "gate policy privacy.sample_rows must be at least 50", key="privacy.sample_rows"
            )


@dataclass(frozen=True)
class LeakageThresholds(Section):
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
class CalibrationThresholds(Section):
    """Calibration of the predicted probabilities (classifiers with predict_proba).

    ``max_overconfidence``: the largest acceptable overconfident part of the top-label
    ECE (bins more confident than accurate). ``max_ece``: the largest acceptable top-label
    ECE, both directions. Both over ``bins`` equal-width confidence bins, and both judged
    net of the noise a perfectly calibrated model shows on the same number of rows.
    """

    section: ClassVar[str] = "calibration"
    enabled: bool = True
    max_overconfidence: float = 0.08
    max_ece: float = 0.2
    bins: int = 10

    def __post_init__(self) -> None:
        _fraction(self.section, "max_overconfidence", self.max_overconfidence)
        _fraction(self.section, "max_ece", self.max_ece)
        _within(self.section, "bins", self.bins, 2, 100)


SECTIONS: dict[str, type[Section]] = {
    "performance": PerformanceThresholds,
    "fairness": FairnessThresholds,
    "robustness": RobustnessThresholds,
    "privacy": PrivacyThresholds,
    "leakage": LeakageThresholds,
    "calibration": CalibrationThresholds,
}
