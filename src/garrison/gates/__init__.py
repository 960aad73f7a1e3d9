"""Release gates: the checks a model version must pass before approval and promotion.

Pure evaluation, no I/O: ``evaluate`` takes already-loaded models and data frames and
returns a ``GateResult``; the workflow around it (storage, signing, the sandbox,
enforcement) lives elsewhere.
"""

from __future__ import annotations

from garrison.gates.policy import (
    CalibrationThresholds,
    FairnessThresholds,
    GatePolicy,
    LeakageThresholds,
    PerformanceThresholds,
    PrivacyThresholds,
    RobustnessThresholds,
)
from garrison.gates.results import CheckResult, GateResult

__all__ = [
    "CalibrationThresholds",
    "CheckResult",
    "FairnessThresholds",
    "GatePolicy",
    "GateResult",
    "LeakageThresholds",
    "PerformanceThresholds",
    "PrivacyThresholds",
    "RobustnessThresholds",
]
