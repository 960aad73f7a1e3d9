"""The alert workflow: dedupe, flood budget, drift alerts, detail hygiene, failures."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from garrison.detection import AccessMonitor, AccessPolicy, Profile, compare
from garrison.detection.access import Alert, AlertKind, Severity
from garrison.errors import Conflict, InvalidInput, NotFound, StorageError
from garrison.serving.alerts import (
    DRIFT_KIND,
    FLOOD_KIND,
    MAX_DETAIL_BYTES,
    PAYLOAD_VERSION,
    AlertRecord,
    AlertService,
    clean_detail,
)
from garrison.types import FixedClock, utc_iso

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class MemoryAlertStore:
    """A fake store that keeps records and the audit events it would have written."""

    def __init__(self, fail: bool = False) -> None:
        self.records: list[AlertRecord] = []
        self.audit: list[tuple[str, str, str]] = []
        self.fail = fail

    def add(self, record: AlertRecord) -> None:
        if self.fail:
            raise StorageError("the database write failed")
        self.records.append(record)
        self.audit.append(("raise-alert", "system", record.resource))

    def list(self, kind=None, caller=None, since=None, limit=100, *, open_only=False):
        out = [r for r in reversed(self.records)
               if (kind is None or r.kind == kind) and (caller is None or r.caller == caller)
               and (since is None or r.created >= since)
               and (not open_only or r.acknowledged is None)]
        return out[:limit]

    def acknowledge(self, alert_id, actor, *, when=None):
        for i, r in enumerate(self.records):
            if r.id == alert_id:
                if r.acknowledged:
                    raise Conflict("already acknowledged")
                self.records[i] = replace(r, acknowledged=when, acknowledged_by=actor)
                self.audit.append(("acknowledge-alert", actor, r.resource))
                return self.records[i]
        raise NotFound("no such alert")


class RecordingNotifier:
    def __init__(self, fail: bool = False) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.fail = fail

    def notify(self, payload: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("webhook adapter bug")
        self.payloads.append(payload)


def alert(kind: AlertKind = AlertKind.AUTH, caller: str = "mallory",
          severity: Severity = Severity.HIGH, **detail: Any) -> Alert:
    return Alert(kind, caller, severity, detail or {"count": 5}, T0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def sink() -> MemoryAlertStore:
    return MemoryAlertStore()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def service(sink, notifier, clock) -> AlertService:
    return AlertService(sink, notifier=notifier, clock=clock, dedupe_window=300.0)


def test_a_monitor_alert_is_stored_audited_counted_and_sent(service, sink, notifier, clock):
    monitor = AccessMonitor(policy=AccessPolicy(auth_failures=3), clock=clock)
    raised = []
    for _ in range(3):
        raised += monitor.observe_auth_failure("10.0.0.7")
    assert len(raised) == 1
    assert service.raise_all(raised) == 1
    [record] = sink.records
    assert (record.kind, record.caller, record.severity) == ("auth-failures", "10.0.0.7", "high")
    assert record.created == utc_iso(T0) and record.acknowledged is None
    assert sink.audit == [("raise-alert", "system", f"alert:{record.id}")]
    assert notifier.payloads == [{
        "version": PAYLOAD_VERSION, "event": "alert", "id": record.id, "kind": "auth-failures",
        "caller": "10.0.0.7", "severity": "high", "created": "2026-01-01T00:00:00.000000Z",
        "detail": {"count": 3, "seconds": 300.0},
    }]
    assert service.counts() == {("auth-failures", "high"): 1}


def test_the_same_kind_and_caller_is_recorded_once_per_window(service, sink, notifier, clock):
    assert service.raise_alert(alert()) is True
    for _ in range(1000):
        assert service.raise_alert(alert()) is False
    clock.advance(299)
    assert service.raise_alert(alert()) is False
    assert len(sink.records) == len(sink.audit) == len(notifier.payloads) == 1
    assert service.suppressed() == {("auth-failures", "duplicate"): 1001}
    clock.advance(1)
    assert service.raise_alert(alert()) is True
    assert len(sink.records) == 2
    assert service.counts() == {("auth-failures", "high"): 2}


def test_other_callers_and_kinds_are_not_duplicates(service, sink):
    assert service.raise_alert(alert(caller="a"))
    assert service.raise_alert(alert(caller="b"))
    assert service.raise_alert(alert(AlertKind.QUOTA, caller="a"))
    assert [(r.kind, r.caller) for r in sink.records] == [
        ("auth-failures", "a"), ("auth-failures", "b"), ("quota-exceeded", "a")]


def test_a_flood_of_callers_is_capped_by_the_budget_and_reported_once(sink, notifier, clock):
    service = AlertService(sink, notifier=notifier, clock=clock, dedupe_window=60,
                           max_per_window=3)
    results = [service.raise_alert(alert(caller=f"ip-{i}")) for i in range(500)]
    assert results[:3] == [True, True, True] and not any(results[3:])
    kinds = [r.kind for r in sink.records]
    assert kinds == ["auth-failures"] * 3 + [FLOOD_KIND]
    flood = sink.records[-1]
    assert flood.severity == "high" and flood.detail == {"budget": 3, "window_seconds": 60.0}
    assert len(notifier.payloads) == len(sink.audit) == 4
    assert service.suppressed() == {("auth-failures", "budget"): 497}
    clock.advance(60)
    assert service.raise_alert(alert(caller="ip-new"))
    assert service.counts()[(FLOOD_KIND, "high")] == 1


def test_tracked_keys_are_bounded(sink, clock):
    service = AlertService(sink, clock=clock, dedupe_window=300, max_tracked=2)
    for caller in ("a", "b", "c"):
        assert service.raise_alert(alert(caller=caller))
    # "a" was evicted to keep memory bounded, so it counts as new; the budget still caps
    # what a caller-spraying flood can write.
    assert service.raise_alert(alert(caller="a"))
    assert not service.raise_alert(alert(caller="c"))


def test_concurrent_duplicates_are_recorded_once(service, sink):
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            service.raise_alert(alert())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sink.records) == 1
    assert service.suppressed() == {("auth-failures", "duplicate"): 399}


def test_a_failed_store_raises_and_does_not_consume_the_window(notifier, clock):
    sink = MemoryAlertStore(fail=True)
    service = AlertService(sink, notifier=notifier, clock=clock)
    with pytest.raises(StorageError):
        service.raise_alert(alert())
    assert notifier.payloads == [] and service.counts() == {}
    sink.fail = False
    assert service.raise_alert(alert()) is True


def test_a_broken_notifier_does_not_undo_the_stored_alert(sink, clock):
    service = AlertService(sink, notifier=RecordingNotifier(fail=True), clock=clock)
    assert service.raise_alert(alert()) is True
    assert len(sink.records) == 1 and service.notify_failures == 1


def _profile_and_windows() -> tuple[Profile, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.normal(size=4000),
                        "c": rng.normal(size=4000)})
    same = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000),
                         "c": rng.normal(size=1000)})
    shifted = same.assign(a=same["a"] + 1.5, b=same["b"] * 3)
    return Profile.from_frame(ref), same, shifted


def test_drift_reports_raise_drift_alerts(service, sink, notifier, clock):
    profile, same, shifted = _profile_and_windows()
    assert service.raise_drift("churn", 3, compare(profile, same).to_dict()) is False
    report = compare(profile, shifted).to_dict()
    assert report["drifted"]
    assert service.raise_drift("churn", 3, report) is True
    [record] = sink.records
    assert record.kind == DRIFT_KIND and record.caller == "model:churn:3"
    assert record.severity == "high"  # Two features of three drifted.
    assert record.detail["drifted_features"] == ["a", "b"]
    assert record.detail["features_tested"] == 3 and record.detail["drifted_count"] == 2
    assert record.detail["rows_current"] == 1000
    assert record.created == utc_iso(clock.now())
    assert service.raise_drift("churn", 3, report) is False  # Deduplicated per version.
    assert service.raise_drift("churn", 4, report) is True


def test_drift_severity_is_medium_below_half_and_report_must_be_a_report(service, sink):
    report = {"drifted": True, "drifted_features": ["a"],
              "features": [{"feature": n, "drifted": n == "a"} for n in "abc"]}
    assert service.raise_drift("m", 1, report)
    assert sink.records[0].severity == "medium"
    with pytest.raises(InvalidInput):
        service.raise_drift("m", 1, {"features": []})
    with pytest.raises(InvalidInput):
        service.raise_drift("m", 1, ["drifted"])  # type: ignore[arg-type]


def test_details_are_made_json_safe_redacted_and_capped(service, sink, notifier):
    service.raise_alert(alert(score=float("nan"), value=np.float64(0.5),
                              api_key="gk_0123456789ab_" + "x" * 30, nested={"password": "p"},
                              note="Bearer abc.def"))
    detail = sink.records[0].detail
    assert detail["score"] == "nan" and detail["value"] == 0.5
    assert detail["api_key"] == "[redacted]" and detail["nested"] == {"password": "[redacted]"}
    assert "abc.def" not in detail["note"]
    assert notifier.payloads[0]["detail"] == detail
    big = clean_detail({f"k{i}": "v" * 100 for i in range(200)})
    assert big["truncated"] is True and big["bytes"] > MAX_DETAIL_BYTES and len(big["keys"]) == 50


@pytest.mark.parametrize("kind,severity", [
    ("Not Kebab", "high"), ("x" * 65, "high"), ("drop;table", "low"), ("ok-kind", "critical"),
])
def test_malformed_alerts_are_refused(service, sink, kind, severity):
    bad = Alert(kind, "c", severity, {}, T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        service.raise_alert(bad)
    assert sink.records == []


def test_created_must_be_a_time_and_callers_are_truncated(service, sink):
    with pytest.raises(InvalidInput):
        service.raise_alert(Alert(AlertKind.AUTH, "c", Severity.LOW, {}, "yesterday"))  # type: ignore[arg-type]
    assert service.raise_alert(Alert(AlertKind.AUTH, "c" * 500, Severity.LOW, {},
                                     "2026-01-01T01:00:00+01:00"))  # type: ignore[arg-type]
    assert sink.records[0].created == "2026-01-01T00:00:00.000000Z"
    assert sink.records[0].caller == "c" * 128


def test_list_and_acknowledge_go_through_the_store(service, sink, clock):
    service.raise_alert(alert(caller="a"))
    clock.advance(10)
    service.raise_alert(alert(caller="b"))
    assert [r.caller for r in service.list()] == ["b", "a"]
    first = service.list(caller="a")[0]
    done = service.acknowledge(first.id, "alice")
    assert done.acknowledged == utc_iso(clock.now()) and done.acknowledged_by == "alice"
    assert [r.caller for r in service.list(open_only=True)] == ["b"]
    assert sink.audit[-1] == ("acknowledge-alert", "alice", f"alert:{first.id}")


@pytest.mark.parametrize("kwargs", [{"dedupe_window": -1}, {"dedupe_window": float("inf")},
                                    {"max_per_window": 0}, {"max_tracked": 0}])
def test_bad_settings_are_refused(sink, kwargs):
    with pytest.raises(InvalidInput):
        AlertService(sink, **kwargs)


def test_close_closes_the_notifier(sink):
    class Closable(RecordingNotifier):
        closed = False

        def close(self) -> None:
            self.closed = True

    notifier = Closable()
    AlertService(sink, notifier=notifier).close()
    assert notifier.closed
    AlertService(sink).close()  # No notifier: nothing to do.


def test_a_broken_notifier_during_a_flood_does_not_deadlock(sink, clock):
    service = AlertService(sink, notifier=RecordingNotifier(fail=True), clock=clock,
                           max_per_window=1)
    assert service.raise_alert(alert(caller="a"))
    assert not service.raise_alert(alert(caller="b"))  # Over budget: the flood alert is sent.
    assert [r.kind for r in sink.records] == ["auth-failures", FLOOD_KIND]
    assert service.notify_failures == 2
    assert service.suppressed() == {("auth-failures", "budget"): 1}
