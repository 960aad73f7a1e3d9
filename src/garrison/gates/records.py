"""What the gate workflow stores: policy records, gate reports and overrides.

Rows as the storage adapter returns them (``*Row``): the lookup columns and the signed
envelope. Nothing in a row is trusted until :mod:`garrison.gates.service` has verified
its envelope; the verified views (``PolicyRecord``, ``GateReport``, ``GateOverride``)
are built from the signed bodies only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from garrison.gates.policy import GatePolicy
from garrison.gates.results import GateResult

__all__ = [
    "GateOverride",
    "GateReport",
    "OverrideRow",
    "PolicyRecord",
    "PolicyRow",
    "ReportRow",
]


@dataclass(frozen=True)
class PolicyRow:
    model: str
    revision: int
    digest: str
    set_by: str
    created: str
    envelope: dict[str, Any]


@dataclass(frozen=True)
class ReportRow:
    model: str
    version: int
    created: str
    passed: bool
    policy_digest: str
    envelope: dict[str, Any]
    id: int = 0


@dataclass(frozen=True)
class OverrideRow:
    id: str
    model: str
    version: int
    created: str
    requested_by: str
    request: dict[str, Any]
    approved_by: str | None = None
    approved_at: str | None = None
    approval: dict[str, Any] | None = None


@dataclass(frozen=True)
class PolicyRecord:
    """A model's verified gate policy and who set it when (revision 1, 2, ...)."""

    model: str
    revision: int
    policy: GatePolicy
    digest: str
    set_by: str
    created: str
    #: The holdout dataset's SHA-256 when the policy was set (signed with it).
    holdout_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "revision": self.revision, "digest": self.digest,
                "set_by": self.set_by, "created": self.created,
                "holdout_sha256": self.holdout_sha256, "policy": self.policy.to_mapping()}


@dataclass(frozen=True)
class GateReport:
    """A verified gate report: the predicate of the signed statement and its digest.

    ``current`` says whether it was made under the model's current policy (a report
    made under an older policy no longer counts for approval and promotion).
    """

    model: str
    version: int
    artifact_digest: str
    sha256: str
    predicate: dict[str, Any]
    envelope: dict[str, Any]
    current: bool = True

    @property
    def passed(self) -> bool:
        return bool(self.predicate.get("passed"))

    @property
    def policy_digest(self) -> str:
        return str(self.predicate.get("policy_digest", ""))

    @property
    def created(self) -> str:
        return str(self.predicate.get("created", ""))

    @property
    def result(self) -> GateResult:
        return GateResult.from_mapping({"passed": self.predicate.get("passed"),
                                        "policy_digest": self.policy_digest,
                                        "checks": self.predicate.get("checks") or []})

    def to_dict(self, *, envelope: bool = False) -> dict[str, Any]:
        out = {"model": self.model, "version": self.version,
               "artifact_sha256": self.artifact_digest, "report_sha256": self.sha256,
               "current_policy": self.current, **self.predicate}
        if envelope:
            out["envelope"] = self.envelope
        return out


@dataclass(frozen=True)
class GateOverride:
    """A verified override: the request and, once a second admin granted it, the approval."""

    id: str
    model: str
    version: int
    artifact_digest: str
    policy_digest: str
    report_sha256: str
    reason: str
    requested_by: str
    requested_at: str
    approved_by: str | None = None
    approved_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "version": self.version,
                "artifact_sha256": self.artifact_digest, "policy_digest": self.policy_digest,
                "report_sha256": self.report_sha256, "reason": self.reason,
                "requested_by": self.requested_by, "requested_at": self.requested_at,
                "approved_by": self.approved_by, "approved_at": self.approved_at,
                "status": "approved" if self.approved else "pending"}
