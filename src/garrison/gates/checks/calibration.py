"""Calibration: how far a classifier's top-label probabilities are from its hit rates.

Two numbers over equal-width confidence bins: the expected calibration error (ECE, both
directions) and its overconfident part (bins whose confidence exceeds their accuracy). A
model that claims more certainty than it has misleads whoever acts on its probabilities;
one that claims less (random forests average their trees' votes towards the middle) is
conservative. The default policy therefore holds overconfidence to a tight bound and the
ECE to a looser one.

Both are judged net of noise: a perfectly calibrated model scored on few rows still shows a
positive ECE. Each number is compared with its limit plus the 95th percentile of the same
number for a perfectly calibrated model with the same confidences on the same rows (each
bin's hits drawn as a binomial of its rows at its mean confidence), so a small holdout set
does not fail a good model on sampling error alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from garrison.gates._context import Context, Scored
from garrison.gates.policy import CalibrationThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["Calibration", "calibration_of", "check_calibration", "expected_calibration_error"]

_SALT = 6
_NOISE_ROUNDS = 2000
_NOISE_QUANTILE = 0.95


@dataclass(frozen=True)
class Calibration:
    """ECE and overconfidence, with the noise a perfectly calibrated model shows on the
    same rows (the 95th percentile of each)."""

    ece: float
    overconfidence: float
    ece_noise: float
    overconfidence_noise: float


def _bins(
    y: np.ndarray, scored: Scored, classes: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: rows, sum of confidences, sum of hits."""
    assert scored.proba is not None
    top = np.argmax(scored.proba, axis=1)
    confidence = scored.proba[np.arange(y.size), top]
    correct = (classes[top] == y).astype(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins).astype(float)
    return (
        counts,
        np.bincount(which, weights=confidence, minlength=bins),
        np.bincount(which, weights=correct, minlength=bins),
    )


def expected_calibration_error(
    y: np.ndarray, scored: Scored, classes: np.ndarray, bins: int
) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| x share."""
    counts, confidence, hits = _bins(y, scored, classes, bins)
    return float(np.abs(hits - confidence).sum() / max(counts.sum(), 1))


def calibration_of(
    y: np.ndarray, scored: Scored, classes: np.ndarray, bins: int, rng: np.random.Generator
) -> Calibration:
    """ECE and overconfidence of ``scored`` on the rows of ``y``, and their noise levels."""
    counts, confidence, hits = _bins(y, scored, classes, bins)
    total = max(counts.sum(), 1.0)
    gap = confidence - hits  # positive: more confident than right
    mean_confidence = np.divide(confidence, counts, out=np.zeros_like(confidence), where=counts > 0)
    # Hits of a perfectly calibrated model: per bin, a binomial at the bin's mean confidence.
    drawn = rng.binomial(counts.astype(np.int64), np.clip(mean_confidence, 0.0, 1.0),
                         size=(_NOISE_ROUNDS, bins))
    null_gap = confidence[None, :] - drawn
    return Calibration(
        ece=float(np.abs(gap).sum() / total),
        overconfidence=float(np.clip(gap, 0, None).sum() / total),
        ece_noise=float(np.quantile(np.abs(null_gap).sum(axis=1) / total, _NOISE_QUANTILE)),
        overconfidence_noise=float(
            np.quantile(np.clip(null_gap, 0, None).sum(axis=1) / total, _NOISE_QUANTILE)
        ),
    )


def check_calibration(ctx: Context, th: CalibrationThresholds) -> CheckResult:
    thresholds = {"max_ece": th.max_ece, "max_overconfidence": th.max_overconfidence,
                  "bins": th.bins}
    if ctx.classes is None:
        reason = "skipped: calibration applies to classifiers"
        return CheckResult("calibration", True, reason, {}, thresholds, skipped=True)
    if ctx.candidate.proba is None:
        reason = "skipped: the model gives no probabilities (no predict_proba)"
        return CheckResult("calibration", True, reason, {}, thresholds, skipped=True)
    cal = calibration_of(ctx.y, ctx.candidate, ctx.classes, th.bins, ctx.rng(_SALT))
    metrics: dict[str, MetricValue] = {
        "ece": cal.ece,
        "overconfidence": cal.overconfidence,
        "ece_noise": cal.ece_noise,
        "overconfidence_noise": cal.overconfidence_noise,
    }
    if ctx.production is not None and ctx.production.proba is not None:
        metrics["production_ece"] = expected_calibration_error(
            ctx.y, ctx.production, ctx.classes, th.bins
        )
    problems = []
    if cal.overconfidence > th.max_overconfidence + cal.overconfidence_noise:
        problems.append(
            f"overconfidence {cal.overconfidence:.3f} above {th.max_overconfidence:.3f} "
            f"(+{cal.overconfidence_noise:.3f} noise on {ctx.y.size} rows): miscalibrated, "
            "its probabilities claim more certainty than it has"
        )
    if cal.ece > th.max_ece + cal.ece_noise:
        problems.append(
            f"expected calibration error {cal.ece:.3f} above {th.max_ece:.3f} "
            f"(+{cal.ece_noise:.3f} noise on {ctx.y.size} rows): miscalibrated"
        )
    if problems:
        return CheckResult("calibration", False, "; ".join(problems), metrics, thresholds)
    reason = (
        f"expected calibration error {cal.ece:.3f} within {th.max_ece:.3f}, overconfidence "
        f"{cal.overconfidence:.3f} within {th.max_overconfidence:.3f} (+ noise)"
    )
    return CheckResult("calibration", True, reason, metrics, thresholds)
