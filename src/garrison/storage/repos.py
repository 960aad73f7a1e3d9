"""SQL repositories for principals and API keys (parameterized statements only)."""

from __future__ import annotations

import builtins

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from garrison.errors import AlreadyExists, APIKeyNotFound, PrincipalNotFound
from garrison.identity import APIKey, Principal
from garrison.storage.tables import api_keys, principal_roles, principals

__all__ = ["SQLAPIKeyRepository", "SQLPrincipalRepository"]


class SQLPrincipalRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _roles(self, principal_id: str) -> frozenset[str]:
        rows = self._conn.execute(
            select(principal_roles.c.role).where(principal_roles.c.principal_id == principal_id)
        )
        return frozenset(r[0] for r in rows)

    def _from_row(self, row: object, roles: frozenset[str] | None = None) -> Principal:
        return Principal(
            id=row.id,  # type: ignore[attr-defined]
            name=row.name,  # type: ignore[attr-defined]
            kind=row.kind,  # type: ignore[attr-defined]
            created=row.created,  # type: ignore[attr-defined]
            disabled=bool(row.disabled),  # type: ignore[attr-defined]
            roles=self._roles(row.id) if roles is None else roles,  # type: ignore[attr-defined]
        )

    def add(self, principal: Principal) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(principals).values(
                        id=principal.id, name=principal.name, kind=principal.kind,
                        disabled=principal.disabled, created=principal.created,
                    )
                )
                for role in sorted(principal.roles):
                    self._conn.execute(
                        insert(principal_roles).values(principal_id=principal.id, role=role)
                    )
        except IntegrityError as exc:
            raise AlreadyExists(f"a principal named {principal.name!r} exists") from exc

    def get(self, principal_id: str) -> Principal:
        row = self._conn.execute(select(principals).where(principals.c.id == principal_id)).first()
        if row is None:
            raise PrincipalNotFound("no such principal", principal_id=principal_id)
        return self._from_row(row)

    def get_by_name(self, name: str) -> Principal:
        row = self._conn.execute(select(principals).where(principals.c.name == name)).first()
        if row is None:
            raise PrincipalNotFound(f"no principal named {name!r}", name=name)
        return self._from_row(row)

    def list(self) -> list[Principal]:
        rows = self._conn.execute(select(principals).order_by(principals.c.name)).all()
        roles: dict[str, set[str]] = {}
        for principal_id, role in self._conn.execute(
            select(principal_roles.c.principal_id, principal_roles.c.role)
        ):
            roles.setdefault(principal_id, set()).add(role)
        return [self._from_row(r, frozenset(roles.get(r.id, ()))) for r in rows]

    def lock_enabled_admins(self) -> builtins.list[str]:
        """Ids of the enabled admins, sorted, with their rows locked until the transaction ends.

        ``FOR UPDATE`` on the join locks the ``principals`` rows AND the ``admin`` rows of
        ``principal_roles`` (SQLite ignores it: its writers are serialized anyway). Under
        READ COMMITTED a concurrent transaction waiting on these locks re-checks each row once
        the holder commits: a principal disabled meanwhile no longer matches, and one whose
        ``admin`` role was deleted meanwhile is skipped. Locking only ``principals`` would miss
        the latter (the principal row itself is unchanged by a role revocation). Rows are
        locked in id order, so two callers cannot deadlock on each other.
        """
        stmt = (
            select(principals.c.id)
            .join(principal_roles, principal_roles.c.principal_id == principals.c.id)
            .where(principal_roles.c.role == "admin", principals.c.disabled.is_(False))
            .order_by(principals.c.id)
            .with_for_update()
        )
        return [r[0] for r in self._conn.execute(stmt)]

    def set_disabled(self, principal_id: str, disabled: bool) -> None:
        self._conn.execute(
            update(principals).where(principals.c.id == principal_id).values(disabled=disabled)
        )

    def add_role(self, principal_id: str, role: str) -> None:
        if role in self._roles(principal_id):
            return
        self._conn.execute(insert(principal_roles).values(principal_id=principal_id, role=role))

    def remove_role(self, principal_id: str, role: str) -> None:
        self._conn.execute(
            delete(principal_roles).where(
                principal_roles.c.principal_id == principal_id, principal_roles.c.role == role
            )
        )

    def count(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(principals)).scalar_one())


class SQLAPIKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _from_row(row: object) -> APIKey:
        return APIKey(**{c.name: getattr(row, c.name) for c in api_keys.c})

    def add(self, key: APIKey) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(api_keys).values(**key.__dict__))
        except IntegrityError as exc:
            raise AlreadyExists("an API key with that prefix exists") from exc

    def get(self, key_id: str) -> APIKey:
        row = self._conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise APIKeyNotFound("no such API key", key_id=key_id)
        return self._from_row(row)

    def get_by_prefix(self, prefix: str) -> APIKey:
        row = self._conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        if row is None:
            raise APIKeyNotFound("no such API key")
        return self._from_row(row)

    def list(self, principal_id: str | None = None) -> list[APIKey]:
        stmt = select(api_keys).order_by(api_keys.c.created)
        if principal_id is not None:
            stmt = stmt.where(api_keys.c.principal_id == principal_id)
        return [self._from_row(r) for r in self._conn.execute(stmt)]

    def revoke(self, key_id: str, when: str) -> None:
        self._conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
            .values(revoked=when)
        )

    def touch(self, key_id: str, when: str) -> None:
        self._conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used=when))
