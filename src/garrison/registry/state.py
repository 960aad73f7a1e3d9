"""Model version stages bound to the signed audit trail (issue 11, finding 4).

Every lifecycle transition (approve, reject, promote, retire, rollback) seals the stage
and the artifact digest of *every* version of the model with the seq of its audit
event (:mod:`garrison.governance.seals`). Before a version is served, the gateway (at
start-up, on every table refresh, after a rollback) and ``garrison audit state`` check:

* the seal verifies over the stored ``(digest, stage)``: a stage set by SQL, or an
  artifact digest swapped under an approved version, is refused;
* no lifecycle event on the model came after the seal: a replayed older row is refused;
* the trail holds a successful ``approve-model-version`` event for that version, for
  that exact digest when the event names one (events written since this module do).

A refused version is not served; the refusal is audited (``refuse-governance-state``)
and raised as a high alert, and the other models keep serving.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from garrison.errors import StateUnverified
from garrison.governance import Guard
from garrison.governance.seals import SealedState, StateFinding
from garrison.registry.models import ModelVersion
from garrison.registry.ports import RegistryStore, RegistryTx

__all__ = ["LIFECYCLE_ACTIONS", "SERVABLE_STAGES", "VersionSeals", "version_state"]

#: The audited actions that change stages (their resources: ``model:NAME[:VERSION]``).
LIFECYCLE_ACTIONS = frozenset({"approve-model-version", "reject-model-version",
                               "promote-model-version", "retire-model-version",
                               "rollback-model"})
#: Stages from which a version can answer traffic (a fallback may be ``approved``).
SERVABLE_STAGES = ("approved", "shadow", "production")


def version_state(v: ModelVersion) -> SealedState:
    return SealedState("model-version", v.ref, {"digest": v.digest, "stage": v.stage})


def _sha256_of(payload: str) -> str | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    digest = value.get("sha256") if isinstance(value, dict) else None
    return digest if isinstance(digest, str) else None


class VersionSeals:
    def __init__(self, guard: Guard, store: RegistryStore) -> None:
        self._guard = guard
        self._store = store
        #: Hears of a refused version (``(kind, detail)``): a high alert.
        self.on_tamper: Callable[[str, dict[str, Any]], None] | None = None

    @staticmethod
    def model_states(tx: RegistryTx, name: str) -> list[SealedState]:
        """The state of every version of ``name``, as a transition leaves it."""
        return [version_state(v) for v in tx.models.list_versions(name)]

    def check(self, tx: RegistryTx, v: ModelVersion) -> None:
        """Raise :class:`StateUnverified` unless ``v``'s stage and digest are backed."""
        self._guard.seals.check(tx.seals, version_state(v), LIFECYCLE_ACTIONS,
                                resources=[f"model:{v.name}"],
                                resource_prefix=f"model:{v.name}:")
        if v.stage not in SERVABLE_STAGES:
            return
        approvals = tx.seals.changes_after(0, ["approve-model-version"], resources=[v.resource])
        if not any(_sha256_of(e.payload) in (None, v.digest) for e in approvals):
            raise StateUnverified(f"{v.ref} is {v.stage} but the audit trail holds no "
                                  f"approval of artifact {v.digest[:12]}", reason="no-approval",
                                  kind="model-version", key=v.ref)

    def ensure_backed(self, v: ModelVersion, *, actor: str = "system",
                      request_id: str = "") -> None:
        """:meth:`check` in its own read; a refusal is audited and alarmed, then raised."""
        try:
            with self._store.read() as tx:
                self.check(tx, v)
        except StateUnverified as exc:
            self._guard.record(actor, "refuse-governance-state", outcome="failed",
                               resource=v.resource, reason=exc.reason, request_id=request_id,
                               payload={"message": exc.message, "stage": v.stage,
                                        "sha256": v.digest})
            if self.on_tamper is not None:
                self.on_tamper("state-unverified", {"resource": v.resource,
                                                    "reason": exc.reason, "stage": v.stage})
            raise

    def unbacked(self) -> list[StateFinding]:
        """Every version in a servable stage that the trail does not back."""
        findings = []
        with self._store.read() as tx:
            for v in tx.models.list_versions():
                if v.stage not in SERVABLE_STAGES:
                    continue
                try:
                    self.check(tx, v)
                except StateUnverified as exc:
                    findings.append(self._guard.seals.finding(exc, stage=v.stage,
                                                              sha256=v.digest))
        return findings

    def sealable_state(self) -> list[SealedState]:
        with self._store.read() as tx:
            return [version_state(v) for v in tx.models.list_versions()]
