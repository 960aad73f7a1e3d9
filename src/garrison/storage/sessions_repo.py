"""SQL repository of web console sessions (``garrison.identity.SessionRepository``)."""

from __future__ import annotations

import builtins

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from garrison.errors import AlreadyExists
from garrison.identity import ConsoleSession
from garrison.storage.tables_console import console_sessions as t

__all__ = ["SQLSessionRepository"]


def _from_row(row: object) -> ConsoleSession:
    m = row._mapping  # type: ignore[attr-defined]
    return ConsoleSession(
        id=m["id"], ref=m["ref"], principal_id=m["principal_id"], method=m["method"],
        csrf=m["csrf"], created=m["created"], last_seen=m["last_seen"], expires=m["expires"],
        client=m["client"], key_id=m["key_id"], revoked=m["revoked"],
        revoked_by=m["revoked_by"],
        opened_seq=None if m["opened_seq"] is None else int(m["opened_seq"]),
    )


class SQLSessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, session: ConsoleSession) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(t).values(**session.__dict__))
        except IntegrityError as exc:
            raise AlreadyExists("a console session with that id exists") from exc

    def get(self, session_id: str) -> ConsoleSession | None:
        row = self._conn.execute(select(t).where(t.c.id == session_id)).first()
        return None if row is None else _from_row(row)

    def get_by_ref(self, ref: str) -> ConsoleSession | None:
        row = self._conn.execute(select(t).where(t.c.ref == ref)).first()
        return None if row is None else _from_row(row)

    def touch(self, session_id: str, when: str) -> None:
        self._conn.execute(update(t).where(t.c.id == session_id, t.c.last_seen < when)
                           .values(last_seen=when))

    def revoke(self, session_id: str, when: str, by: str) -> bool:
        done = self._conn.execute(update(t).where(t.c.id == session_id, t.c.revoked.is_(None))
                                  .values(revoked=when, revoked_by=by[:128]))
        return bool(done.rowcount)

    def revoke_for_principal(self, principal_id: str, when: str, by: str) -> int:
        done = self._conn.execute(
            update(t).where(t.c.principal_id == principal_id, t.c.revoked.is_(None),
                            t.c.expires > when)
            .values(revoked=when, revoked_by=by[:128]))
        return int(done.rowcount or 0)

    def active(self, now: str, principal_id: str | None = None) -> builtins.list[ConsoleSession]:
        stmt = select(t).where(t.c.revoked.is_(None), t.c.expires > now).order_by(
            t.c.created.desc())
        if principal_id is not None:
            stmt = stmt.where(t.c.principal_id == principal_id)
        return [_from_row(r) for r in self._conn.execute(stmt)]

    def purge(self, before: str) -> int:
        done = self._conn.execute(delete(t).where(
            or_(t.c.expires < before, t.c.revoked < before)))
        return int(done.rowcount or 0)
