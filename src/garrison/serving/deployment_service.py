"""Deployment configuration as an audited workflow: ``garrison deploy show|configure``.

A model's serving policy (callers, limits, output hardening, fallback, shadow share)
is read and changed only here. A change is validated before anything is written,
then stored with its ``configure-deployment`` audit event in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from garrison.errors import InvalidInput, ModelNotFound
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.ports import DeploymentStore, DeploymentTx
from garrison.types import Clock, utc_iso

__all__ = ["DeploymentService"]


class DeploymentService:
    def __init__(self, store: DeploymentStore, guard: Guard, clock: Clock) -> None:
        self._store = store
        self._guard = guard
        self._clock = clock

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
        self._guard.require(actor, "view-model", f"model:{name}", request_id=request_id)
        return self.get(name)

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

        def change(tx: DeploymentTx) -> DeploymentConfig:
            if name not in tx.models.model_names():
                raise ModelNotFound(f"no model named {name!r}")
            tx.deployments.put(name, config, actor.name, utc_iso(self._clock.now()))
            return config

        return self._guard.run(
            actor, "configure-deployment", f"model:{name}", change,  # type: ignore[arg-type]
            request_id=request_id,
            payload={"changes": json.loads(json.dumps(normalized, default=str))})
