"""Prometheus metrics of the alert workflow, read from the service on each scrape.

* ``garrison_alerts_total{kind,severity}``: alerts recorded (stored, audited, sent);
* ``garrison_alerts_suppressed_total{kind,reason}``: alerts dropped as a ``duplicate``
  of one recorded within the window, or over the ``budget``;
* with a webhook: ``garrison_alert_webhook_deliveries_total{outcome}`` (``delivered``,
  ``failed``, ``rejected``, ``dropped``), ``garrison_alert_webhook_retries_total`` and
  the gauge ``garrison_alert_webhook_queue``.

The access-monitor kinds and ``drift`` start at zero for every severity, so rates and
absent-series alerts work from the first scrape. Counters count since process start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from garrison.serving.alerts import DRIFT_KIND, SEVERITIES, AlertService

__all__ = ["KNOWN_KINDS", "AlertMetricsCollector", "register_alert_metrics"]

#: Kinds exported at zero before they first happen (``garrison.detection.AlertKind`` + drift).
KNOWN_KINDS: tuple[str, ...] = (
    "quota-exceeded", "extraction-pattern", "input-space-sweep", "anomalous-queries",
    "auth-failures", "artifact-downloads", DRIFT_KIND,
)
_OUTCOMES = ("delivered", "failed", "rejected", "dropped")


class _Stats(Protocol):
    def stats(self) -> dict[str, int]: ...


class AlertMetricsCollector(Collector):
    def __init__(self, service: AlertService, webhook: _Stats | None = None) -> None:
        self._service = service
        self._webhook = webhook

    def _families(self) -> tuple[CounterMetricFamily, ...]:
        return (
            CounterMetricFamily("garrison_alerts", "Alerts recorded, by kind and severity.",
                                labels=["kind", "severity"]),
            CounterMetricFamily("garrison_alerts_suppressed",
                                "Alerts dropped as duplicates or over the budget.",
                                labels=["kind", "reason"]),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()
        if self._webhook is not None:
            yield from self._webhook_families({})

    def collect(self) -> Iterator[Metric]:
        recorded, suppressed = self._families()
        counts = {(k, s): 0 for k in KNOWN_KINDS for s in SEVERITIES}
        counts.update(self._service.counts())
        for (kind, severity), n in sorted(counts.items()):
            recorded.add_metric([kind, severity], n)
        for (kind, reason), n in sorted(self._service.suppressed().items()):
            suppressed.add_metric([kind, reason], n)
        yield recorded
        yield suppressed
        if self._webhook is not None:
            yield from self._webhook_families(self._webhook.stats())

    @staticmethod
    def _webhook_families(stats: dict[str, int]) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "garrison_alert_webhook_deliveries", "Alert webhook deliveries by final outcome.",
            labels=["outcome"],
        )
        retries = CounterMetricFamily("garrison_alert_webhook_retries",
                                      "Alert webhook attempts after the first.")
        queued = GaugeMetricFamily("garrison_alert_webhook_queue",
                                   "Alert webhook payloads waiting or in flight.")
        if stats:
            for outcome in _OUTCOMES:
                deliveries.add_metric([outcome], stats.get(outcome, 0))
            retries.add_metric([], stats.get("retried", 0))
            queued.add_metric([], stats.get("queued", 0))
        yield from (deliveries, retries, queued)


def register_alert_metrics(
    registry: CollectorRegistry, service: AlertService, webhook: _Stats | None = None
) -> AlertMetricsCollector:
    """Register the alert metrics on ``registry`` and return the collector."""
    collector = AlertMetricsCollector(service, webhook)
    registry.register(collector)
    return collector
