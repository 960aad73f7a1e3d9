"""Alert metrics in the Prometheus exposition format, read live from the service."""

from __future__ import annotations

import datetime as dt

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from garrison.detection.access import AlertKind
from garrison.gateway.alert_metrics import KNOWN_KINDS, register_alert_metrics
from garrison.gateway.webhook import WebhookNotifier
from garrison.serving.alerts import AlertRecord, AlertService
from garrison.types import FixedClock


class Sink:
    def add(self, record: AlertRecord) -> None:
        pass


class A:
    def __init__(self, kind: str, caller: str, severity: str) -> None:
        self.kind, self.caller, self.severity = kind, caller, severity
        self.detail = {}
        self.created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_counters_are_exported_by_kind_and_severity() -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    service = AlertService(Sink(), clock=clock)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    register_alert_metrics(registry, service)
    before = samples(registry)
    assert before[("garrison_alerts_total", (("kind", "auth-failures"), ("severity", "high")))] == 0
    for _ in range(3):
        service.raise_alert(A("auth-failures", "x", "high"))
    service.raise_alert(A("auth-failures", "y", "high"))
    service.raise_alert(A("custom-signal", "y", "low"))
    got = samples(registry)
    assert got[("garrison_alerts_total", (("kind", "auth-failures"), ("severity", "high")))] == 2
    assert got[("garrison_alerts_total", (("kind", "custom-signal"), ("severity", "low")))] == 1
    assert got[("garrison_alerts_total", (("kind", "drift"), ("severity", "medium")))] == 0
    assert got[("garrison_alerts_suppressed_total",
                (("kind", "auth-failures"), ("reason", "duplicate")))] == 2
    assert not any(name.startswith("garrison_alert_webhook") for name, _ in got)


def test_webhook_delivery_metrics_are_exported_when_configured() -> None:
    statuses = [500, 200]
    notifier = WebhookNotifier(
        "https://hooks.example.com/", b"0123456789abcdef", backoff=0.0,
        transport=httpx.MockTransport(lambda r: httpx.Response(statuses.pop(0))),
    )
    service = AlertService(Sink(), notifier=notifier)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    register_alert_metrics(registry, service, notifier)
    assert samples(registry)[("garrison_alert_webhook_queue", ())] == 0
    service.raise_alert(A("quota-exceeded", "x", "high"))
    assert notifier.flush(5)
    service.close()
    got = samples(registry)
    assert got[("garrison_alert_webhook_deliveries_total", (("outcome", "delivered"),))] == 1
    assert got[("garrison_alert_webhook_deliveries_total", (("outcome", "failed"),))] == 0
    assert got[("garrison_alert_webhook_retries_total", ())] == 1


def test_known_kinds_cover_the_access_monitor() -> None:
    assert {k.value for k in AlertKind} | {"drift"} == set(KNOWN_KINDS)
