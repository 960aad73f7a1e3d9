"""The guard: authorization that audits, and the audited-action patterns.

Every governed change goes through :meth:`Guard.run`: the policy check (a denial
is recorded, then :class:`~garrison.errors.Forbidden` is raised), the change and
its ``ok`` event in ONE transaction, and on failure a ``failed`` event carrying
the error code and the reason. No path changes state without an audit event.

A change that produces state which grants power names it with ``seal``: the state is
signed with the seq of its ``ok`` event, in the same transaction
(:mod:`garrison.governance.seals`), so the state is never honoured without the event.

Work that is not one transaction (verifying or loading an artifact, a file-to-file
pseudonymization) goes through :meth:`Guard.audited`: a ``failed`` event on error,
re-raised, else an ``ok`` event with what the work returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from garrison.audit import AuditDraft, AuditQuery, AuditRecord
from garrison.authz import Subject, require
from garrison.errors import Forbidden, GarrisonError
from garrison.governance.ports import UnitOfWork
from garrison.governance.seals import SealedState, StateSeals

__all__ = ["Guard"]

T = TypeVar("T")


def _actor_name(actor: Subject | str) -> str:
    return actor if isinstance(actor, str) else actor.name


class Guard:
    def __init__(self, store: UnitOfWork) -> None:
        self._store = store
        self.seals = StateSeals(store.signer)

    def record(
        self,
        actor: Subject | str,
        action: str,
        *,
        outcome: str = "ok",
        resource: str = "",
        reason: str = "",
        request_id: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Append one event in its own transaction."""
        self._store.append(
            AuditDraft(
                action=action, actor=_actor_name(actor), outcome=outcome,  # type: ignore[arg-type]
                resource=resource, reason=reason, request_id=request_id, payload=payload or {},
            )
        )

    def record_failure(self, actor: Subject | str, action: str, exc: GarrisonError, *,
                       resource: str = "", request_id: str = "") -> None:
        """Record that ``action`` failed with ``exc``: its code as the reason, the start
        of its message in the payload."""
        self.record(actor, action, outcome="failed", resource=resource, reason=exc.code,
                    request_id=request_id, payload={"message": exc.message[:500]})

    def history(self, q: AuditQuery) -> list[AuditRecord]:
        """Events of the signed trail matching ``q`` (unaudited: the rules that depend on
        who did what, such as four eyes, read it)."""
        with self._store.audit_snapshot() as snap:
            return snap.query(q)

    def record_many(self, drafts: list[AuditDraft]) -> None:
        """Append events already drafted (the gateway's batched denials) in one transaction."""
        if drafts:
            self._store.append_many(drafts)

    def require(
        self, actor: Subject, action: str, resource: str = "", *, request_id: str = ""
    ) -> None:
        """Policy check that records a denial before raising."""
        try:
            require(actor, action, resource or None)
        except Forbidden as exc:
            self.record(actor, action, outcome="denied", resource=resource,
                        reason=str(exc.detail.get("why", "forbidden")), request_id=request_id)
            raise

    def audited(
        self,
        actor: Subject | str,
        action: str,
        work: Callable[[], T],
        *,
        resource: str = "",
        request_id: str = "",
        ok_payload: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """Run ``work`` and record how it ended; the caller has already authorized it.

        A :class:`~garrison.errors.GarrisonError` is recorded as ``failed`` (its code as
        the reason, its message in the payload) and raised again. Success is recorded
        as ``ok`` with ``ok_payload(result)``; with no ``ok_payload`` the work records
        its own ``ok`` event, in the transaction that made its change.
        """
        try:
            result = work()
        except GarrisonError as exc:
            self.record(actor, action, outcome="failed", resource=resource, reason=exc.code,
                        request_id=request_id, payload={"message": exc.message})
            raise
        if ok_payload is not None:
            self.record(actor, action, resource=resource, request_id=request_id,
                        payload=ok_payload(result))
        return result

    def run(
        self,
        actor: Subject | str,
        action: str,
        resource: str,
        change: Callable[[Any], T],
        *,
        request_id: str = "",
        payload: dict[str, Any] | None = None,
        result_payload: Callable[[T], dict[str, Any]] | None = None,
        authorize: bool = True,
        seal: Callable[[Any, T], Iterable[SealedState]] | None = None,
    ) -> T:
        """Check, apply ``change`` and record it atomically; record failures too.

        ``change`` gets the store's open transaction: a :class:`TxView`, which a workflow's
        own store extends with its repositories (``RegistryTx``, ``DeploymentTx``, ...).
        ``seal(tx, result)`` names the state the change produced; it is sealed with the
        seq of the ``ok`` event before the transaction commits.
        """
        if authorize:
            assert not isinstance(actor, str), "only principals can be authorized"
            self.require(actor, action, resource, request_id=request_id)
        try:
            with self._store.write() as tx:
                result = change(tx)
                extra = result_payload(result) if result_payload is not None else {}
                record = tx.audit.append(
                    AuditDraft(
                        action=action, actor=_actor_name(actor), resource=resource,
                        request_id=request_id, payload={**(payload or {}), **extra},
                    )
                )
                if seal is not None:
                    self.seals.seal(tx.seals, seal(tx, result), record.seq)
                return result
        except Forbidden as exc:
            self.record(actor, action, outcome="denied", resource=resource, reason=exc.code,
                        request_id=request_id, payload={"message": exc.message})
            raise
        except GarrisonError as exc:
            self.record(actor, action, outcome="failed", resource=resource, reason=exc.code,
                        request_id=request_id, payload={"message": exc.message})
            raise
