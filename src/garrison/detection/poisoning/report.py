"""Result types of a poison check and their JSON form (schema in ``docs/poisoning.md``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "CheckSummary",
    "PoisonReport",
    "Reason",
    "RowFinding",
    "combine_scores",
    "json_value",
]

SCHEMA_VERSION = 2


def json_value(value: Any) -> Any:
    """A JSON-safe version of a label or feature value (numpy scalars, NaN, objects)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def combine_scores(scores: list[float]) -> float:
    """Noisy-or of independent evidence: ``1 - prod(1 - s)``, always in [0, 1]."""
    remaining = 1.0
    for score in scores:
        remaining *= 1.0 - min(1.0, max(0.0, score))
    return round(1.0 - remaining, 6)


@dataclass(frozen=True)
class Reason:
    """Why one check flagged one row (``confirmed`` when the check finds a mechanism)."""

    check: str
    detail: str
    score: float
    confirmed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "detail": self.detail,
            "score": round(self.score, 6),
            "confirmed": self.confirmed,
        }


@dataclass(frozen=True)
class RowFinding:
    """One suspicious row: its position, combined score, given label and reasons."""

    row: int
    score: float
    label: Any
    reasons: tuple[Reason, ...]

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(reason.check for reason in self.reasons)

    @property
    def confirmed(self) -> bool:
        """Whether a mechanism check (a trigger, a conflicting copy) explains the row."""
        return any(reason.confirmed for reason in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "score": round(self.score, 6),
            "confirmed": self.confirmed,
            "label": json_value(self.label),
            "reasons": [reason.to_dict() for reason in self.reasons],
        }


@dataclass(frozen=True)
class CheckSummary:
    """What one check did: its method, the threshold it used and how many rows it flagged."""

    check: str
    method: str
    threshold: float
    rows_flagged: int
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "method": self.method,
            "threshold": self.threshold,
            "rows_flagged": self.rows_flagged,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class PoisonReport:
    """Everything a poison check found.

    Findings are ranked: rows a mechanism check confirmed first, then by score (highest
    first). ``warnings`` say what the check could not judge; ``labels_judged`` is false
    when the out-of-fold model was too weak for the label checks to flag anything.
    """

    target: str
    rows: int
    classes: tuple[Any, ...]
    model: str
    findings: tuple[RowFinding, ...]
    checks: tuple[CheckSummary, ...]
    warnings: tuple[str, ...] = ()
    labels_judged: bool = True
    model_selection: Mapping[str, Any] = field(default_factory=dict)

    @property
    def suspicious(self) -> bool:
        return bool(self.findings)

    @property
    def confirmed_rows(self) -> tuple[int, ...]:
        """Positions of the rows a mechanism check confirmed, ascending."""
        return tuple(sorted(f.row for f in self.findings if f.confirmed))

    @property
    def flagged_rows(self) -> tuple[int, ...]:
        """Positions (0-based) of every flagged row, ascending."""
        return tuple(sorted(finding.row for finding in self.findings))

    def rows_flagged_by(self, check: str) -> tuple[int, ...]:
        """Positions of the rows that ``check`` flagged, ascending."""
        return tuple(sorted(f.row for f in self.findings if check in f.checks))

    def summary(self, check: str) -> CheckSummary:
        for item in self.checks:
            if item.check == check:
                return item
        raise KeyError(check)

    def to_dict(self, *, max_findings: int | None = None) -> dict[str, Any]:
        shown = self.findings if max_findings is None else self.findings[:max_findings]
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "garrison.poison-check",
            "target": self.target,
            "rows": self.rows,
            "classes": [json_value(value) for value in self.classes],
            "model": self.model,
            "model_selection": dict(self.model_selection),
            "labels_judged": self.labels_judged,
            "warnings": list(self.warnings),
            "suspicious": self.suspicious,
            "rows_flagged": len(self.findings),
            "rows_confirmed": len(self.confirmed_rows),
            "findings_shown": len(shown),
            "checks": [item.to_dict() for item in self.checks],
            "findings": [finding.to_dict() for finding in shown],
        }
