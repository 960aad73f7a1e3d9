"""The confidence screen of ``perturbation-instability``: rows too sure to flip.

A row whose two largest class probabilities are far apart almost never changes class
under noise of a few hundredths of a standard deviation. At fit, the detector scores
reference rows in full and records, per row, its margin and how many of its ``k``
noisy copies flipped. An *event* is a reference row with any flip among its copies,
and :func:`derive_screen` picks the margin ``m*`` above which the copies can be skipped:

* ``m*`` is the smallest reference margin above every event's margin, so none of the
  ``R`` reference rows with a margin at or above ``m*`` is an event;
* with no event among ``R`` rows, the chance ``q`` that a row drawn like the reference
  rows above ``m*`` shows any flip among its copies is at most ``1 - alpha ** (1 / R)``
  with confidence ``1 - alpha`` (the exact one-sided Clopper-Pearson bound for zero
  events, about ``3 / R`` at 95%);
* a screened row is scored by its margin term alone. The full test flags it only with
  at least one flip (a screened row's margin term is below the threshold, or it is not
  screened), so the chance the screen misses a row the full test would flag is at most
  ``q``. The screen exists
  only when that bound is at most ``EARLY_STOP_MISS`` (the sequential stop's miss rate),
  which takes ``R >= 199`` rows at 95%; with fewer, there is no screen and the detector
  behaves as without one.

Flags are not the events: at a high threshold (a forest at 1%: 0.785) almost no
reference row is flagged, so a screen above the flagged rows alone sat at margin 0.08
and let through minimal-perturbation attacks with margins of 0.08 to 0.12 (measured on
``bench/detection_quality_adv.py``). Any flip is the stricter, threshold-free event.

The bound is a row-level one: it makes no assumption about how flips spread between
the copies of one row, only that a request row above ``m*`` is drawn like the
reference rows above it. An attacker can break that assumption (a row crafted to sit
where the model is sure and yet unstable), so a seeded share ``SCREEN_AUDIT`` of the
screened rows is still scored in full; a flip on an audited row turns the screen off
for good (see ``PerturbationInstabilityDetector.decide``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SCREEN_AUDIT", "SCREEN_CONFIDENCE", "Screen", "derive_screen", "zero_event_bound"]

#: Confidence of the bound on the screened rows' flip chance.
SCREEN_CONFIDENCE = 0.95
#: Share of screened rows still scored in full, at random (the audit).
SCREEN_AUDIT = 1.0 / 16.0


@dataclass(frozen=True)
class Screen:
    """Rows with a margin at or above ``margin`` skip their copies.

    ``rows`` reference rows supported it (none flipped); ``bound`` is the upper
    confidence bound on the chance that such a row shows any flip among its copies.
    """

    margin: float
    rows: int
    bound: float


def zero_event_bound(trials: int, confidence: float = SCREEN_CONFIDENCE) -> float:
    """Upper ``confidence`` bound on a rate with no event in ``trials`` trials."""
    if trials <= 0:
        return 1.0
    return 1.0 - (1.0 - confidence) ** (1.0 / trials)


def derive_screen(margins: np.ndarray, events: np.ndarray, miss: float,
                  confidence: float = SCREEN_CONFIDENCE) -> Screen | None:
    """The lowest margin screen whose bound is at most ``miss``, or ``None``.

    ``margins`` and ``events`` are per reference row: the gap between its two largest
    class probabilities, and whether it is an event (nonzero: any flip).
    """
    margins = np.asarray(margins, dtype=float)
    events = np.asarray(events)
    unstable = margins[events != 0]
    floor = float(unstable.max()) if len(unstable) else -math.inf
    above = np.sort(margins[margins > floor])
    if not len(above):
        return None
    bound = zero_event_bound(len(above), confidence)
    if bound > miss:
        return None
    return Screen(margin=float(above[0]), rows=len(above), bound=bound)
