"""Principals, roles and API keys as audited workflows."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from garrison.errors import (
    AlreadyInitialized,
    APIKeyNotFound,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    StateUnverified,
)
from garrison.governance.guard import Guard
from garrison.governance.ports import TxView, UnitOfWork
from garrison.governance.seals import SealedState, StateFinding, key_state, principal_state
from garrison.identity import (
    MAX_KEY_DAYS,
    APIKey,
    Principal,
    check_key_lifetime,
    issue_key,
    parse_key,
    validate_name,
    validate_roles,
    verify_key_hash,
)
from garrison.types import Clock, parse_utc, utc_iso

__all__ = ["MAX_KEY_DAYS", "AccountService", "NewKey"]

#: Last-used times are written at most this often per key, to keep writes off the hot path.
TOUCH_INTERVAL = _dt.timedelta(seconds=60)


@dataclass(frozen=True)
class NewKey:
    """A created key. ``secret`` exists only here: show it once."""

    record: APIKey
    secret: str


class AccountService:
    def __init__(self, store: UnitOfWork, guard: Guard, clock: Clock, *,
                 allow_never_expiring_keys: bool = False) -> None:
        self._store = store
        self._guard = guard
        self._clock = clock
        #: Policy: may an admin create a key that never expires? (Nobody else ever may.)
        self._never_expiring = allow_never_expiring_keys
        #: Hears of state the audit trail does not back (``(kind, detail)``): an alert.
        self.on_tamper: Callable[[str, dict[str, Any]], None] | None = None

    def _now(self) -> str:
        return utc_iso(self._clock.now())

    def _new_key(self, tx: TxView, owner: Principal, name: str, days: int | None, *,
                 by_admin: bool) -> NewKey:
        check_key_lifetime(days, by_admin=by_admin,
                           never_expiring_allowed=self._never_expiring)
        issued = issue_key()
        expires = (
            utc_iso(self._clock.now() + _dt.timedelta(days=days)) if days is not None else None
        )
        record = APIKey(
            id=str(uuid.uuid4()), prefix=issued.prefix, principal_id=owner.id,
            name=name[:128] or "default", key_hash=issued.key_hash, created=self._now(),
            expires=expires,
        )
        tx.api_keys.add(record)
        return NewKey(record, issued.secret)

    # -- bootstrap ----------------------------------------------------------------
    def bootstrap_admin(self, name: str, *, key_days: int | None = 90) -> tuple[Principal, NewKey]:
        """Create the first admin and its key; only on an installation with no principals."""
        validate_name(name)

        def change(tx: TxView) -> tuple[Principal, NewKey]:
            if tx.principals.count() > 0:
                raise AlreadyInitialized("principals already exist; use `garrison user add`")
            admin = Principal(
                id=str(uuid.uuid4()), name=name, kind="human", created=self._now(),
                roles=frozenset({"admin"}),
            )
            tx.principals.add(admin)
            return admin, self._new_key(tx, admin, "bootstrap", key_days, by_admin=True)

        return self._guard.run(
            "system", "create-principal", f"principal:{name}", change, authorize=False,
            payload={"bootstrap": True, "roles": ["admin"]},
            result_payload=lambda r: {"key_prefix": r[1].record.prefix},
            seal=lambda tx, r: [principal_state(r[0]), key_state(r[1].record)],
        )

    # -- authentication -----------------------------------------------------------
    def authenticate(
        self, presented: str, *, request_id: str = "", audit: bool = True
    ) -> Principal:
        """Return the principal owning a valid key; raise ``AuthenticationFailed``.

        The exception's ``detail['why']`` says exactly what failed and is recorded in
        the audit trail (unless ``audit`` is false: the gateway records failures itself,
        rate-limited); its message is the same opaque text for every failure.
        """
        return self.authenticate_key(presented, request_id=request_id, audit=audit)[0]

    def authenticate_key(
        self, presented: str, *, request_id: str = "", audit: bool = True
    ) -> tuple[Principal, float | None]:
        """:meth:`authenticate`, plus the seconds the key has left (``None``: no expiry),
        so a cache of verified keys never outlives the key."""
        principal, key = self.authenticate_record(presented, request_id=request_id,
                                                  audit=audit)
        now = self._clock.now()
        left = None if key.expires is None else (parse_utc(key.expires) - now).total_seconds()
        return principal, left

    def authenticate_record(
        self, presented: str, *, request_id: str = "", audit: bool = True,
        context: dict[str, str] | None = None,
    ) -> tuple[Principal, APIKey]:
        """:meth:`authenticate`, returning the key's record too (never its secret).

        ``context`` (for example the client address and the door used) is added to the
        audit event of a failure.
        """
        try:
            return self._authenticate(presented)
        except AuthenticationFailed as exc:
            if audit:
                self._guard.record(
                    "anonymous", "authenticate", outcome="denied",
                    reason=str(exc.detail.get("why", "")), request_id=request_id,
                    payload={"key_prefix": exc.detail.get("key_prefix", ""),
                             **(context or {})},
                )
            raise

    def _authenticate(self, presented: str) -> tuple[Principal, APIKey]:
        prefix = parse_key(presented)
        with self._store.read() as tx:
            try:
                key = tx.api_keys.get_by_prefix(prefix)
            except APIKeyNotFound:
                raise AuthenticationFailed("authentication failed", why="unknown-key",
                                           key_prefix=prefix) from None
            try:
                verify_key_hash(presented, key.key_hash)
            except AuthenticationFailed as exc:
                exc.detail["key_prefix"] = prefix
                raise
            now = self._clock.now()
            if key.revoked is not None:
                raise AuthenticationFailed("authentication failed", why="revoked-key",
                                           key_prefix=prefix)
            if key.expires is not None and parse_utc(key.expires) <= now:
                raise AuthenticationFailed("authentication failed", why="expired-key",
                                           key_prefix=prefix)
            principal = tx.principals.get(key.principal_id)
            if principal.disabled:
                raise AuthenticationFailed("authentication failed", why="disabled-principal",
                                           key_prefix=prefix)
            try:
                self.ensure_backed(tx, principal, key)
            except StateUnverified as exc:
                raise AuthenticationFailed("authentication failed", why="unverified-state",
                                           key_prefix=prefix, state=exc.reason) from None
        if key.last_used is None or parse_utc(key.last_used) + TOUCH_INTERVAL <= now:
            with self._store.write() as wtx:
                wtx.api_keys.touch(key.id, utc_iso(now))
        return principal, key

    # -- state bound to the audit trail -----------------------------------------------
    def ensure_backed(self, tx: TxView, principal: Principal, key: APIKey | None = None) -> None:
        """Raise :class:`StateUnverified` (and raise the alarm) unless the principal, and the
        key, are exactly as Garrison last recorded them in the audit trail."""
        try:
            self._guard.seals.check_principal(tx.seals, principal)
            if key is not None:
                self._guard.seals.check_key(tx.seals, key, principal)
        except StateUnverified as exc:
            self._alarm(exc, principal.name)
            raise

    def _alarm(self, exc: StateUnverified, resource: str) -> None:
        if self.on_tamper is not None:
            self.on_tamper("state-unverified", {"resource": f"principal:{resource}",
                                                "reason": exc.reason,
                                                "kind": exc.detail.get("kind", "")})

    def unbacked(self) -> list[StateFinding]:
        """Every principal and key the audit trail does not back (``audit state``)."""
        findings: list[StateFinding] = []
        with self._store.read() as tx:
            principals = {p.id: p for p in tx.principals.list()}
            for p in principals.values():
                try:
                    self._guard.seals.check_principal(tx.seals, p)
                except StateUnverified as exc:
                    findings.append(self._guard.seals.finding(exc, name=p.name))
            for key in tx.api_keys.list():
                owner = principals.get(key.principal_id)
                if owner is None or key.revoked is not None:
                    continue  # A revoked key grants nothing, whatever its seal says.
                try:
                    self._guard.seals.check_key(tx.seals, key, owner)
                except StateUnverified as exc:
                    findings.append(self._guard.seals.finding(
                        exc, name=f"{owner.name}/{key.prefix}"))
        return findings

    def sealable_state(self) -> list[SealedState]:
        """The current principals and keys as sealed state (``db upgrade`` adopts them)."""
        with self._store.read() as tx:
            return [*(principal_state(p) for p in tx.principals.list()),
                    *(key_state(k) for k in tx.api_keys.list())]

    # -- principals ---------------------------------------------------------------
    def create_principal(
        self, actor: Principal, name: str, *, kind: str = "human", roles: list[str] | None = None,
        request_id: str = "",
    ) -> Principal:
        validate_name(name)
        role_set = validate_roles(roles or [])
        if kind not in ("human", "service"):
            raise InvalidInput("kind must be 'human' or 'service'")

        def change(tx: TxView) -> Principal:
            principal = Principal(
                id=str(uuid.uuid4()), name=name, kind=kind, created=self._now(),  # type: ignore[arg-type]
                roles=role_set,
            )
            tx.principals.add(principal)
            return principal

        return self._guard.run(
            actor, "create-principal", f"principal:{name}", change, request_id=request_id,
            payload={"kind": kind, "roles": sorted(role_set)},
            seal=lambda tx, p: [principal_state(p)],
        )

    def list_principals(self, actor: Principal) -> list[Principal]:
        self._guard.require(actor, "list-principals")
        with self._store.read() as tx:
            return tx.principals.list()

    def get(self, name: str) -> Principal:
        """The principal ``name``, as the audit trail backs it (:class:`StateUnverified`
        otherwise: a role granted by SQL is never honoured)."""
        with self._store.read() as tx:
            principal = tx.principals.get_by_name(name)
            self.ensure_backed(tx, principal)
            return principal

    @staticmethod
    def _ensure_admin_remains(tx: TxView, target: Principal) -> None:
        # Locks every enabled admin's rows (the target's included, when it is one), so two
        # admins disabling or demoting each other at once are serialized: the second one
        # sees the first one's change instead of both leaving zero enabled admins.
        if tx.principals.lock_enabled_admins() == [target.id]:
            raise Conflict("refusing to leave the installation without an enabled admin")

    def set_disabled(
        self, actor: Principal, name: str, disabled: bool, *, request_id: str = ""
    ) -> Principal:
        action = "disable-principal" if disabled else "enable-principal"

        def change(tx: TxView) -> Principal:
            target = tx.principals.get_by_name(name)
            if disabled:
                self._ensure_admin_remains(tx, target)
            tx.principals.set_disabled(target.id, disabled)
            return tx.principals.get(target.id)

        return self._guard.run(actor, action, f"principal:{name}", change, request_id=request_id,
                               seal=lambda tx, p: [principal_state(p)])

    def grant_role(
        self, actor: Principal, name: str, role: str, *, request_id: str = ""
    ) -> Principal:
        validate_roles([role])

        def change(tx: TxView) -> Principal:
            target = tx.principals.get_by_name(name)
            tx.principals.add_role(target.id, role)
            return tx.principals.get(target.id)

        return self._guard.run(actor, "grant-role", f"principal:{name}", change,
                               request_id=request_id, payload={"role": role},
                               seal=lambda tx, p: [principal_state(p)])

    def revoke_role(
        self, actor: Principal, name: str, role: str, *, request_id: str = ""
    ) -> Principal:
        validate_roles([role])

        def change(tx: TxView) -> Principal:
            target = tx.principals.get_by_name(name)
            if role == "admin":
                self._ensure_admin_remains(tx, target)
            tx.principals.remove_role(target.id, role)
            return tx.principals.get(target.id)

        return self._guard.run(actor, "revoke-role", f"principal:{name}", change,
                               request_id=request_id, payload={"role": role},
                               seal=lambda tx, p: [principal_state(p)])

    # -- keys ---------------------------------------------------------------------
    def create_key(
        self, actor: Principal, owner: str, *, name: str = "default", days: int | None = 90,
        request_id: str = "",
    ) -> NewKey:
        def change(tx: TxView) -> NewKey:
            target = tx.principals.get_by_name(owner)
            return self._new_key(tx, target, name, days, by_admin="admin" in actor.roles)

        return self._guard.run(
            actor, "create-api-key", f"principal:{owner}", change, request_id=request_id,
            payload={"name": name, "days": days},
            result_payload=lambda k: {"key_prefix": k.record.prefix,
                                      "expires": k.record.expires},
            seal=lambda tx, k: [key_state(k.record)],
        )

    def list_keys(self, actor: Principal, owner: str | None = None) -> list[APIKey]:
        resource = f"principal:{owner}" if owner else ""
        self._guard.require(actor, "list-api-keys", resource)
        with self._store.read() as tx:
            owner_id = tx.principals.get_by_name(owner).id if owner else None
            return tx.api_keys.list(owner_id)

    def revoke_key(self, actor: Principal, prefix: str, *, request_id: str = "") -> APIKey:
        with self._store.read() as tx:
            key = tx.api_keys.get_by_prefix(prefix)
            owner = tx.principals.get(key.principal_id)

        def change(tx: TxView) -> APIKey:
            tx.api_keys.revoke(key.id, self._now())
            return tx.api_keys.get(key.id)

        return self._guard.run(actor, "revoke-api-key", f"principal:{owner.name}", change,
                               request_id=request_id, payload={"key_prefix": prefix},
                               seal=lambda tx, k: [key_state(k)])
