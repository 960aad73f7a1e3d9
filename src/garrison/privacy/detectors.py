"""PII detectors: a registry of named pattern + validator pairs, and the cell engine.

Every detector, Garrison's own included, is registered with :func:`register_detector`
and carries its metadata (id, PII type, role, validator, threshold). Detection on a
column is two-stage: a precompiled regular expression runs vectorised over the
whole sample (pyarrow compute, RE2), and the exact validator runs only on the
candidates, on at most ``max_validations`` of them drawn at random; the share of
valid cells is then extrapolated. A column-level check may veto the type when the
distribution of the values contradicts it (event dates are not birth dates,
version strings are not IP addresses).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from garrison.errors import AlreadyExists, InvalidInput, NotFound

__all__ = [
    "ROLES",
    "CellEvidence",
    "ColumnCheck",
    "DetectionContext",
    "PIIDetector",
    "Role",
    "evaluate_detector",
    "get_detector",
    "register_detector",
    "registered_detectors",
    "unregister_detector",
]

Role = Literal["direct_identifier", "quasi_identifier", "sensitive", "non_pii"]
ROLES: tuple[Role, ...] = ("direct_identifier", "quasi_identifier", "sensitive", "non_pii")
_ID = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


@dataclass(frozen=True)
class DetectionContext:
    """What a column check may look at besides the values: today's date and the RNG."""

    today: _dt.date
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    max_validations: int | None = 2000


ColumnCheck = Callable[[Sequence[str], DetectionContext], str | None]


@dataclass(frozen=True)
class PIIDetector:
    """One named detector.

    ``prefilter`` is matched against the whole (trimmed) cell; ``search`` (optional)
    finds candidates inside free text. Both must be valid in RE2 and Python ``re``.
    ``validate`` is the exact per-value check (``search_validate`` replaces it inside
    free text, where no column-level evidence is available). ``column_check`` receives the valid
    values and returns a veto reason or ``None``. ``threshold`` is the minimum share
    of non-null cells that must be valid. ``strength`` (0-1) says how specific the
    value evidence is and scales the confidence. ``name_hints`` are header tokens
    that act as a weak prior; with ``requires_hint`` the values alone never suffice
    (an integer 0-120 is not an age unless something says so).
    """

    id: str
    pii_type: str
    role: Role
    description: str
    validator: str
    prefilter: str
    validate: Callable[[str], bool]
    search: str | None = None
    search_validate: Callable[[str], bool] | None = None
    column_check: ColumnCheck | None = None
    threshold: float = 0.5
    strength: float = 1.0
    name_hints: tuple[str, ...] = ()
    requires_hint: bool = False
    group: str | None = None
    _prefilter_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _search_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise InvalidInput(f"detector id {self.id!r} must be lower_snake_case")
        if self.role not in ROLES:
            raise InvalidInput(f"detector {self.id}: unknown role {self.role!r}")
        if not 0.0 < self.threshold <= 1.0 or not 0.0 < self.strength <= 1.0:
            raise InvalidInput(f"detector {self.id}: threshold and strength must be in (0, 1]")
        object.__setattr__(self, "_prefilter_re", re.compile(self.prefilter))
        object.__setattr__(self, "_search_re", re.compile(self.search) if self.search else None)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "pii_type": self.pii_type,
            "role": self.role,
            "description": self.description,
            "validator": self.validator,
            "threshold": self.threshold,
            "requires_hint": self.requires_hint,
        }


_REGISTRY: dict[str, PIIDetector] = {}


def register_detector(detector: PIIDetector, *, replace: bool = False) -> PIIDetector:
    """Add a detector to the registry (Garrison's built-ins use this too)."""
    if detector.id in _REGISTRY and not replace:
        raise AlreadyExists(f"a PII detector with id {detector.id!r} is already registered")
    _REGISTRY[detector.id] = detector
    return detector


def unregister_detector(detector_id: str) -> None:
    """Remove a detector (mainly for tests of third-party registration)."""
    if _REGISTRY.pop(detector_id, None) is None:
        raise NotFound(f"no PII detector with id {detector_id!r}")


def get_detector(detector_id: str) -> PIIDetector:
    try:
        return _REGISTRY[detector_id]
    except KeyError:
        raise NotFound(f"no PII detector with id {detector_id!r}") from None


def registered_detectors() -> tuple[PIIDetector, ...]:
    """All registered detectors in registration order."""
    return tuple(_REGISTRY.values())


@dataclass(frozen=True)
class CellEvidence:
    """What one detector found in one column sample."""

    detector: PIIDetector
    cells: int
    candidates: int
    checked: int
    valid: int
    share: float
    veto: str | None = None


FREE_TEXT_VALIDATIONS = 500
EARLY_STOP_BATCH = 250


def _subsample(indices: np.ndarray, ctx: DetectionContext, free_text: bool) -> np.ndarray:
    limit = ctx.max_validations
    if free_text and limit is not None:
        limit = min(limit, FREE_TEXT_VALIDATIONS)
    if limit is None or len(indices) <= limit:
        return ctx.rng.permutation(indices)
    return ctx.rng.choice(indices, size=limit, replace=False)


def evaluate_detector(
    detector: PIIDetector,
    cells: pa.Array,
    values: Sequence[str],
    ctx: DetectionContext,
    *,
    free_text: bool = False,
) -> CellEvidence:
    """Run one detector over the non-null, trimmed cells of a column sample.

    ``cells`` and ``values`` hold the same strings (arrow for the vectorised
    prefilter, a Python list for the validator).
    """
    n = len(values)
    pattern = detector.search if free_text else detector.prefilter
    if n == 0 or pattern is None:
        return CellEvidence(detector, n, 0, 0, 0, 0.0)
    mask = pc.match_substring_regex(cells, pattern if free_text else f"^(?:{pattern})$")
    candidates = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if len(candidates) == 0:
        return CellEvidence(detector, n, 0, 0, 0, 0.0)
    chosen = _subsample(candidates, ctx, free_text)
    valid_values: list[str] = []
    checked = 0
    prefilter_share = len(candidates) / n
    for start in range(0, len(chosen), EARLY_STOP_BATCH):
        batch = chosen[start : start + EARLY_STOP_BATCH]
        valid_values += _validate(detector, values, batch, free_text)
        checked += len(batch)
        estimate = prefilter_share * len(valid_values) / checked
        # Stop once the decision is clear; the estimate from >= 250 cells is within a few %.
        # With ``max_validations=None`` every candidate is validated.
        clear = estimate < 0.5 * detector.threshold or estimate >= min(
            1.0, detector.threshold + 0.3
        )
        if clear and ctx.max_validations is not None:
            break
    share = prefilter_share * (len(valid_values) / checked)
    veto = None
    if valid_values and detector.column_check is not None and not free_text:
        veto = detector.column_check(valid_values, ctx)
    # The valid values themselves never leave this function: reports must not carry PII.
    return CellEvidence(detector, n, len(candidates), checked, len(valid_values), share, veto)


def _validate(
    detector: PIIDetector, values: Sequence[str], batch: np.ndarray, free_text: bool
) -> list[str]:
    if not free_text:
        return [values[i] for i in batch if detector.validate(values[i])]
    finder = detector._search_re
    check = detector.search_validate or detector.validate
    assert finder is not None
    found: list[str] = []
    for i in batch:
        for match in finder.finditer(values[i]):
            if check(match.group(0)):
                found.append(match.group(0))
                break
    return found
