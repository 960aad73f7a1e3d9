"""What one mirrored request records: both versions' outputs, latencies and errors.

:class:`ShadowObservation` is the row a shadow deployment stores per mirrored request;
:func:`observe_shadow` runs the shadow version and builds one (on the mirror's thread,
never on the request path). Reports over them are in :mod:`garrison.serving.shadow_report`.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from garrison.errors import GarrisonError, InvalidInput

__all__ = ["ShadowObservation", "as_dict", "observe_shadow"]

_SCALARS = (str, int, float, bool, type(None))


def as_dict(self: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, one level deep (``to_dict`` of the shadow records)."""
    return {f.name: getattr(self, f.name) for f in fields(self)}


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars become plain Python values (JSON-ready)."""
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.tolist() if hasattr(value, "tolist") else value


@dataclass(frozen=True)
class ShadowObservation:
    """One mirrored request: both versions' outputs, latencies and errors.

    ``*_labels`` hold one predicted class or value per row; ``*_scores`` one
    probability vector per row (classifiers with probabilities) or ``None``. An
    error is a short code such as ``model-timeout``, never a message that could
    echo input data. ``shadow_latency_ms`` is ``None`` when the shadow never ran.
    """

    request_id: str
    model: str
    primary_version: int
    shadow_version: int
    created: str
    rows: int
    primary_labels: list[Any] | None
    shadow_labels: list[Any] | None
    primary_scores: list[list[float]] | None
    shadow_scores: list[list[float]] | None
    primary_latency_ms: float
    shadow_latency_ms: float | None
    shadow_error: str | None
    primary_error: str | None = None

    def __post_init__(self) -> None:
        for name in ("primary_labels", "shadow_labels", "primary_scores", "shadow_scores"):
            value = _plain(getattr(self, name))
            if value is not None and not isinstance(value, list):
                raise InvalidInput(f"shadow observation {name} must be a list")
            object.__setattr__(self, name, value)
        if not self.request_id or not self.model:
            raise InvalidInput("a shadow observation needs a request id and a model")
        for name in ("rows", "primary_version", "shadow_version"):
            value = getattr(self, name)
            number = operator.index(value) if hasattr(value, "__index__") else -1
            if number < 0 or isinstance(value, bool):
                raise InvalidInput(f"shadow observation {name} must be a non-negative integer")
            object.__setattr__(self, name, number)
        for name in ("primary_latency_ms", "shadow_latency_ms"):
            value = getattr(self, name)
            if value is None and name == "shadow_latency_ms":
                continue
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InvalidInput(f"shadow observation {name} must be a finite number >= 0")
            object.__setattr__(self, name, float(value))

    @property
    def shadow_answered(self) -> bool:
        return self.shadow_error is None and self.shadow_labels is not None

    @property
    def primary_answered(self) -> bool:
        return self.primary_error is None and self.primary_labels is not None

    to_dict = as_dict

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShadowObservation:
        missing = _REQUIRED - data.keys()
        if missing:
            raise InvalidInput(f"shadow observation lacks {sorted(missing)}")
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(ShadowObservation))
_REQUIRED = _FIELDS - {"primary_error"}


def observe_shadow(
    *, request_id: str, model: str, primary_version: int, shadow_version: int, created: str,
    primary_labels: Any, primary_scores: Any, primary_latency_ms: float,
    run_shadow: Callable[[], tuple[Any, Any]], timer: Callable[[], float] = time.perf_counter,
) -> ShadowObservation:
    """Run the shadow version and record it next to the primary's answer.

    ``run_shadow`` returns the shadow's (labels, scores); NumPy arrays are fine. It is
    timed with ``timer`` (seconds). Any exception becomes an error *code*
    (``GarrisonError.code``, else ``model-error``), never a message. Call this inside
    the factory handed to :class:`ShadowMirror`, so the shadow runs off the request path.
    """
    started = timer()
    labels = scores = error = None
    try:
        labels, scores = run_shadow()
    except GarrisonError as exc:
        error = exc.code
    except Exception:  # Any other failure of the shadow model is just as recorded.
        error = "model-error"
    elapsed_ms = max(0.0, (timer() - started) * 1000.0)
    primary = _plain(primary_labels)
    return ShadowObservation(
        request_id=request_id, model=model, primary_version=primary_version,
        shadow_version=shadow_version, created=created,
        rows=0 if primary is None else len(primary), primary_labels=primary,
        shadow_labels=labels, primary_scores=primary_scores, shadow_scores=scores,
        primary_latency_ms=primary_latency_ms, shadow_latency_ms=elapsed_ms, shadow_error=error,
    )
