"""The registry of named poisoning detectors.

Garrison's own checks register here exactly as a third party's would: an id, a
description, a default threshold, the kinds of data they apply to, and a ``run``
callable ``(context, threshold) -> CheckOutcome``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from garrison.errors import AlreadyExists, InvalidInput

if TYPE_CHECKING:
    from garrison.detection.poisoning._context import CheckContext

__all__ = [
    "CheckOutcome",
    "PoisonDetector",
    "RowFlag",
    "detectors",
    "get_detector",
    "register_detector",
    "unregister_detector",
]


@dataclass(frozen=True)
class RowFlag:
    """One row flagged by one check, with a score in [0, 1] and a human-readable detail."""

    row: int
    score: float
    detail: str


@dataclass(frozen=True)
class CheckOutcome:
    """What a detector returns: the method it used, the rows it flagged and extra facts.

    ``warnings`` are sentences the report shows prominently (for example, that the
    check could not judge this data and flagged nothing).
    """

    method: str
    flags: tuple[RowFlag, ...]
    detail: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoisonDetector:
    """A named check with its metadata (STYLE habit 14).

    ``confirms`` says the check finds a *mechanism* (a planted trigger, a copied row with
    another label) rather than a statistical suspicion: its rows are reported as
    confirmed and ranked above every unconfirmed row, so they are not lost among them.
    """

    id: str
    description: str
    default_threshold: float
    applies_to: tuple[str, ...]
    run: Callable[[CheckContext, float], CheckOutcome]
    confirms: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "default_threshold": self.default_threshold,
            "applies_to": list(self.applies_to),
            "confirms": self.confirms,
        }


_REGISTRY: dict[str, PoisonDetector] = {}


def register_detector(detector: PoisonDetector, *, replace: bool = False) -> PoisonDetector:
    """Add ``detector``; refuse a second one with the same id unless ``replace``."""
    if not detector.id or detector.id != detector.id.strip().lower() or " " in detector.id:
        raise InvalidInput("detector ids are non-empty lower-case kebab-case names")
    if not 0.0 <= detector.default_threshold <= 1.0:
        raise InvalidInput("a detector's default threshold must be in [0, 1]")
    if detector.id in _REGISTRY and not replace:
        raise AlreadyExists(f"a poisoning detector named {detector.id!r} is registered")
    _REGISTRY[detector.id] = detector
    return detector


def unregister_detector(detector_id: str) -> None:
    """Remove a detector (for plug-ins and tests); unknown ids raise ``InvalidInput``."""
    get_detector(detector_id)
    del _REGISTRY[detector_id]


def get_detector(detector_id: str) -> PoisonDetector:
    try:
        return _REGISTRY[detector_id]
    except KeyError:
        raise InvalidInput(
            f"unknown poisoning check {detector_id!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def detectors() -> tuple[PoisonDetector, ...]:
    """Every registered detector, in registration order."""
    return tuple(_REGISTRY.values())
