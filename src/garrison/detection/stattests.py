"""Named statistical tests for drift, each comparing a window against a stored profile.

Every test is registered with its metadata (the idea of evidently's ``StatTest``):
id, description, which feature kinds it applies to, whether it yields a p-value
(``significance``) or an effect size (``effect``), and its default effect threshold.
All tests work from the ``FeatureProfile`` alone (quantiles, histogram, counts), so
drift can be checked where only the registry's profile is available.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

from garrison.detection.profile import QUANTILE_LEVELS, FeatureProfile
from garrison.errors import InvalidInput, NotFound

__all__ = [
    "StatResult",
    "StatTest",
    "available_stattests",
    "get_stattest",
    "reference_cdf",
    "register_stattest",
]

_LEVELS = np.asarray(QUANTILE_LEVELS)
_TRIM = (_LEVELS >= 0.01) & (_LEVELS <= 0.99)
_EPS = 1e-4


@dataclass(frozen=True)
class StatResult:
    """Outcome of one named test: ``p_value`` for significance tests, ``effect_size``
    (with the ``threshold`` it is compared to) for effect measures."""

    method: str
    statistic: float
    p_value: float | None = None
    effect_size: float | None = None
    threshold: float | None = None

    @property
    def exceeds(self) -> bool:
        return (
            self.effect_size is not None and self.threshold is not None
            and self.effect_size >= self.threshold
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "statistic": self.statistic, "p_value": self.p_value,
            "effect_size": self.effect_size, "threshold": self.threshold,
        }


@dataclass(frozen=True)
class StatTest:
    """Registry entry; ``func(reference, values, threshold) -> StatResult``.

    ``values`` are the window's non-missing values: floats for ``numeric`` tests,
    category labels (str) for ``categorical`` ones.
    """

    id: str
    description: str
    kind: str  # "numeric" or "categorical"
    role: str  # "significance" or "effect"
    default_threshold: float | None
    func: Callable[[FeatureProfile, np.ndarray, float | None], StatResult]

    def __call__(self, reference: FeatureProfile, values: np.ndarray,
                 threshold: float | None = None) -> StatResult:
        return self.func(reference, values,
                         self.default_threshold if threshold is None else threshold)


_TESTS: dict[str, StatTest] = {}


def register_stattest(test: StatTest, *, replace: bool = False) -> StatTest:
    if test.id in _TESTS and not replace:
        raise InvalidInput(f"stat test {test.id!r} is already registered")
    if test.kind not in ("numeric", "categorical") or test.role not in ("significance", "effect"):
        raise InvalidInput("kind must be numeric|categorical and role significance|effect")
    _TESTS[test.id] = test
    return test


def get_stattest(test_id: str) -> StatTest:
    try:
        return _TESTS[test_id]
    except KeyError:
        raise NotFound(f"no stat test named {test_id!r}") from None


def available_stattests() -> list[StatTest]:
    return [_TESTS[k] for k in sorted(_TESTS)]


@functools.lru_cache(maxsize=1024)
def _steps(quantiles: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct stored quantiles with the lowest and highest level of each (the
    CDF's left and right values there), per profile: a drift window asks for them once
    per test and feature, and ``np.unique`` cost more than the test. Read-only arrays."""
    q = np.asarray(quantiles)
    uniq, first = np.unique(q, return_index=True)
    last = len(q) - 1 - np.unique(q[::-1], return_index=True)[1]
    f_left, f_right = _LEVELS[first], _LEVELS[last]
    f_left[0] = 0.0
    for array in (uniq, f_left, f_right):
        array.flags.writeable = False
    return uniq, f_left, f_right


