"""Shadow deployments: observations, the report's numbers, the promotion gate, the mirror."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from garrison.errors import ApprovalRequired, InvalidInput
from garrison.serving.mirror import ShadowMirror
from garrison.serving.shadow import (
    LatencySummary,
    ShadowObservation,
    ShadowReport,
    ensure_shadow_gate,
)


def obs(request_id: str, primary, shadow, *, ps=None, ss=None, pl=10.0, sl=12.0,
        shadow_error=None, primary_error=None, model="churn", version=3,
        created="2026-01-01T00:00:00.000000Z") -> ShadowObservation:
    return ShadowObservation(
        request_id=request_id, model=model, primary_version=2, shadow_version=version,
        created=created, rows=0 if primary is None else len(primary), primary_labels=primary,
        shadow_labels=shadow,
        primary_scores=ps, shadow_scores=ss, primary_latency_ms=pl, shadow_latency_ms=sl,
        shadow_error=shadow_error, primary_error=primary_error,
    )


@pytest.fixture
def classifier_obs() -> list[ShadowObservation]:
    return [
        # Both rows agree; the score vectors differ by 0.05 and 0.1 at most.
        obs("a", [0, 1], [0, 1], ps=[[0.9, 0.1], [0.2, 0.8]], ss=[[0.85, 0.15], [0.3, 0.7]],
            pl=10, sl=12, created="2026-01-01T00:00:01.000000Z"),
        # The one row disagrees; the scores differ by 0.15.
        obs("b", [1], [0], ps=[[0.4, 0.6]], ss=[[0.55, 0.45]], pl=20, sl=25,
            created="2026-01-01T00:00:02.000000Z"),
        # The shadow timed out: a disagreement with no score difference.
        obs("c", [0], None, ps=[[0.7, 0.3]], pl=30, sl=250, shadow_error="model-timeout",
            created="2026-01-01T00:00:03.000000Z"),
        # The primary failed: nothing to compare.
        obs("d", None, [1], ss=[[0.1, 0.9]], pl=40, sl=15, primary_error="model-unavailable",
            created="2026-01-01T00:00:00.500000Z"),
    ]


# -- the report ------------------------------------------------------------------------

def test_classifier_report_matches_hand_computed_values(classifier_obs) -> None:
    r = ShadowReport.from_observations(classifier_obs)
    assert (r.model, r.shadow_versions, r.primary_versions) == ("churn", (3,), (2,))
    assert (r.requests, r.compared_requests, r.agreeing_requests) == (4, 3, 1)
    assert (r.rows_compared, r.rows_agreeing) == (4, 2)
    assert r.agreement == pytest.approx(0.5)
    assert r.request_agreement == pytest.approx(1 / 3)
    assert (r.kind, r.diff_basis) == ("classifier", "scores")
    assert r.mean_abs_diff == pytest.approx((0.05 + 0.1 + 0.15) / 3)
    assert r.max_abs_diff == pytest.approx(0.15)
    assert [(d.request_id, d.row, d.primary, d.shadow, d.shadow_error)
            for d in r.differences] == [("b", 0, 1, 0, None), ("c", 0, 0, None, "model-timeout")]
    assert (r.shadow_errors, r.shadow_error_rate) == (1, 0.25)
    assert r.shadow_error_kinds == {"model-timeout": 1}
    assert (r.primary_errors, r.primary_error_rate) == (1, 0.25)
    assert (r.first, r.last) == ("2026-01-01T00:00:00.500000Z", "2026-01-01T00:00:03.000000Z")
    # Linear interpolation by hand: p50 of 10,20,30,40 is 25; p95 is 30 + 0.85 * 10.
    assert (r.primary_latency.p50, r.primary_latency.p95) == pytest.approx((25.0, 38.5))
    assert r.primary_latency.p99 == pytest.approx(30 + 0.97 * 10)
    expected = np.percentile([12, 25, 250, 15], [50, 95, 99])
    got = (r.shadow_latency.p50, r.shadow_latency.p95, r.shadow_latency.p99)
    assert got == pytest.approx(tuple(expected))
    assert (r.shadow_latency.count, r.shadow_latency.max) == (4, 250.0)


def test_report_to_dict_is_json_shaped(classifier_obs) -> None:
    import json

    data = json.loads(json.dumps(ShadowReport.from_observations(classifier_obs).to_dict()))
    assert data["latency_ms"]["primary"]["p50"] == 25.0
    assert data["differences"][0] == {"request_id": "b", "row": 0, "primary": 1, "shadow": 0,
                                      "shadow_error": None}
    assert data["shadow_versions"] == [3] and data["agreement"] == 0.5
    assert "primary_latency" not in data


def test_regressor_agreement_uses_relative_tolerance() -> None:
    r = ShadowReport.from_observations([
        obs("r1", [1.0, 100.0, 0.0], [1.0000005, 100.00005, 2e-6]),
        obs("r2", [[1.0, 2.0]], [[1.0, 2.5]]),  # A multi-output row.
    ])
    # Row 0: 5e-7 <= 1e-6; row 1: 5e-5 <= 1e-6 * 100; row 2: 2e-6 > 1e-6 * max(1, 0).
    assert (r.kind, r.rows_compared, r.rows_agreeing) == ("regressor", 4, 2)
    assert r.diff_basis == "values"
    assert r.max_abs_diff == pytest.approx(0.5)
    assert r.mean_abs_diff == pytest.approx((5e-7 + 5e-5 + 2e-6 + 0.5) / 4)
    assert [(d.request_id, d.row) for d in r.differences] == [("r1", 2), ("r2", 0)]
    looser = ShadowReport.from_observations([obs("r1", [0.0], [2e-6])], tolerance=1e-5)
    assert looser.agreement == 1.0


def test_string_labels_and_row_count_mismatch() -> None:
    r = ShadowReport.from_observations([
        obs("s1", ["cat", "dog"], ["cat", "dog"]),
        obs("s2", ["cat", "dog"], ["cat"]),  # The shadow lost a row.
        obs("s3", ["cat"], ["cat", "dog"]),  # The shadow invented one.
    ])
    assert (r.rows_compared, r.rows_agreeing) == (5, 4)
    assert (r.compared_requests, r.agreeing_requests) == (3, 1)
    assert [(d.request_id, d.row, d.primary, d.shadow) for d in r.differences] == [
        ("s2", 1, "dog", None), ("s3", 1, None, "dog")]
    assert (r.kind, r.diff_basis, r.mean_abs_diff) == ("classifier", None, None)


def test_at_most_ten_differences_and_empty_report() -> None:
    r = ShadowReport.from_observations([obs(f"x{i}", [1], [0]) for i in range(25)])
    assert len(r.differences) == 10 and r.agreement == 0.0
    empty = ShadowReport.from_observations([], model="churn")
    assert (empty.requests, empty.agreement, empty.model, empty.kind) == (0, None, "churn", None)
    assert empty.primary_latency == LatencySummary(0, None, None, None, None, None)


def test_report_refuses_mixed_models_and_bad_tolerance() -> None:
    with pytest.raises(InvalidInput):
        ShadowReport.from_observations([obs("a", [1], [1]), obs("b", [1], [1], model="other")])
    with pytest.raises(InvalidInput):
        ShadowReport.from_observations([obs("a", [1], [1])], model="other")
    with pytest.raises(InvalidInput):
        ShadowReport.from_observations([], tolerance=float("nan"))


# -- the gate --------------------------------------------------------------------------

def _report(agree: int, disagree: int, version: int = 3) -> ShadowReport:
    good = [obs(f"g{i}", [1], [1], version=version) for i in range(agree)]
    bad = [obs(f"b{i}", [1], [0], version=version) for i in range(disagree)]
    return ShadowReport.from_observations(good + bad)


def test_gate_refuses_too_few_requests() -> None:
    with pytest.raises(ApprovalRequired, match="only 5 mirrored requests") as info:
        ensure_shadow_gate(_report(5, 0), min_agreement=0.9, min_requests=100)
    assert info.value.detail == {"compared": 5, "required": 100}
    with pytest.raises(ApprovalRequired):
        ensure_shadow_gate(ShadowReport.from_observations([]), min_agreement=0.0,
                           min_requests=1)


def test_gate_refuses_low_agreement() -> None:
    with pytest.raises(ApprovalRequired, match=r"94\.00%.*95\.00%"):
        ensure_shadow_gate(_report(94, 6), min_agreement=0.95, min_requests=100)


def test_gate_passes_when_evidence_suffices() -> None:
    assert ensure_shadow_gate(_report(95, 5), min_agreement=0.95, min_requests=100) is None
    ensure_shadow_gate(_report(95, 5), min_agreement=0.95, min_requests=100, version=3)


def test_gate_refuses_a_report_for_another_version_and_bad_thresholds() -> None:
    with pytest.raises(ApprovalRequired, match="version 4"):
        ensure_shadow_gate(_report(100, 0), min_agreement=0.5, min_requests=1, version=4)
    mixed = ShadowReport.from_observations(
        [obs("a", [1], [1], version=3), obs("b", [1], [1], version=4)])
    with pytest.raises(ApprovalRequired):
        ensure_shadow_gate(mixed, min_agreement=0.5, min_requests=1, version=4)
    for kwargs in ({"min_agreement": 1.5, "min_requests": 1},
                   {"min_agreement": 0.5, "min_requests": -1}):
        with pytest.raises(InvalidInput):
            ensure_shadow_gate(_report(1, 0), **kwargs)


# -- observations ------------------------------------------------------------------------

def test_observation_round_trip_and_numpy_values() -> None:
    o = obs("n1", np.array([0, 1]), np.array([0, 0]), ps=np.array([[0.5, 0.5], [0.1, 0.9]]),
            pl=np.float64(3.5), sl=4)
    assert o.primary_labels == [0, 1] and type(o.primary_labels[0]) is int
    assert o.primary_scores == [[0.5, 0.5], [0.1, 0.9]]
    assert (o.primary_latency_ms, o.shadow_latency_ms) == (3.5, 4.0)
    assert type(obs("n3", [1], [1], version=np.int64(4)).shadow_version) is int
    assert ShadowObservation.from_dict(o.to_dict()) == o
    scalars = obs("n2", [np.int64(1), 2], [np.bool_(True), (3, np.int32(4))])
    assert scalars.primary_labels == [1, 2] and type(scalars.primary_labels[0]) is int
    assert scalars.shadow_labels == [True, [3, 4]] and type(scalars.shadow_labels[0]) is bool
    data = o.to_dict()
    del data["primary_error"]
    assert ShadowObservation.from_dict(data) == o
    del data["created"]
    with pytest.raises(InvalidInput, match="created"):
        ShadowObservation.from_dict(data)


@pytest.mark.parametrize("change", [
    {"pl": -1.0}, {"pl": float("inf")}, {"sl": float("nan")}, {"request_id": ""},
    {"version": -1}, {"version": "3"}, {"version": True},
])
def test_observation_validation(change) -> None:
    with pytest.raises(InvalidInput):
        obs(**{"request_id": "v", "primary": [1], "shadow": [1], **change})


def test_observation_rejects_non_list_labels() -> None:
    with pytest.raises(InvalidInput):
        obs("v", "abc", [1])


# -- the mirror ---------------------------------------------------------------------------

def test_sampling_is_deterministic_and_close_to_the_fraction() -> None:
    ids = [f"req-{i}" for i in range(10_000)]
    quarter = ShadowMirror(0.25, lambda batch: None)
    chosen = {i for i in ids if quarter.should_mirror(i)}
    assert abs(len(chosen) / len(ids) - 0.25) < 0.015
    again = ShadowMirror(0.25, lambda batch: None)
    assert chosen == {i for i in ids if again.should_mirror(i)}
    assert {i for i in ids if ShadowMirror(0.1, list).should_mirror(i)} < chosen
    assert chosen == {i for i in ids if ShadowMirror(0.9, list).should_mirror(i, 0.25)}
    keyed = {i for i in ids if ShadowMirror(0.25, list, key=b"secret").should_mirror(i)}
    assert keyed != chosen and abs(len(keyed) / len(ids) - 0.25) < 0.015
    assert not any(ShadowMirror(0.0, list).should_mirror(i) for i in ids[:100])
    assert all(ShadowMirror(1.0, list).should_mirror(i) for i in ids[:100])


@pytest.mark.parametrize("kwargs", [
    {"fraction": 1.5}, {"fraction": -0.1}, {"fraction": 0.5, "max_queue": 0},
    {"fraction": 0.5, "batch_size": 0}, {"fraction": 0.5, "flush_interval": 0},
    {"fraction": 0.5, "key": b"k" * 65},
])
def test_mirror_rejects_bad_settings(kwargs) -> None:
    with pytest.raises(InvalidInput):
        ShadowMirror(sink=list, **kwargs)


def _factory(i: int):
    return lambda: obs(f"m{i}", [1], [1])


def _in_thread(fn) -> None:
    """Run ``fn`` in a thread; fail if it does not return (a blocked submit never would)."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "submit blocked"


