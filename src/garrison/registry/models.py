"""Registry value objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from garrison.errors import InvalidInput
from garrison.schema import InputSchema
from garrison.types import MODEL_NAME_PATTERN, validate_model_name

__all__ = [
    "MODEL_NAME_PATTERN",
    "DatasetRef",
    "ModelVersion",
    "Transition",
    "VersionMetadata",
    "validate_model_name",
]

_HEX = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class DatasetRef:
    name: str
    version: str
    digest: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "digest": self.digest}


@dataclass(frozen=True)
class VersionMetadata:
    """What a registrant states about a version (validated; immutable once registered)."""

    framework: str = ""
    description: str = ""
    input_schema: InputSchema | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: tuple[DatasetRef, ...] = ()
    code_commit: str = ""
    profile: dict[str, Any] | None = None
    #: SHA-256 of the sealed reference sample (Parquet) the detectors are fitted on.
    reference_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = self._base_dict()
        if self.reference_sha256:  # Only when set, so older signed metadata keeps its digest.
            out["reference_sha256"] = self.reference_sha256
        return out

    def _base_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "description": self.description,
            "input_schema": self.input_schema.to_dict() if self.input_schema else None,
            "metrics": self.metrics,
            "tags": self.tags,
            "datasets": [d.to_dict() for d in self.datasets],
            "code_commit": self.code_commit,
            "profile": self.profile,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionMetadata:
        if not isinstance(data, dict):
            raise InvalidInput("metadata must be an object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInput(f"unknown metadata keys: {sorted(unknown)}")
        try:
            metrics = {str(k): float(v) for k, v in (data.get("metrics") or {}).items()}
            tags = {str(k)[:64]: str(v)[:256] for k, v in (data.get("tags") or {}).items()}
            datasets = tuple(
                DatasetRef(str(d["name"]), str(d["version"]), str(d["digest"]))
                for d in data.get("datasets") or []
            )
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InvalidInput("metrics must be numbers, tags strings, datasets "
                               "{name, version, digest} objects") from exc
        commit = str(data.get("code_commit") or "")
        if commit and not _HEX.fullmatch(commit):
            raise InvalidInput("code_commit must be a hex git commit id")
        schema = data.get("input_schema")
        return cls(
            framework=str(data.get("framework") or "")[:64],
            description=str(data.get("description") or "")[:2000],
            input_schema=InputSchema.from_dict(schema) if schema else None,
            metrics=metrics, tags=tags, datasets=datasets, code_commit=commit,
            profile=data.get("profile"),
            reference_sha256=str(data.get("reference_sha256") or ""),
        )


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    stage: str
    format: str
    framework: str
    digest: str
    size: int
    registrant: str
    created: str
    manifest: dict[str, Any]
    scan_report: dict[str, Any]
    metadata: VersionMetadata
    stage_changed: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def resource(self) -> str:
        return f"model:{self.name}:{self.version}"

    def to_dict(self, *, manifest: bool = False) -> dict[str, Any]:
        out = {
            "name": self.name, "version": self.version, "stage": self.stage,
            "format": self.format, "framework": self.framework, "digest": self.digest,
            "size": self.size, "registrant": self.registrant, "created": self.created,
            "stage_changed": self.stage_changed, "metadata": self.metadata.to_dict(),
            "scan": {"verdict": self.scan_report.get("verdict"),
                     "findings": len(self.scan_report.get("findings", []))},
        }
        if manifest:
            out["manifest"] = self.manifest
            out["scan_report"] = self.scan_report
        return out


@dataclass(frozen=True)
class Transition:
    name: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
