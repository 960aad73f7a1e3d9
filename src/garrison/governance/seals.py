"""Governance state bound to the signed audit trail: state seals.

The rows that grant power (a principal's roles and status, an API key, a model
version's stage, a deployment policy) live in ordinary tables that anyone with write
access to the database can change. A *seal* makes such a change visible: it is an
Ed25519 signature, made with the installation's signing key (which never enters the
database), over

* the state itself (a small canonical JSON object, :class:`SealedState`), and
* the ``seq`` of the audit event that recorded the change that produced it.

:meth:`Guard.run <garrison.governance.guard.Guard.run>` writes the seal in the same
transaction as the change and its event, so there is no window in which the state is
unsealed. Before any of this state is honoured, :meth:`StateSeals.check` demands

1. a seal (``unsealed`` otherwise): a row inserted by SQL has none;
2. that the seal verifies over the state *as stored now* (``bad-seal``): an ``UPDATE``
   of a sealed row (a stage, a role, an expiry, a revocation) breaks it;
3. that no later successful audit event changed the same state (``stale``): putting
   back an older row together with its older, genuine seal (a replay of a revoked key
   or a superseded production version) is caught because the trail names a later change.

A database-only attacker can therefore delete or break state (deny service) but not
grant power; deleting the later audit events to make a replayed seal look current
breaks the hash chain, which ``garrison audit verify`` reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from garrison.audit import AuditRecord, Signer
from garrison.errors import InvalidSignature, StateUnverified
from garrison.identity import APIKey, Principal

__all__ = [
    "KEY_CHANGES",
    "PRINCIPAL_CHANGES",
    "SEAL_VERSION",
    "Seal",
    "SealRepository",
    "SealedState",
    "StateFinding",
    "StateSeals",
    "key_state",
    "principal_state",
]

SEAL_VERSION = "garrison-state/1"

#: Audited actions that change a principal's sealed state (resource ``principal:NAME``).
PRINCIPAL_CHANGES = frozenset({"create-principal", "grant-role", "revoke-role",
                               "disable-principal", "enable-principal"})
#: Audited actions that change an API key's sealed state (matched by ``key_prefix``).
KEY_CHANGES = frozenset({"revoke-api-key"})


@dataclass(frozen=True)
class SealedState:
    """One piece of governance state, as it is signed: ``kind`` and ``key`` name it."""

    kind: str
    key: str
    state: Mapping[str, Any]

    def message(self, seq: int) -> bytes:
        body = json.dumps([SEAL_VERSION, self.kind, self.key, dict(self.state), seq],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return body.encode("utf-8")


@dataclass(frozen=True)
class Seal:
    kind: str
    key: str
    seq: int
    key_id: str
    signature: bytes


@dataclass(frozen=True)
class StateFinding:
    """State that the trail does not back (``garrison audit state``)."""

    kind: str
    key: str
    reason: str
    message: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "reason": self.reason,
                "message": self.message, **dict(self.extra)}


class SealRepository(Protocol):
    def put(self, seal: Seal) -> None:
        """Insert or replace the seal of ``(seal.kind, seal.key)``."""

    def get(self, kind: str, key: str) -> Seal | None: ...

    def all(self, kind: str) -> list[Seal]: ...

    def changes_after(self, after_seq: int, actions: Iterable[str], *,
                      resources: Sequence[str] = (),
                      resource_prefix: str | None = None) -> list[AuditRecord]:
        """Successful events of ``actions`` after ``after_seq`` on ``resources`` or on any
        resource starting with ``resource_prefix``, oldest first (same transaction)."""


#: Given the events after a seal, the reason the seal is stale (or None: it is current).
Staleness = Callable[[list[AuditRecord]], str | None]


def principal_state(p: Principal) -> SealedState:
    return SealedState("principal", p.id, {"name": p.name, "kind": p.kind,
                                           "roles": sorted(p.roles),
                                           "disabled": bool(p.disabled)})


def key_state(k: APIKey) -> SealedState:
    """Everything about a key that grants or limits power (not ``last_used``)."""
    return SealedState("api-key", k.id, {"prefix": k.prefix, "principal_id": k.principal_id,
                                         "key_hash": k.key_hash, "created": k.created,
                                         "expires": k.expires, "revoked": k.revoked})


def _payload(record: AuditRecord) -> dict[str, Any]:
    try:
        value = json.loads(record.payload)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class StateSeals:
    """Signs governance state and checks it against its seal and the audit trail."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def seal(self, repo: SealRepository, states: Iterable[SealedState], seq: int) -> None:
        for state in states:
            key_id, signature = self._signer.sign(state.message(seq))
            repo.put(Seal(state.kind, state.key, seq, key_id, signature))

    def check(self, repo: SealRepository, state: SealedState, actions: Iterable[str], *,
              resources: Sequence[str] = (), resource_prefix: str | None = None,
              stale: Staleness | None = None) -> int:
        """Return the seal's seq, or raise :class:`StateUnverified` (see the module).

        ``actions`` on ``resources`` (or any resource starting with ``resource_prefix``)
        are the audited changes of this state; ``stale`` narrows which of them count
        (default: any).
        """
        what = f"{state.kind} {state.key}"
        seal = repo.get(state.kind, state.key)
        if seal is None:
            raise StateUnverified(f"{what} has no seal: it was not written by Garrison",
                                  reason="unsealed", kind=state.kind, key=state.key)
        try:
            self._signer.verify(seal.key_id, seal.signature, state.message(seal.seq))
        except InvalidSignature:
            raise StateUnverified(f"{what} does not match its seal: it was changed outside "
                                  "Garrison", reason="bad-seal", kind=state.kind,
                                  key=state.key) from None
        later = repo.changes_after(seal.seq, actions, resources=resources,
                                   resource_prefix=resource_prefix)
        why = (f"{later[0].action} at event {later[0].seq}" if later else None) \
            if stale is None else stale(later)
        if why is not None:
            raise StateUnverified(f"{what} is older than the audit trail ({why}): an earlier "
                                  "state was put back", reason="stale", kind=state.kind,
                                  key=state.key, seal_seq=seal.seq)
        return seal.seq

    # -- principals and keys ----------------------------------------------------------
    def check_principal(self, repo: SealRepository, principal: Principal) -> None:
        state = principal_state(principal)
        self.check(repo, state, PRINCIPAL_CHANGES,
                   resources=[principal.resource])

    def check_key(self, repo: SealRepository, key: APIKey, owner: Principal) -> None:
        state = key_state(key)

        def stale(later: list[AuditRecord]) -> str | None:
            for record in later:
                if _payload(record).get("key_prefix") == key.prefix:
                    return f"{record.action} at event {record.seq}"
            return None

        self.check(repo, state, KEY_CHANGES,
                   resources=[owner.resource], stale=stale)

    @staticmethod
    def finding(exc: StateUnverified, **extra: Any) -> StateFinding:
        detail = exc.detail
        return StateFinding(str(detail.get("kind", "")), str(detail.get("key", "")),
                            exc.reason, exc.message,
                            {**{k: v for k, v in detail.items()
                                if k not in ("kind", "key", "reason")}, **extra})
