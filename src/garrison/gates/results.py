"""What a gate run produced: one ``CheckResult`` per check, folded into a ``GateResult``.

Every check reports its numbers (``metrics``), the thresholds it judged them against,
a verdict and a one-line reason a reviewer can read without the numbers. A check that
could not run for a reason the policy allows (no sensitive column declared, no training
set recorded in lineage, a regressor asked for calibration) passes with ``skipped`` set
and says why; it never disappears from the report.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from garrison.errors import InvalidInput

__all__ = ["CheckResult", "GateResult", "MetricValue"]

MetricValue = float | int | str


def _clean_metric(value: Any) -> MetricValue:
    """Plain JSON-safe values: numpy scalars become Python ones, NaN/inf become strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):  # bool and numpy integers included
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("a gate metric must be a number or a string") from exc
    if not math.isfinite(number):
        return str(number)
    return number


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: ``passed``, a one-line ``reason``, its numbers and thresholds."""

    name: str
    passed: bool
    reason: str
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    skipped: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "reason", " ".join(str(self.reason).split()))
        object.__setattr__(
            self, "metrics", {str(k): _clean_metric(v) for k, v in self.metrics.items()}
        )
        object.__setattr__(
            self, "thresholds", {str(k): float(v) for k, v in self.thresholds.items()}
        )

    def to_mapping(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "skipped": self.skipped,
            "reason": self.reason,
            "metrics": dict(self.metrics),
            "thresholds": dict(self.thresholds),
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CheckResult:
        try:
            return cls(
                name=str(data["name"]),
                passed=bool(data["passed"]),
                reason=str(data["reason"]),
                metrics=dict(data.get("metrics") or {}),
                thresholds=dict(data.get("thresholds") or {}),
                skipped=bool(data.get("skipped", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("a gate check result is malformed") from exc


@dataclass(frozen=True)
class GateResult:
    """All checks of one run; ``passed`` only when every check passed.

    ``passed`` is derived from the checks: given explicitly (as when a stored result is
    read back), it must agree with them, or the result is refused.
    """

    checks: tuple[CheckResult, ...]
    passed: bool | None = None
    policy_digest: str = ""

    def __post_init__(self) -> None:
        checks = tuple(self.checks)
        object.__setattr__(self, "checks", checks)
        verdict = bool(checks) and all(c.passed for c in checks)
        if self.passed is not None and bool(self.passed) != verdict:
            raise InvalidInput("a gate result's verdict does not match its checks")
        object.__setattr__(self, "passed", verdict)
        if not isinstance(self.policy_digest, str) or not self.policy_digest:
            raise InvalidInput("a gate result must name the digest of its policy")

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def summary(self) -> str:
        """One line: passed, or which checks failed and why."""
        if self.passed:
            return "passed: " + ", ".join(c.name for c in self.checks)
        return "failed: " + "; ".join(f"{c.name}: {c.reason}" for c in self.failed)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "policy_digest": self.policy_digest,
            "checks": [c.to_mapping() for c in self.checks],
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GateResult:
        try:
            checks = tuple(CheckResult.from_mapping(c) for c in data["checks"])
            return cls(
                checks=checks, passed=bool(data["passed"]), policy_digest=str(data["policy_digest"])
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput("a gate result is malformed") from exc
