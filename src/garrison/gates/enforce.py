"""Enforcement: the release gate and the shadow agreement as pre-transition checks.

Both are :class:`~garrison.registry.checks.TransitionCheck` objects, appended to the
registry's checks in ``garrison.app``: the registry runs them on the exact version
before approve and promote, records each outcome as a ``check-model-version`` event
(which the console's review page lists) and refuses the transition on the first
failure.

:class:`ReleaseGateCheck` applies to a model with a gate policy (or to every model when
the installation requires gates): approval and promotion need the newest verified gate
report of that exact artifact to have passed under the model's *current* policy, or an
approved two-person override for that artifact and policy. A model without a policy is
governed as before. Rollback and fallback are not gated: restoring a version that
served before must stay possible in an incident.

:class:`ShadowAgreementCheck` makes the shadow comparison one more gate of the shadow ->
production step: the deployment's minimum agreement, or for a model under a gate policy
whose deployment sets none, the installation's default.
"""

from __future__ import annotations

from typing import Any

from garrison.errors import GateFailed
from garrison.gates.overrides import OverrideDesk
from garrison.gates.service import GateService
from garrison.registry import ModelVersion
from garrison.registry.servability import Purpose
from garrison.serving.shadow_service import ShadowService

__all__ = ["ReleaseGateCheck", "ShadowAgreementCheck"]

_GATED: frozenset[str] = frozenset({"approve", "promote"})


class ReleaseGateCheck:
    name = "release-gate"

    def __init__(self, gates: GateService, overrides: OverrideDesk, *,
                 require: bool = False) -> None:
        self._gates = gates
        self._overrides = overrides
        self.require = require

    def __call__(self, version: ModelVersion, purpose: Purpose) -> dict[str, Any] | None:
        if purpose not in _GATED:
            return None
        policy = self._gates.current_policy(version.name)
        if policy is None:
            if self.require:
                raise GateFailed(f"{version.name} has no release-gate policy and this "
                                 "installation requires one (GARRISON_REQUIRE_GATES): set it "
                                 "with `garrison gate policy set`", ref=version.ref)
            return None
        report = self._gates.latest_report(version)
        evidence: dict[str, Any] = {"applies": True, "policy_digest": policy.digest,
                                    "policy_revision": policy.revision}
        if report is not None and report.current and report.passed:
            return {**evidence, "report_sha256": report.sha256, "passed": True}
        override = self._overrides.granted(version, policy.digest)
        if override is not None:
            return {**evidence, "override": override.id, "requested_by": override.requested_by,
                    "approved_by": override.approved_by, "passed": False,
                    "report_sha256": report.sha256 if report is not None else None}
        raise GateFailed(_why(version, report), ref=version.ref,
                         report_sha256=report.sha256 if report is not None else None)


def _why(v: ModelVersion, report: Any) -> str:
    if report is None:
        return (f"{v.ref} has no release-gate report: run `garrison gate run {v.ref}` "
                "(or have an admin request an override and a second admin approve it)")
    if not report.current:
        return (f"{v.ref}'s newest gate report was made under an earlier policy: run "
                f"`garrison gate run {v.ref}` again")
    failed = [c for c in report.predicate.get("checks") or [] if not c.get("passed")]
    reasons = "; ".join(f"{c.get('name')}: {c.get('reason')}" for c in failed[:4])
    return f"{v.ref} failed its release gate ({reasons})"


class ShadowAgreementCheck:
    name = "shadow-agreement"

    def __init__(self, shadows: ShadowService, gates: GateService, *,
                 default_min_agreement: float, require: bool = False) -> None:
        self._shadows = shadows
        self._gates = gates
        self._default = default_min_agreement
        self.require = require

    def __call__(self, version: ModelVersion, purpose: Purpose) -> dict[str, Any] | None:
        if purpose != "promote" or version.stage != "shadow":
            return None
        gated = self.require or self._gates.current_policy(version.name) is not None
        evidence = self._shadows.gate_evidence(
            version, default_min_agreement=self._default if gated else None)
        return evidence if evidence.get("applies") else None
