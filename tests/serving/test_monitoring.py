"""Monitoring history: drift windows and traffic over time, extraction suspects, alerts."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData

from garrison.audit import AuditQuery
from garrison.errors import Conflict, Forbidden, InvalidInput
from garrison.governance import AccountService, Guard
from garrison.serving.alerts import AlertRecord, AlertService
from garrison.serving.monitoring import MonitoringService, TrafficCount, features_of
from garrison.serving.traffic import TrafficRecorder
from garrison.storage.alerts_repo import SQLAlertStore
from garrison.storage.monitoring_repo import SQLMonitoringStore
from garrison.storage.tables import principals
from garrison.storage.tables_console import console_sessions, drift_windows, traffic

REPORT = {
    "drifted": True, "rows_reference": 500, "rows_current": 400, "alpha": 0.05,
    "features": [
        {"feature": "amount", "type": "numeric", "drifted": True, "rows": 400, "checks": [
            {"check": "missing-rate", "method": "two-proportion-z", "statistic": 0.0,
             "p_value": 1.0, "p_adjusted": 1.0, "effect_method": "missing-rate-delta",
             "effect_size": 0.0, "threshold": 0.05, "drifted": False},
            {"check": "distribution", "method": "ks", "statistic": 0.4, "p_value": 1e-9,
             "p_adjusted": 2e-9, "effect_method": "wasserstein", "effect_size": 0.31,
             "threshold": 0.1, "drifted": True}]},
        {"feature": "age", "type": "numeric", "drifted": False, "rows": 400, "checks": [
            {"check": "distribution", "method": "ks", "statistic": 0.02, "p_value": 0.7,
             "p_adjusted": 0.7, "effect_method": "wasserstein", "effect_size": float("nan"),
             "threshold": 0.1, "drifted": False}]},
    ],
}


@pytest.fixture
def world(store, clock):
    guard = Guard(store)
    accounts = AccountService(store, guard, clock)
    root, _ = accounts.bootstrap_admin("root")
    people = {"root": root}
    for name, roles in (("bob", ["approver"]), ("dan", ["auditor"]), ("ada", ["data-scientist"])):
        people[name] = accounts.create_principal(root, name, roles=roles)
    alerts = AlertService(SQLAlertStore(store), clock=clock)
    service = MonitoringService(SQLMonitoringStore(store), alerts, guard, clock)
    return service, alerts, people


def test_the_migration_creates_exactly_the_declared_tables(store) -> None:
    only = MetaData()
    for table in (principals, console_sessions, drift_windows, traffic):
        table.to_metadata(only)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), only)
    names = ("console_sessions", "drift_windows", "traffic")
    assert [d for d in diff if any(n in repr(d) for n in names) and d[0] != "remove_table"] \
        == []
    assert "0017_console" in (store.revision() or "")


def test_features_chart_the_distribution_check_and_drop_non_finite_numbers() -> None:
    amount, age = features_of(REPORT)
    assert (amount.feature, amount.drifted, amount.effect_method, amount.effect_size,
            amount.threshold) == ("amount", True, "wasserstein", 0.31, 0.1)
    assert age.effect_size is None and not age.drifted


def test_every_drift_window_is_kept_and_read_back_oldest_first(world, clock) -> None:
    service, _, people = world
    service.record_drift("fraud", 1, REPORT)
    clock.advance(60)
    service.record_drift("fraud", 2, {**REPORT, "drifted": False})
    service.record_drift("other", 1, REPORT)
    since = "2025-12-31T00:00:00.000000Z"
    windows = service.drift(people["dan"], "fraud", since=since)
    assert [(w.version, w.drifted, w.rows) for w in windows] == [(1, True, 400), (2, False, 400)]
    assert windows[0].features[0].feature == "amount"
    assert service.drift(people["dan"], "fraud", since="2026-01-01T00:00:30.000000Z")[0] \
        .version == 2
    with pytest.raises(InvalidInput):
        service.record_drift("fraud", 1, {"features": []})
    clock.advance(60)
    service.record_drift("fraud", 3, REPORT)
    assert service.drift_models(people["dan"], since=since) == ["fraud", "other"]
    assert service.drift_models(people["dan"], since="2026-01-01T00:01:30.000000Z") == ["fraud"]


def test_reading_monitoring_needs_view_alerts_and_a_denial_is_recorded(world, store) -> None:
    service, _, people = world
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for call in (lambda: service.alerts(people["ada"]),
                 lambda: service.suspects(people["ada"]),
                 lambda: service.drift(people["ada"], "fraud", since="2026"),
                 lambda: service.traffic(people["ada"], since=now - dt.timedelta(hours=1),
                                         until=now)):
        with pytest.raises(Forbidden):
            call()
    denied = store.query(AuditQuery(actor="ada", outcome="denied", limit=None))
    assert [e.action for e in denied] == ["view-alerts"] * 4


def test_traffic_from_several_workers_adds_up_per_minute(world, store) -> None:
    service, _, people = world
    minute = "2026-01-01T00:10:00.000000Z"
    service.record_traffic([TrafficCount("fraud", 1, minute, 3, 30, 1, 0)])
    service.record_traffic([TrafficCount("fraud", 1, minute, 2, 20, 0, 1),
                            TrafficCount("fraud", 2, minute, 1, 1, 0, 0),
                            TrafficCount("churn", 1, "2026-01-01T00:40:00.000000Z", 5, 5, 5, 5)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    series = service.traffic(people["bob"], since=start, until=start + dt.timedelta(hours=1),
                             buckets=6)
    by_model = {s.model: s for s in series}
    assert by_model["fraud"].bucket_seconds == 600
    assert by_model["fraud"].requests == (0, 6, 0, 0, 0, 0)  # Both versions, one model.
    assert by_model["fraud"].rejections == (0, 1, 0, 0, 0, 0)
    assert by_model["fraud"].fallbacks == (0, 1, 0, 0, 0, 0)
    assert by_model["churn"].requests == (0, 0, 0, 0, 5, 0)
    with pytest.raises(InvalidInput):
        service.traffic(people["bob"], since=start, until=start, buckets=6)


def test_the_recorder_counts_per_model_version_and_minute_and_wraps_prometheus() -> None:
    seen: list[list[TrafficCount]] = []
    calls: list[tuple] = []

    class Inner:
        def request(self, *args): calls.append(("request", *args))
        def rejected(self, *args): calls.append(("rejected", *args))
        def fallback(self, *args): calls.append(("fallback", *args))
        def render(self): return b"metrics"

    now = [1_767_225_600.0 + 30]  # 2026-01-01T00:00:30Z
    recorder = TrafficRecorder(seen.append, inner=Inner(), interval=3600,
                               time_source=lambda: now[0])
    try:
        recorder.request("fraud", 1, "ok", 0.01, 3)
        recorder.request("fraud", 1, "fallback", 0.01, 2)
        recorder.rejected("rate", "fraud", 1)
        recorder.rejected("alert-extraction-pattern")  # No model: Prometheus only.
        recorder.fallback("fraud", "model-error")
        now[0] += 60
        recorder.request("fraud", 1, "ok", 0.01, 1)
        assert recorder.render() == b"metrics"  # Anything else goes to the wrapped one.
        recorder.flush()
    finally:
        recorder.close()
    [batch] = seen
    rows = {(c.minute, c.version): (c.requests, c.rows, c.rejections, c.fallbacks)
            for c in batch}
    assert rows == {("2026-01-01T00:00:00.000000Z", 1): (2, 5, 1, 1),
                    ("2026-01-01T00:01:00.000000Z", 1): (1, 1, 0, 0)}
    assert [c[0] for c in calls] == ["request", "request", "rejected", "rejected", "fallback",
                                     "request"]


def test_a_failing_sink_loses_counts_visibly_not_silently() -> None:
    def broken(batch):
        raise RuntimeError("database down")

    recorder = TrafficRecorder(broken, interval=3600)
    try:
        recorder.request("fraud", 1, "ok", 0.01, 3)
        recorder.flush()
        assert recorder.dropped == 1
    finally:
        recorder.close()


def _alert(n: int, kind: str, caller: str, severity: str = "high") -> AlertRecord:
    return AlertRecord(id=f"00000000-0000-0000-0000-{n:012d}", kind=kind, caller=caller,
                       severity=severity, detail={"n": n},
                       created=f"2026-01-01T00:00:{n:02d}.000000Z")


def test_suspects_group_extraction_alerts_by_caller(world) -> None:
    service, alerts, people = world
    for record in (_alert(1, "extraction-pattern", "mallory"),
                   _alert(2, "input-space-sweep", "mallory", "medium"),
                   _alert(3, "anomalous-queries", "trudy", "medium"),
                   _alert(4, "auth-failures", "ip:10.0.0.1"),
                   _alert(5, "drift", "model:fraud:1")):
        alerts.sink.add(record)
    suspects = service.suspects(people["dan"])
    assert [(s.caller, s.alerts, s.kinds, s.severity) for s in suspects] == [
        ("trudy", 1, ("anomalous-queries",), "medium"),
        ("mallory", 2, ("extraction-pattern", "input-space-sweep"), "high"),
    ]


def test_acknowledging_is_authorized_and_recorded_under_the_persons_name(world, store) -> None:
    service, alerts, people = world
    alerts.sink.add(_alert(1, "extraction-pattern", "mallory"))
    alert_id = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(Forbidden):
        service.acknowledge(people["dan"], alert_id)  # Auditors read, they do not act.
    done = service.acknowledge(people["bob"], alert_id)
    assert done.acknowledged_by == "bob"
    assert service.alerts(people["bob"], open_only=True) == []
    with pytest.raises(Conflict):
        service.acknowledge(people["bob"], alert_id)
    [event] = store.query(AuditQuery(action="acknowledge-alert", outcome="ok"))
    assert event.actor == "bob" and event.resource == f"alert:{alert_id}"
