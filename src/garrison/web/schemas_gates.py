"""Request and response bodies of the release-gate endpoints (see ``web.routes.gates``).

A gate report's predicate is the signed document itself: its numbers are passed through
as they were signed (each check's ``metrics`` and ``thresholds``), never re-shaped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GateCheckOut",
    "GateOverrideList",
    "GateOverrideOut",
    "GatePolicyIn",
    "GatePolicyOut",
    "GateReportOut",
    "OverrideRequestBody",
]

_IN = ConfigDict(extra="forbid", strict=True)
_OUT = ConfigDict(extra="forbid")


class GatePolicyIn(BaseModel):
    """The policy in its JSON shape (the same keys as the TOML file of docs/gates.md)."""

    model_config = _IN
    policy: dict[str, Any] = Field(description="`holdout_dataset` (NAME:VERSION) at least; "
                                   "unknown keys are refused.")


class GatePolicyOut(BaseModel):
    model_config = _OUT
    model: str
    revision: int
    digest: str = Field(description="SHA-256 of the policy's canonical JSON.")
    set_by: str
    created: str
    holdout_sha256: str = Field(description="The holdout dataset's SHA-256, signed into "
                                "the policy: a gate run refuses other bytes.")
    policy: dict[str, Any]


class GateCheckOut(BaseModel):
    model_config = _OUT
    name: str
    passed: bool
    skipped: bool = False
    reason: str
    metrics: dict[str, float | int | str]
    thresholds: dict[str, float]


class GateReportOut(BaseModel):
    """The verified predicate of the newest signed gate report, and where it stands."""

    model_config = ConfigDict(extra="allow")
    model: str
    version: int
    artifact_sha256: str
    report_sha256: str = Field(description="SHA-256 of the signed DSSE envelope.")
    current_policy: bool = Field(description="Made under the model's current policy (only "
                                 "then does it count for approval and promotion).")
    passed: bool
    policy_digest: str
    created: str
    run_by: str
    checks: list[GateCheckOut]
    holdout: dict[str, Any]
    production: dict[str, Any] | None
    envelope: dict[str, Any] | None = Field(None, description="The signed DSSE envelope "
                                            "(with `?envelope=1`).")


class OverrideRequestBody(BaseModel):
    model_config = _IN
    reason: str = Field(min_length=1, max_length=2000,
                        description="Why the gate may be set aside (at least 20 characters).")


class GateOverrideOut(BaseModel):
    model_config = _OUT
    id: str
    model: str
    version: int
    artifact_sha256: str
    policy_digest: str
    report_sha256: str
    reason: str
    requested_by: str
    requested_at: str
    approved_by: str | None
    approved_at: str | None
    status: Literal["pending", "approved"]


class GateOverrideList(BaseModel):
    model_config = _OUT
    overrides: list[GateOverrideOut]
