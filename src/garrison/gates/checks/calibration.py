"""Calibration: the expected calibration error of a classifier's top-label probabilities."""

from __future__ import annotations

import numpy as np

from garrison.gates._context import Context, Scored
from garrison.gates.policy import CalibrationThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_calibration", "expected_calibration_error"]


def expected_calibration_error(
    y: np.ndarray, scored: Scored, classes: np.ndarray, bins: int
) -> float:
    """Top-label ECE: sum over equal-width confidence bins of |accuracy - confidence| x share."""
    assert scored.proba is not None
    top = np.argmax(scored.proba, axis=1)
    confidence = scored.proba[np.arange(y.size), top]
    correct = (classes[top] == y).astype(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    gap = np.abs(
        np.bincount(which, weights=correct, minlength=bins)
        - np.bincount(which, weights=confidence, minlength=bins)
    )
    return float(gap.sum() / max(counts.sum(), 1))


def check_calibration(ctx: Context, th: CalibrationThresholds) -> CheckResult:
    thresholds = {"max_ece": th.max_ece, "bins": th.bins}
    if ctx.classes is None:
        reason = "skipped: calibration applies to classifiers"
        return CheckResult("calibration", True, reason, {}, thresholds, skipped=True)
    if ctx.candidate.proba is None:
        reason = "skipped: the model gives no probabilities (no predict_proba)"
        return CheckResult("calibration", True, reason, {}, thresholds, skipped=True)
    ece = expected_calibration_error(ctx.y, ctx.candidate, ctx.classes, th.bins)
    metrics: dict[str, MetricValue] = {"ece": ece}
    if ctx.production is not None and ctx.production.proba is not None:
        metrics["production_ece"] = expected_calibration_error(
            ctx.y, ctx.production, ctx.classes, th.bins
        )
    if ece > th.max_ece:
        reason = f"expected calibration error {ece:.3f} above {th.max_ece:.3f}: miscalibrated"
        return CheckResult("calibration", False, reason, metrics, thresholds)
    return CheckResult(
        "calibration",
        True,
        f"expected calibration error {ece:.3f} within {th.max_ece:.3f}",
        metrics,
        thresholds,
    )
