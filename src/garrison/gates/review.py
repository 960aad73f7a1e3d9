"""The release gate on the approver's review page: the newest report's checks as rows.

``review_checks`` is the :class:`~garrison.registry.approvals.ApprovalDesk`'s
``gate_checks`` reader (wired in ``garrison.app``): one row per check of the version's
newest verified gate report, marked when that report was made under an earlier policy
and so no longer counts. A report that fails verification is shown as one failed row
that says so, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable

from garrison.errors import GarrisonError
from garrison.gates.service import GateService
from garrison.registry import ModelVersion
from garrison.registry.review import CheckResult

__all__ = ["review_checks"]


def review_checks(gates: GateService) -> Callable[[ModelVersion], tuple[CheckResult, ...]]:
    def rows(v: ModelVersion) -> tuple[CheckResult, ...]:
        try:
            report = gates.latest_report(v)
        except GarrisonError as exc:
            return (CheckResult("release gate", "gate report", "failed", exc.message[:300],
                                "", ""),)
        if report is None:
            return ()
        purpose = "approval" if report.current else "approval (report made under an " \
            "earlier policy: it no longer counts)"
        actor = str(report.predicate.get("run_by", ""))
        return tuple(
            CheckResult(f"gate: {c.get('name')}", purpose,
                        "ok" if c.get("passed") else "failed",
                        ("skipped: " if c.get("skipped") else "")
                        + str(c.get("reason", ""))[:300], actor, report.created)
            for c in report.predicate.get("checks") or [])

    return rows
