"""SQL repository of the release gates, and the store ``GateService`` uses.

``SQLGateStore`` gives transactions holding the gate tables and the audit log together
(one database, one audit chain), plus reads of the audit trail in the same view, which
the service uses to cross-check a stored record against the event that created it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from garrison.audit import AuditQuery, AuditRecord
from garrison.errors import Conflict, IntegrityFailure
from garrison.gates.records import OverrideRow, PolicyRow, ReportRow
from garrison.storage import audit_log as _audit
from garrison.storage.store import Store
from garrison.storage.tables_gates import gate_overrides, gate_policies, gate_reports

__all__ = ["SQLGateRepository", "SQLGateStore"]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _loads(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise IntegrityFailure(f"a stored {what} is not JSON") from exc


class SQLGateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- policies -------------------------------------------------------------------
    def latest_policy(self, model: str) -> PolicyRow | None:
        t = gate_policies
        row = self._conn.execute(select(t).where(t.c.model == model)
                                 .order_by(t.c.revision.desc()).limit(1)).first()
        if row is None:
            return None
        r = row._mapping
        return PolicyRow(model=r["model"], revision=int(r["revision"]), digest=r["digest"],
                         set_by=r["set_by"], created=r["created"],
                         envelope=_loads(r["envelope"], "gate policy"))

    def add_policy(self, row: PolicyRow) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(gate_policies).values(
                    model=row.model, revision=row.revision, digest=row.digest,
                    set_by=row.set_by, created=row.created, envelope=_dumps(row.envelope)))
        except IntegrityError as exc:
            raise Conflict(f"the gate policy of {row.model} changed meanwhile; try again"
                           ) from exc

    # -- reports --------------------------------------------------------------------
    def add_report(self, row: ReportRow) -> int:
        result = self._conn.execute(insert(gate_reports).values(
            model=row.model, version=row.version, created=row.created, passed=row.passed,
            policy_digest=row.policy_digest, envelope=_dumps(row.envelope)))
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    @staticmethod
    def _report(row: Any) -> ReportRow:
        r = row._mapping
        return ReportRow(model=r["model"], version=int(r["version"]), created=r["created"],
                         passed=bool(r["passed"]), policy_digest=r["policy_digest"],
                         envelope=_loads(r["envelope"], "gate report"), id=int(r["id"]))

    def reports(self, model: str, version: int, limit: int = 20) -> list[ReportRow]:
        """Newest first."""
        t = gate_reports
        rows = self._conn.execute(select(t).where(t.c.model == model, t.c.version == version)
                                  .order_by(t.c.id.desc()).limit(limit))
        return [self._report(r) for r in rows]

    def latest_report(self, model: str, version: int) -> ReportRow | None:
        found = self.reports(model, version, limit=1)
        return found[0] if found else None

    # -- overrides ------------------------------------------------------------------
    def add_override(self, row: OverrideRow) -> None:
        self._conn.execute(insert(gate_overrides).values(
            id=row.id, model=row.model, version=row.version, created=row.created,
            requested_by=row.requested_by, request=_dumps(row.request)))

    @staticmethod
    def _override(row: Any) -> OverrideRow:
        r = row._mapping
        return OverrideRow(id=r["id"], model=r["model"], version=int(r["version"]),
                           created=r["created"], requested_by=r["requested_by"],
                           request=_loads(r["request"], "gate override"),
                           approved_by=r["approved_by"], approved_at=r["approved_at"],
                           approval=_loads(r["approval"], "gate override approval"))

    def get_override(self, override_id: str) -> OverrideRow | None:
        row = self._conn.execute(select(gate_overrides).where(
            gate_overrides.c.id == override_id)).first()
        return None if row is None else self._override(row)

    def overrides(self, model: str, version: int | None = None) -> list[OverrideRow]:
        """Newest first."""
        t = gate_overrides
        stmt = select(t).where(t.c.model == model)
        if version is not None:
            stmt = stmt.where(t.c.version == version)
        return [self._override(r) for r in self._conn.execute(
            stmt.order_by(t.c.created.desc(), t.c.id))]

    def approve_override(self, override_id: str, by: str, at: str,
                         approval: dict[str, object]) -> bool:
        t = gate_overrides
        result = self._conn.execute(update(t).where(t.c.id == override_id,
                                                    t.c.approved_by.is_(None))
                                    .values(approved_by=by, approved_at=at,
                                            approval=_dumps(approval)))
        return bool(result.rowcount)


@dataclass
class GateStoreTx:
    conn: Connection
    gates: SQLGateRepository
    audit: _audit.SQLAuditWriter

    def audit_events(self, query: AuditQuery) -> list[AuditRecord]:
        return _audit.query_records(self.conn, query)


class SQLGateStore:
    """``garrison.gates.GateStore`` over a ``Store`` (same database, same audit log)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def _bind(tx: Any) -> GateStoreTx:
        return GateStoreTx(tx.conn, SQLGateRepository(tx.conn), tx.audit)

    @contextmanager
    def write(self) -> Iterator[GateStoreTx]:
        with self._store.write() as tx:
            yield self._bind(tx)

    @contextmanager
    def read(self) -> Iterator[GateStoreTx]:
        with self._store.read() as tx:
            yield self._bind(tx)
