"""Prometheus telemetry for the gateway (its own registry; exposed at ``/metrics``).

With several workers (``garrison serve --workers N``) every worker writes its counters,
histograms and gauges to memory-mapped files in one directory (prometheus-client's
multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``, set by :func:`prepare_multiprocess`
before the workers start) and a scrape, whichever worker answers it, sums them: counters
are monotonic and count every worker's requests, a dead worker's counts included.
Gauges say how they combine (``livesum``: in-flight requests, dropped records; ``livemin``:
a model is ready only if every live worker serves it; ``max``: an open breaker). Values
read from a worker's own state are sampled into those gauges each second
(:meth:`PrometheusTelemetry.sample`). The ``process_*`` series are the workers' summed
CPU seconds (a counter), resident memory and open descriptors, plus ``garrison_workers``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["PrometheusTelemetry", "multiprocess_dir", "prepare_multiprocess", "worker_exited"]

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared metrics directory of this process's gateway, if it has several workers."""
    return os.environ.get(_ENV) or None


def prepare_multiprocess(directory: str) -> None:
    """Before the workers start: ``directory`` holds the workers' metric files (emptied:
    a previous run's counts must not leak into this one). Workers inherit the setting."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    os.environ[_ENV] = directory


def worker_exited(pid: int) -> None:
    """A worker leaves: its live gauges stop counting (its counters stay in the sums)."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)


class PrometheusTelemetry:
    def __init__(self, registry: CollectorRegistry | None = None, *,
                 multiprocess: str | None = None) -> None:
        #: Rendered as is: this process's own collectors (alerts, one-process metrics).
        self.registry = registry or CollectorRegistry()
        self._dir = multiprocess
        r = self.registry
        # In multiprocess mode the values live in the shared files, collected at scrape
        # time: the metric objects belong to no registry.
        shared = None if multiprocess else r
        self.requests = Counter("garrison_requests_total", "Prediction requests served.",
                                ["model", "version", "outcome"], registry=shared)
        self.latency = Histogram("garrison_request_seconds", "Prediction latency.", ["model"],
                                 buckets=_BUCKETS, registry=shared)
        self.rows = Counter("garrison_rows_total", "Rows scored.", ["model"], registry=shared)
        self.rejections = Counter("garrison_rejections_total", "Requests refused, by reason.",
                                  ["reason"], registry=shared)
        self.fallbacks = Counter("garrison_fallbacks_total", "Answers served by a fallback.",
                                 ["model", "reason"], registry=shared)
        self.model_errors = Counter(
            "garrison_model_errors_total", "Model calls that failed, by kind (exception, "
            "timeout, circuit-open, bad-output).", ["model", "version", "kind"],
            registry=shared)
        self.http = Counter("garrison_http_responses_total", "HTTP responses by status.",
                            ["status"], registry=shared)
        self.grpc = Counter("garrison_grpc_responses_total", "gRPC answers by status code.",
                            ["code"], registry=shared)
        self.shadow_agreement = Gauge("garrison_shadow_agreement",
                                      "Share of mirrored requests where shadow agreed.",
                                      ["model"], registry=shared,
                                      multiprocess_mode="livemax")
        self.breaker_open = Gauge("garrison_circuit_open", "1 while a model's breaker is open.",
                                  ["model"], registry=shared, multiprocess_mode="livemax")
        self.ready = Gauge("garrison_model_ready",
                           "1 while the model version in this role serves in every worker, "
                           "0 while it cannot (the reason is in the log, the audit trail "
                           "and garrison deploy show).", ["model", "role"], registry=shared,
                           multiprocess_mode="livemin")
        self.decisions_dropped = Gauge("garrison_decision_records_dropped",
                                       "Decision records dropped because the queue was full.",
                                       registry=shared, multiprocess_mode="livesum")
        self.background_dropped = Gauge(
            "garrison_background_dropped",
            "Items a background queue dropped because it was full (decisions, watch, alerts, "
            "audit): monitoring that lost data says so.", ["queue"], registry=shared,
            multiprocess_mode="livesum")
        self.in_flight = Gauge(
            "garrison_inflight_requests",
            "Requests the gateway's workers are serving now (health checks and scrapes "
            "excluded); the autoscaler's per-pod load signal.", registry=shared,
            multiprocess_mode="livesum")
        #: Gauges read from this worker's state: (gauge child, reader).
        self._sampled: list[tuple[Any, Callable[[], float]]] = []
        self._mirrors: list[_Mirror] = []
        self._process: _WorkerProcess | None = None
        if multiprocess:
            self._process = _WorkerProcess()
        else:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

        #: Labelled children by label values: ``labels()`` validates and locks per call.
        self._children: dict[tuple[str, int, str], tuple[Any, Any, Any]] = {}
        self._statuses: dict[int, Any] = {}

    def add_collector(self, collector: Any) -> None:
        """A collector that reads this worker's state at scrape time (the alert counters):
        registered as is with one worker; with several, mirrored into multiprocess
        metrics at each sample, so its counters are summed over the workers too."""
        if self._dir is None:
            self.registry.register(collector)
        else:
            self._mirrors.append(_Mirror(collector))

    # -- gauges read from state -----------------------------------------------------
    def _read(self, gauge: Any, reader: Callable[[], float]) -> None:
        if self._dir is None:
            gauge.set_function(reader)
        else:
            self._sampled.append((gauge, reader))

    def sample(self) -> None:
        """Copy this worker's state into its gauges (multiprocess mode; each second and
        before each scrape)."""
        for gauge, reader in self._sampled:
            gauge.set(float(reader()))
        for mirror in self._mirrors:
            mirror.sample()
        if self._process is not None:
            self._process.sample()

    def track_in_flight(self, counter: Any) -> None:
        """Export ``counter.in_flight`` as the in-flight gauge."""
        self._read(self.in_flight, lambda: counter.in_flight)

    def track_dropped_decisions(self, writer: Any) -> None:
        self._read(self.decisions_dropped, _dropped_of(writer))

    def watch_queues(self, queues: dict[str, Any]) -> None:
        """Export each background writer's ``dropped`` count."""
        for name, writer in queues.items():
            self._read(self.background_dropped.labels(name), _dropped_of(writer))

    # -- events -------------------------------------------------------------------------
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

    def rejected(self, reason: str, model: str = "", version: int = 0) -> None:
        # By reason only: the model would multiply the series; the durable traffic
        # history (``serving.traffic``) keeps the per-model counts.
        self.rejections.labels(reason).inc()

    def shed_at_accept(self, count: int) -> None:
        """Requests the HTTP protocol shed (503) before the application saw them."""
        self.rejections.labels("overloaded").inc(count)
        self.http.labels("503").inc(count)

    def fallback(self, model: str, reason: str) -> None:
        self.fallbacks.labels(model, reason.split(";", 1)[0]).inc()

    def model_error(self, model: str, version: int, kind: str) -> None:
        self.model_errors.labels(model, str(version), kind).inc()

    def model_ready(self, model: str, role: str, ready: bool) -> None:
        self.ready.labels(model, role).set(1 if ready else 0)

    def render(self) -> bytes:
        if self._dir is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        self.sample()
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=self._dir)
        return generate_latest(combined) + generate_latest(self.registry)


