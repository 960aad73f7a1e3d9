"""Storage contract of the gate workflow (implemented in ``garrison.storage.gates_repo``)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from garrison.audit import AuditQuery, AuditRecord
from garrison.gates.records import OverrideRow, PolicyRow, ReportRow
from garrison.governance.ports import AuditWriter

__all__ = ["GateRepository", "GateStore", "GateTx"]


class GateRepository(Protocol):
    def latest_policy(self, model: str) -> PolicyRow | None: ...

    def add_policy(self, row: PolicyRow) -> None:
        """Raise ``Conflict`` when the revision is taken (a concurrent change)."""

    def add_report(self, row: ReportRow) -> int: ...

    def latest_report(self, model: str, version: int) -> ReportRow | None: ...

    def reports(self, model: str, version: int, limit: int = 20) -> list[ReportRow]: ...

    def add_override(self, row: OverrideRow) -> None: ...

    def get_override(self, override_id: str) -> OverrideRow | None: ...

    def overrides(self, model: str, version: int | None = None) -> list[OverrideRow]: ...

    def approve_override(self, override_id: str, by: str, at: str,
                         approval: dict[str, object]) -> bool:
        """Record the approval unless one is already there; False when it was."""


class GateTx(Protocol):
    @property
    def gates(self) -> GateRepository: ...

    @property
    def audit(self) -> AuditWriter: ...

    def audit_events(self, query: AuditQuery) -> list[AuditRecord]:
        """Audit events in this transaction's view (the cross-check of stored records)."""


class GateStore(Protocol):
    def write(self) -> AbstractContextManager[GateTx]: ...

    def read(self) -> AbstractContextManager[GateTx]: ...
