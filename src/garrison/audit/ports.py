"""Storage contract of the audit log (append-only: no update or delete exists)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from garrison.audit.chain import Checkpoint
from garrison.audit.events import AuditDraft, AuditRecord

__all__ = ["AuditLog", "AuditQuery", "Signer"]


class Signer(Protocol):
    def sign(self, message: bytes) -> tuple[str, bytes]: ...

    def verify(self, key_id: str, signature: bytes, message: bytes) -> None: ...


@dataclass(frozen=True)
class AuditQuery:
    """A filter over the trail. Results come oldest first from ``after_seq``, or, with
    ``newest_first``, newest first from just below ``before_seq`` (the web console's
    pages)."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    resource: str | None = None
    since: str | None = None
    until: str | None = None
    request_id: str | None = None
    after_seq: int = 0
    limit: int | None = 100
    before_seq: int | None = None
    newest_first: bool = False


class AuditLog(Protocol):
    def append(self, draft: AuditDraft) -> AuditRecord:
        """Chain, store and sign the new head atomically."""

    def append_many(self, drafts: Sequence[AuditDraft]) -> list[AuditRecord]:
        """Append several events in one transaction (one head signature)."""

    def records(self, after_seq: int = 0, batch: int = 5000) -> Iterator[AuditRecord]:
        """Every record in ``seq`` order."""

    def query(self, q: AuditQuery) -> list[AuditRecord]: ...

    def head(self) -> Checkpoint | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...

    def checkpoint(self) -> Checkpoint:
        """Sign the current head and keep it in the checkpoint history."""
