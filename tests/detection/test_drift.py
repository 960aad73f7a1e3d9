"""Drift: every drift type is caught, and false alarms stay rare on small and large windows."""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from garrison.detection import (
    DriftConfig,
    DriftMonitor,
    DriftWindow,
    Profile,
    adjust_pvalues,
    available_stattests,
    compare,
    get_stattest,
)
from garrison.errors import InvalidInput, NotFound
from garrison.types import FixedClock


def make(rng: np.random.Generator, n: int, *, rho: float = 0.7, shift: float = 0.0,
         scale: float = 1.0, probs: tuple[float, ...] = (0.5, 0.3, 0.2), missing: float = 0.0,
         new: float = 0.0, jitter: float = 0.0) -> pd.DataFrame:
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    frame = pd.DataFrame({
        "a": z[:, 0] * scale + shift, "b": z[:, 1],
        "c": rng.exponential(2.0, n) * (1 + jitter), "k": rng.integers(0, 5, n),
        "cat": rng.choice(["x", "y", "z"], p=list(probs), size=n),
    })
    if missing:
        frame.loc[rng.uniform(size=n) < missing, "c"] = np.nan
    if new:
        frame.loc[rng.uniform(size=n) < new, "cat"] = "w"
    return frame


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(make(np.random.default_rng(1), 50_000))


@pytest.mark.parametrize(("kind", "params", "feature"), [
    ("mean shift", {"shift": 0.3}, "a"),
    ("variance change", {"scale": 1.5}, "a"),
    ("categorical frequency", {"probs": (0.34, 0.33, 0.33)}, "cat"),
    ("new category", {"new": 0.03}, "cat"),
    ("missing-value surge", {"missing": 0.15}, "c"),
])
@pytest.mark.parametrize("n", [500, 5000])
def test_each_marginal_drift_is_detected(profile: Profile, kind: str, params: dict,
                                         feature: str, n: int) -> None:
    # A stable seed: hash() of a str changes with every interpreter (PYTHONHASHSEED).
    report = compare(profile, make(np.random.default_rng(zlib.crc32(kind.encode())), n, **params))
    assert report.drifted, kind
    assert report.drifted_features == [feature], kind
    check = next(c for f in report.features for c in f.checks if c.drifted)
    assert check.p_adjusted <= 0.05 and check.effect_size >= check.threshold
    assert check.method in {"ks", "chi2", "two-proportion-z", "binomial-good-turing"}


@pytest.mark.parametrize("n", [500, 5000])
def test_correlation_only_change_is_detected(profile: Profile, n: int) -> None:
    window = make(np.random.default_rng(5), n, rho=0.0)
    report = compare(profile, window)
    # Every marginal is unchanged; only the dependence between a and b moved.
    assert report.drifted_features == []
    assert report.drifted
    assert [c.feature for c in report.correlation_drift] == ["a|b"]
    assert report.max_correlation_delta > 0.5


def _false_alarms(profile: Profile, n: int, windows: int, seed: int, **params) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    alarms = raw = 0
    for _ in range(windows):
        report = compare(profile, make(rng, n, **params))
        alarms += report.drifted
        raw += any(c.p_value < 0.05 for f in report.features for c in f.checks)
    return alarms, raw


def test_false_alarm_rate_small_windows(profile: Profile) -> None:
    alarms, raw = _false_alarms(profile, 1000, 60, seed=11)
    print(f"\n1000-row windows: {alarms}/60 false alarms; raw p<0.05 somewhere in {raw}/60")
    assert alarms <= 3  # At most 5% of 60 windows.


def test_false_alarm_rate_large_windows_with_harmless_change(profile: Profile) -> None:
    # 20k-row windows with a tiny, harmless difference (c scaled by 3%): raw p-values
    # fire in most windows, the effect-size gate keeps the verdict quiet.
    alarms, raw = _false_alarms(profile, 20_000, 50, seed=12, jitter=0.03)
    print(f"\n20k-row windows: {alarms}/50 false alarms; raw p<0.05 somewhere in {raw}/50")
    assert raw >= 40
    assert alarms <= 2


