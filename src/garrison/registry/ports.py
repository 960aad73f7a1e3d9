"""Storage contracts of the registry (implemented in ``garrison.storage``)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from garrison.governance.ports import AuditWriter
from garrison.governance.seals import SealRepository
from garrison.registry.models import ModelVersion, Transition

__all__ = ["ArtifactStore", "BlobStore", "ModelRepository", "RegistryStore", "RegistryTx"]


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

    @property
    def seals(self) -> SealRepository: ...


class RegistryStore(Protocol):
    def write(self) -> AbstractContextManager[RegistryTx]: ...

    def read(self) -> AbstractContextManager[RegistryTx]: ...


class ArtifactStore(Protocol):
    """Sealed artifacts by version: every ``get`` authenticates what it returns."""

    def put(self, name: str, version: int, source: Path, context: str, kind: str = "") -> None:
        """Encrypt ``source`` into the store (atomically); ``kind`` names extra blobs."""

    def get(self, name: str, version: int, context: str, kind: str = "") -> bytes:
        """Decrypt and authenticate; raise ``DecryptionFailed``."""

    def remove(self, name: str, version: int) -> None:
        """Remove every blob of the version."""


class BlobStore(Protocol):
    """Where sealed blobs live: a local directory or S3-compatible object storage.

    A backend only moves bytes that are already sealed (AES-GCM): it never sees a key
    or a plaintext, and what it returns is authenticated by the caller before use, so
    a backend (or whoever controls it) can withhold an artifact but never change one
    unnoticed. Keys are relative paths such as ``fraud/3.sealed``.
    """

    def put(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store ``chunks`` under ``key``; readers see the whole blob or nothing."""

    def get(self, key: str) -> bytes:
        """The blob's bytes; raise ``DecryptionFailed`` when it is missing."""

    def delete(self, key: str) -> None:
        """Remove the blob (no error when it is already gone)."""

    def check(self) -> None:
        """Raise ``StorageError`` unless the backend is reachable and usable."""

    def describe(self) -> str:
        """Where the blobs live, for logs and error messages (never a credential)."""
