"""perturbation-instability's sequential stop (``decide``) against the full score."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from garrison.detection.base import FitContext
from garrison.detection.perturbation import (
    DECIDE_MIN_ROWS,
    EARLY_STOP_MISS,
    PerturbationInstabilityDetector,
    _first_look,
)

from .attacks import Step


def _detector(seed: int = 0) -> tuple[PerturbationInstabilityDetector, Step]:
    model = Step()
    det = PerturbationInstabilityDetector()
    reference = np.random.default_rng(seed).normal(size=(500, 3))
    det.fit(reference, FitContext(rng=np.random.default_rng(seed), scale=np.ones(3),
                                  model=model))
    return det, model


def _rows() -> np.ndarray:
    rng = np.random.default_rng(1)
    far = rng.normal(size=(60, 3)) + np.array([6.0, 0, 0])  # Far from the boundary: never flip.
    near = rng.normal(size=(40, 3)) * np.array([0.02, 1, 1])  # On the boundary: copies flip.
    return np.vstack([far, near])


@pytest.mark.parametrize("threshold", [0.05, 0.116, 0.31, 0.8])
def test_every_row_that_could_flag_gets_the_full_score(threshold: float) -> None:
    det, model = _detector()
    rows = _rows()
    det._offsets = random.Random(5)  # The same draws for both calls.
    full = det.score(rows)
    det._offsets = random.Random(5)
    seq = det.decide(rows, threshold)
    # A row scored above the threshold by either is scored the same by both; a row
    # that stopped early is below the threshold with its margin term alone.
    assert np.array_equal(full > threshold, seq > threshold)
    changed = seq != full
    assert np.all(seq[changed] <= threshold)
    assert np.allclose(full[changed] - seq[changed], np.round(
        (full[changed] - seq[changed]) * det.k) / det.k)  # Only unseen flips differ.


def test_stable_rows_cost_fewer_model_calls() -> None:
    det, model = _detector()
    det.screen_off = True  # The sequential stop alone (the screen: test_perturbation_screen).
    model.rows_scored = 0  # Not the fit's calibration.
    rows = _rows()[:60]  # Far from the boundary.
    det.score(rows)
    assert model.rows_scored == 60 * 17
    model.rows_scored = 0
    det.decide(rows, 0.8)  # 13 flips needed of 16: three copies rule a stable row out.
    assert _first_look(16)[13] == 3
    assert model.rows_scored == 60 * (1 + 3)


def test_the_first_look_bounds_the_miss_chance() -> None:
    k = 16
    table = _first_look(k)
    assert table[0] == k and table[k + 1] == 0
    for flips in range(1, k + 1):
        j = table[flips]
        assert math.comb(k - flips, j) / math.comb(k, j) <= EARLY_STOP_MISS
        if j > 1:  # The fewest such copies.
            assert math.comb(k - flips, j - 1) / math.comb(k, j - 1) > EARLY_STOP_MISS


def test_small_requests_and_linear_models_are_scored_in_full() -> None:
    det, model = _detector()
    rows = _rows()[:DECIDE_MIN_ROWS - 1]
    det._offsets = random.Random(3)
    full = det.score(rows)
    det._offsets = random.Random(3)
    assert np.array_equal(det.decide(rows, 0.8), full)
