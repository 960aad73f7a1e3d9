"""Request and response models of the admin API (pydantic lives here, not in the core).

Requests are validated strictly (unknown fields are refused, strings stay strings);
responses are built from the core's ``to_dict()`` output and validated on the way out,
so the OpenAPI document generated from these models is what the server really sends.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from garrison.types import MODEL_NAME_PATTERN, parse_utc, utc_iso

__all__ = [
    "AcknowledgeBody",
    "AuditEventList",
    "AuditEventOut",
    "AuditEventsQuery",
    "AuditVerifyOut",
    "DatasetRefModel",
    "DecisionsCheckBody",
    "DecisionsCheckOut",
    "ErrorBody",
    "ErrorInfo",
    "HealthOut",
    "IncidentList",
    "IncidentOut",
    "ModelListQuery",
    "ModelVersionDetail",
    "ModelVersionList",
    "ModelVersionOut",
    "PromoteBody",
    "ReasonBody",
    "ScanSummary",
    "TransitionOut",
    "VerifyOut",
    "VersionMetadataIn",
    "VersionMetadataModel",
    "VersionMetadataOut",
]

_STRICT_IN = ConfigDict(extra="forbid", strict=True)
_OUT = ConfigDict(extra="forbid")
REASON_MAX = 500
#: RFC 3339 date-time (what JSON Schema's ``date-time`` format means): zone required.
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


# -- requests -----------------------------------------------------------------------
class ReasonBody(BaseModel):
    """Body of approve, reject, retire and rollback. An empty body means no reason."""

    model_config = _STRICT_IN
    reason: str = Field("", max_length=REASON_MAX, description="Why; kept in the audit trail.")


class PromoteBody(ReasonBody):
    """Body of promote."""

    stage: Literal["production", "shadow"] = Field(
        "production", description="Target stage; `production` supersedes the current one."
    )


class DatasetRefModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=256)
    version: str = Field(max_length=128)
    digest: str = Field(max_length=128)


class VersionMetadataModel(BaseModel):
    """What a registrant states about a version; stored in the signed manifest."""

    model_config = ConfigDict(extra="forbid")
    framework: str = Field("", max_length=64, description="e.g. scikit-learn, onnx, xgboost.")
    description: str = Field("", max_length=2000)
    input_schema: dict[str, Any] | None = Field(
        None, description="The input schema the gateway enforces (`InputSchema.to_dict()`)."
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    datasets: list[DatasetRefModel] = Field(default_factory=list)
    code_commit: str = Field("", max_length=64, description="Hex git commit of the code.")
    profile: dict[str, Any] | None = Field(None, description="Reference data profile.")


class VersionMetadataIn(VersionMetadataModel):
    """Metadata sent with an upload (metrics must be finite numbers)."""

    metrics: dict[str, Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict
    )


class VersionMetadataOut(VersionMetadataModel):
    """A version's metadata as stored: what the registrant stated plus what registration
    derived (the reference sample's digest, when reference data came with it)."""

    reference_sha256: str = Field(
        "", description="SHA-256 of the sealed reference sample the detectors are fitted on.")


class ModelListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, pattern=MODEL_NAME_PATTERN,
                             description="Only this model's versions.")


class AuditEventsQuery(BaseModel):
    """Filters of the audit log; events come oldest first, paged by ``after_seq``."""

    model_config = ConfigDict(extra="forbid")
    actor: str | None = Field(None, max_length=128, description="Only events by this principal.")
    action: str | None = Field(None, max_length=64, description="e.g. approve-model-version.")
    outcome: Literal["ok", "denied", "failed"] | None = None
    resource: str | None = Field(None, max_length=256, description="e.g. model:fraud:1.")
    request_id: str | None = Field(None, max_length=64, description="Correlate one request.")
    since: str | None = Field(None, json_schema_extra={"format": "date-time"},
                              description="From this time (RFC 3339, with a zone).")
    until: str | None = Field(None, json_schema_extra={"format": "date-time"},
                              description="Up to this time (RFC 3339, with a zone).")
    after_seq: int = Field(0, ge=0, description="Only events after this position (paging).")
    limit: int = Field(100, ge=1, le=1000, description="At most this many events.")

    @field_validator("since", "until")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _RFC3339.fullmatch(value):
            raise ValueError("not an RFC 3339 date-time with a zone")
        try:
            return utc_iso(parse_utc(value.upper()))
        except ValueError:
            raise ValueError("not a valid date-time") from None


class DecisionsCheckBody(BaseModel):
    """Body of the decision records check; an empty body checks everything."""

    model_config = _STRICT_IN
    request_id: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9._-]{1,64}$",
                                   description="Check only the batch of this decision.")
    since: str | None = Field(None, json_schema_extra={"format": "date-time"},
                              description="Judge only decision logs opened from this time.")

    @field_validator("since")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        return AuditEventsQuery._iso(value)


# -- responses ----------------------------------------------------------------------
class HealthOut(BaseModel):
    model_config = _OUT
    status: Literal["ok"]


class ScanSummary(BaseModel):
    model_config = _OUT
    verdict: str | None
    findings: int


