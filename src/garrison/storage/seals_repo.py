"""State seals in SQL (``garrison.governance.seals``), bound to one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import BindParameter, TextClause

from garrison.audit import AuditRecord
from garrison.governance.seals import Seal
from garrison.storage.tables import state_seals

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
        row = self._conn.execute(_GET, {"kind": kind, "key": key}).first()
        return None if row is None else Seal(kind, key, int(row[0]), row[1], bytes(row[2]))

    def all(self, kind: str) -> list[Seal]:
        rows = self._conn.execute(select(state_seals).where(state_seals.c.kind == kind)
                                  .order_by(state_seals.c.key))
        return [_seal(r) for r in rows]

    def changes_after(self, after_seq: int, actions: Iterable[str], *,
                      resources: Sequence[str] = (),
                      resource_prefix: str | None = None) -> list[AuditRecord]:
        # Prepared text statements: this runs on every authentication (SQLAlchemy would
        # build and compile the expression each time).
        if not resources and resource_prefix is None:
            return []
        params: dict[str, object] = {"after": after_seq, "actions": sorted(actions)}
        if resources:
            params["resources"] = list(resources)
        if resource_prefix is not None:
            params["prefix"] = _like_escape(resource_prefix) + "%"
        statement = _CHANGES[(bool(resources), resource_prefix is not None)]
        return [AuditRecord(*row) for row in self._conn.execute(statement, params)]


def _like_escape(value: str) -> str:
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_")


_GET = text("SELECT seq, key_id, signature FROM state_seals WHERE kind = :kind AND key = :key")


def _changes(*conditions: str) -> TextClause:
    columns = ", ".join(AuditRecord._fields)
    statement = text(f"SELECT {columns} FROM audit_events WHERE seq > :after "
                     f"AND outcome = 'ok' AND action IN :actions AND ({' OR '.join(conditions)}) "
                     "ORDER BY seq")
    params: list[BindParameter[Any]] = [bindparam("actions", expanding=True)]
    if "resource IN :resources" in conditions:
        params.append(bindparam("resources", expanding=True))
    return statement.bindparams(*params)


_CHANGES = {
    (True, False): _changes("resource IN :resources"),
    (False, True): _changes("resource LIKE :prefix ESCAPE '/'"),
    (True, True): _changes("resource IN :resources", "resource LIKE :prefix ESCAPE '/'"),
}


def _seal(row: object) -> Seal:
    return Seal(row.kind, row.key, int(row.seq), row.key_id,  # type: ignore[attr-defined]
                bytes(row.signature))  # type: ignore[attr-defined]