def test_effect_gate_and_significance_gate_both_needed(profile: Profile) -> None:
    report = compare(profile, make(np.random.default_rng(3), 20_000, jitter=0.05))
    c = next(c for c in report.features if c.feature == "c").checks
    dist = next(x for x in c if x.check == "distribution")
    assert dist.significant and not dist.drifted  # Significant but tiny.
    tiny = compare(profile, make(np.random.default_rng(3), 25, shift=0.6),
                   DriftConfig(min_rows=20, correlation=False))
    a = next(x for x in tiny.features if x.feature == "a").checks[-1]
    assert a.effect_size >= a.threshold  # Large effect on a small window ...
    strict = compare(profile, make(np.random.default_rng(3), 25, shift=0.6),
                     DriftConfig(min_rows=20, alpha=1e-6, correlation=False))
    assert not strict.drifted  # ... is not drift without significance.


def test_ks_matches_scipy_on_continuous_data() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"v": rng.normal(size=40_000)})
    cur = rng.normal(0.05, 1.0, 3000)
    ours = get_stattest("ks")(Profile.from_frame(ref)["v"], cur)
    theirs = stats.ks_2samp(ref["v"].to_numpy(), cur, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic, abs=0.004)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=0.35)


def test_adjust_pvalues_known_answers() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert np.allclose(adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02])
    assert np.allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(adjust_pvalues(p, "none"), p)
    with pytest.raises(InvalidInput):
        adjust_pvalues(p, "magic")


def test_registry_and_report_shape(profile: Profile) -> None:
    ids = {t.id for t in available_stattests()}
    assert {"ks", "wasserstein", "psi", "chi2", "jensenshannon"} <= ids
    with pytest.raises(NotFound):
        get_stattest("nope")
    body = compare(profile, make(np.random.default_rng(4), 800, shift=0.5)).to_dict()
    assert body["drifted"] is True and body["drifted_features"] == ["a"]
    check = body["features"][0]["checks"][-1]
    assert {"method", "statistic", "p_value", "p_adjusted", "effect_size", "threshold",
            "drifted"} <= set(check)
    with pytest.raises(InvalidInput):
        compare(profile, pd.DataFrame({"a": [1.0] * 50}))


def test_count_window_and_monitor(profile: Profile) -> None:
    monitor = DriftMonitor(profile, DriftWindow(size=600))
    rows = make(np.random.default_rng(8), 600, shift=0.5).to_dict("records")
    reports = [monitor.add(r) for r in rows]
    assert all(r is None for r in reports[:-1])
    assert reports[-1] is not None and reports[-1].drifted_features == ["a"]
    assert len(monitor.window) == 0


def test_time_window_uses_the_clock(profile: Profile) -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    window = DriftWindow(seconds=60, min_rows=50, max_rows=100, clock=clock, rng=1)
    for row in make(np.random.default_rng(9), 300).to_dict("records"):
        window.add(row)
        clock.advance(0.1)
    assert not window.ready() and window.seen == 300 and len(window) == 100  # Reservoir.
    clock.advance(60)
    assert window.ready()
    assert len(window.take()) == 100 and not window.ready()
    with pytest.raises(InvalidInput):
        DriftWindow(size=10, seconds=5)


def test_frames_close_the_same_windows_as_rows(profile: Profile) -> None:
    """add_frame splits a frame at window boundaries: 1,500 rows in uneven frames close
    the same two 600-row windows, with the same verdicts, as 1,500 single rows."""
    frame = make(np.random.default_rng(8), 1500, shift=0.5)
    by_row = DriftMonitor(profile, DriftWindow(size=600))
    row_reports = [r for r in map(by_row.add, frame.to_dict("records")) if r is not None]
    by_frame = DriftMonitor(profile, DriftWindow(size=600))
    frame_reports = []
    for lo, hi in [(0, 1), (1, 590), (590, 1210), (1210, 1500)]:
        frame_reports += by_frame.add_frame(frame.iloc[lo:hi])
    assert len(frame_reports) == len(row_reports) == 2
    assert [r.to_dict() for r in frame_reports] == [r.to_dict() for r in row_reports]
    assert len(by_frame.window) == len(by_row.window) == 300