def test_submit_never_blocks_on_a_stuck_sink() -> None:
    release = threading.Event()
    batches: list[int] = []

    def stuck_sink(batch):
        release.wait()
        batches.append(len(batch))

    mirror = ShadowMirror(1.0, stuck_sink, max_queue=50, batch_size=10, flush_interval=0.01)
    results: list[bool] = []
    _in_thread(lambda: results.extend(mirror.submit(_factory(i)) for i in range(2000)))
    # The sink has not returned once, so exactly max_queue observations are in flight.
    assert (results.count(True), mirror.dropped, mirror.queued) == (50, 1950, 50)
    release.set()
    mirror.close()
    assert mirror.mirrored == 50 == sum(batches) and max(batches) <= 10
    assert mirror.stats() == {"submitted": 50, "mirrored": 50, "dropped": 1950, "errors": 0,
                              "queued": 0}


def test_submit_never_blocks_on_a_stuck_shadow_model() -> None:
    release = threading.Event()

    def stuck():
        release.wait()
        return obs("slow", [1], [1])

    mirror = ShadowMirror(1.0, list, max_queue=5)
    results: list[bool] = []
    _in_thread(lambda: results.extend(mirror.submit(stuck) for _ in range(20)))
    assert results.count(True) == 5 and mirror.dropped == 15 and mirror.mirrored == 0
    release.set()
    mirror.close()
    assert mirror.mirrored == 5


