"""Issue 19: ``boundary-hole``, the empty-band test for targeted flips near a boundary.

The attack relabels the rows of one class nearest a logistic boundary (fitted by the
attacker on the clean data) as their runner-up class. Where the classes overlap, the
attacked class then has rows on both sides of a band along the boundary normal and none
inside it; the check tests for such bands with a hypergeometric run test whose false-alarm
rate on clean data is its threshold. Figures in comments were measured with
``random_state=0`` and are in ``docs/poisoning.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import PoisonCheckConfig, poison_check
from garrison.detection.poisoning.holes import scan_holes
from tests.detection.poisoning.attacks import (
    bundled,
    random_flips,
    recall_precision,
    targeted_flips,
)
from tests.detection.poisoning.test_precision import circles, overlapping, synthetic

HOLE_ONLY = PoisonCheckConfig(checks=("boundary-hole",))


def gaussian(n: int = 1000, seed: int = 0, classes: int = 2) -> pd.DataFrame:
    """Gaussian classes in five columns whose means differ along two of them (overlap)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(n, 5))
    x[:, 0] += 1.5 * labels
    x[:, 1] += 0.8 * (labels % 2)
    frame = pd.DataFrame(np.round(x, 3), columns=[f"f{i}" for i in range(5)])
    frame["y"] = labels
    return frame


def _hole_rows(frame: pd.DataFrame) -> set[int]:
    return set(poison_check(frame, "y", config=HOLE_ONLY).rows_flagged_by("boundary-hole"))


# --- the statistic ----------------------------------------------------------------------


def test_scan_finds_an_empty_run_between_two_flanks_with_its_exact_p_value() -> None:
    # 30 rows: class rows everywhere except positions 12..17 (six rows of the other class).
    is_class = np.ones(30, dtype=bool)
    is_class[12:18] = False
    order, holes = scan_holes(np.arange(30.0), is_class)
    assert list(order) == list(range(30))
    (hole,) = holes
    assert (hole.start, hole.end, hole.runs) == (12, 18, 1)
    # Left flank: the 12 rows before (w = 12, all of the class): C(12, 12) / C(18, 12).
    # Right flank: 12 rows after (w = 12): the same. The p-value is the larger one.
    assert hole.log_p == pytest.approx(-math.log(math.comb(18, 12)))


def test_the_sharp_edge_of_a_separable_class_is_not_a_hole() -> None:
    # The other class's rows first, then the class: the run touches no class row on its
    # left, so one flank has k = 0 and the p-value is 1.
    is_class = np.array([False] * 20 + [True] * 20)
    _, holes = scan_holes(np.arange(40.0), is_class)
    assert holes == []
    is_class[0] = True  # one stray row on the far side is not enough either
    _, holes = scan_holes(np.arange(40.0), is_class)
    assert len(holes) == 1 and holes[0].log_p > math.log(0.05)


# --- the attack is found ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 2, 5])
def test_targeted_flips_between_overlapping_classes_are_found(seed: int) -> None:
    # Measured (seeds 0 / 2 / 5): 37 / 37 / 41 of 50 flips among 64 / 71 / 71 rows flagged.
    # The other flagged rows are the other class's own rows inside the emptied band.
    frame = gaussian(seed=seed)
    source = int(frame["y"].value_counts().index[0])
    poisoned, truth = targeted_flips(frame, 0.05, source=source)
    report = poison_check(poisoned, "y")
    recall, precision = recall_precision(report.rows_flagged_by("boundary-hole"), truth)
    assert recall >= 0.6 and precision >= 0.5
    finding = next(f for f in report.findings if f.row in truth)
    reason = next(r for r in finding.reasons if r.check == "boundary-hole")
    assert "leaves empty along their boundary normal" in reason.detail
    # The other label checks see almost none of these rows.
    others = set(report.rows_flagged_by("label-issue")) | set(
        report.rows_flagged_by("boundary-flip")
    )
    assert len(others & truth) < len(set(report.rows_flagged_by("boundary-hole")) & truth)