def reference_cdf(ref: FeatureProfile, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right-continuous CDF and its left limit at ``points``, from the stored quantiles.

    Between stored quantiles the CDF is linear; a value repeated over several
    quantile levels is an atom (a jump from its lowest to its highest level).
    """
    uniq, f_left, f_right = _steps(tuple(ref.quantiles))
    j = np.searchsorted(uniq, points, side="right") - 1
    right = np.empty(len(points))
    left = np.empty(len(points))
    below, above = j < 0, j >= len(uniq) - 1
    right[below] = left[below] = 0.0
    at_top = above & (points == uniq[-1])
    right[above] = 1.0
    left[above] = 1.0
    left[at_top] = f_left[-1]
    mid = ~below & ~above
    jm = j[mid]
    exact = points[mid] == uniq[jm]
    span = uniq[jm + 1] - uniq[jm]
    frac = (points[mid] - uniq[jm]) / span
    inner = f_right[jm] + (f_left[jm + 1] - f_right[jm]) * frac
    right[mid] = np.where(exact, f_right[jm], inner)
    left[mid] = np.where(exact, f_left[jm], inner)
    return right, left


#: From this effective sample size ``n m / (n + m)`` on, the KS p-value is asymptotic.
KS_ASYMPTOTIC_FROM = 400


def _ks(ref: FeatureProfile, values: np.ndarray, threshold: float | None) -> StatResult:
    s = np.sort(values)
    n = len(s)
    points = np.unique(s)
    ecdf_right = np.searchsorted(s, points, side="right") / n
    ecdf_left = np.searchsorted(s, points, side="left") / n
    f_right, f_left = reference_cdf(ref, points)
    d = float(max(np.max(np.abs(f_right - ecdf_right)), np.max(np.abs(f_left - ecdf_left))))
    m = ref.present
    en = n * m / (n + m)
    if en >= KS_ASYMPTOTIC_FROM:
        # Kolmogorov's limit with Stephens' finite-sample correction: within a few
        # percent of the exact tail at these sizes, for a microsecond instead of the
        # exact distribution's milliseconds (per feature, per drift window).
        root = math.sqrt(en)
        p = float(special.kolmogorov((root + 0.12 + 0.11 / root) * d))
    else:
        p = float(stats.kstwo.sf(d, max(1, round(en))))
    return StatResult("ks", d, p_value=min(1.0, p))


def _rank_location(ref: FeatureProfile, values: np.ndarray,
                   threshold: float | None) -> StatResult:
    """Mann-Whitney-style location test against the profile's CDF.

    Each window value is mapped through the reference's mid-CDF, ``(F(x) + F(x-)) / 2``;
    with no shift these are uniform, so their mean is 1/2 with variance
    ``(n + m + 1) / (12 n m)`` for ``n`` window and ``m`` reference values (ties make the
    true variance smaller, so the test is conservative on discrete data). The effect is
    the shift this mean implies for a normal feature, in standard deviations:
    ``sqrt(2) * Phi^-1(mean)``; it is rank-based, so a few extreme values barely move it.
    A shift of the whole distribution puts every value to one side, which the KS
    statistic (the largest CDF gap at one point) sees much more weakly.
    """
    right, left = reference_cdf(ref, values)
    n, m = len(values), max(ref.present, 1)
    mean = float(np.mean((right + left) / 2.0))
    z = (mean - 0.5) / math.sqrt((n + m + 1) / (12.0 * n * m))
    p = float(2.0 * special.ndtr(-abs(z)))
    shift = abs(math.sqrt(2.0) * float(special.ndtri(min(max(mean, 1e-9), 1.0 - 1e-9))))
    return StatResult("rank-location", z, p_value=p, effect_size=shift, threshold=threshold)


def _wasserstein(ref: FeatureProfile, values: np.ndarray, threshold: float | None) -> StatResult:
    cur = np.quantile(values, _LEVELS[_TRIM])
    diff = np.abs(cur - np.asarray(ref.quantiles)[_TRIM])
    w = float(np.trapezoid(diff, _LEVELS[_TRIM]) / (0.98))
    iqr = ref.quantile(0.75) - ref.quantile(0.25)
    scale = iqr if iqr > 0 else ref.robust_scale
    effect = w / scale
    return StatResult("wasserstein", w, effect_size=effect, threshold=threshold)


def _psi(ref: FeatureProfile, values: np.ndarray, threshold: float | None) -> StatResult:
    edges = np.asarray(ref.edges)
    expected = np.asarray(ref.counts, dtype=float)
    actual = np.bincount(np.searchsorted(edges, values, side="right"),
                         minlength=len(expected)).astype(float)
    e = np.maximum(expected / expected.sum(), _EPS)
    a = np.maximum(actual / actual.sum(), _EPS)
    psi = float(np.sum((a - e) * np.log(a / e)))
    return StatResult("psi", psi, effect_size=psi, threshold=threshold)


def _category_table(ref: FeatureProfile, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aligned reference and window counts; unseen values share one extra cell."""
    labels = list(ref.categories)
    index = {lab: i for i, lab in enumerate(labels)}
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    cur = np.zeros(len(labels) + 1)
    for lab, c in zip(uniq, counts, strict=False):
        cur[index.get(str(lab), len(labels))] += c
    refc = np.array([ref.categories[lab] for lab in labels] + [ref.other_count], dtype=float)
    keep = (refc + cur) > 0
    return refc[keep], cur[keep]


def _chi2(ref: FeatureProfile, values: np.ndarray, threshold: float | None) -> StatResult:
    refc, cur = _category_table(ref, values)
    # Cells expected to hold fewer than 5 window rows are pooled, so the chi-square
    # approximation stays valid on small windows.
    small = refc / refc.sum() * cur.sum() < 5
    if small.sum() > 1:
        refc = np.append(refc[~small], refc[small].sum())
        cur = np.append(cur[~small], cur[small].sum())
    if len(refc) < 2:
        return StatResult("chi2", 0.0, p_value=1.0)
    table = np.vstack([refc, cur])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    chi = float(np.sum((table - expected) ** 2 / expected))
    dof = len(refc) - 1
    return StatResult("chi2", chi, p_value=float(stats.chi2.sf(chi, dof)))


def _js(ref: FeatureProfile, values: np.ndarray, threshold: float | None) -> StatResult:
    refc, cur = _category_table(ref, values)
    dist = float(jensenshannon(refc / refc.sum(), cur / cur.sum(), base=2))
    dist = 0.0 if math.isnan(dist) else dist
    return StatResult("jensenshannon", dist, effect_size=dist, threshold=threshold)


register_stattest(StatTest(
    "ks", "Two-sample Kolmogorov-Smirnov against the profile's quantile CDF "
    "(asymptotic p-value with n_eff = n m / (n + m)).", "numeric", "significance", None, _ks))
register_stattest(StatTest(
    "rank-location", "Location shift: mean reference mid-CDF of the window values against 1/2 "
    "(z-test, Mann-Whitney variance); effect is the implied shift in standard deviations "
    "of a normal feature.", "numeric", "significance", 0.06, _rank_location))
register_stattest(StatTest(
    "wasserstein", "Wasserstein-1 distance between quantile functions (1%-99% levels), "
    "divided by the reference IQR.", "numeric", "effect", 0.1, _wasserstein))
register_stattest(StatTest(
    "psi", "Population stability index over the reference decile bins.",
    "numeric", "effect", 0.1, _psi))
register_stattest(StatTest(
    "chi2", "Chi-square test of homogeneity on the reference vs. window counts "
    "(unseen values pooled in one cell).", "categorical", "significance", None, _chi2))
register_stattest(StatTest(
    "jensenshannon", "Jensen-Shannon distance (base 2) between category frequencies.",
    "categorical", "effect", 0.1, _js))