def test_batches_keep_order_and_respect_batch_size() -> None:
    seen: list[list[str]] = []
    mirror = ShadowMirror(1.0, lambda b: seen.append([o.request_id for o in b]), batch_size=3,
                          flush_interval=30)
    for i in range(7):
        mirror.submit(_factory(i))
    assert mirror.flush(timeout=30)
    assert [r for batch in seen for r in batch] == [f"m{i}" for i in range(7)]
    assert all(len(batch) <= 3 for batch in seen)
    mirror.close()


def test_timer_flushes_a_partial_batch() -> None:
    got = threading.Event()
    mirror = ShadowMirror(1.0, lambda b: got.set(), batch_size=100, flush_interval=0.05)
    mirror.submit(_factory(0))
    assert got.wait(30), "the flusher never wrote a partial batch"
    mirror.close()


def test_failures_are_counted_never_raised() -> None:
    def broken():
        raise RuntimeError("shadow model crashed")

    written: list[str] = []
    mirror = ShadowMirror(1.0, lambda b: written.extend(o.request_id for o in b))
    assert mirror.submit(broken) and mirror.submit(_factory(1))
    assert mirror.flush(timeout=30)
    assert (mirror.errors, mirror.mirrored, written) == (1, 1, ["m1"])
    assert mirror.last_error == "RuntimeError"
    mirror.close()

    def failing_sink(batch):
        raise OSError("database down")

    bad = ShadowMirror(1.0, failing_sink, batch_size=2)
    for i in range(3):
        bad.submit(_factory(i))
    bad.close()
    assert (bad.errors, bad.mirrored, bad.queued) == (3, 0, 0)


