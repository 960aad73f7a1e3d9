"""Deployment configuration as an audited workflow: ``garrison deploy show|configure``.

A model's serving policy (callers, limits, output hardening, fallback, shadow share)
is read and changed only here. A change is validated before anything is written,
then stored with its ``configure-deployment`` audit event in one transaction. A
fallback version must pass the registry's pre-transition checks (the servability
smoke test) before it is assigned: it answers exactly when the primary fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from garrison.errors import InvalidInput, ModelNotFound, StateUnverified
from garrison.governance import Guard
from garrison.governance.seals import SealedState, StateFinding
from garrison.identity import Principal
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.ports import DeploymentStore, DeploymentTx
from garrison.types import Clock, utc_iso

__all__ = ["DeploymentService"]


#: ``(actor, model, version)`` -> None or raises: the checks a fallback version must pass.
FallbackCheck = Callable[[Principal, str, int], object]


def deployment_state(name: str, config: DeploymentConfig) -> SealedState:
    return SealedState("deployment", name, config.to_dict())


class DeploymentService:
    def __init__(self, store: DeploymentStore, guard: Guard, clock: Clock, *,
                 fallback_check: FallbackCheck | None = None) -> None:
        self._store = store
        self._guard = guard
        self._clock = clock
        #: Set by the composition root once the registry exists (it is built after this).
        self.fallback_check = fallback_check
        #: Hears of a refused policy (``(kind, detail)``): a high alert.
        self.on_tamper: Callable[[str, dict[str, Any]], None] | None = None
        #: ``name`` -> that model's newest ``serve-model-version`` audit events, newest
        #: first (set by the composition root; the gateways write them).
        self.serving_events: Callable[[str], list[Any]] | None = None

    # -- reading ------------------------------------------------------------------
    def get(self, name: str) -> DeploymentConfig:
        """``name``'s config (the secure default if none is stored); unaudited."""
        with self._store.read() as tx:
            return tx.deployments.get(name)

    def all(self) -> dict[str, DeploymentConfig]:
        """Every stored config by model name; unaudited (the gateway's model table)."""
        with self._store.read() as tx:
            return tx.deployments.all()

    def show(self, actor: Principal, name: str, *, request_id: str = "") -> DeploymentConfig:
        """``name``'s config; :class:`ModelNotFound` for a model that does not exist
        (there is nothing to configure, so no default is shown)."""
        self._guard.require(actor, "view-model", f"model:{name}", request_id=request_id)
        with self._store.read() as tx:
            if name not in tx.models.model_names():
                raise ModelNotFound(f"no model named {name!r}")
            return tx.deployments.get(name)

    def serving(self, actor: Principal, name: str, *, request_id: str = "",
                ) -> list[dict[str, Any]]:
        """What the gateways last said about ``name``, per role (``primary``, ``shadow``,
        ``fallback``): the version, whether it serves and, if not, why, and when. Read
        from the signed audit trail (``serve-model-version`` events)."""
        self.show(actor, name, request_id=request_id)
        if self.serving_events is None:
            return []
        latest: dict[str, dict[str, Any]] = {}
        for record in self.serving_events(name):
            payload = json.loads(record.payload) if record.payload else {}
            role = str(payload.get("role", "primary"))
            if role in latest:
                continue
            entry: dict[str, Any] = {"role": role, "version": payload.get("version"),
                                     "ready": record.outcome == "ok", "at": record.created,
                                     "worker": payload.get("worker")}
            if record.outcome != "ok":
                entry.update(code=record.reason, reason=payload.get("message", ""))
            latest[role] = entry
        return [latest[r] for r in ("primary", "shadow", "fallback") if r in latest]

    # -- changing -----------------------------------------------------------------
    def configure(self, actor: Principal, name: str, changes: Mapping[str, Any], *,
                  request_id: str = "") -> DeploymentConfig:
        """Apply ``changes`` to ``name``'s config; unnamed settings keep their values.

        ``changes["output"]`` may name only some of ``mode``, ``decimals`` and ``k``.
        An invalid config raises :class:`InvalidInput` before anything is written; a
        model that does not exist raises :class:`ModelNotFound` (audited as failed).
        """
        if not isinstance(changes, Mapping):
            raise InvalidInput("deployment changes must be an object")
        current = self.get(name).to_dict()
        normalized = dict(changes)
        if isinstance(normalized.get("output"), Mapping):
            normalized["output"] = {**current["output"], **normalized["output"]}
        config = DeploymentConfig.from_dict({**current, **normalized})
        fallback = config.fallback
        if "fallback" in normalized and fallback.kind == "version" \
                and fallback.version is not None and self.fallback_check is not None:
            self._guard.require(actor, "configure-deployment", f"model:{name}",
                                request_id=request_id)
            self.fallback_check(actor, name, int(fallback.version))

        def change(tx: DeploymentTx) -> DeploymentConfig:
            if name not in tx.models.model_names():
                raise ModelNotFound(f"no model named {name!r}")
            tx.deployments.put(name, config, actor.name, utc_iso(self._clock.now()))
            return config

        return self._guard.run(
            actor, "configure-deployment", f"model:{name}", change,
            request_id=request_id,
            payload={"changes": json.loads(json.dumps(normalized, default=str))},
            seal=lambda tx, c: [deployment_state(name, c)])

    # -- bound to the audit trail --------------------------------------------------
    def _check(self, tx: DeploymentTx, name: str, stored: DeploymentConfig | None) -> None:
        """Raise :class:`StateUnverified` unless ``name``'s stored policy (``None``: no row,
        the secure default) is the one its last ``configure-deployment`` event sealed."""
        seals = self._guard.seals
        if stored is None:
            # No row is the default only if no policy was ever configured: a deleted
            # policy must not silently fall back to weaker defaults.
            later = tx.seals.changes_after(0, ["configure-deployment"],
                                           resources=[f"model:{name}"])
            if later or tx.seals.get("deployment", name) is not None:
                raise StateUnverified(f"the deployment policy of {name} was deleted outside "
                                      "Garrison", reason="bad-seal", kind="deployment",
                                      key=name)
            return
        seals.check(tx.seals, deployment_state(name, stored), ["configure-deployment"],
                    resources=[f"model:{name}"])

    def backed(self, names: list[str]) -> tuple[dict[str, DeploymentConfig], dict[str, str]]:
        """The stored policies of ``names`` that the audit trail backs, and the reason for
        each refused one (audited, alarmed): a refused model is not served at all."""
        configs: dict[str, DeploymentConfig] = {}
        refused: dict[str, str] = {}
        with self._store.read() as tx:
            stored = tx.deployments.all()
            for name in names:
                try:
                    self._check(tx, name, stored.get(name))
                except StateUnverified as exc:
                    refused[name] = exc.message
                    self._refused(name, exc)
                    continue
                configs[name] = stored.get(name, DeploymentConfig())
        return configs, refused

    def _refused(self, name: str, exc: StateUnverified) -> None:
        self._guard.record("system", "refuse-governance-state", outcome="failed",
                           resource=f"model:{name}", reason=exc.reason,
                           payload={"message": exc.message, "kind": "deployment"})
        if self.on_tamper is not None:
            self.on_tamper("state-unverified", {"resource": f"model:{name}",
                                                "reason": exc.reason, "kind": "deployment"})

    def unbacked(self) -> list[StateFinding]:
        """Every stored policy the audit trail does not back (``audit state``)."""
        findings = []
        with self._store.read() as tx:
            stored = tx.deployments.all()
            for name in sorted(set(stored) | set(tx.models.model_names())):
                try:
                    self._check(tx, name, stored.get(name))
                except StateUnverified as exc:
                    findings.append(self._guard.seals.finding(exc))
        return findings

    def sealable_state(self) -> list[SealedState]:
        with self._store.read() as tx:
            return [deployment_state(n, c) for n, c in tx.deployments.all().items()]
