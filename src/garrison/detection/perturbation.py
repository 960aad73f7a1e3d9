"""The ``perturbation-instability`` detector: share of small random copies of a row that
flip the model's prediction, scored in one model call, with a linear model's exact shortcut,
the request path's sequential stop and its calibrated confidence screen (``screen``).
Registered, with the other model-based signals, in ``adversarial``.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from typing import Any

import numpy as np

from garrison.detection.base import FitContext
from garrison.detection.screen import SCREEN_AUDIT, Screen, derive_screen
from garrison.errors import UnsupportedModel

log = logging.getLogger("garrison.detection")

__all__ = ["DECIDE_MIN_ROWS", "EARLY_STOP_MISS", "PerturbationInstabilityDetector"]


def _require_proba(model: Any) -> Any:
    if model is None or not callable(getattr(model, "predict_proba", None)):
        raise UnsupportedModel("this detector needs a model with predict_proba")
    return model


class PerturbationInstabilityDetector:
    """Share of ``k`` noisy copies whose predicted class differs from the row's own.

    Noise is Gaussian with ``noise`` x the reference standard deviation per column.
    The score adds ``0.5 * (1 - margin)``, where ``margin`` is the gap between the two
    largest class probabilities: it ranks rows with the same share (the threshold is
    calibrated on a continuous score) and sharpens the signal for minimal
    perturbations, which land just past the boundary. The whole batch, originals and
    copies, goes to the model in one ``predict_proba`` call.
    """

    id = "perturbation-instability"

    def __init__(self, k: int = 16, noise: float = 0.05, max_batch: int = 4096,
                 pool: int = 4096, screen_rows: int = 2000) -> None:
        self.k = k
        self.noise = noise
        self.max_batch = max_batch
        self.pool = pool
        self.screen_rows = screen_rows
        #: Set when the audit caught a screened row that flipped: no more screen.
        self.screen_off = False
        #: Rows the screen let skip their copies (audited ones included), rows it
        #: audited, audited rows that flipped (the first turns the screen off).
        self.screen_stats = {"screened": 0, "audited": 0, "tripped": 0}
        self._calibration: tuple[np.ndarray, np.ndarray] | None = None
        self._screen: Screen | None = None

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        self.model = _require_proba(context.model)
        self.sigma = self.noise * context.scale
        # Category code columns keep their value: noise is for the numeric inputs.
        self.sigma[context.numeric_width:] = 0.0
        self.rng = context.rng
        # Noise is drawn once, at fit, from the detector's generator; each call reads
        # ``k`` rows per input from a random offset. Drawing fresh Gaussians cost more
        # than the model itself on the request path (a compiled model answers 17 rows
        # in a few microseconds).
        self._noise = self.rng.standard_normal((max(self.pool, self.k), reference.shape[1])) \
            * self.sigma
        # A linear model's decision is affine: decision(x + e) = decision(x) + shift(e).
        # Its shifts of the noise pool are computed once, and each copy then costs an
        # addition instead of a model call (the same labels, to rounding).
        shift = getattr(self.model, "decision_shift", None)
        self._shift = np.asarray(shift(self._noise)) if callable(shift) else None
        # Offsets into the pool: a stdlib generator seeded from the detector's own (a numpy
        # draw costs more than the rest of a one-row linear score). Neither is a
        # cryptographic generator, and neither was before.
        seed = int(self.rng.integers(2**63))
        self._offsets = random.Random(seed)  # noqa: S311
        # The screen's draws (calibration offsets, audit picks) come from their own
        # generator, seeded alike, so the request-time offsets are those without it.
        self._audit = np.random.default_rng(seed)
        self._calibration = self._fit_screen(reference) if self._shift is None else None
        self._screen = None if self._calibration is None else derive_screen(
            self._calibration[0], self._calibration[1] > 0, EARLY_STOP_MISS)

    def _fit_screen(self, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Margins and flip counts of (up to ``screen_rows``) reference rows, scored in
        full: what the :attr:`screen` is derived from."""
        rows = reference
        if len(rows) > self.screen_rows:
            rows = rows[self._audit.choice(len(rows), self.screen_rows, replace=False)]
        step = max(1, self.max_batch // (self.k + 1))
        flips, margins = [], []
        for i in range(0, len(rows), step):
            f, m = self._full(rows[i:i + step], int(self._audit.integers(len(self._noise))))
            flips.append(f)
            margins.append(m)
        if not flips:
            return None
        return np.concatenate(margins), np.concatenate(flips)

    @property
    def screen(self) -> Screen | None:
        """The confidence screen (``garrison.detection.screen``): ``None`` for a linear
        model, a reference that cannot support one, or once the audit turned it off.
        Its events are the reference rows with any flip among their copies."""
        return None if self.screen_off else self._screen

    def score(self, rows: np.ndarray) -> np.ndarray:
        step = max(1, self.max_batch // (self.k + 1))
        return np.concatenate([
            self._score(rows[i:i + step]) for i in range(0, len(rows), step)
        ]) if len(rows) else np.zeros(0)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        start = self._offsets.randrange(len(self._noise))
        if self._shift is not None:
            return self._score_linear(rows, start)
        flips, margin = self._full(rows, start)
        return flips / self.k + 0.5 * (1.0 - margin)

    def _full(self, rows: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, how many of its ``k`` copies (from ``start`` in the pool) flip, and
        its margin; originals and copies in one model call."""
        n, d = rows.shape
        noise = np.take(self._noise, range(start, start + n * self.k), axis=0, mode="wrap")
        batch = np.empty((n, self.k + 1, d))
        batch[:, 0, :] = rows
        np.add(rows[:, None, :], noise.reshape(n, self.k, d), out=batch[:, 1:, :])
        proba = np.asarray(self.model.predict_proba(batch.reshape(-1, d)))
        proba = proba.reshape(n, self.k + 1, -1)
        own = proba[:, 0, :].argmax(axis=1)
        flipped = proba[:, 1:, :].argmax(axis=2) != own[:, None]
        return flipped.sum(axis=1), _margin(proba[:, 0, :])

    def _score_linear(self, rows: np.ndarray, start: int) -> np.ndarray:
        assert self._shift is not None
        n, k = len(rows), self.k
        decision = np.asarray(self.model.decision(rows))  # (n, c): c = 1 for two classes
        pool = self._shift
        if start + n * k <= len(pool):
            shift = pool[start:start + n * k]  # A view: no copy.
        else:
            shift = np.take(pool, range(start, start + n * k), axis=0, mode="wrap")
        if decision.shape[1] == 1 and n == 1 and start + k <= len(pool):
            # One row, two classes (the common request): 16 additions and a tanh.
            d0 = float(decision[0, 0])
            flips = int(np.count_nonzero((pool[start:start + k, 0] + d0 > 0) != (d0 > 0)))
            # |p1 - p0| = |2 expit(d) - 1| = |tanh(d / 2)|
            return np.array([flips / k + 0.5 * (1.0 - abs(math.tanh(d0 / 2.0)))])
        if decision.shape[1] == 1:  # Class 1 exactly when the decision is positive.
            d = decision[:, 0]
            flipped = (d[:, None] + shift[:, 0].reshape(n, k) > 0) != (d > 0)[:, None]
            margin = np.abs(2.0 * np.asarray(self.model.proba_of_decision(decision))[:, 1]
                            - 1.0)
        else:
            copies = decision[:, None, :] + shift.reshape(n, k, -1)
            flipped = copies.argmax(axis=2) != decision.argmax(axis=1)[:, None]
            margin = _margin(np.asarray(self.model.proba_of_decision(decision)))
        return flipped.sum(axis=1) / k + 0.5 * (1.0 - margin)

    def decide(self, rows: np.ndarray, threshold: float) -> np.ndarray:
        """Scores against ``threshold`` with a sequential stop (the request path).

        The rows go to the model first. A row's margin term then says how many of its
        ``k`` copies, at least, must flip for it to score above ``threshold`` (``F``).
        The row's first ``j`` copies follow, ``j`` the fewest for which the chance that
        a row with ``F`` flips in all ``k`` shows none in its first ``j``,
        ``C(k - F, j) / C(k, j)`` (the copies are exchangeable), is at most
        ``EARLY_STOP_MISS``. A row none of them flips stops there, scoring its margin
        term alone, below the threshold; every other row gets the rest of its copies:
        the same copies :meth:`score` draws, hence the same score. A linear model's
        copies cost additions, and a request of fewer than ``DECIDE_MIN_ROWS`` rows
        costs more in model calls than in rows: both are scored in full.

        With a confidence screen (:attr:`screen`, from the reference; see
        ``garrison.detection.screen``), a row whose margin is at least the screen's
        looks at no copy and scores its margin term, except a seeded ``SCREEN_AUDIT``
        share of them, scored in full. A flip on an audited row (sure and yet unstable,
        which the reference said should not happen) turns the screen off for this
        detector, logged once and counted in :attr:`screen_stats`.
        """
        if self._shift is not None or len(rows) < DECIDE_MIN_ROWS:
            return self.score(rows)
        step = max(1, self.max_batch // (self.k + 1))
        return np.concatenate([
            self._decide(rows[i:i + step], threshold) for i in range(0, len(rows), step)
        ])

    def _decide(self, rows: np.ndarray, threshold: float) -> np.ndarray:
        n, d = rows.shape
        k = self.k
        start = self._offsets.randrange(len(self._noise))
        copies = rows[:, None, :] + np.take(self._noise, range(start, start + n * k), axis=0,
                                            mode="wrap").reshape(n, k, d)
        proba = np.asarray(self.model.predict_proba(rows))
        own = proba.argmax(axis=1)
        margin = _margin(proba)
        base = 0.5 * (1.0 - margin)
        # The fewest flips of all k copies that would put the row above the threshold.
        needed = np.floor((threshold - base) * k).astype(np.int64) + 1
        first = _first_look(k)[np.clip(needed, 0, k + 1)]
        audit = None
        screen = self.screen
        if screen is not None:
            skip = (margin >= screen.margin) & (needed >= 1)
            if skip.any():
                audit = skip & (self._audit.random(n) < SCREEN_AUDIT)
                first = np.where(audit, k, np.where(skip, 0, first))
                self.screen_stats["screened"] += int(skip.sum())
                self.screen_stats["audited"] += int(audit.sum())
        seen = np.arange(k)[None, :] < first[:, None]
        flips = self._flips(copies, seen, own, n)
        rest = (flips > 0)[:, None] & ~seen
        if rest.any():
            flips += self._flips(copies, rest, own, n)
        if audit is not None:
            caught = audit & (flips > 0)
            if caught.any():
                self._trip(int(caught.sum()), float(margin[caught].min()))
        return flips / k + base

    def _trip(self, rows: int, margin: float) -> None:
        """Audited screened rows flipped: no more screen."""
        self.screen_stats["tripped"] += rows
        if not self.screen_off:
            log.warning("perturbation-instability: %d audited row(s) above the confidence "
                        "screen (margin %.4g) flipped under noise; the screen is "
                        "off for this detector", rows, margin)
            self.screen_off = True

    def _flips(self, copies: np.ndarray, mask: np.ndarray, own: np.ndarray,
               n: int) -> np.ndarray:
        """Per row, how many of its copies under ``mask`` change the predicted class."""
        row = np.nonzero(mask)[0]
        if not len(row):
            return np.zeros(n)
        labels = np.asarray(self.model.predict_proba(copies[mask])).argmax(axis=1)
        return np.bincount(row, weights=labels != own[row], minlength=n)


#: Largest chance, for a row the full test would flag with the fewest flips that do,
#: that the copies looked at first show no flip (the sequential stop's miss rate).
EARLY_STOP_MISS = 0.015
#: Fewer rows are scored in one model call (the sequential stop's three calls cost more).
DECIDE_MIN_ROWS = 8


@functools.cache
def _first_look(k: int) -> np.ndarray:
    """Indexed by ``F`` in ``0..k+1``, the fewest first copies ``j`` with
    ``C(k - F, j) / C(k, j) <= EARLY_STOP_MISS``: all ``k`` for ``F`` 0 (the row is
    above the threshold already), none for ``F`` beyond ``k`` (it cannot get there)."""
    table = np.empty(k + 2, dtype=np.int64)
    table[0], table[k + 1] = k, 0
    for flips in range(1, k + 1):
        table[flips] = next(j for j in range(1, k + 1)
                            if math.comb(k - flips, j) / math.comb(k, j) <= EARLY_STOP_MISS)
    return table


def _margin(proba: np.ndarray) -> np.ndarray:
    """Gap between the two largest class probabilities of each row."""
    if proba.shape[1] < 2:
        return np.ones(len(proba))
    top2 = np.partition(proba, proba.shape[1] - 2, axis=1)[:, -2:]
    return np.abs(top2[:, 1] - top2[:, 0])