class ModelVersionOut(BaseModel):
    """A model version without its manifest (lists and lifecycle answers)."""

    model_config = _OUT
    name: str
    version: int
    stage: str
    format: str
    framework: str
    digest: str = Field(description="SHA-256 of the plaintext artifact (hex).")
    size: int
    registrant: str
    created: str
    stage_changed: str
    metadata: VersionMetadataOut
    scan: ScanSummary


class TransitionOut(BaseModel):
    model_config = _OUT
    name: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    created: str


class ModelVersionDetail(ModelVersionOut):
    """A version with its signed manifest (DSSE envelope), full scan report and history."""

    manifest: dict[str, Any]
    scan_report: dict[str, Any]
    history: list[TransitionOut]


class ModelVersionList(BaseModel):
    model_config = _OUT
    versions: list[ModelVersionOut]


class VerifyOut(BaseModel):
    model_config = _OUT
    ok: Literal[True]
    name: str
    version: int
    sha256: str
    signed_by: list[str | None]
    #: The key id of Garrison's OpenSSF model signature, checked too (None: made before).
    model_signed_by: str | None


class AuditEventOut(BaseModel):
    model_config = _OUT
    seq: int
    event_id: str
    created: str
    actor: str
    action: str
    resource: str
    outcome: str
    reason: str
    request_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEventList(BaseModel):
    model_config = _OUT
    events: list[AuditEventOut]
    next_after_seq: int | None = Field(
        description="Pass as `after_seq` for the next page; null when this page is the last."
    )


class IncidentOut(BaseModel):
    """Tampering that Garrison found, handled and recorded in the chain."""

    model_config = _OUT
    id: str = Field(description="Pass to the acknowledge endpoint, e.g. `quarantine:57`.")
    kind: str = Field(description="`quarantined`: records forged past the signed head.")
    position: int = Field(description="The first position the forged records occupied.")
    count: int
    recorded_at: int = Field(description="Seq of the event that recorded the incident.")
    acknowledged: bool
    acknowledged_by: str | None
    acknowledged_at: int | None
    records: list[dict[str, Any]] = Field(description="The first forged records, described.")


class AuditVerifyOut(BaseModel):
    model_config = _OUT
    ok: Literal[True]
    events: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    incidents: list[IncidentOut] = Field(description="All acknowledged (or verify fails).")


class DecisionProblemOut(BaseModel):
    model_config = _OUT
    reason: str = Field(description="batch-mismatch, not-an-anchor, unanchored, dropped, "
                        "missing or unclosed.")
    anchor_seq: int | None
    request_id: str | None
    writer: str | None = None
    count: int | None = Field(None, description="Records of the writer concerned.")


class DecisionWriterOut(BaseModel):
    """One gateway worker's decision log: what it reserved, stored, dropped, lost."""

    model_config = _OUT
    writer: str
    opened: str
    lease: float
    reserved: int
    used: int
    written: int
    written_max: int
    dropped: int
    dropped_max: int
    closed_at: int | None
    last_activity: str
    state: Literal["open", "closed", "unclosed"]
    missing: int
    possibly_missing: int


class DecisionsCheckOut(BaseModel):
    model_config = _OUT
    ok: bool
    batches: int
    records: int
    problems: list[DecisionProblemOut]
    anchor_seq: int | None = None
    lost: int | None = Field(None, description="Answered predictions known to have no record.")
    possibly_lost: int | None = Field(
        None, description="Upper bound of further losses of logs that stopped without closing.")
    writers: list[DecisionWriterOut] | None = None


class StateFindingOut(BaseModel):
    """A piece of governance state the signed audit trail does not back."""

    model_config = ConfigDict(extra="allow")
    kind: str = Field(description="principal, api-key, model-version or deployment.")
    key: str
    reason: str = Field(description="unsealed, bad-seal, stale or no-approval.")
    message: str


class StateReportOut(BaseModel):
    model_config = _OUT
    ok: bool
    checked: list[str]
    findings: list[StateFindingOut]


class IncidentList(BaseModel):
    model_config = _OUT
    incidents: list[IncidentOut]


class AcknowledgeBody(BaseModel):
    """Body of an incident acknowledgment."""

    model_config = _STRICT_IN
    reason: str = Field(min_length=1, max_length=REASON_MAX,
                        description="What was examined and why the incident is closed.")


class ErrorInfo(BaseModel):
    model_config = _OUT
    code: str = Field(description="Stable kebab-case error code (see docs/admin-api.md).")
    message: str = Field(description="Safe for operators; opaque for authentication.")
    request_id: str = Field(description="Also in the X-Request-ID header and the audit trail.")
    position: int | None = Field(None, description="audit-chain-broken only: first bad seq.")
    reason: str | None = Field(None, description="audit-chain-broken only: what broke "
                               "(modified, deleted, inserted, reordered, truncated, "
                               "rewritten, bad-checkpoint, quarantined).")


class ErrorBody(BaseModel):
    """The one error shape of the admin API."""

    model_config = _OUT
    error: ErrorInfo
