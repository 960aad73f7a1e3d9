"""Prometheus telemetry for the gateway (its own registry; exposed at ``/metrics``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["PrometheusTelemetry"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PrometheusTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("garrison_requests_total", "Prediction requests served.",
                                ["model", "version", "outcome"], registry=r)
        self.latency = Histogram("garrison_request_seconds", "Prediction latency.", ["model"],
                                 buckets=_BUCKETS, registry=r)
        self.rows = Counter("garrison_rows_total", "Rows scored.", ["model"], registry=r)
        self.rejections = Counter("garrison_rejections_total", "Requests refused, by reason.",
                                  ["reason"], registry=r)
        self.fallbacks = Counter("garrison_fallbacks_total", "Answers served by a fallback.",
                                 ["model", "reason"], registry=r)
        self.http = Counter("garrison_http_responses_total", "HTTP responses by status.",
                            ["status"], registry=r)
        self.grpc = Counter("garrison_grpc_responses_total", "gRPC answers by status code.",
                            ["code"], registry=r)
        self.shadow_agreement = Gauge("garrison_shadow_agreement",
                                      "Share of mirrored requests where shadow agreed.",
                                      ["model"], registry=r)
        self.decisions_dropped = Gauge("garrison_decision_records_dropped",
                                       "Decision records dropped because the queue was full.",
                                       registry=r)
        self.background_dropped = Gauge(
            "garrison_background_dropped",
            "Items a background queue dropped because it was full (decisions, watch, alerts, "
            "audit): monitoring that lost data says so.", ["queue"], registry=r)
        self.in_flight = Gauge(
            "garrison_inflight_requests",
            "Requests this worker is serving now (health checks and scrapes excluded); the "
            "autoscaler's per-pod load signal.", registry=r)
        self.breaker_open = Gauge("garrison_circuit_open", "1 while a model's breaker is open.",
                                  ["model"], registry=r)

        #: Labelled children by label values: ``labels()`` validates and locks per call.
        self._children: dict[tuple[str, int, str], tuple[Any, Any, Any]] = {}
        self._statuses: dict[int, Any] = {}

    def track_in_flight(self, counter: Any) -> None:
        """Export ``counter.in_flight`` (read at scrape time) as the in-flight gauge."""
        self.in_flight.set_function(lambda: counter.in_flight)

    def request(self, model: str, version: int, outcome: str, seconds: float, rows: int) -> None:
        key = (model, version, outcome)
        children = self._children.get(key)
        if children is None:
            if len(self._children) > 10_000:  # Bounded: label values come from the table.
                self._children.clear()
            children = self._children[key] = (self.requests.labels(model, str(version), outcome),
                                              self.latency.labels(model), self.rows.labels(model))
        children[0].inc()
        children[1].observe(seconds)
        children[2].inc(rows)

    def response(self, status: int) -> None:
        child = self._statuses.get(status)
        if child is None:
            child = self._statuses[status] = self.http.labels(str(status))
        child.inc()

    def grpc_response(self, code: str) -> None:
        self.grpc.labels(code).inc()

    def watch_queues(self, queues: dict[str, Any]) -> None:
        """Export each background writer's ``dropped`` count, read at scrape time."""
        for name, writer in queues.items():
            self.background_dropped.labels(name).set_function(_dropped_of(writer))

    def rejected(self, reason: str, model: str = "", version: int = 0) -> None:
        # By reason only: the model would multiply the series; the durable traffic
        # history (``serving.traffic``) keeps the per-model counts.
        self.rejections.labels(reason).inc()

    def fallback(self, model: str, reason: str) -> None:
        self.fallbacks.labels(model, reason.split(";", 1)[0]).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _dropped_of(writer: Any) -> Callable[[], float]:
    """The scrape-time reading of one writer's ``dropped`` counter."""
    return lambda: float(writer.dropped)
