"""Stage transitions of the registry: approve (four eyes), reject, promote, retire, rollback.

A mixin of :class:`~garrison.registry.service.RegistryService`: it changes for lifecycle
rules, the service for registration and integrity. Every transition is checked against
the table in :mod:`garrison.registry.lifecycle`, recorded with its actor and reason, and
audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from garrison.errors import (
    ApprovalRequired,
    Conflict,
    InvalidInput,
)
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry.lifecycle import Stage, ensure_transition
from garrison.registry.models import ModelVersion, Transition
from garrison.registry.ports import RegistryTx
from garrison.registry.review import ensure_approvable

__all__ = ["LifecycleOperations"]


class LifecycleOperations:
    # Provided by RegistryService.
    _guard: Guard
    _promotion_gate: Callable[[ModelVersion], None] | None
    _now: Callable[[], str]

    def _move(self, tx: RegistryTx, v: ModelVersion, target: str, actor: str, reason: str) -> None:
        ensure_transition(v.stage, target)
        now = self._now()
        tx.models.set_stage(v.name, v.version, target, now)
        tx.models.add_transition(Transition(v.name, v.version, v.stage, target, actor, reason,
                                            now))

    def _transition(
        self, actor: Principal, action: str, name: str, version: int, reason: str,
        request_id: str, apply: Any,
    ) -> ModelVersion:
        def change(tx: RegistryTx) -> ModelVersion:
            current = tx.models.get_version(name, version)
            apply(tx, current)
            return tx.models.get_version(name, version)

        return self._guard.run(actor, action, f"model:{name}:{version}", change,
                               request_id=request_id, payload={"reason": reason[:500]})

    def approve(self, actor: Principal, name: str, version: int, reason: str = "",
                *, request_id: str = "") -> ModelVersion:
        """Approve a registered version; never by the person who registered it."""

        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            ensure_approvable(actor, v)
            self._move(tx, v, Stage.APPROVED, actor.name, reason or "approved")

        return self._transition(actor, "approve-model-version", name, version, reason,
                                request_id, apply)

    def reject(self, actor: Principal, name: str, version: int, reason: str = "",
               *, request_id: str = "") -> ModelVersion:
        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            self._move(tx, v, Stage.REJECTED, actor.name, reason or "rejected")

        return self._transition(actor, "reject-model-version", name, version, reason,
                                request_id, apply)

    def promote(self, actor: Principal, name: str, version: int, stage: str = "production",
                reason: str = "", *, request_id: str = "") -> ModelVersion:
        """Move an approved version to ``shadow`` or ``production``."""
        if stage not in (Stage.SHADOW, Stage.PRODUCTION):
            raise InvalidInput("promote to 'shadow' or 'production'")

        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            if v.stage == Stage.REGISTERED:
                raise ApprovalRequired(f"{v.ref} must be approved before promotion")
            if stage == Stage.PRODUCTION and self._promotion_gate is not None:
                self._promotion_gate(v)
            if stage == Stage.PRODUCTION:
                for other in tx.models.list_versions(name):
                    if other.stage == Stage.PRODUCTION and other.version != version:
                        self._move(tx, other, Stage.APPROVED, actor.name,
                                   f"superseded by version {version}")
            self._move(tx, v, stage, actor.name, reason or f"promoted to {stage}")

        return self._record_deployment(self._transition(
            actor, "promote-model-version", name, version, reason, request_id, apply))

    def retire(self, actor: Principal, name: str, version: int, reason: str = "",
               *, request_id: str = "") -> ModelVersion:
        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            self._move(tx, v, Stage.RETIRED, actor.name, reason or "retired")

        return self._transition(actor, "retire-model-version", name, version, reason,
                                request_id, apply)

    def rollback(self, actor: Principal, name: str, reason: str = "",
                 *, request_id: str = "") -> ModelVersion:
        """Put the previous production version back into production at once."""

        def change(tx: RegistryTx) -> ModelVersion:
            versions = {v.version: v for v in tx.models.list_versions(name)}
            current = [v for v in versions.values() if v.stage == Stage.PRODUCTION]
            if not current:
                raise Conflict(f"{name} has no production version to roll back")
            now_prod = current[-1]
            promoted = [t.version for t in tx.models.transitions(name)
                        if t.to_stage == Stage.PRODUCTION and t.version != now_prod.version]
            for candidate in reversed(promoted):
                target = versions[candidate]
                if target.stage == Stage.APPROVED:
                    why = reason or f"rollback from version {now_prod.version}"
                    self._move(tx, now_prod, Stage.APPROVED, actor.name, why)
                    self._move(tx, target, Stage.PRODUCTION, actor.name, why)
                    return tx.models.get_version(name, candidate)
            raise Conflict(f"{name} has no earlier production version that is still approved")

        return self._record_deployment(self._guard.run(
            actor, "rollback-model", f"model:{name}", change, request_id=request_id,
            payload={"reason": reason[:500]},
            result_payload=lambda v: {"restored_version": v.version}))

