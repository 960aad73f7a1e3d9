"""Storage contracts of the registry (implemented in ``garrison.storage``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from garrison.governance.ports import AuditWriter
from garrison.registry.models import ModelVersion, Transition

__all__ = ["ArtifactStore", "ModelRepository", "RegistryStore", "RegistryTx"]


class ModelRepository(Protocol):
    def ensure_model(self, name: str, created: str, created_by: str) -> None:
        """Create the model if absent and lock it for this transaction."""

    def next_version(self, name: str) -> int: ...

    def add_version(self, version: ModelVersion) -> None: ...

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Raise ``ModelVersionNotFound``."""

    def list_versions(self, name: str | None = None) -> list[ModelVersion]: ...

    def model_names(self) -> list[str]: ...

    def set_stage(self, name: str, version: int, stage: str, when: str) -> None: ...

    def add_transition(self, transition: Transition) -> None: ...

    def transitions(self, name: str) -> list[Transition]: ...


class RegistryTx(Protocol):
    @property
    def models(self) -> ModelRepository: ...

    @property
    def audit(self) -> AuditWriter: ...


class RegistryStore(Protocol):
    def write(self) -> AbstractContextManager[RegistryTx]: ...

    def read(self) -> AbstractContextManager[RegistryTx]: ...


class ArtifactStore(Protocol):
    def put(self, name: str, version: int, source: Path, context: str, kind: str = "") -> None:
        """Encrypt ``source`` into the store (atomically); ``kind`` names extra blobs."""

    def get(self, name: str, version: int, context: str, kind: str = "") -> bytes:
        """Decrypt and authenticate; raise ``DecryptionFailed``."""

    def remove(self, name: str, version: int) -> None:
        """Remove every blob of the version."""

    def path(self, name: str, version: int, kind: str = "") -> Path: ...
