"""Data privacy: PII discovery, re-identification risk, anonymization, pseudonymization.

A leaf package: it imports only the standard library, numpy, pandas, pyarrow,
phonenumbers and ``garrison.errors`` / ``garrison.types`` / ``garrison.schema``.
Reversible pseudonymization takes a :class:`DeterministicCipher` from the caller,
so this package never touches ``cryptography`` itself.
"""

from __future__ import annotations

from garrison.privacy import builtin as _builtin  # noqa: F401 (registers the built-ins)
from garrison.privacy.anonymize import (
    AnonymizationPlan,
    AnonymizationResult,
    anonymize_file,
    plan_anonymization,
)
from garrison.privacy.builtin import BUILTIN_DETECTOR_IDS
from garrison.privacy.classify import ColumnFinding, TypeFinding, classify_column
from garrison.privacy.detectors import (
    DetectionContext,
    PIIDetector,
    Role,
    get_detector,
    register_detector,
    registered_detectors,
    unregister_detector,
)
from garrison.privacy.generalize import (
    CategoryHierarchy,
    DateHierarchy,
    Hierarchy,
    NumericHierarchy,
    PrefixHierarchy,
    generalize_frame,
    infer_hierarchy,
)
from garrison.privacy.minimize import MinimizationReport, minimization_report
from garrison.privacy.pseudonym import (
    HMAC_PURPOSE,
    CipherTokenizer,
    DeterministicCipher,
    HMACTokenizer,
    KeyedMAC,
    Tokenizer,
    pseudonymize_file,
    pseudonymize_frame,
)
from garrison.privacy.risk import (
    Combination,
    RiskReport,
    assess_file_risk,
    assess_risk,
    class_sizes,
    k_anonymity,
)
from garrison.privacy.scan import ScanReport, scan_file, scan_frame
from garrison.privacy.tabular import detect_format, iter_chunks, list_columns, read_columns

__all__ = [
    "BUILTIN_DETECTOR_IDS",
    "HMAC_PURPOSE",
    "AnonymizationPlan",
    "AnonymizationResult",
    "CategoryHierarchy",
    "CipherTokenizer",
    "ColumnFinding",
    "Combination",
    "DateHierarchy",
    "DetectionContext",
    "DeterministicCipher",
    "HMACTokenizer",
    "Hierarchy",
    "KeyedMAC",
    "MinimizationReport",
    "NumericHierarchy",
    "PIIDetector",
    "PrefixHierarchy",
    "RiskReport",
    "Role",
    "ScanReport",
    "Tokenizer",
    "TypeFinding",
    "anonymize_file",
    "assess_file_risk",
    "assess_risk",
    "class_sizes",
    "classify_column",
    "detect_format",
    "generalize_frame",
    "get_detector",
    "infer_hierarchy",
    "iter_chunks",
    "k_anonymity",
    "list_columns",
    "minimization_report",
    "plan_anonymization",
    "pseudonymize_file",
    "pseudonymize_frame",
    "read_columns",
    "register_detector",
    "registered_detectors",
    "scan_file",
    "scan_frame",
    "unregister_detector",
]
