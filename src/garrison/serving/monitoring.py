"""Monitoring over time: alerts, drift per feature, traffic per model, extraction suspects.

The gateway records what it sees (every closed drift window through
:meth:`MonitoringService.record_drift`, traffic counts through
:class:`~garrison.serving.traffic.TrafficRecorder`); people read it through the
authorized methods here, the same ones for the web console and any other door. Reading
needs ``view-alerts``; acknowledging an alert needs ``acknowledge-alert`` and is audited
under the person's name.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from garrison.detection.access import AlertKind
from garrison.errors import InvalidInput
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.serving.alerts import SEVERITIES, AlertRecord, AlertService
from garrison.types import Clock, parse_utc, utc_iso

__all__ = [
    "EXTRACTION_KINDS",
    "DriftWindowRecord",
    "FeatureDrift",
    "MonitoringService",
    "MonitoringStore",
    "Suspect",
    "TrafficCount",
    "TrafficSeries",
]

#: Alert kinds that say a caller's queries look like a model-extraction attempt.
EXTRACTION_KINDS: tuple[str, ...] = (
    AlertKind.EXTRACTION.value, AlertKind.SWEEP.value, AlertKind.ANOMALIES.value,
    AlertKind.QUOTA.value,
)
#: Most drift windows one history holds (newest kept).
MAX_WINDOWS = 500
MAX_BUCKETS = 200


@dataclass(frozen=True)
class FeatureDrift:
    """One feature in one window: the deciding effect size against its threshold."""

    feature: str
    drifted: bool
    method: str
    effect_method: str
    effect_size: float | None
    threshold: float | None
    p_adjusted: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DriftWindowRecord:
    model: str
    version: int
    created: str
    rows: int
    drifted: bool
    features: tuple[FeatureDrift, ...]


@dataclass(frozen=True)
class TrafficCount:
    """Counts of one model version in one minute (``minute`` is UTC ISO text)."""

    model: str
    version: int
    minute: str
    requests: int = 0
    rows: int = 0
    rejections: int = 0
    fallbacks: int = 0


@dataclass(frozen=True)
class TrafficSeries:
    """One model's counts in equal time buckets from ``start`` (``bucket_seconds`` wide)."""

    model: str
    start: str
    bucket_seconds: int
    requests: tuple[int, ...]
    rejections: tuple[int, ...]
    fallbacks: tuple[int, ...]


@dataclass(frozen=True)
class Suspect:
    """A caller whose queries raised extraction-type alerts."""

    caller: str
    alerts: int
    open: int
    kinds: tuple[str, ...]
    severity: str
    first: str
    last: str
    alert_ids: tuple[str, ...] = field(default=())