def test_frames_beyond_max_rows_join_the_reservoir(profile: Profile) -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    window = DriftWindow(seconds=60, min_rows=50, max_rows=100, clock=clock, rng=1)
    frame = make(np.random.default_rng(9), 300)
    window.extend(frame.iloc[:80])
    window.extend(frame.iloc[80:])
    assert window.seen == 300 and len(window) == 100
    clock.advance(61)
    taken = window.take()
    assert len(taken) == 100 and list(taken.columns) == list(frame.columns)
    assert taken.index.tolist() == list(range(100))


def test_a_time_window_filled_by_frames_closes_on_time(profile: Profile) -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    monitor = DriftMonitor(profile, DriftWindow(seconds=10, min_rows=50, clock=clock))
    frame = make(np.random.default_rng(10), 200, shift=0.5)
    assert monitor.add_frame(frame.iloc[:100]) == []
    clock.advance(20)
    reports = monitor.add_frame(frame.iloc[100:])
    assert len(reports) == 1 and reports[0].drifted_features == ["a"]


# Issue 19: a +0.15 standard deviation shift of one feature in a 1,000-row window was
# missed in about half of the windows (the KS statistic is weak for a pure shift; its
# effect gate, Wasserstein / IQR = 0.11, sat on its threshold). The rank-location check
# finds it; the Tarone rule keeps untestable missing-rate checks out of the correction.
def test_small_shift_of_one_feature_is_found_over_many_seeds(profile: Profile) -> None:
    found = without = 0
    for seed in range(20):
        window = make(np.random.default_rng(700 + seed), 1000, shift=0.15)
        found += compare(profile, window).drifted_features == ["a"]
        without += compare(profile, window, DriftConfig(location=False)).drifted_features == ["a"]
    print(f"\n+0.15 SD shift of one feature, 1000-row windows: found in {found}/20 "
          f"({without}/20 without the location check)")
    # z is about 4.5 at this size, so even an ideal test misses a few windows after
    # the correction; 0.9 is what the bench measures over 150 windows.
    assert found >= 17 and without <= 14


def test_small_shift_check_does_not_raise_false_alarms(profile: Profile) -> None:
    alarms = sum(compare(profile, make(np.random.default_rng(900 + s), 1000)).drifted
                 for s in range(40))
    print(f"\nno-shift 1000-row windows: {alarms}/40 false alarms")
    assert alarms <= 1


def test_location_check_reports_shift_in_standard_deviations(profile: Profile) -> None:
    report = compare(profile, make(np.random.default_rng(4), 5000, shift=0.3))
    loc = next(c for f in report.features if f.feature == "a" for c in f.checks
               if c.check == "location")
    assert loc.drifted and loc.method == "rank-location" and loc.effect_method == "rank-location"
    assert 0.2 < loc.effect_size < 0.4  # The shift, estimated from ranks alone.
    # Outliers do not move a rank statistic: 2% of the values pushed far out.
    window = make(np.random.default_rng(4), 5000)
    window.loc[:99, "a"] = 1e6
    quiet = compare(profile, window)
    loc = next(c for f in quiet.features if f.feature == "a" for c in f.checks
               if c.check == "location")
    assert loc.effect_size < 0.06
    off = compare(profile, make(np.random.default_rng(4), 5000, shift=0.3),
                  DriftConfig(location=False))
    assert all(c.check != "location" for f in off.features for c in f.checks)


def test_untestable_missing_rate_checks_do_not_dilute_the_correction(profile: Profile) -> None:
    report = compare(profile, make(np.random.default_rng(6), 1000, shift=0.15))
    miss = [c for f in report.features for c in f.checks if c.check == "missing-rate"]
    assert miss and all(c.p_adjusted == 1.0 and not c.drifted for c in miss)
    loc = next(c for f in report.features if f.feature == "a" for c in f.checks
               if c.check == "location")
    testable = sum(1 for f in report.features for c in f.checks if c.check != "missing-rate"
                   ) + report.correlation_pairs
    # BH over the testable checks only: the smallest p-value is scaled by their count.
    assert loc.p_adjusted <= loc.p_value * testable + 1e-12
