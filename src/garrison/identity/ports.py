"""Storage contracts for principals and API keys (implemented by ``garrison.storage``)."""

from __future__ import annotations

import builtins
from typing import Protocol

from garrison.identity.keys import APIKey
from garrison.identity.principals import Principal
from garrison.identity.sessions import ConsoleSession

__all__ = ["APIKeyRepository", "PrincipalRepository", "SessionRepository"]


class PrincipalRepository(Protocol):
    def add(self, principal: Principal) -> None:
        """Insert; raise ``AlreadyExists`` if the name is taken."""

    def get(self, principal_id: str) -> Principal:
        """Raise ``PrincipalNotFound`` if absent."""

    def get_by_name(self, name: str) -> Principal:
        """Raise ``PrincipalNotFound`` if absent."""

    def list(self) -> list[Principal]: ...

    def lock_enabled_admins(self) -> builtins.list[str]:
        """Ids of the enabled admins, their rows locked until the transaction ends (one query).

        Call it in a write transaction before disabling or demoting an admin: a concurrent
        caller then waits for this transaction and sees its outcome.
        """

    def set_disabled(self, principal_id: str, disabled: bool) -> None: ...

    def add_role(self, principal_id: str, role: str) -> None: ...

    def remove_role(self, principal_id: str, role: str) -> None: ...

    def count(self) -> int: ...


class APIKeyRepository(Protocol):
    def add(self, key: APIKey) -> None: ...

    def get(self, key_id: str) -> APIKey:
        """Raise ``APIKeyNotFound`` if absent."""

    def get_by_prefix(self, prefix: str) -> APIKey:
        """Raise ``APIKeyNotFound`` if absent."""

    def list(self, principal_id: str | None = None) -> list[APIKey]: ...

    def revoke(self, key_id: str, when: str) -> None: ...

    def touch(self, key_id: str, when: str) -> None:
        """Record last use."""


class SessionRepository(Protocol):
    """Web console sessions, keyed by the SHA-256 of their token."""

    def add(self, session: ConsoleSession) -> None: ...

    def get(self, session_id: str) -> ConsoleSession | None:
        """The session with this id, revoked or not; ``None`` if there is none."""

    def get_by_ref(self, ref: str) -> ConsoleSession | None: ...

    def touch(self, session_id: str, when: str) -> None:
        """Record activity (the idle timeout counts from here)."""

    def revoke(self, session_id: str, when: str, by: str) -> bool:
        """Revoke it unless already revoked; True if this call revoked it."""

    def revoke_for_principal(self, principal_id: str, when: str, by: str) -> int:
        """Revoke every open session of a principal; returns how many."""

    def active(self, now: str, principal_id: str | None = None) -> list[ConsoleSession]:
        """Sessions neither revoked nor past their absolute expiry, newest first."""

    def purge(self, before: str) -> int:
        """Delete sessions that expired or were revoked before ``before``; returns how many."""
