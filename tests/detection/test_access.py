"""Access monitoring: extraction patterns alert, normal traffic does not, state is bounded."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from garrison.detection import AccessMonitor, AccessPolicy, AlertKind, Profile, Throttle
from garrison.types import FixedClock

from .conftest import correlated_frame

D = 6


@pytest.fixture(scope="module")
def profile() -> Profile:
    return Profile.from_frame(correlated_frame(np.random.default_rng(0), 20_000, D))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def _send(monitor: AccessMonitor, clock: FixedClock, caller: str, rows: np.ndarray,
          names: list[str]) -> list:
    alerts = []
    for row in rows:
        clock.advance(2)
        alerts += monitor.observe_query(caller, dict(zip(names, row.tolist())))
    return alerts


def test_normal_traffic_raises_nothing(profile: Profile, clock: FixedClock) -> None:
    monitor = AccessMonitor(profile, clock=clock)
    rng = np.random.default_rng(1)
    for caller in range(20):
        rows = correlated_frame(rng, 400, D).to_numpy()
        assert _send(monitor, clock, f"user-{caller}", rows, profile.names) == []
        assert monitor.throttle(f"user-{caller}") is Throttle.NONE


def test_perturbation_walk_raises_extraction_alert(profile: Profile, clock: FixedClock) -> None:
    rng = np.random.default_rng(2)
    seeds = correlated_frame(rng, 20, D).to_numpy()
    sd = np.array([f.std for f in profile.features])
    walk = np.concatenate([s + np.cumsum(rng.normal(size=(20, D)) * 0.02 * sd, axis=0)
                           for s in seeds])
    monitor = AccessMonitor(profile, clock=clock)
    alerts = _send(monitor, clock, "thief", walk, profile.names)
    kinds = {a.kind for a in alerts}
    assert AlertKind.EXTRACTION in kinds
    alert = next(a for a in alerts if a.kind is AlertKind.EXTRACTION)
    assert alert.detail["shapiro_w"] < 0.85 and alert.caller == "thief"
    assert alert.to_dict()["created"].endswith("Z")
    assert monitor.throttle("thief") is Throttle.SLOW


def test_uniform_and_grid_sweeps_raise_alerts(profile: Profile, clock: FixedClock) -> None:
    monitor = AccessMonitor(profile, clock=clock)
    lo = np.array([f.minimum for f in profile.features])
    hi = np.array([f.maximum for f in profile.features])
    uniform = np.random.default_rng(3).uniform(lo, hi, size=(300, D))
    kinds = {a.kind for a in _send(monitor, clock, "sweeper", uniform, profile.names)}
    assert AlertKind.SWEEP in kinds
    axes = [np.linspace(a, b, 3) for a, b in zip(lo, hi)]
    grid = np.array(list(itertools.product(*axes)))[:300]
    kinds = {a.kind for a in _send(monitor, clock, "gridder", grid, profile.names)}
    assert AlertKind.EXTRACTION in kinds or AlertKind.SWEEP in kinds


def test_quota_auth_downloads_and_cooldown(clock: FixedClock) -> None:
    policy = AccessPolicy(quota=50, quota_seconds=3600, auth_failures=3, auth_seconds=60,
                          downloads=2, download_seconds=60, min_queries=10_000)
    monitor = AccessMonitor(policy=policy, clock=clock)
    alerts = []
    for _ in range(60):
        clock.advance(1)
        alerts += monitor.observe_query("bulk", [0.0, 1.0])
    assert [a.kind for a in alerts] == [AlertKind.QUOTA]  # Once: the cooldown holds.
    assert monitor.throttle("bulk") is Throttle.BLOCK
    clock.advance(policy.throttle_seconds + 1)
    assert monitor.throttle("bulk") is Throttle.NONE
    assert monitor.observe_auth_failure("guess") == []
    assert monitor.observe_auth_failure("guess") == []
    assert [a.kind for a in monitor.observe_auth_failure("guess")] == [AlertKind.AUTH]
    clock.advance(120)
    assert monitor.observe_auth_failure("slow") == []  # Spread out: no burst.
    assert monitor.observe_download("ops") == []
    assert monitor.observe_download("ops")[0].severity.value == "medium"


def test_anomalous_share_alert(clock: FixedClock) -> None:
    monitor = AccessMonitor(policy=AccessPolicy(min_queries=20), clock=clock)
    alerts = []
    for i in range(40):
        alerts += monitor.observe_query("prober", [float(i), 0.0], anomalous=i % 2 == 0)
    assert AlertKind.ANOMALIES in {a.kind for a in alerts}


def test_state_is_bounded_lru(clock: FixedClock) -> None:
    monitor = AccessMonitor(policy=AccessPolicy(max_callers=5), clock=clock, max_alerts=3)
    for i in range(10):
        monitor.observe_query(f"c{i}", [1.0, 2.0])
    assert len(monitor) == 5
    monitor.observe_query("c5", [1.0, 2.0])  # Touch c5: it becomes most recent.
    monitor.observe_query("new", [1.0, 2.0])
    assert monitor.throttle("c6") is Throttle.NONE
    assert "c5" in monitor._callers and "c6" not in monitor._callers


@pytest.mark.parametrize("chunks", [[1] * 40, [7, 1, 30, 64, 2], [300], [3, 250, 100, 9]])
def test_observe_many_leaves_the_state_of_one_query_at_a_time(
        profile: Profile, clock: FixedClock, chunks: list[int]) -> None:
    """The vectorized batch step (ring buffer wrap, warm-up inside a batch, NaN rows)
    leaves the state that one query at a time leaves, and matches the definition."""
    policy = AccessPolicy(history=64, warmup=5, min_queries=20, check_every=7)
    rows = correlated_frame(np.random.default_rng(8), sum(chunks), D).to_numpy().copy()
    rows[5, 2] = np.nan
    one, many = (AccessMonitor(profile, policy, clock=clock) for _ in range(2))
    for row in rows:
        one.observe_query("c", row)
    start = 0
    for size in chunks:
        many.observe_many("c", rows[start:start + size])
        start += size
    a, b = one._callers["c"], many._callers["c"]
    assert a.stored == b.stored == len(rows) and a.queries == b.queries
    np.testing.assert_allclose(list(a.mind), list(b.mind), rtol=1e-12)
    assert len(a.mind) == min(len(rows) - policy.warmup, policy.prada_window)
    z = one._standardize(rows)  # The definition, one query at a time.
    naive = [np.sqrt(((z[max(0, i - policy.history):i] - z[i]) ** 2).sum(axis=1).min())
             for i in range(policy.warmup, len(rows))][-policy.prada_window:]
    np.testing.assert_allclose(list(b.mind), naive, rtol=1e-9)
    held = min(len(rows), policy.history)
    np.testing.assert_array_equal(a.points[:held], b.points[:held])
    np.testing.assert_array_equal(a.bins, b.bins)
    assert b.bins.sum() == len(rows) * D


def test_observe_many_sees_a_walk_split_across_batches(profile: Profile,
                                                       clock: FixedClock) -> None:
    rng = np.random.default_rng(2)
    sd = np.array([f.std for f in profile.features])
    seeds = correlated_frame(rng, 20, D).to_numpy()
    walk = np.concatenate([s + np.cumsum(rng.normal(size=(20, D)) * 0.02 * sd, axis=0)
                           for s in seeds])
    monitor = AccessMonitor(profile, clock=clock)
    kinds = set()
    for start in range(0, len(walk), 50):
        clock.advance(5)
        kinds |= {a.kind for a in monitor.observe_many("thief", walk[start:start + 50])}
    assert AlertKind.EXTRACTION in kinds


def test_repeated_queries_are_at_distance_exactly_zero(profile: Profile,
                                                       clock: FixedClock) -> None:
    """Duplicates must not come out as a rounding error (the log-distance test relies on
    zeros): the matrix-product shortcut only picks the neighbour."""
    rows = correlated_frame(np.random.default_rng(4), 40, D).to_numpy() * 1e3
    monitor = AccessMonitor(profile, clock=clock)
    monitor.observe_many("dup", np.concatenate([rows, rows[:1].repeat(60, axis=0)]))
    mind = list(monitor._callers["dup"].mind)
    assert mind[-60:] == [0.0] * 60 and min(mind[:-60]) > 0


def test_values_on_decile_edges_land_in_their_own_bin(clock: FixedClock) -> None:
    """Discrete features put many values exactly on a decile edge; replaying the
    reference itself must reproduce the reference's bin counts exactly."""
    import pandas as pd

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({f"x{j}": rng.integers(0, 7, 3000).astype(float) * 0.1
                          for j in range(4)})
    profile = Profile.from_frame(frame)
    monitor = AccessMonitor(profile, AccessPolicy(min_queries=10**9), clock=clock)
    monitor.observe_many("me", frame.to_numpy())
    bins = monitor._callers["me"].bins
    for j, feature in enumerate(profile.features):
        assert bins[j, : len(feature.counts)].tolist() == list(feature.counts), feature.name
