"""perturbation-instability's confidence screen: its bound, its savings, and its audit."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from garrison.detection import perturbation
from garrison.detection.adversarial import EARLY_STOP_MISS, PerturbationInstabilityDetector
from garrison.detection.base import FitContext
from garrison.detection.screen import (
    SCREEN_CONFIDENCE,
    derive_screen,
    zero_event_bound,
)

from .attacks import Step


class Trap(Step):
    """Step, except where x1 > 8 (no reference row goes there): sure of its answer
    (margin 0.98) and yet the answer follows x2 in steps of 0.01, so noise flips it."""

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        proba = super().predict_proba(rows)
        trap = rows[:, 1] > 8
        p1 = np.where(np.floor(rows[:, 2] / 0.01) % 2 == 0, 0.99, 0.01)
        proba[trap] = np.column_stack([1 - p1, p1])[trap]
        return proba


def _detector(model: Step, n: int = 500, seed: int = 0) -> PerturbationInstabilityDetector:
    det = PerturbationInstabilityDetector()
    reference = np.random.default_rng(seed).normal(size=(n, 3))
    det.fit(reference, FitContext(rng=np.random.default_rng(seed), scale=np.ones(3),
                                  model=model))
    return det


def _far(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3)) + np.array([6.0, 0, 0])


def test_the_bound_is_the_zero_event_clopper_pearson_bound() -> None:
    for trials in (1, 10, 199, 5000):
        b = zero_event_bound(trials)
        # No event in ``trials`` has probability exactly 1 - confidence at the bound.
        assert math.isclose((1 - b) ** trials, 1 - SCREEN_CONFIDENCE)
    assert zero_event_bound(0) == 1.0
    # 199 clean rows are the fewest that bound the miss chance by EARLY_STOP_MISS.
    assert zero_event_bound(199) <= EARLY_STOP_MISS < zero_event_bound(198)
    assert zero_event_bound(1000) == pytest.approx(3.0 / 1000, rel=0.01)


def test_derive_screen_sits_above_every_event() -> None:
    margins = np.concatenate([np.linspace(0.0, 0.5, 100), np.linspace(0.6, 1.0, 300)])
    events = np.zeros(400, dtype=bool)
    events[:50] = True
    events[99] = True  # The row at margin 0.5 is an event (it flipped).
    screen = derive_screen(margins, events, EARLY_STOP_MISS)
    assert screen is not None
    assert screen.margin == pytest.approx(0.6) and screen.rows == 300
    assert screen.bound == zero_event_bound(300) <= EARLY_STOP_MISS
    # A clean row tied with an event is not above it.
    events[100] = True
    tied = derive_screen(np.where(np.arange(400) == 101, 0.6, margins), events,
                         EARLY_STOP_MISS)
    assert tied is not None and tied.margin > 0.6 and tied.rows == 298


def test_no_screen_when_too_few_rows_support_it() -> None:
    margins = np.linspace(0.0, 1.0, 400)
    events = np.zeros(400, dtype=bool)
    events[:202] = True  # 198 clean rows above the last event: one short.
    assert derive_screen(margins, events, EARLY_STOP_MISS) is None
    events[201] = False
    assert derive_screen(margins, events, EARLY_STOP_MISS) is not None
    assert derive_screen(margins, np.ones(400), EARLY_STOP_MISS) is None  # All flipped.
    assert derive_screen(margins[:0], events[:0], EARLY_STOP_MISS) is None
    # A detector fitted on a small reference has no screen and scores every copy it
    # would without one.
    model = Step()
    det = _detector(model, n=150)
    assert det.screen is None
    model.rows_scored = 0
    det.decide(_far(40), 0.116)
    assert model.rows_scored == 40 * (1 + perturbation._first_look(16)[2])


def test_rows_above_the_screen_skip_their_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Step()
    det = _detector(model)
    screen = det.screen
    assert screen is not None and screen.rows >= 199
    assert screen.margin < 0.98  # Far rows (margin 0.98) are above it.
    rows = _far(64)
    monkeypatch.setattr(perturbation, "SCREEN_AUDIT", 0.0)
    model.rows_scored = 0
    scores = det.decide(rows, 0.116)
    assert model.rows_scored == 64  # The originals, no copy.
    assert np.allclose(scores, 0.5 * (1 - 0.98))
    assert det.screen_stats == {"screened": 64, "audited": 0, "tripped": 0}
    # With the audit, a share of them is scored in full, and only those.
    monkeypatch.setattr(perturbation, "SCREEN_AUDIT", 0.25)
    model.rows_scored = 0
    det.decide(rows, 0.116)
    audited = det.screen_stats["audited"]
    assert 0 < audited < 64
    assert model.rows_scored == 64 + audited * det.k
    assert not det.screen_off  # Stable rows do not trip it.


def test_a_minimal_perturbation_below_the_screen_is_scored_in_full_and_flagged() -> None:
    model = Step()
    det = _detector(model)
    assert det.screen is not None
    # An evasion: pushed just past the boundary (x0 = 0.001), with stable rows around it.
    attack = np.array([[0.001, 0.3, -0.2]])
    rows = np.vstack([_far(31), attack])
    threshold = 0.116
    full = det.score(rows)
    decided = det.decide(rows, threshold)
    assert decided[-1] > threshold and full[-1] > threshold
    assert decided[-1] > 0.5 * (1 - 0.002) + 2 / det.k  # Its copies did flip.


def test_the_audit_catches_a_sure_but_unstable_row_and_turns_the_screen_off(
        caplog: pytest.LogCaptureFixture) -> None:
    model = Trap()
    det = _detector(model)
    screen = det.screen
    assert screen is not None and screen.margin < 0.98
    rng = np.random.default_rng(7)
    crafted = np.column_stack([np.full(64, 6.0), np.full(64, 9.0), rng.uniform(0, 1, 64)])
    threshold = 0.116
    with caplog.at_level(logging.WARNING, logger="garrison.detection"):
        first = det.decide(crafted, threshold)
    assert det.screen_off and det.screen is None
    assert det.screen_stats["tripped"] > 0
    assert sum("screen is off" in r.getMessage() for r in caplog.records) == 1
    # The audited rows that flipped were scored in full, hence flagged.
    assert (first > threshold).sum() >= det.screen_stats["tripped"]
    # From now on every such row gets its copies, and every one of them is flagged.
    model.rows_scored = 0
    again = det.decide(crafted, threshold)
    assert model.rows_scored > 64
    assert np.all(again > threshold)
    with caplog.at_level(logging.WARNING, logger="garrison.detection"):
        det.decide(crafted, threshold)
    assert sum("screen is off" in r.getMessage() for r in caplog.records) == 1  # Once.


def test_linear_models_keep_their_exact_path() -> None:
    class Linear(Step):
        def decision_shift(self, noise: np.ndarray) -> np.ndarray:
            return noise[:, :1]

    det = _detector(Linear())
    assert det._shift is not None and det.screen is None


def test_the_screen_sits_above_every_reference_row_that_flipped() -> None:
    model = Step()
    det = _detector(model)
    assert det._calibration is not None
    margins, flips = det._calibration
    screen = det.screen
    assert screen is not None
    assert screen.margin > margins[flips > 0].max()
    assert screen.rows == int((margins >= screen.margin).sum())
    assert not flips[margins >= screen.margin].any()
