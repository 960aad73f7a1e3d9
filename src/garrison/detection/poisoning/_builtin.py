"""Registers Garrison's own detectors, in report order, through the public registry."""

from __future__ import annotations

from garrison.detection.poisoning.backdoor import BACKDOOR
from garrison.detection.poisoning.duplicates import DUPLICATES
from garrison.detection.poisoning.holes import BOUNDARY_HOLE
from garrison.detection.poisoning.labels import BOUNDARY_FLIP, LABEL_ISSUE
from garrison.detection.poisoning.outliers import OUTLIER
from garrison.detection.poisoning.registry import register_detector

__all__ = ["BUILTIN_DETECTORS"]

BUILTIN_DETECTORS = (LABEL_ISSUE, BOUNDARY_FLIP, BOUNDARY_HOLE, DUPLICATES, OUTLIER, BACKDOOR)

for _detector in BUILTIN_DETECTORS:
    register_detector(_detector)
