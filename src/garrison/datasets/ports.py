"""Storage contracts of the dataset registry (implemented in ``garrison.storage``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from garrison.datasets.models import DatasetVersion
from garrison.governance.ports import AuditWriter
from garrison.lineage import LineageStore

__all__ = ["DatasetRepository", "DatasetStore", "DatasetTx"]


class DatasetRepository(Protocol):
    def next_version(self, name: str) -> int: ...

    def add(self, version: DatasetVersion) -> None:
        """Store a new version; raise ``Conflict`` if ``name:version`` exists."""

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version (the newest when ``version`` is None); raise ``DatasetNotFound``."""

    def find(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of ``name`` whose content digest is ``digest``, if any."""

    def list(self, name: str | None = None) -> list[DatasetVersion]: ...


class DatasetTx(Protocol):
    """One transaction: the dataset table, the lineage tables and the audit log."""

    @property
    def datasets(self) -> DatasetRepository: ...

    @property
    def lineage(self) -> LineageStore: ...

    @property
    def audit(self) -> AuditWriter: ...


class DatasetStore(Protocol):
    def write(self) -> AbstractContextManager[DatasetTx]: ...

    def read(self) -> AbstractContextManager[DatasetTx]: ...
