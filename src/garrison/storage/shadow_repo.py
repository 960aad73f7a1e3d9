"""SQL store of shadow observations: batch inserts, report queries and retention.

Mirrored traffic is high volume, so a batch is one multi-row insert in one
transaction with one audit event per (model, shadow version) in the batch instead
of one per request. A replayed observation (same model, shadow version and request
id) is ignored, so a retried batch is never counted twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from garrison.audit import SYSTEM_ACTOR, AuditDraft
from garrison.errors import InvalidInput, StorageError
from garrison.serving.shadow import ShadowObservation
from garrison.storage.store import Store
from garrison.storage.tables_shadow import shadow_observations as t

__all__ = ["SQLShadowStore"]

#: The most observations one ``observations`` call returns.
MAX_LIMIT = 1_000_000

_JSON_COLUMNS = ("primary_labels", "shadow_labels", "primary_scores", "shadow_scores")


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("a shadow observation holds a value JSON cannot store") from exc


def _row(o: ShadowObservation) -> dict[str, Any]:
    row = o.to_dict()
    for name in _JSON_COLUMNS:
        row[name] = _dump(row[name])
    return row


def _observation(row: Any) -> ShadowObservation:
    data = dict(row._mapping)
    for name in _JSON_COLUMNS:
        if data[name] is not None:
            data[name] = json.loads(data[name])
    return ShadowObservation.from_dict(data)


def _insert_ignoring_replays(conn: Connection) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(t).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(t).on_conflict_do_nothing()
    raise StorageError(f"shadow observations are not supported on {name}")


class SQLShadowStore:
    """Stores :class:`ShadowObservation` rows; ``add_many`` is a :class:`ShadowMirror` sink."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_many(self, observations: Sequence[ShadowObservation]) -> int:
        """Insert a batch in one transaction; returns how many were handed in."""
        if not observations:
            return 0
        rows = [_row(o) for o in observations]
        groups = Counter((o.model, o.shadow_version) for o in observations)
        with self._store.write() as tx:
            tx.conn.execute(_insert_ignoring_replays(tx.conn), rows)
            tx.audit.append_many([
                AuditDraft(action="invoke-model", actor=SYSTEM_ACTOR,
                           resource=f"model:{model}:{version}", reason="shadow observations",
                           payload={"shadow_batch": count})
                for (model, version), count in sorted(groups.items())
            ])
        return len(rows)

    def observations(
        self, model: str, shadow_version: int | None = None, since: str | None = None,
        limit: int = 100_000,
    ) -> list[ShadowObservation]:
        """The newest ``limit`` observations of ``model`` (optionally one version,
        from ``since``), oldest first."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        stmt = select(t).where(t.c.model == model)
        if shadow_version is not None:
            stmt = stmt.where(t.c.shadow_version == shadow_version)
        if since is not None:
            stmt = stmt.where(t.c.created >= since)
        stmt = stmt.order_by(t.c.created.desc(), t.c.request_id.desc()).limit(limit)
        with self._store.read() as tx:
            rows = list(tx.conn.execute(stmt))
        return [_observation(r) for r in reversed(rows)]

    def shadow_versions(self, model: str) -> list[int]:
        """The shadow versions of ``model`` with recorded observations, ascending."""
        stmt = (select(t.c.shadow_version).where(t.c.model == model).distinct()
                .order_by(t.c.shadow_version))
        with self._store.read() as tx:
            return [int(v) for v in tx.conn.execute(stmt).scalars()]

    def prune(self, before: str) -> int:
        """Delete observations created before ``before`` (retention); returns the count."""
        with self._store.write() as tx:
            result = tx.conn.execute(delete(t).where(t.c.created < before))
            return int(result.rowcount or 0)
