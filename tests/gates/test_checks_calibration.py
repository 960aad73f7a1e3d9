"""The calibration check: expected calibration error, by hand and on sampled outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from garrison.gates._context import Scored
from garrison.gates.checks.calibration import check_calibration, expected_calibration_error
from garrison.gates.policy import CalibrationThresholds
from tests.gates.helpers import Fixed, context, frame


def test_ece_by_hand() -> None:
    # Four rows at confidence 0.9 (bin 9), three right: |0.75 - 0.9| over all 4 rows.
    proba = np.array([[0.1, 0.9]] * 4)
    y = np.array([1, 1, 1, 0])
    ece = expected_calibration_error(y, Scored(np.ones(4, int), proba), np.array([0, 1]), 10)
    assert ece == pytest.approx(0.15)


def test_calibrated_passes_and_overconfident_fails() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, size=4000)
    y = (rng.random(4000) < p).astype(int)  # outcomes drawn from the stated probabilities
    proba = np.column_stack([1 - p, p])
    ctx = context(Fixed(proba.argmax(1), proba, [0, 1]), None, frame(y))
    result = check_calibration(ctx, CalibrationThresholds())
    assert result.passed and float(result.metrics["ece"]) < 0.03
    sharp = np.clip((p > 0.5).astype(float), 0.01, 0.99)  # same decisions, claims certainty
    sharp_proba = np.column_stack([1 - sharp, sharp])
    ctx = context(Fixed(sharp_proba.argmax(1), sharp_proba, [0, 1]), None, frame(y))
    result = check_calibration(ctx, CalibrationThresholds())
    assert not result.passed and "miscalibrated" in result.reason


def test_skipped_without_probabilities_and_for_regression() -> None:
    y = np.array([0, 1] * 10)
    result = check_calibration(
        context(Fixed(y, classes=[0, 1]), None, frame(y)), CalibrationThresholds()
    )
    assert result.passed and result.skipped and "no probabilities" in result.reason
    yr = np.linspace(0, 1, 20)
    result = check_calibration(
        context(Fixed(yr), None, frame(yr), task="regression"), CalibrationThresholds()
    )
    assert result.skipped and "classifiers" in result.reason


def test_underconfidence_passes_and_few_rows_are_judged_net_of_noise() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.98, size=4000)
    y = (rng.random(4000) < p).astype(int)
    # Pulled halfway to 0.5, as a forest averaging its trees' votes: right more often than
    # it claims. The ECE is large, the overconfidence nil.
    shy = 0.5 + 0.5 * (p - 0.5)
    proba = np.column_stack([1 - shy, shy])
    result = check_calibration(
        context(Fixed(proba.argmax(1), proba, [0, 1]), None, frame(y)), CalibrationThresholds()
    )
    assert result.passed, result.reason
    assert float(result.metrics["ece"]) > 0.1 and float(result.metrics["overconfidence"]) < 0.01
    # Forty rows from a perfectly calibrated model: a raw ECE that would fail a 0.05 limit,
    # but within the noise of forty rows.
    few_p, few_y = p[:40], y[:40]
    few = np.column_stack([1 - few_p, few_p])
    ctx = context(Fixed(few.argmax(1), few, [0, 1]), None, frame(few_y))
    result = check_calibration(ctx, CalibrationThresholds(max_ece=0.05, max_overconfidence=0.02))
    assert float(result.metrics["ece"]) > 0.05
    assert result.passed, result.reason
