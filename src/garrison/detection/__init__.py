"""Production monitoring: reference profiles, per-request detection, drift, access.

Built-in detectors and stat tests are registered through the same
``register_detector`` / ``register_stattest`` calls a third party would use, when
their modules load; the registry (``available_detectors``, ``make_detector``) loads
the built-in detector modules before it answers. The names below are imported on
first use, so ``garrison drift compare`` (pandas, scipy) does not also pay for the
scikit-learn detectors. The ``poisoning`` subpackage is separate and not imported here.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module of this package that defines it.
_LAZY = {
    "AccessMonitor": "access",
    "AccessPolicy": "access",
    "Alert": "access",
    "AlertKind": "access",
    "AutoencoderDetector": "multivariate",
    "ConfidenceProfileDetector": "adversarial",
    "DEFAULT_DETECTORS": "monitor",
    "DetectionResult": "base",
    "Detector": "base",
    "DetectorInfo": "base",
    "DriftCheck": "drift",
    "DriftConfig": "drift",
    "DriftMonitor": "window",
    "DriftReport": "drift",
    "DriftWindow": "window",
    "FeatureDrift": "drift",
    "FeatureProfile": "profile",
    "FitContext": "base",
    "InputMonitor": "monitor",
    "IsolationForestDetector": "multivariate",
    "MODEL_DETECTORS": "monitor",
    "MagnitudeDetector": "multivariate",
    "MahalanobisDetector": "multivariate",
    "NeighbourDisagreementDetector": "adversarial",
    "PerturbationInstabilityDetector": "adversarial",
    "Policy": "base",
    "Profile": "profile",
    "QUANTILE_LEVELS": "profile",
    "RULES": "rules",
    "RowVerdict": "monitor",
    "RuleChecker": "rules",
    "Severity": "access",
    "StatResult": "stattests",
    "StatTest": "stattests",
    "Throttle": "access",
    "adjust_pvalues": "drift",
    "available_detectors": "base",
    "available_stattests": "stattests",
    "calibrate_union": "base",
    "compare": "drift",
    "detector_info": "base",
    "get_stattest": "stattests",
    "infer_type": "profile",
    "make_detector": "base",
    "register_detector": "base",
    "register_stattest": "stattests",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'garrison.detection' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"garrison.detection.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_DETECTORS",
    "MODEL_DETECTORS",
    "QUANTILE_LEVELS",
    "RULES",
    "AccessMonitor",
    "AccessPolicy",
    "Alert",
    "AlertKind",
    "AutoencoderDetector",
    "ConfidenceProfileDetector",
    "DetectionResult",
    "Detector",
    "DetectorInfo",
    "DriftCheck",
    "DriftConfig",
    "DriftMonitor",
    "DriftReport",
    "DriftWindow",
    "FeatureDrift",
    "FeatureProfile",
    "FitContext",
    "InputMonitor",
    "IsolationForestDetector",
    "MagnitudeDetector",
    "MahalanobisDetector",
    "NeighbourDisagreementDetector",
    "PerturbationInstabilityDetector",
    "Policy",
    "Profile",
    "RowVerdict",
    "RuleChecker",
    "Severity",
    "StatResult",
    "StatTest",
    "Throttle",
    "adjust_pvalues",
    "available_detectors",
    "available_stattests",
    "calibrate_union",
    "compare",
    "detector_info",
    "get_stattest",
    "infer_type",
    "make_detector",
    "register_detector",
    "register_stattest",
]