def test_threads_start_lazily_and_closed_mirror_drops() -> None:
    def mirror_threads() -> int:
        return sum(t.name.startswith("garrison-shadow") for t in threading.enumerate())

    before = mirror_threads()
    mirror = ShadowMirror(1.0, list, workers=2)
    assert mirror_threads() == before
    mirror.close()  # Closing an unused mirror starts nothing.
    assert not mirror.submit(_factory(0)) and mirror.dropped == 1
    used = ShadowMirror(1.0, list, workers=2)
    used.submit(_factory(0))
    assert mirror_threads() == before + 3
    used.close()
    used.close()  # Idempotent.
    assert mirror_threads() == before


def test_submit_from_an_event_loop_returns_at_once() -> None:
    release = threading.Event()

    def stuck():
        release.wait()
        return obs("async", [1], [1])

    async def handler() -> bool:
        return mirror.submit(stuck)

    mirror = ShadowMirror(1.0, list)
    # The coroutine completes while the shadow model is still stuck.
    assert asyncio.run(handler()) is True and mirror.mirrored == 0
    release.set()
    mirror.close()
    assert mirror.mirrored == 1


# -- observe_shadow -----------------------------------------------------------------------

class _Ticks:
    """A fake timer: each call moves 0.25 s forward."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def _observe(run_shadow):
    from garrison.serving.shadow import observe_shadow

    return observe_shadow(
        request_id="o1", model="churn", primary_version=2, shadow_version=3,
        created="2026-01-01T00:00:00.000000Z", primary_labels=np.array([0, 1]),
        primary_scores=np.array([[0.9, 0.1], [0.2, 0.8]]), primary_latency_ms=4.0,
        run_shadow=run_shadow, timer=_Ticks())


def test_observe_shadow_records_both_sides() -> None:
    o = _observe(lambda: (np.array([0, 0]), np.array([[0.8, 0.2], [0.6, 0.4]])))
    assert (o.rows, o.primary_labels, o.shadow_labels) == (2, [0, 1], [0, 0])
    assert o.shadow_scores == [[0.8, 0.2], [0.6, 0.4]]
    assert (o.shadow_latency_ms, o.shadow_error) == (250.0, None)
    assert ShadowReport.from_observations([o]).agreement == 0.5


def test_observe_shadow_turns_failures_into_codes() -> None:
    from garrison.errors import ModelTimeout

    def secret_failure():
        raise ValueError("row 7 had income=52000 for alice@example.com")

    def timeout():
        raise ModelTimeout("too slow")

    failed = _observe(secret_failure)
    assert (failed.shadow_error, failed.shadow_labels, failed.shadow_latency_ms) == (
        "model-error", None, 250.0)
    assert "alice" not in repr(failed)
    assert _observe(timeout).shadow_error == "model-timeout"
