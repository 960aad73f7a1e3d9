"""``audit decisions`` as an audited workflow, the same for the CLI and the admin API.

The checker (``garrison.storage.decisions_check`` behind the :class:`DecisionChecker`
port) recomputes every batch digest from the stored rows and accounts for every
numbered record; this service authorizes the check, records its outcome and hands the
report back.
"""

from __future__ import annotations

from typing import Any, Protocol

from garrison.errors import IntegrityFailure
from garrison.governance.guard import Guard
from garrison.identity import Principal

__all__ = ["DecisionAudit", "DecisionChecker", "DecisionReport"]


class DecisionReport(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def problems(self) -> list[Any]: ...

    def to_dict(self) -> dict[str, Any]: ...


class DecisionChecker(Protocol):
    def verify_all(self, *, since: str | None = None, now: str | None = None) -> Any: ...

    def verify(self, request_id: str) -> dict[str, Any]: ...


class _OneRecord:
    """The report of a check of one record's batch."""

    def __init__(self, request_id: str, proof: dict[str, Any] | None,
                 failure: IntegrityFailure | None) -> None:
        self.request_id = request_id
        self.proof = proof
        self.problems = [] if failure is None else [{
            "reason": failure.detail.get("reason"),
            "anchor_seq": failure.detail.get("anchor_seq"), "request_id": request_id}]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "batches": 1, "records": 1, "problems": self.problems,
                **({"anchor_seq": self.proof["anchor_seq"]} if self.proof else {})}


class DecisionAudit:
    def __init__(self, checker: DecisionChecker, guard: Guard) -> None:
        self._checker = checker
        self._guard = guard

    def check(self, actor: Principal, *, request_id: str | None = None,
              since: str | None = None, audit_request_id: str = "") -> DecisionReport:
        """Every batch and every writer's accounting (or one record's batch). Needs
        ``verify-audit-log``; the outcome is recorded (``failed`` names the first problem)."""
        self._guard.require(actor, "verify-audit-log", "decisions", request_id=audit_request_id)
        report: Any
        if request_id is not None:
            try:
                report = _OneRecord(request_id, self._checker.verify(request_id), None)
            except IntegrityFailure as exc:
                report = _OneRecord(request_id, None, exc)
        else:
            report = self._checker.verify_all(since=since)
        summary = report.to_dict()
        first = summary["problems"][0]["reason"] if summary["problems"] else ""
        self._guard.record(
            actor, "verify-audit-log", resource="decisions",
            outcome="ok" if report.ok else "failed", reason=first or "",
            request_id=audit_request_id,
            payload={k: summary[k] for k in ("batches", "records", "lost", "possibly_lost")
                     if k in summary} | {"problems": len(summary["problems"])})
        return report
