"""Shadow deployments as a service: the report, the promotion gate, the mirror's sink.

``report`` compares a shadow version with production on the mirrored requests it
saw (``garrison shadow report``); ``ensure_gate`` is the registry's promotion gate
(shadow -> production needs the deployment's minimum agreement); ``record`` stores
a batch of observations for :class:`~garrison.serving.shadowing.ShadowTraffic`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from garrison.governance import Guard
from garrison.identity import Principal
from garrison.registry import ModelVersion
from garrison.serving.deployment_service import DeploymentService
from garrison.serving.ports import ShadowStore
from garrison.serving.shadow import ShadowObservation, ShadowReport, ensure_shadow_gate

__all__ = ["ShadowService"]


class ShadowService:
    def __init__(self, store: ShadowStore, deployments: DeploymentService, guard: Guard) -> None:
        self._store = store
        self._deployments = deployments
        self._guard = guard

    def report(self, actor: Principal, name: str, *, version: int | None = None,
               since: str | None = None, limit: int = 100_000, tolerance: float = 1e-6,
               request_id: str = "") -> ShadowReport:
        """How shadow ``version`` (default: the newest with observations) compares with
        production on at most ``limit`` of the newest mirrored requests from ``since``
        (canonical UTC text)."""
        self._guard.require(actor, "view-shadow-report", f"model:{name}",
                            request_id=request_id)
        if version is None:
            recorded = self._store.shadow_versions(name)
            version = recorded[-1] if recorded else None
        observations = [] if version is None else self._store.observations(
            name, shadow_version=version, since=since, limit=limit)
        return ShadowReport.from_observations(observations, tolerance=tolerance, model=name)

    def ensure_gate(self, version: ModelVersion) -> None:
        """Raise ``ApprovalRequired`` unless a shadow ``version`` may go to production.

        Applies only to a version in ``shadow`` whose deployment sets a minimum
        agreement; the registry calls it before promoting to production.
        """
        self.gate_evidence(version)

    def gate_evidence(self, version: ModelVersion, *,
                      default_min_agreement: float | None = None) -> dict[str, Any]:
        """The shadow agreement gate of ``version`` with its evidence for the audit trail;
        raises ``ApprovalRequired`` when it fails. ``default_min_agreement`` applies when
        the deployment sets none (a model under a release-gate policy)."""
        if version.stage != "shadow":
            return {"applies": False}
        config = self._deployments.get(version.name)
        minimum = config.shadow_min_agreement
        if minimum is None:
            minimum = default_min_agreement
        if minimum is None:
            return {"applies": False, "min_agreement": None}
        observations = self._store.observations(version.name, shadow_version=version.version)
        report = ShadowReport.from_observations(observations, model=version.name)
        ensure_shadow_gate(report, min_agreement=minimum,
                           min_requests=config.shadow_min_requests, version=version.version)
        return {"applies": True, "agreement": report.agreement,
                "compared_requests": report.compared_requests, "min_agreement": minimum,
                "min_requests": config.shadow_min_requests}

    def record(self, observations: Sequence[ShadowObservation]) -> int:
        """Store a batch of mirrored observations (audited per model and version)."""
        return self._store.add_many(observations)
