"""Alerts: one workflow from a detection signal to storage, audit, metrics and a webhook.

``AlertService.raise_alert`` takes an alert from the detection layer (for example
``garrison.detection.access.Alert``), drops it when the same ``(kind, caller)`` was
recorded less than ``dedupe_window`` seconds ago, and otherwise hands an
:class:`AlertRecord` to the :class:`AlertStore` (which stores it and appends its
audit event in one transaction), counts it for the metrics and passes the webhook
payload to the :class:`Notifier`.

A flood cannot flood storage, the audit trail or the webhook: besides the per-key
window, at most ``max_per_window`` alerts are recorded per window in total. When
that budget runs out, one ``alert-flood`` alert (itself deduplicated) says so, and
the rest are only counted as suppressed. Memory is bounded by ``max_tracked`` keys.

The core here is framework-free: the SQL store lives in ``garrison.storage`` and the
HTTP delivery in ``garrison.gateway.webhook``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from garrison.audit import redact
from garrison.errors import InvalidInput
from garrison.types import Clock, SystemClock, parse_utc, utc_iso

__all__ = [
    "DRIFT_KIND",
    "FLOOD_KIND",
    "MAX_DETAIL_BYTES",
    "PAYLOAD_VERSION",
    "SEVERITIES",
    "AlertLike",
    "AlertRecord",
    "AlertService",
    "AlertStore",
    "Notifier",
    "clean_detail",
]

#: Version of the webhook payload format (the ``version`` field).
PAYLOAD_VERSION = 1
SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
DRIFT_KIND = "drift"
FLOOD_KIND = "alert-flood"
#: Largest stored ``detail`` (canonical JSON); larger details are replaced by a summary.
MAX_DETAIL_BYTES = 8192
_MAX_CALLER = 128
_MAX_KIND = 64
_MAX_LISTED_FEATURES = 50
_KIND = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertRecord:
    """A stored alert. ``caller`` is whom or what the alert is about."""

    id: str
    kind: str
    caller: str
    severity: str
    detail: Mapping[str, Any]
    created: str
    acknowledged: str | None = None
    acknowledged_by: str | None = None

    @property
    def resource(self) -> str:
        """The audit resource name of this alert."""
        return f"alert:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "caller": self.caller,
            "severity": self.severity, "detail": dict(self.detail), "created": self.created,
            "acknowledged": self.acknowledged, "acknowledged_by": self.acknowledged_by,
        }

    def payload(self) -> dict[str, Any]:
        """The webhook body (schema in ``docs/alerts.md``)."""
        return {
            "version": PAYLOAD_VERSION, "event": "alert", "id": self.id, "kind": self.kind,
            "caller": self.caller, "severity": self.severity, "created": self.created,
            "detail": dict(self.detail),
        }


class AlertLike(Protocol):
    """What the detection layer hands over (``garrison.detection.access.Alert`` fits)."""

    @property
    def kind(self) -> Any: ...

    @property
    def caller(self) -> str: ...

    @property
    def severity(self) -> Any: ...

    @property
    def detail(self) -> Mapping[str, Any]: ...

    @property
    def created(self) -> Any: ...


class AlertStore(Protocol):
    """Durable alerts; ``add`` must audit the alert in the same transaction."""

    def add(self, record: AlertRecord) -> None: ...

    def list(
        self, kind: str | None = None, caller: str | None = None, since: str | None = None,
        limit: int = 100, *, open_only: bool = False,
    ) -> list[AlertRecord]: ...

    def acknowledge(self, alert_id: str, actor: str, *, when: str | None = None) -> AlertRecord:
        ...


class Notifier(Protocol):
    """Delivers a payload elsewhere; must not block the caller for long."""

    def notify(self, payload: dict[str, Any]) -> None: ...


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_finite(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "item"):  # NumPy scalars.
        return _finite(value.item())
    return str(value)


def clean_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe, redacted and size-capped copy of an alert's detail."""
    if not isinstance(detail, Mapping):
        raise InvalidInput("an alert's detail must be a mapping")
    cleaned = redact(_finite(detail))
    size = len(json.dumps(cleaned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
               .encode("utf-8"))
    if size <= MAX_DETAIL_BYTES:
        return cleaned
    return {"truncated": True, "bytes": size, "keys": sorted(cleaned)[:50]}


def _text(value: Any) -> str:
    return str(getattr(value, "value", value))


def _moment(value: Any) -> str:
    try:
        return utc_iso(value if isinstance(value, dt.datetime) else parse_utc(str(value)))
    except ValueError as exc:
        raise InvalidInput("an alert's created time must be an aware time or ISO-8601") from exc


@dataclass
class _Window:
    """Deduplication and budget state (guarded by the service's lock)."""

    last: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)
    recent: deque[float] = field(default_factory=deque)


