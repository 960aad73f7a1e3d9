"""State seals in SQL (``garrison.governance.seals``), bound to one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from garrison.audit import AuditRecord
from garrison.governance.seals import Seal
from garrison.storage.audit_log import _COLUMNS
from garrison.storage.tables import audit_events, state_seals

__all__ = ["SQLSealRepository"]


class SQLSealRepository:
    """Implements :class:`garrison.governance.seals.SealRepository` on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def put(self, seal: Seal) -> None:
        self._conn.execute(delete(state_seals).where(state_seals.c.kind == seal.kind,
                                                     state_seals.c.key == seal.key))
        self._conn.execute(insert(state_seals).values(
            kind=seal.kind, key=seal.key, seq=seal.seq, key_id=seal.key_id,
            signature=seal.signature))

    def get(self, kind: str, key: str) -> Seal | None:
        row = self._conn.execute(select(state_seals).where(
            state_seals.c.kind == kind, state_seals.c.key == key)).first()
        return None if row is None else _seal(row)

    def all(self, kind: str) -> list[Seal]:
        rows = self._conn.execute(select(state_seals).where(state_seals.c.kind == kind)
                                  .order_by(state_seals.c.key))
        return [_seal(r) for r in rows]

    def changes_after(self, after_seq: int, actions: Iterable[str], *,
                      resources: Sequence[str] = (),
                      resource_prefix: str | None = None) -> list[AuditRecord]:
        where: list[ColumnElement[bool]] = (
            [audit_events.c.resource.in_(list(resources))] if resources else [])
        if resource_prefix is not None:
            where.append(audit_events.c.resource.startswith(resource_prefix, autoescape=True))
        if not where:
            return []
        stmt = (select(*_COLUMNS)
                .where(audit_events.c.seq > after_seq, audit_events.c.outcome == "ok",
                       audit_events.c.action.in_(sorted(actions)), or_(*where))
                .order_by(audit_events.c.seq))
        return [AuditRecord(*row) for row in self._conn.execute(stmt)]


def _seal(row: object) -> Seal:
    return Seal(row.kind, row.key, int(row.seq), row.key_id,  # type: ignore[attr-defined]
                bytes(row.signature))  # type: ignore[attr-defined]