def test_targeted_flips_in_a_three_class_set_are_found() -> None:
    # Measured: 48 of 75 flips among 96 rows flagged. With three or more classes the
    # attacker's multinomial margin and the check's per-pair direction differ more; the
    # test finds the attack on about half of such seeded sets (docs/poisoning.md).
    frame = gaussian(n=1500, seed=2, classes=3)
    source = int(frame["y"].value_counts().index[0])
    poisoned, truth = targeted_flips(frame, 0.05, source=source)
    recall, precision = recall_precision(_hole_rows(poisoned), truth)
    assert recall >= 0.5 and precision >= 0.4


def test_an_attacker_who_leaves_every_fourth_row_still_leaves_a_hole() -> None:
    # Sparing some rows of the band (to leave no empty stretch) splits the hole into runs
    # of three flips; their flanks still hold the class, so the short runs are weaker
    # evidence each, and the check finds fewer of them than of a full band. It must not
    # blame the spared rows themselves.
    frame = gaussian(seed=0)
    source = int(frame["y"].value_counts().index[0])
    poisoned, truth = targeted_flips(frame, 0.05, source=source)
    spared = sorted(truth)[::4]
    for row in spared:
        poisoned.loc[row, "y"] = source
    flagged = _hole_rows(poisoned)
    assert not flagged & set(spared)


# --- clean sets are not flagged ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: gaussian(seed=0),
        lambda: gaussian(seed=1),
        lambda: gaussian(seed=3),
        lambda: gaussian(n=1500, seed=1, classes=3),
        lambda: circles(),
        lambda: overlapping(),
        lambda: synthetic(),
        lambda: bundled("breast_cancer"),
        lambda: bundled("wine"),
        lambda: bundled("iris"),
    ],
    ids=[
        "gaussian-0", "gaussian-1", "gaussian-3", "gaussian-3-classes", "circles",
        "overlapping", "synthetic-two-clusters", "breast_cancer", "wine", "iris",
    ],
)
def test_clean_sets_are_not_flagged(make: object) -> None:
    frame = make()  # type: ignore[operator]
    assert _hole_rows(frame) == set()


def test_ties_in_a_file_sorted_by_label_are_not_holes() -> None:
    # Categorical columns only: thousands of rows share a handful of projections. Ordered
    # by position inside a tie, a file sorted by label would show long runs of one label
    # between runs of the other; the check breaks ties at random instead.
    rng = np.random.default_rng(0)
    n = 2000
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.choice(["s", "m", "l"], n)
    signal = (colour == "red").astype(float) + 0.5 * (size == "l")
    labels = (rng.random(n) < 0.2 + 0.5 * signal / 1.5).astype(int)
    frame = pd.DataFrame({"colour": colour, "size": size, "y": labels})
    frame = frame.sort_values("y", kind="stable").reset_index(drop=True)
    assert _hole_rows(frame) == set()


# --- random flips are still handled ----------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian", "breast_cancer"])
def test_random_flips_are_left_to_the_other_checks(name: str) -> None:
    frame = gaussian(seed=0) if name == "gaussian" else bundled("breast_cancer")
    poisoned, truth = random_flips(frame, 0.05, seed=0)
    report = poison_check(poisoned, "y")
    # Random flips leave no band empty: the hole check adds no false alarms, so the
    # report is the one the other checks make on their own...
    assert report.summary("boundary-hole").rows_flagged == 0
    without = poison_check(poisoned, "y", config=PoisonCheckConfig(
        checks=tuple(c.check for c in report.checks if c.check != "boundary-hole")))
    assert report.flagged_rows == without.flagged_rows
    # ...and those still find the flips.
    recall, _ = recall_precision(report.flagged_rows, truth)
    assert recall >= 0.6


def test_threshold_zero_turns_the_check_off() -> None:
    frame = gaussian(seed=0)
    poisoned, _ = targeted_flips(frame, 0.05, source=int(frame["y"].value_counts().index[0]))
    report = poison_check(
        poisoned, "y", config=PoisonCheckConfig(
            checks=("boundary-hole",), thresholds={"boundary-hole": 0.0})
    )
    assert report.flagged_rows == ()