class AlertService:
    """Records alerts once per ``(kind, caller)`` and window, with a global budget."""

    def __init__(
        self,
        sink: AlertStore,
        *,
        notifier: Notifier | None = None,
        clock: Clock | None = None,
        dedupe_window: float = 300.0,
        max_per_window: int = 1000,
        max_tracked: int = 10_000,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        if not (dedupe_window >= 0 and math.isfinite(dedupe_window)):
            raise InvalidInput("dedupe_window must be a finite number of seconds >= 0")
        if max_per_window < 1 or max_tracked < 1:
            raise InvalidInput("max_per_window and max_tracked must be at least 1")
        self.sink = sink
        self.notifier = notifier
        self.clock = clock or SystemClock()
        self.dedupe_window = float(dedupe_window)
        self.max_per_window = max_per_window
        self.max_tracked = max_tracked
        self._new_id = id_factory or (lambda: str(uuid.uuid4()))
        self._lock = threading.Lock()
        self._window = _Window()
        self._counts: dict[tuple[str, str], int] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._notify_failures = 0

    # -- raising ------------------------------------------------------------------
    def raise_alert(self, alert: AlertLike) -> bool:
        """Record ``alert`` unless it is a duplicate or over budget; True when recorded."""
        kind, caller, severity = _text(alert.kind), str(alert.caller), _text(alert.severity)
        return self._raise(kind, caller, severity, alert.detail, alert.created)

    def raise_all(self, alerts: Iterable[AlertLike]) -> int:
        """Raise several alerts (e.g. what an ``AccessMonitor.observe_*`` returned)."""
        return sum(self.raise_alert(a) for a in alerts)

    def raise_kind(self, kind: str, caller: str, severity: str,
                   detail: Mapping[str, Any]) -> bool:
        """Raise an alert Garrison itself detected (tampering, lost records), now."""
        return self._raise(kind, caller, severity, detail, self.clock.now())

    def raise_drift(self, model: str, version: int | str, report: Mapping[str, Any]) -> bool:
        """Raise a ``drift`` alert from a ``DriftReport.to_dict()``; False when not drifted.

        Severity is ``high`` when at least half the features drifted, else ``medium``.
        """
        if not isinstance(report, Mapping) or not isinstance(report.get("drifted"), bool):
            raise InvalidInput("a drift report needs a boolean 'drifted' field")
        if not report["drifted"]:
            return False
        features = [f for f in report.get("features") or [] if isinstance(f, Mapping)]
        drifted = report.get("drifted_features")
        if not isinstance(drifted, list):
            drifted = [f.get("feature") for f in features if f.get("drifted")]
        pairs = (report.get("correlation") or {}).get("drifted_pairs") or []
        share = len(drifted) / len(features) if features else 0.0
        detail = {
            "model": model, "version": version,
            "drifted_features": [str(n) for n in drifted[:_MAX_LISTED_FEATURES]],
            "drifted_count": len(drifted), "features_tested": len(features),
            "drifted_share": round(share, 4), "correlation_drifted_pairs": len(pairs),
            **{k: report[k] for k in ("rows_reference", "rows_current", "rows_window", "alpha",
                                         "correction")
               if k in report},
        }
        severity = "high" if share >= 0.5 else "medium"
        return self._raise(DRIFT_KIND, f"model:{model}:{version}", severity, detail,
                           self.clock.now())

    def _raise(self, kind: str, caller: str, severity: str, detail: Mapping[str, Any],
               created: Any) -> bool:
        if len(kind) > _MAX_KIND or not _KIND.match(kind):
            raise InvalidInput("an alert kind must be kebab-case, at most 64 characters")
        if severity not in SEVERITIES:
            raise InvalidInput(f"an alert severity must be one of {SEVERITIES}")
        caller = caller[:_MAX_CALLER]
        # The lock is held while the store writes, so concurrent duplicates cannot both
        # pass. Suppressed alerts never touch the store (one flood alert per window does).
        flood: AlertRecord | None = None
        with self._lock:
            now = self.clock.now().timestamp()
            reason = self._admit(kind, caller, now)
            if reason is None:
                # Built only once admitted, so a flood of duplicates stays cheap.
                record = AlertRecord(self._new_id(), kind, caller, severity,
                                     clean_detail(detail), _moment(created))
                self._record(record, now)
            else:
                key = (kind, reason)
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                if reason == "budget":
                    flood = self._flood_record(now)
                if flood is not None:
                    self._record(flood, now)
        # Notifiers run outside the lock: they may be slow, or take the lock to count.
        if reason is None:
            self._send(record)
            return True
        if flood is not None:
            self._send(flood)
        return False

    def _admit(self, kind: str, caller: str, now: float) -> str | None:
        """Why the alert is suppressed (``duplicate``, ``budget``) or None to record it."""
        win = self._window
        last = win.last.get((kind, caller))
        if last is not None and now - last < self.dedupe_window:
            return "duplicate"
        while win.recent and now - win.recent[0] >= self.dedupe_window:
            win.recent.popleft()
        if len(win.recent) >= self.max_per_window:
            return "budget"
        return None

    def _flood_record(self, now: float) -> AlertRecord | None:
        last = self._window.last.get((FLOOD_KIND, "*"))
        if last is not None and now - last < self.dedupe_window:
            return None
        detail = {"budget": self.max_per_window, "window_seconds": self.dedupe_window}
        return AlertRecord(self._new_id(), FLOOD_KIND, "*", "high", detail,
                           utc_iso(self.clock.now()))

    def _record(self, record: AlertRecord, now: float) -> None:
        """Store (and audit) the record; only then update the window and the counters."""
        self.sink.add(record)
        win = self._window
        key = (record.kind, record.caller)
        win.last.pop(key, None)
        win.last[key] = now
        while win.last:
            oldest = next(iter(win.last.values()))
            if now - oldest < self.dedupe_window and len(win.last) <= self.max_tracked:
                break
            win.last.popitem(last=False)
        if record.kind != FLOOD_KIND:
            win.recent.append(now)
        count_key = (record.kind, record.severity)
        self._counts[count_key] = self._counts.get(count_key, 0) + 1

    def _send(self, record: AlertRecord) -> None:
        if self.notifier is None:
            return
        try:
            self.notifier.notify(record.payload())
        except Exception:
            # A broken notifier must not make a stored, audited alert look failed.
            log.exception("alert notifier failed for alert %s", record.id)
            with self._lock:
                self._notify_failures += 1

    # -- reading ------------------------------------------------------------------
    def list(
        self, kind: str | None = None, caller: str | None = None, since: str | None = None,
        limit: int = 100, *, open_only: bool = False,
    ) -> list[AlertRecord]:
        """Stored alerts, newest first (authorize with ``view-alerts`` before calling)."""
        return self.sink.list(kind, caller, since, limit, open_only=open_only)

    def acknowledge(self, alert_id: str, actor: str) -> AlertRecord:
        """Mark an alert as handled by ``actor`` (audited by the store)."""
        return self.sink.acknowledge(alert_id, actor, when=utc_iso(self.clock.now()))

    # -- metrics ------------------------------------------------------------------
    def counts(self) -> dict[tuple[str, str], int]:
        """Recorded alerts since start, by ``(kind, severity)``."""
        with self._lock:
            return dict(self._counts)

    def suppressed(self) -> dict[tuple[str, str], int]:
        """Dropped alerts since start, by ``(kind, reason)``; reason is duplicate or budget."""
        with self._lock:
            return dict(self._suppressed)

    @property
    def notify_failures(self) -> int:
        """How many times the notifier raised (the alert was stored all the same)."""
        return self._notify_failures

    def close(self) -> None:
        """Stop the notifier, if it has anything to stop."""
        close = getattr(self.notifier, "close", None)
        if callable(close):
            close()
