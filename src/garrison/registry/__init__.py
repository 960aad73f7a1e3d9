"""The model registry: lifecycle, artifact security, four-eyes approval and rollback."""

from garrison.registry.lifecycle import TRANSITIONS, Stage, ensure_transition
from garrison.registry.loader import LOADERS, LoadedModel, ModelLoader, register_loader
from garrison.registry.manifest import PREDICATE_TYPE, build_statement, verify_manifest
from garrison.registry.models import (
    DatasetRef,
    ModelVersion,
    Transition,
    VersionMetadata,
    validate_model_name,
)
from garrison.registry.ports import ArtifactStore, BlobStore, ModelRepository, RegistryStore
from garrison.registry.service import RegistryService, artifact_context, parse_ref

__all__ = [
    "LOADERS",
    "PREDICATE_TYPE",
    "TRANSITIONS",
    "ArtifactStore",
    "BlobStore",
    "DatasetRef",
    "LoadedModel",
    "ModelLoader",
    "ModelRepository",
    "ModelVersion",
    "RegistryService",
    "RegistryStore",
    "Stage",
    "Transition",
    "VersionMetadata",
    "artifact_context",
    "build_statement",
    "ensure_transition",
    "parse_ref",
    "register_loader",
    "validate_model_name",
    "verify_manifest",
]
