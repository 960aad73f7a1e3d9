"""The built-in gate checks, registered by name in the order a report lists them.

Each check is a plain function ``(Context, thresholds) -> CheckResult`` and reads its
thresholds from the policy section of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from garrison.gates._context import Context
from garrison.gates.checks.calibration import check_calibration
from garrison.gates.checks.fairness import check_fairness
from garrison.gates.checks.leakage import check_leakage
from garrison.gates.checks.performance import check_performance
from garrison.gates.checks.privacy import check_privacy
from garrison.gates.checks.robustness import check_robustness
from garrison.gates.results import CheckResult

__all__ = ["CHECKS", "Check"]

Check = Callable[[Context, Any], CheckResult]

#: Check name (also the policy section holding its thresholds) -> the check.
CHECKS: dict[str, Check] = {
    "performance": check_performance,
    "fairness": check_fairness,
    "robustness": check_robustness,
    "privacy": check_privacy,
    "leakage": check_leakage,
    "calibration": check_calibration,
}
