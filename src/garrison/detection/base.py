"""The detector contract: protocol, registry of named methods, results and calibration.

Every per-request detector, built-in or third-party, is registered by id with its
metadata (description, default threshold, the input types it applies to) and produces
``DetectionResult`` records that name the method and the threshold used.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from garrison.errors import InvalidInput, NotFound

__all__ = [
    "DetectionResult",
    "Detector",
    "DetectorInfo",
    "FitContext",
    "Policy",
    "available_detectors",
    "calibrate_union",
    "detector_info",
    "make_detector",
    "register_detector",
]


class Policy(enum.StrEnum):
    """What a deployment does with a flagged request; the gateway acts on it.

    ``log``: answer normally and record the verdict. ``flag``: answer and mark the
    response and the audit record. ``reject``: refuse the request. ``fallback``: answer
    from the deployment's fallback (a safe default or a simpler model).
    """

    LOG = "log"
    FLAG = "flag"
    REJECT = "reject"
    FALLBACK = "fallback"


@dataclass(slots=True)
class DetectionResult:
    """One detector's verdict on one row; ``flagged`` means ``score > threshold_used``.

    Not frozen on purpose: it is built on the per-request path, and a frozen
    dataclass costs about 2 us more per instance. Treat it as read-only.
    """

    method: str
    score: float
    flagged: bool
    threshold_used: float
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "score": _json_float(self.score),
            "flagged": self.flagged,
            "threshold_used": _json_float(self.threshold_used),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class FitContext:
    """What a detector may use when it is fitted.

    ``model`` is the deployed model (anything with ``predict_proba``) or ``None``;
    ``rng`` the only source of randomness; ``scale`` the reference standard deviation
    of each numeric column (never zero). Model-based detectors of a model with
    category inputs get those as integer code columns after the numeric ones:
    ``categories`` holds the number of codes of each (empty when all inputs are
    numeric); their ``scale`` entries are 1.
    """

    rng: np.random.Generator
    scale: np.ndarray
    model: Any = None
    categories: tuple[int, ...] = ()

    @property
    def numeric_width(self) -> int:
        """How many leading columns are numeric (the rest are category codes)."""
        return len(self.scale) - len(self.categories)


@runtime_checkable
class Detector(Protocol):
    """A multivariate detector over the numeric columns of the reference profile.

    ``fit`` sees the fitting part of the reference (a float matrix without NaN);
    ``score`` returns one score per row, higher meaning more anomalous, computed in a
    vectorized way. The threshold is set afterwards by calibration on held-out rows.
    A detector may also define ``score_one(x) -> float`` for a single 1-D row; the
    monitor uses it on the per-request path when present. It may define
    ``decide(rows, threshold) -> scores``, which the monitor's ``flags`` uses instead of
    ``score``: every row it scores above ``threshold`` carries its exact score, and it
    may stop early on rows that are clearly below (documented by the detector).
    """

    id: str

    def fit(self, reference: np.ndarray, context: FitContext) -> None: ...

    def score(self, rows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DetectorInfo:
    """Registry entry. ``default_threshold`` ``None`` means calibrated at the monitor's FPR."""

    id: str
    description: str
    factory: Callable[..., Detector]
    input_types: tuple[str, ...] = ("float", "int", "bool")
    default_threshold: float | None = None
    needs_model: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "input_types": list(self.input_types),
            "default_threshold": self.default_threshold,
            "needs_model": self.needs_model,
            "params": dict(self.params),
        }


_REGISTRY: dict[str, DetectorInfo] = {}


def register_detector(info: DetectorInfo, *, replace: bool = False) -> DetectorInfo:
    """Add a detector to the registry (built-ins use this same call)."""
    if info.id in _REGISTRY and not replace:
        raise InvalidInput(f"detector {info.id!r} is already registered")
    _REGISTRY[info.id] = info
    return info


def _builtins() -> None:
    """Load the modules that register Garrison's own detectors (once; cheap after)."""
    from garrison.detection import adversarial, multivariate  # noqa: F401 - they register


def detector_info(detector_id: str) -> DetectorInfo:
    _builtins()
    try:
        return _REGISTRY[detector_id]
    except KeyError:
        raise NotFound(f"no detector named {detector_id!r}") from None


def available_detectors() -> list[DetectorInfo]:
    _builtins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def make_detector(detector_id: str, **params: Any) -> Detector:
    info = detector_info(detector_id)
    merged = {**info.params, **params}
    return info.factory(**merged)


def calibrate_union(scores: Mapping[str, np.ndarray], fpr: float,
                    weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Thresholds such that "any detector flags" happens on a share ``fpr`` of held-out rows.

    Each held-out score is turned into its empirical CDF value ``u`` within its detector.
    A row is flagged when, for some detector ``j``, ``1 - u_j < w_j * t``: its tail
    share is below that detector's part of a common budget ``t``, found so that a share
    ``fpr`` of rows is flagged. Each detector's threshold is its own score at that
    point. With equal ``weights`` (the default) every detector gets the same part, and
    because detectors are correlated this is tighter than splitting ``fpr`` evenly; a
    detector with twice the weight may flag about twice as many rows on its own.
    """
    if not 0.0 < fpr < 1.0:
        raise InvalidInput("fpr must be in (0, 1)")
    if not scores:
        return {}
    names = list(scores)
    matrix = np.column_stack([np.asarray(scores[n], dtype=float) for n in names])
    n = matrix.shape[0]
    if n == 0:
        raise InvalidInput("calibration needs at least one held-out row")
    w = np.array([float((weights or {}).get(name, 1.0)) for name in names])
    if not np.all(w > 0):
        raise InvalidInput("detector weights must be positive")
    w = w / w.max()
    # The empirical CDF value of each score within its own column (ties share the max).
    ordered = np.sort(matrix, axis=0)
    ranks = np.empty(matrix.shape, dtype=np.int64)
    for j in range(matrix.shape[1]):
        ranks[:, j] = np.searchsorted(ordered[:, j], matrix[:, j], side="right")
    # A row's combined level, in ranks: n - (tail in rows) / weight, largest over detectors.
    combined = np.sort(np.max(n - (n - ranks) / w, axis=1))
    # The smallest level such that at most fpr * n rows exceed it.
    allowed = int(np.floor(fpr * n))
    level = float(combined[n - allowed - 1]) if allowed < n else float("-inf")
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        # Scores whose rank r keeps n - (n - r) / w <= level pass; the threshold is the
        # largest of them.
        keep = int(np.floor(n - w[j] * (n - level) + 1e-9)) if np.isfinite(level) else 0
        out[name] = float(ordered[keep - 1, j]) if keep > 0 else float(ordered[0, j]) - 1.0
    return out


def _json_float(value: float) -> float | None:
    value = float(value)
    if np.isnan(value):
        return None
    if np.isinf(value):
        return 1e308 if value > 0 else -1e308
    return value
