"""Production monitoring: reference profiles, per-request detection, drift, access.

Built-in detectors and stat tests are registered on import, through the same
``register_detector`` / ``register_stattest`` calls a third party would use.
The ``poisoning`` subpackage is separate and not imported here.
"""

from garrison.detection.access import (
    AccessMonitor,
    AccessPolicy,
    Alert,
    AlertKind,
    Severity,
    Throttle,
)
from garrison.detection.adversarial import (
    NeighbourDisagreementDetector,
    PerturbationInstabilityDetector,
)
from garrison.detection.base import (
    DetectionResult,
    Detector,
    DetectorInfo,
    FitContext,
    Policy,
    available_detectors,
    calibrate_union,
    detector_info,
    make_detector,
    register_detector,
)
from garrison.detection.drift import (
    DriftCheck,
    DriftConfig,
    DriftReport,
    FeatureDrift,
    adjust_pvalues,
    compare,
)
from garrison.detection.monitor import DEFAULT_DETECTORS, MODEL_DETECTORS, InputMonitor, RowVerdict
from garrison.detection.multivariate import (
    AutoencoderDetector,
    IsolationForestDetector,
    MagnitudeDetector,
    MahalanobisDetector,
)
from garrison.detection.profile import QUANTILE_LEVELS, FeatureProfile, Profile, infer_type
from garrison.detection.rules import RULES, RuleChecker
from garrison.detection.stattests import (
    StatResult,
    StatTest,
    available_stattests,
    get_stattest,
    register_stattest,
)
from garrison.detection.window import DriftMonitor, DriftWindow

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
