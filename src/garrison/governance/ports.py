"""What the governance workflows need from storage (``garrison.storage.Store`` fits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from garrison.audit import AuditDraft, AuditQuery, AuditRecord, Checkpoint, Signer
from garrison.identity import APIKeyRepository, PrincipalRepository, SessionRepository

if TYPE_CHECKING:
    from garrison.governance.seals import SealRepository

__all__ = ["AuditSnapshotView", "AuditWriter", "TxView", "UnitOfWork"]


class AuditWriter(Protocol):
    def append(self, draft: AuditDraft) -> AuditRecord: ...

    def append_many(self, drafts: Sequence[AuditDraft]) -> list[AuditRecord]: ...

    def checkpoint(self) -> Checkpoint: ...


class TxView(Protocol):
    @property
    def principals(self) -> PrincipalRepository: ...

    @property
    def api_keys(self) -> APIKeyRepository: ...

    @property
    def audit(self) -> AuditWriter: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def seals(self) -> SealRepository: ...


class AuditSnapshotView(Protocol):
    """Audit reads that all see one committed state."""

    def head(self) -> Checkpoint | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def records(self, after_seq: int = 0, batch: int = 5000) -> Iterator[AuditRecord]: ...

    def query(self, q: AuditQuery) -> list[AuditRecord]: ...


class UnitOfWork(Protocol):
    signer: Signer

    def audit_snapshot(self) -> AbstractContextManager[AuditSnapshotView]: ...

    def write(self) -> AbstractContextManager[TxView]: ...

    def read(self) -> AbstractContextManager[TxView]: ...

    def append(self, draft: AuditDraft) -> AuditRecord: ...

    def append_many(self, drafts: list[AuditDraft]) -> list[AuditRecord]: ...

    def latest_seq(self, actions: Sequence[str]) -> int: ...

    def records(self, after_seq: int = 0, batch: int = 5000,
                until_seq: int | None = None) -> Iterator[AuditRecord]: ...

    def query(self, q: AuditQuery) -> list[AuditRecord]: ...

    def head(self) -> Checkpoint | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...
