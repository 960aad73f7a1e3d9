"""Classify one column from a sample of its values: PII types, role and confidence.

The values decide; the header name is only a weak prior (it lowers a detector's
threshold a little and adds a little confidence, and some detectors whose value
evidence is weak, such as age or salary, need it). Free-text columns are searched
instead of matched and report the share of cells that contain each PII type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from garrison.privacy.detectors import (
    CellEvidence,
    DetectionContext,
    PIIDetector,
    Role,
    evaluate_detector,
    registered_detectors,
)

__all__ = ["ColumnFinding", "TypeFinding", "classify_column", "header_tokens"]

HINT_BONUS = 0.1
HINT_THRESHOLD_DROP = 0.2
TEXT_SHARE_THRESHOLD = 0.02
PROBE_CELLS = 256
PROBE_FACTOR = 0.4
_ROLE_ORDER: dict[Role, int] = {
    "direct_identifier": 0,
    "sensitive": 1,
    "quasi_identifier": 2,
    "non_pii": 3,
}
_SENSITIVE_NAMES = frozenset(
    [
        "religion",
        "ethnicity",
        "ethnic",
        "race",
        "sexual",
        "orientation",
        "political",
        "politics",
        "health",
        "disability",
        "diagnosis",
        "salary",
        "income",
        "criminal",
        "conviction",
        "biometric",
        "genetic",
        "union",
        "pregnancy",
    ]
)
_QUASI_NAMES = frozenset(
    [
        "zip",
        "zipcode",
        "postcode",
        "postal",
        "age",
        "gender",
        "sex",
        "occupation",
        "job",
        "city",
        "town",
        "dob",
        "birthdate",
        "birthday",
        "nationality",
        "marital",
        "education",
    ]
)


@dataclass(frozen=True)
class TypeFinding:
    """One PII type found in a column, with the detector that found it."""

    pii_type: str
    detector: str
    role: Role
    share: float
    confidence: float
    validator: str
    evidence: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.pii_type,
            "detector": self.detector,
            "share": round(self.share, 4),
            "confidence": round(self.confidence, 3),
            "validator": self.validator,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class ColumnFinding:
    """Everything the scan says about one column."""

    name: str
    role: Role
    confidence: float
    pii_types: tuple[TypeFinding, ...] = ()
    free_text: bool = False
    text_contains: dict[str, float] = field(default_factory=dict)
    non_null: int = 0
    sampled: int = 0
    notes: tuple[str, ...] = ()

    @property
    def types(self) -> set[str]:
        return {t.pii_type for t in self.pii_types}

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "confidence": round(self.confidence, 3),
            "pii_types": [t.to_dict() for t in self.pii_types],
            "free_text": self.free_text,
            "text_contains": {k: round(s, 4) for k, s in sorted(self.text_contains.items())},
            "non_null": self.non_null,
            "sampled": self.sampled,
            "notes": list(self.notes),
        }


def header_tokens(name: str) -> list[str]:
    """Split a header into lowercase tokens (``dateOfBirth`` -> date, of, birth)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _hinted(detector: PIIDetector, tokens: Sequence[str]) -> bool:
    for hint in detector.name_hints:
        for token in tokens:
            if token == hint or (len(hint) >= 3 and token.startswith(hint)):
                return True
    return False


def _probe_share(detector: PIIDetector, probe: Sequence[str]) -> float:
    """Prefilter share on the first cells of the (randomly ordered) sample.

    If fewer than ``PROBE_FACTOR`` x threshold of 256 random cells even pass the
    cheap pattern, the full share reaching the threshold is vanishingly unlikely
    (binomial tail below 1e-6 for thresholds >= 0.3), so the full pass is skipped.
    """
    pattern = detector._prefilter_re  # Python re: compiled once, unlike a pyarrow call.
    return sum(1 for value in probe if pattern.fullmatch(value)) / max(len(probe), 1)


def _is_free_text(cells: pa.Array) -> bool:
    if len(cells) == 0:
        return False
    lengths = pc.utf8_length(cells).to_numpy(zero_copy_only=False)
    spaces = pc.count_substring(cells, " ").to_numpy(zero_copy_only=False)
    return bool(np.median(lengths) >= 30 and np.median(spaces) >= 4)


def _type_confidence(detector: PIIDetector, share: float, hinted: bool) -> float:
    value = detector.strength * (0.6 + 0.4 * min(1.0, share))
    return min(0.99, value + (HINT_BONUS if hinted else 0.0))


