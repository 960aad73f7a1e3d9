"""SQL store of monitoring history: drift windows and traffic counts per minute.

Implements ``garrison.serving.monitoring.MonitoringStore``. Traffic rows are added with
an upsert (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``) on both SQLite
and PostgreSQL, so gateway workers never overwrite each other's counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from garrison.serving.monitoring import (
    DriftWindowRecord,
    TrafficCount,
    decode_features,
    encode_features,
)
from garrison.storage.store import Store
from garrison.storage.tables_console import drift_windows, traffic

__all__ = ["SQLMonitoringStore"]

_COUNTS = ("requests", "rows", "rejections", "fallbacks")


class SQLMonitoringStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add_drift_window(self, record: DriftWindowRecord) -> None:
        with self._store.write() as tx:
            tx.conn.execute(insert(drift_windows).values(
                model=record.model[:64], version=record.version, created=record.created,
                rows=record.rows, drifted=record.drifted,
                features=encode_features(record.features)))

    def drift_windows(self, model: str, since: str, limit: int) -> list[DriftWindowRecord]:
        stmt = (select(drift_windows).where(drift_windows.c.model == model,
                                            drift_windows.c.created >= since)
                .order_by(drift_windows.c.created.desc(), drift_windows.c.id.desc())
                .limit(limit))
        with self._store.read() as tx:
            rows = tx.conn.execute(stmt).all()
        return [DriftWindowRecord(r.model, int(r.version), r.created, int(r.rows),
                                  bool(r.drifted), decode_features(r.features))
                for r in reversed(rows)]

    def drift_models(self, since: str) -> list[str]:
        newest = func.max(drift_windows.c.created)
        stmt = (select(drift_windows.c.model).where(drift_windows.c.created >= since)
                .group_by(drift_windows.c.model).order_by(newest.desc()))
        with self._store.read() as tx:
            return [row[0] for row in tx.conn.execute(stmt)]

    def add_traffic(self, counts: Sequence[TrafficCount]) -> None:
        if not counts:
            return
        with self._store.write() as tx:
            dialect = postgresql if tx.conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(traffic)
            stmt = stmt.on_conflict_do_update(
                index_elements=["model", "version", "minute"],
                set_={name: getattr(traffic.c, name) + getattr(stmt.excluded, name)
                      for name in _COUNTS})
            tx.conn.execute(stmt, [
                {"model": c.model[:64], "version": c.version, "minute": c.minute,
                 "requests": c.requests, "rows": c.rows, "rejections": c.rejections,
                 "fallbacks": c.fallbacks} for c in counts])

    def traffic(self, since: str, until: str) -> list[TrafficCount]:
        stmt = (select(traffic).where(traffic.c.minute >= since, traffic.c.minute < until)
                .order_by(traffic.c.minute))
        with self._store.read() as tx:
            rows = tx.conn.execute(stmt).all()
        return [TrafficCount(r.model, int(r.version), r.minute, int(r.requests), int(r.rows),
                             int(r.rejections), int(r.fallbacks)) for r in rows]
