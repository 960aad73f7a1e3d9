"""The model registry: lifecycle, artifact security, four-eyes approval and rollback."""

from garrison.registry.approvals import ApprovalDesk
from garrison.registry.bom import BOM_MEDIA_TYPE, build_bom
from garrison.registry.lifecycle import TRANSITIONS, Stage, ensure_transition
from garrison.registry.loader import (
    LOADERS,
    LoadedModel,
    ModelLoader,
    OnnxModel,
    register_loader,
)
from garrison.registry.manifest import PREDICATE_TYPE, build_statement, verify_manifest
from garrison.registry.models import (
    DatasetRef,
    ModelVersion,
    Transition,
    VersionMetadata,
    validate_model_name,
)
from garrison.registry.ports import ArtifactStore, BlobStore, ModelRepository, RegistryStore
from garrison.registry.provenance import Provenance
from garrison.registry.registration import Registration, artifact_context
from garrison.registry.review import (
    CheckResult,
    DatasetChange,
    FeatureChange,
    MetricDelta,
    Review,
    SignatureStatus,
    approval_blocker,
    ensure_approvable,
)
from garrison.registry.service import RegistryService, parse_ref

__all__ = [
    "BOM_MEDIA_TYPE",
    "LOADERS",
    "PREDICATE_TYPE",
    "TRANSITIONS",
    "ApprovalDesk",
    "ArtifactStore",
    "BlobStore",
    "CheckResult",
    "DatasetChange",
    "DatasetRef",
    "FeatureChange",
    "LoadedModel",
    "MetricDelta",
    "ModelLoader",
    "ModelRepository",
    "ModelVersion",
    "OnnxModel",
    "Provenance",
    "Registration",
    "RegistryService",
    "RegistryStore",
    "Review",
    "SignatureStatus",
    "Stage",
    "Transition",
    "VersionMetadata",
    "approval_blocker",
    "artifact_context",
    "build_bom",
    "build_statement",
    "ensure_approvable",
    "ensure_transition",
    "parse_ref",
    "register_loader",
    "validate_model_name",
    "verify_manifest",
]
