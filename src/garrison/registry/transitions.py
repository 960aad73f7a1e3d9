"""Stage transitions of the registry: approve (four eyes), reject, promote, retire, rollback.

:class:`Lifecycle` is a part of :class:`~garrison.registry.service.RegistryService`
(``registry.lifecycle``; the service forwards its transition methods to it): it changes
for lifecycle rules, :class:`~garrison.registry.registration.Registration` for
admitting new versions, the service for reading versions back and checking their
integrity. Every transition is
checked against the table in :mod:`garrison.registry.lifecycle`, recorded with its actor
and reason, and audited in the same transaction.

A transition that can put a version in front of traffic (approve, promote, rollback, and
a fallback assignment through :meth:`ensure_servable`) first runs the pre-transition
checks (:mod:`garrison.registry.checks`) on that exact version, outside the write
transaction (a smoke test takes seconds); a failed check refuses the transition and both
the check and the refusal are audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from garrison.errors import (
    ApprovalRequired,
    Conflict,
    GarrisonError,
    InvalidInput,
)
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry.lifecycle import TRANSITIONS, Stage, ensure_transition
from garrison.registry.models import ModelVersion, Transition
from garrison.registry.ports import RegistryStore, RegistryTx
from garrison.registry.review import approver_vouchers, ensure_approvable
from garrison.registry.servability import Purpose
from garrison.registry.state import VersionSeals

if TYPE_CHECKING:
    from garrison.registry.checks import TransitionCheck

__all__ = ["Lifecycle"]

#: What a transition does inside its transaction, given the version as stored.
Apply = Callable[[RegistryTx, ModelVersion], None]


def _unchanged(version: ModelVersion) -> ModelVersion:
    return version


class Lifecycle:
    def __init__(
        self, guard: Guard, now: Callable[[], str], store: RegistryStore,
        get: Callable[[str, int], ModelVersion], *,
        checks: Callable[[], Sequence[TransitionCheck]] = tuple,
        promotion_gate: Callable[[ModelVersion], None] | None = None,
        on_deployed: Callable[[ModelVersion], ModelVersion] = _unchanged,
    ) -> None:
        """``checks`` gives the pre-transition checks in order; ``promotion_gate`` raises to
        stop a promotion to production (the shadow agreement gate); ``on_deployed`` hears
        of each version put into service."""
        self._guard = guard
        self._now = now
        self._store = store
        self.get = get
        self._checks = checks
        self._promotion_gate = promotion_gate
        self._on_deployed = on_deployed
        #: Stages bound to the audit trail: sealed by every transition, checked before use.
        self.seals = VersionSeals(guard, store)

    def _run_checks(self, actor: Principal, v: ModelVersion, purpose: Purpose, action: str,
                    request_id: str) -> None:
        """Every pre-transition check on ``v``; the first failure refuses ``action``."""
        for check in self._checks():
            try:
                evidence = check(v, purpose)
            except GarrisonError as exc:
                payload = {"check": check.name, "purpose": purpose, "message": exc.message}
                self._guard.record(actor, "check-model-version", outcome="failed",
                                   resource=v.resource, reason=exc.code,
                                   request_id=request_id, payload=payload)
                self._guard.record(actor, action, outcome="failed", resource=v.resource,
                                   reason=exc.code, request_id=request_id,
                                   payload={"message": exc.message, "check": check.name})
                raise
            if evidence is None:
                continue
            self._guard.record(actor, "check-model-version", resource=v.resource,
                               request_id=request_id,
                               payload={"check": check.name, "purpose": purpose, **evidence})

    def ensure_servable(self, actor: Principal, name: str, version: int, *,
                        purpose: Purpose = "fallback", action: str = "configure-deployment",
                        request_id: str = "") -> ModelVersion:
        """Run the pre-transition checks on ``name:version`` for ``action`` (a fallback
        assignment); raises the first failure, which is audited against ``action``."""
        v = self.get(name, version)
        self._run_checks(actor, v, purpose, action, request_id)
        return v

    def _move(self, tx: RegistryTx, v: ModelVersion, target: str, actor: str, reason: str) -> None:
        ensure_transition(v.stage, target)
        now = self._now()
        tx.models.set_stage(v.name, v.version, target, now)
        tx.models.add_transition(Transition(v.name, v.version, v.stage, target, actor, reason,
                                            now))

    def _transition(
        self, actor: Principal, action: str, name: str, version: int, reason: str,
        request_id: str, apply: Apply, *, checked: Purpose | None = None,
        target: str | None = None, ready: Callable[[ModelVersion], bool] | None = None,
    ) -> ModelVersion:
        """``apply`` in one audited transaction; with ``checked``, the pre-transition checks
        run first on the version as it is, when the move to ``target`` could happen (and
        ``ready`` agrees): a move ``apply`` will refuse anyway is not smoke-tested."""
        resource = f"model:{name}:{version}"
        if checked is not None:
            self._guard.require(actor, action, resource, request_id=request_id)
            current = self.get(name, version)
            if target is not None and _allowed(current.stage, target) and (
                    ready is None or ready(current)):
                self._run_checks(actor, current, checked, action, request_id)
        return self._guard.run(actor, action, resource,
                               self._applying(name, version, apply, backed=checked is not None),
                               request_id=request_id, payload={"reason": reason[:500]},
                               authorize=checked is None, result_payload=_stated,
                               seal=lambda tx, v: self.seals.model_states(tx, name))

    def _applying(self, name: str, version: int, apply: Apply, *,
                  backed: bool) -> Callable[[RegistryTx], ModelVersion]:
        """With ``backed``, the version must be as the trail left it before it can move
        towards traffic: a stage set in SQL is never laundered by a genuine approval or
        promotion (rejecting or retiring a tampered version stays possible)."""
        def change(tx: RegistryTx) -> ModelVersion:
            current = tx.models.get_version(name, version)
            if backed:
                self.seals.check(tx, current)
            apply(tx, current)
            return tx.models.get_version(name, version)

        return change

    def approve(self, actor: Principal, name: str, version: int, reason: str = "",
                *, request_id: str = "") -> ModelVersion:
        """Approve a registered version; never by the person who registered it, nor by an
        approver whose account, approving role or key that person gave
        (:func:`~garrison.registry.review.approver_vouchers`)."""
        vouchers = self.vouchers(actor.name)

        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            ensure_approvable(actor, v, vouchers)
            self._move(tx, v, Stage.APPROVED, actor.name, reason or "approved")

        return self._transition(actor, "approve-model-version", name, version, reason,
                                request_id, apply, checked="approve", target=Stage.APPROVED,
                                ready=lambda v: v.registrant != actor.name
                                and v.registrant not in vouchers)

    def vouchers(self, approver: str) -> frozenset[str]:
        """Who could act as ``approver``, from the signed audit trail (four eyes)."""
        return approver_vouchers(self._guard.history, approver)

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

        return self._on_deployed(self._transition(
            actor, "promote-model-version", name, version, reason, request_id, apply,
            checked="promote", target=stage))

    def retire(self, actor: Principal, name: str, version: int, reason: str = "",
               *, request_id: str = "") -> ModelVersion:
        def apply(tx: RegistryTx, v: ModelVersion) -> None:
            self._move(tx, v, Stage.RETIRED, actor.name, reason or "retired")

        return self._transition(actor, "retire-model-version", name, version, reason,
                                request_id, apply)

    def rollback(self, actor: Principal, name: str, reason: str = "",
                 *, request_id: str = "") -> ModelVersion:
        """Put the previous production version back into production at once, after the
        pre-transition checks pass on it (a version that cannot serve is not restored)."""
        resource = f"model:{name}"
        self._guard.require(actor, "rollback-model", resource, request_id=request_id)
        try:
            with self._store.read() as tx:
                planned = _rollback_plan(tx, name)
        except Conflict:
            planned = None  # The transaction below raises it again, audited.
        if planned is not None:
            self._run_checks(actor, planned[1], "rollback", "rollback-model", request_id)

        def change(tx: RegistryTx) -> ModelVersion:
            plan = _rollback_plan(tx, name)
            if plan is None:
                raise Conflict(f"{name} has no earlier production version that is still "
                               "approved")
            now_prod, target = plan
            if planned is None or target.version != planned[1].version:
                raise Conflict(f"{name} changed while the rollback was checked; try again")
            self.seals.check(tx, target)  # Never restore a version the trail does not back.
            why = reason or f"rollback from version {now_prod.version}"
            self._move(tx, now_prod, Stage.APPROVED, actor.name, why)
            self._move(tx, target, Stage.PRODUCTION, actor.name, why)
            return tx.models.get_version(name, target.version)

        return self._on_deployed(self._guard.run(
            actor, "rollback-model", resource, change, request_id=request_id,
            payload={"reason": reason[:500]}, authorize=False,
            result_payload=lambda v: {"restored_version": v.version, **_stated(v)},
            seal=lambda tx, v: self.seals.model_states(tx, name)))


def _stated(v: ModelVersion) -> dict[str, object]:
    """What a transition's event records: the exact artifact and the stage it reached."""
    return {"sha256": v.digest, "stage": v.stage}


def _allowed(current: str, target: str) -> bool:
    """Whether the lifecycle table allows ``current -> target`` (checks run only then)."""
    try:
        return Stage(target) in TRANSITIONS[Stage(current)]
    except ValueError:
        return False


def _rollback_plan(tx: RegistryTx, name: str) -> tuple[ModelVersion, ModelVersion] | None:
    """(current production version, the version a rollback restores), or None; raises
    Conflict when there is no production version at all."""
    versions = {v.version: v for v in tx.models.list_versions(name)}
    current = [v for v in versions.values() if v.stage == Stage.PRODUCTION]
    if not current:
        raise Conflict(f"{name} has no production version to roll back")
    now_prod = current[-1]
    promoted = [t.version for t in tx.models.transitions(name)
                if t.to_stage == Stage.PRODUCTION and t.version != now_prod.version]
    for candidate in reversed(promoted):
        if versions[candidate].stage == Stage.APPROVED:
            return now_prod, versions[candidate]
    return None
