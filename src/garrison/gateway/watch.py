"""The gateway's always-on monitors, fed off the hot path: extraction and drift.

A request hands its numeric rows to :meth:`Watch.submit` (a queue put); a writer
thread lingers until a batch has gathered, then feeds, per caller and model version,
the extraction monitor (PRADA distances, input-space coverage, volume, share of
anomalous inputs) in one vectorized step, and, per model version, the live drift
window (every ``drift_window`` rows; the tests see a uniform sample of
``drift_sample`` of them, so a window costs the same whatever the traffic). The
alerts they raise are counted in metrics and stored by the alert writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from garrison.detection import AccessMonitor, Profile
from garrison.detection.drift import compare
from garrison.detection.window import RowReservoir
from garrison.serving.decisions import BatchWriter

__all__ = ["Watch"]

log = logging.getLogger("garrison.gateway")

#: At most this many rows of one request feed the extraction monitor: enough to see a
#: batch-shaped sweep, while one huge batch cannot monopolize the monitor.
ROWS_PER_REQUEST = 64


class Watch:
    """Extraction and drift monitors per served model version."""

    def __init__(self, *, clock: Any, drift_window: int, drift_profile: Callable[[Any], Profile],
                 alerts: Any, raise_alert: Callable[[Any], None],
                 count: Callable[[str], None], linger: float = 0.3,
                 drift_history: Callable[[str, int, dict[str, Any]], None] | None = None,
                 drift_sample: int | None = None) -> None:
        #: Rows of each drift window the tests see: a uniform sample (None: every row).
        self._drift_sample = drift_sample or drift_window
        #: Told every closed drift window, drifted or not (the console's drift charts).
        self._drift_history = drift_history
        self._clock = clock
        self._drift_window = drift_window
        self._drift_profile = drift_profile
        self._alerts = alerts
        self._raise = raise_alert
        self._count = count
        self._access: dict[tuple[str, int], AccessMonitor] = {}
        self._drift: dict[tuple[str, int], tuple[Profile, RowReservoir]] = {}
        self._drift_off: set[tuple[str, int]] = set()
        self.writer: BatchWriter[tuple[Any, ...]] = BatchWriter(
            self._sink, name="watch", batch_size=2_000, linger=linger,
            on_error=lambda exc: log.error("monitoring failed: %s", exc))

    def submit(self, caller: str, deployed: Any, matrix: np.ndarray,
               labels: np.ndarray | None, flags: list[dict[str, Any]]) -> None:
        self.writer.submit((caller, deployed, matrix, labels, flags))

    def close(self) -> None:
        self.writer.close()

    # -- the writer thread ------------------------------------------------------------
    def _sink(self, items: list[tuple[Any, ...]]) -> None:
        queries: dict[tuple[str, tuple[str, int]], list[Any]] = {}
        outputs: dict[tuple[str, int], list[Any]] = {}
        for caller, deployed, matrix, labels, flags in items:
            v = deployed.version
            key = (v.name, v.version)
            rows = matrix[:ROWS_PER_REQUEST]
            entry = queries.setdefault((caller, key), [deployed, [], 0])
            entry[1].append(rows)
            entry[2] += sum(1 for f in flags if f["row"] < len(rows))
            if labels is not None and v.metadata.profile:
                outputs.setdefault(key, [deployed, [], []])
                outputs[key][1].append(matrix)
                outputs[key][2].append(labels)
        # Each model version's monitors fail alone: one bad profile must not blind the
        # others (the failure is logged; the writer's on_error never sees it).
        for (caller, key), (deployed, chunks, anomalous) in queries.items():
            try:
                self._observe(caller, key, deployed,
                              chunks[0] if len(chunks) == 1 else np.concatenate(chunks),
                              anomalous)
            except Exception:
                log.exception("extraction monitoring failed for %s:%s", *key)
        for key, (deployed, matrices, labels) in outputs.items():
            try:
                self._feed_drift(key, deployed, np.concatenate(matrices),
                                 np.concatenate(labels))
            except Exception:
                log.exception("drift monitoring failed for %s:%s", *key)

    def _observe(self, caller: str, key: tuple[str, int], deployed: Any, rows: np.ndarray,
                 anomalous: int) -> None:
        monitor = self._access.get(key)
        if monitor is None:
            profile = deployed.version.metadata.profile
            monitor = self._access[key] = AccessMonitor(
                Profile.from_dict(profile) if profile else None, clock=self._clock)
        for alert in monitor.observe_many(caller, rows, anomalous=anomalous):
            self._count(f"alert-{alert.kind}")
            self._raise(alert)

    def _feed_drift(self, key: tuple[str, int], deployed: Any, matrix: np.ndarray,
                    labels: np.ndarray) -> None:
        """Live inputs and outputs into the version's drift window (a uniform sample of
        ``drift_sample`` of its rows); drift raises an alert."""
        if key in self._drift_off:
            return
        drift = self._drift.get(key)
        if drift is None:
            try:
                profile = self._drift_profile(deployed)
            except Exception:
                self._drift_off.add(key)  # Not retried on every batch; logged once.
                raise
            drift = self._drift[key] = (profile, RowReservoir(
                self._drift_window, self._drift_sample,
                list(deployed.version.metadata.input_schema.names), "prediction"))
        profile, window = drift
        for frame in window.offer(matrix, labels):
            report = compare(profile, frame)
            summary = report.to_dict()
            summary["rows_window"] = self._drift_window
            if self._drift_history is not None:
                try:
                    self._drift_history(key[0], key[1], summary)
                except Exception:  # The alert below must not depend on the history.
                    log.exception("drift history not stored for %s:%s", *key)
            if report.drifted:
                self._alerts.raise_drift(key[0], key[1], summary)