class _WorkerProcess:
    """This worker's CPU seconds, memory and descriptors into multiprocess metrics."""

    def __init__(self) -> None:
        self._collector = ProcessCollector(registry=None)
        self.cpu = Counter("process_cpu_seconds", "CPU seconds of every worker, dead ones "
                           "included.", registry=None)
        self.memory = Gauge("process_resident_memory_bytes", "Resident memory of the live "
                            "workers.", registry=None, multiprocess_mode="livesum")
        self.fds = Gauge("process_open_fds", "Open file descriptors of the live workers.",
                         registry=None, multiprocess_mode="livesum")
        self.workers = Gauge("garrison_workers", "Live gateway worker processes.",
                             registry=None, multiprocess_mode="livesum")
        self.workers.set(1)
        self._cpu_seen = 0.0

    def sample(self) -> None:
        values = {m.name: m.samples[0].value for m in self._collector.collect() if m.samples}
        cpu = values.get("process_cpu_seconds")
        if cpu is not None and cpu > self._cpu_seen:
            self.cpu.inc(cpu - self._cpu_seen)
            self._cpu_seen = cpu
        if "process_resident_memory_bytes" in values:
            self.memory.set(values["process_resident_memory_bytes"])
        if "process_open_fds" in values:
            self.fds.set(values["process_open_fds"])


class _Mirror:
    """One collector's counters and gauges copied into multiprocess metrics: a counter
    grows by what it grew since the last sample, a gauge is summed over live workers."""

    def __init__(self, collector: Any) -> None:
        self._collector = collector
        self._metrics: dict[str, Any] = {}
        self._seen: dict[tuple[str, tuple[str, ...]], float] = {}

    def _metric(self, family: Any, labels: list[str]) -> Any:
        metric = self._metrics.get(family.name)
        if metric is None:
            if family.type == "counter":
                metric = Counter(family.name, family.documentation, labels, registry=None)
            else:
                metric = Gauge(family.name, family.documentation, labels, registry=None,
                               multiprocess_mode="livesum")
            self._metrics[family.name] = metric
        return metric

    def sample(self) -> None:
        for family in self._collector.collect():
            if family.type not in ("counter", "gauge"):
                continue
            for sample in family.samples:
                if family.type == "counter" and not sample.name.endswith("_total"):
                    continue  # A counter's _created sample.
                names = sorted(sample.labels)
                metric = self._metric(family, names)
                values = tuple(sample.labels[n] for n in names)
                child = metric.labels(*values) if names else metric
                if family.type == "gauge":
                    child.set(sample.value)
                    continue
                key = (family.name, values)
                grown = sample.value - self._seen.get(key, 0.0)
                if grown > 0:
                    child.inc(grown)
                    self._seen[key] = sample.value


def _dropped_of(writer: Any) -> Callable[[], float]:
    """The reading of one writer's ``dropped`` counter."""
    return lambda: float(writer.dropped)