def classify_column(
    name: str,
    values: Sequence[str],
    ctx: DetectionContext,
    *,
    non_null: int | None = None,
    detectors: Sequence[PIIDetector] | None = None,
) -> ColumnFinding:
    """Classify one column from its sampled non-null values (already stripped).

    The values should be in random order (a reservoir sample is): the first 256
    serve as a probe that rules detectors out cheaply.
    """
    detectors = registered_detectors() if detectors is None else detectors
    tokens = header_tokens(name)
    cells = pa.array(values, type=pa.string())
    count = len(values) if non_null is None else non_null
    if _is_free_text(cells):
        return _classify_text(name, values, cells, ctx, detectors, count)
    accepted: list[tuple[CellEvidence, bool]] = []
    notes: list[str] = []
    partial = 0.0
    # Exhaustive mode (``max_validations=None``) skips the statistical shortcuts.
    shortcut = ctx.max_validations is not None and len(values) > 2 * PROBE_CELLS
    probe = list(values[:PROBE_CELLS]) if shortcut else None
    for detector in detectors:
        hinted = _hinted(detector, tokens)
        if detector.requires_hint and not hinted:
            continue
        threshold = detector.threshold - (HINT_THRESHOLD_DROP if hinted else 0.0)
        if probe is not None and _probe_share(detector, probe) < PROBE_FACTOR * threshold:
            continue
        evidence = evaluate_detector(detector, cells, values, ctx)
        if evidence.share >= threshold and evidence.veto is None:
            accepted.append((evidence, hinted))
        else:
            weight = 0.5 if evidence.veto else 1.0
            partial = max(partial, detector.strength * evidence.share * weight)
            if evidence.veto and evidence.share >= threshold:
                notes.append(f"{detector.id}: {evidence.veto}")
    found = _resolve(accepted)
    if found:
        role = min((f.role for f in found), key=_ROLE_ORDER.__getitem__)
        confidence = max(f.confidence for f in found if f.role == role)
    else:
        role, confidence = _name_only_role(tokens, partial)
    return ColumnFinding(
        name=str(name),
        role=role,
        confidence=confidence,
        pii_types=tuple(found),
        non_null=count,
        sampled=len(values),
        notes=tuple(notes),
    )


def _resolve(accepted: list[tuple[CellEvidence, bool]]) -> list[TypeFinding]:
    """Keep the best detector per group and per PII type."""
    best_in_group: dict[str, float] = {}
    for evidence, _hinted_flag in accepted:
        group = evidence.detector.group
        score = evidence.share * evidence.detector.strength
        if group is not None:
            best_in_group[group] = max(best_in_group.get(group, 0.0), score)
    by_type: dict[str, TypeFinding] = {}
    for evidence, hinted in accepted:
        det = evidence.detector
        if det.group is not None and evidence.share * det.strength < best_in_group[det.group]:
            continue
        finding = TypeFinding(
            pii_type=det.pii_type,
            detector=det.id,
            role=det.role,
            share=evidence.share,
            confidence=_type_confidence(det, evidence.share, hinted),
            validator=det.validator,
            evidence=("values", "name") if hinted else ("values",),
        )
        current = by_type.get(det.pii_type)
        if current is None or finding.confidence > current.confidence:
            by_type[det.pii_type] = finding
    return sorted(by_type.values(), key=lambda f: -f.confidence)


def _name_only_role(tokens: Sequence[str], partial: float) -> tuple[Role, float]:
    """Without value evidence, a telling header still earns a low-confidence role."""
    if any(t in _SENSITIVE_NAMES for t in tokens):
        return "sensitive", 0.35
    if any(t in _QUASI_NAMES for t in tokens):
        return "quasi_identifier", 0.35
    return "non_pii", round(max(0.5, 1.0 - partial), 3)


def _classify_text(
    name: str,
    values: Sequence[str],
    cells: pa.Array,
    ctx: DetectionContext,
    detectors: Sequence[PIIDetector],
    count: int,
) -> ColumnFinding:
    contains: dict[str, float] = {}
    roles: dict[str, Role] = {}
    for detector in detectors:
        if detector.search is None:
            continue
        evidence = evaluate_detector(detector, cells, values, ctx, free_text=True)
        if evidence.share > 0:
            contains[detector.pii_type] = max(contains.get(detector.pii_type, 0.0), evidence.share)
            roles[detector.pii_type] = detector.role
    flagged = {t: s for t, s in contains.items() if s >= TEXT_SHARE_THRESHOLD}
    if flagged:
        role = min((roles[t] for t in flagged), key=_ROLE_ORDER.__getitem__)
        confidence = min(0.95, 0.6 + max(flagged.values()))
    else:
        role, confidence = "non_pii", 0.7
    return ColumnFinding(
        name=str(name),
        role=role,
        confidence=confidence,
        free_text=True,
        text_contains=contains,
        non_null=count,
        sampled=len(values),
    )
