"""Training-data poisoning detection: suspicious rows, their scores and the reasons.

Importing the package registers the built-in detectors (``label-issue``,
``boundary-flip``, ``boundary-hole``, ``conflicting-duplicates``, ``outlier``,
``backdoor-trigger``) through the same ``register_detector`` a plug-in would use.
"""

from garrison.detection.poisoning._builtin import BUILTIN_DETECTORS
from garrison.detection.poisoning.check import poison_check
from garrison.detection.poisoning.compare import (
    ComparisonReport,
    LabelShift,
    compare_training_sets,
    row_hashes,
)
from garrison.detection.poisoning.confident import find_label_issues
from garrison.detection.poisoning.config import PoisonCheckConfig
from garrison.detection.poisoning.io import read_table
from garrison.detection.poisoning.registry import (
    CheckOutcome,
    PoisonDetector,
    RowFlag,
    detectors,
    get_detector,
    register_detector,
    unregister_detector,
)
from garrison.detection.poisoning.report import (
    SCHEMA_VERSION,
    CheckSummary,
    PoisonReport,
    Reason,
    RowFinding,
)

__all__ = [
    "BUILTIN_DETECTORS",
    "SCHEMA_VERSION",
    "CheckOutcome",
    "CheckSummary",
    "ComparisonReport",
    "LabelShift",
    "PoisonCheckConfig",
    "PoisonDetector",
    "PoisonReport",
    "Reason",
    "RowFinding",
    "RowFlag",
    "compare_training_sets",
    "detectors",
    "find_label_issues",
    "get_detector",
    "poison_check",
    "read_table",
    "register_detector",
    "row_hashes",
    "unregister_detector",
]