class MonitoringStore(Protocol):
    def add_drift_window(self, record: DriftWindowRecord) -> None: ...

    def drift_windows(self, model: str, since: str, limit: int) -> list[DriftWindowRecord]:
        """Windows of every version of ``model`` created at or after ``since``, oldest first
        (the newest ``limit`` of them)."""

    def drift_models(self, since: str) -> list[str]:
        """Models with a drift window at or after ``since``, the most recent first."""

    def add_traffic(self, counts: Sequence[TrafficCount]) -> None:
        """Add the counts to the stored ones (several workers add to the same minute)."""

    def traffic(self, since: str, until: str) -> list[TrafficCount]: ...


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _charted(checks: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The check drawn over time: the distribution test (the same measure in every
    window), else the first. Whether the feature drifted counts every check."""
    for check in checks:
        if check.get("check") == "distribution":
            return check
    return checks[0] if checks else {}


def features_of(report: Mapping[str, Any]) -> tuple[FeatureDrift, ...]:
    """Per-feature summary of a ``DriftReport.to_dict()``: its distribution check."""
    out = []
    for item in report.get("features") or []:
        if not isinstance(item, Mapping):
            continue
        checks = [c for c in item.get("checks") or [] if isinstance(c, Mapping)]
        first = _charted(checks)
        out.append(FeatureDrift(
            feature=str(item.get("feature", ""))[:256], drifted=bool(item.get("drifted")),
            method=str(first.get("method", ""))[:32],
            effect_method=str(first.get("effect_method", ""))[:32],
            effect_size=_number(first.get("effect_size")),
            threshold=_number(first.get("threshold")),
            p_adjusted=_number(first.get("p_adjusted")),
        ))
    return tuple(out)


class MonitoringService:
    def __init__(self, store: MonitoringStore, alerts: AlertService, guard: Guard,
                 clock: Clock) -> None:
        self._store = store
        self._alerts = alerts
        self._guard = guard
        self._clock = clock

    # -- recording (Garrison itself) ------------------------------------------------
    def record_drift(self, model: str, version: int, report: Mapping[str, Any]) -> None:
        """Keep one closed drift window (drifted or not) for the history charts."""
        if not isinstance(report.get("drifted"), bool):
            raise InvalidInput("a drift report needs a boolean 'drifted' field")
        rows = report.get("rows_current")
        self._store.add_drift_window(DriftWindowRecord(
            model=model, version=int(version), created=utc_iso(self._clock.now()),
            rows=int(rows) if isinstance(rows, int) else 0, drifted=report["drifted"],
            features=features_of(report)))

    def record_traffic(self, counts: Sequence[TrafficCount]) -> None:
        if counts:
            self._store.add_traffic(counts)

    # -- alerts -----------------------------------------------------------------------
    def alerts(self, actor: Principal, *, open_only: bool = False, kind: str | None = None,
               caller: str | None = None, since: str | None = None,
               limit: int = 100) -> list[AlertRecord]:
        """Stored alerts, newest first."""
        self._guard.require(actor, "view-alerts")
        return self._alerts.list(kind, caller, since, limit, open_only=open_only)

    def acknowledge(self, actor: Principal, alert_id: str, *, request_id: str = ""
                    ) -> AlertRecord:
        """Mark an alert handled; recorded in the audit trail under ``actor``'s name."""
        self._guard.require(actor, "acknowledge-alert", f"alert:{alert_id}",
                            request_id=request_id)
        return self._alerts.acknowledge(alert_id, actor.name)

    def suspects(self, actor: Principal, *, since: str | None = None) -> list[Suspect]:
        """Callers with extraction-type alerts, the most recently alerted first."""
        self._guard.require(actor, "view-alerts")
        by_caller: dict[str, list[AlertRecord]] = {}
        for kind in EXTRACTION_KINDS:
            for record in self._alerts.list(kind, None, since, 1000):
                by_caller.setdefault(record.caller, []).append(record)
        out = []
        for caller, records in by_caller.items():
            records.sort(key=lambda r: r.created)
            out.append(Suspect(
                caller=caller, alerts=len(records),
                open=sum(1 for r in records if r.acknowledged is None),
                kinds=tuple(sorted({r.kind for r in records})),
                severity=max((r.severity for r in records), key=SEVERITIES.index),
                first=records[0].created, last=records[-1].created,
                alert_ids=tuple(r.id for r in records[-20:]),
            ))
        return sorted(out, key=lambda s: s.last, reverse=True)

    # -- history ------------------------------------------------------------------------
    def drift(self, actor: Principal, model: str, *, since: str) -> list[DriftWindowRecord]:
        """Closed drift windows of ``model`` since ``since``, oldest first."""
        self._guard.require(actor, "view-alerts", f"model:{model}")
        return self._store.drift_windows(model, since, MAX_WINDOWS)

    def drift_models(self, actor: Principal, *, since: str) -> list[str]:
        """Models whose drift windows closed since ``since``, the most recent first."""
        self._guard.require(actor, "view-alerts")
        return self._store.drift_models(since)

    def traffic(self, actor: Principal, *, since: _dt.datetime, until: _dt.datetime,
                buckets: int = 48) -> list[TrafficSeries]:
        """Requests, rejections and fallbacks per model in ``buckets`` equal slices."""
        self._guard.require(actor, "view-alerts")
        if not 1 <= buckets <= MAX_BUCKETS or until <= since:
            raise InvalidInput(f"ask for 1-{MAX_BUCKETS} buckets over a positive span")
        width = max(60, int((until - since).total_seconds() // buckets))
        counts = self._store.traffic(utc_iso(since), utc_iso(until))
        series: dict[str, list[list[int]]] = {}
        for c in counts:
            index = int((parse_utc(c.minute) - since).total_seconds() // width)
            if not 0 <= index < buckets:
                continue
            rows = series.setdefault(c.model, [[0] * buckets for _ in range(3)])
            rows[0][index] += c.requests
            rows[1][index] += c.rejections
            rows[2][index] += c.fallbacks
        return [TrafficSeries(model, utc_iso(since), width, tuple(r[0]), tuple(r[1]),
                              tuple(r[2])) for model, r in sorted(series.items())]


def encode_features(features: Sequence[FeatureDrift]) -> str:
    """The stored form of a window's features (compact JSON)."""
    return json.dumps([f.to_dict() for f in features], separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def decode_features(text: str) -> tuple[FeatureDrift, ...]:
    return tuple(FeatureDrift(**item) for item in json.loads(text))
