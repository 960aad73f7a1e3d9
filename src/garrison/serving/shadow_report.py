"""Shadow reports: agreement, prediction differences, latency percentiles, the gate.

:class:`ShadowReport` summarizes :class:`~garrison.serving.shadow_observation.ShadowObservation`
records; :func:`ensure_shadow_gate` raises :class:`~garrison.errors.ApprovalRequired`
unless a minimum agreement was measured over a minimum number of mirrored requests.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from garrison.errors import ApprovalRequired, InvalidInput
from garrison.serving.shadow_observation import ShadowObservation
from garrison.serving.shadow_observation import as_dict as _as_dict

__all__ = [
    "MAX_EXAMPLES", "LatencySummary", "PredictionDifference", "ShadowReport", "ensure_shadow_gate",
]

#: How many prediction differences a report lists.
MAX_EXAMPLES = 10


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _agree(primary: Any, shadow: Any, tolerance: float) -> bool:
    """Labels agree when equal; floats when ``|diff| <= tolerance * max(1, |primary|)``."""
    if isinstance(primary, list) or isinstance(shadow, list):
        return (isinstance(primary, list) and isinstance(shadow, list)
                and len(primary) == len(shadow)
                and all(_agree(p, s, tolerance) for p, s in zip(primary, shadow, strict=True)))
    if _is_number(primary) and _is_number(shadow):
        if isinstance(primary, int) and isinstance(shadow, int):
            return primary == shadow
        return bool(abs(primary - shadow) <= tolerance * max(1.0, abs(primary)))
    return bool(primary == shadow)


def _floats(value: Any) -> bool:
    if isinstance(value, list):
        return all(_floats(v) for v in value)
    return isinstance(value, float)


def _max_abs_diff(primary: Any, shadow: Any) -> float | None:
    """Largest absolute difference between two numbers or equal-length vectors."""
    a = primary if isinstance(primary, list) else [primary]
    b = shadow if isinstance(shadow, list) else [shadow]
    if len(a) != len(b) or not a:
        return None
    try:
        return float(max(abs(x - y) for x, y in zip(a, b, strict=True)))
    except TypeError:  # Strings, None or nested lists: no numeric difference.
        return None


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles in milliseconds (NumPy's default linear interpolation)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencySummary:
        if not values:
            return cls(0, None, None, None, None, None)
        arr = np.asarray(values, dtype=float)
        p50, p95, p99 = (float(v) for v in np.percentile(arr, [50, 95, 99]))
        return cls(len(values), p50, p95, p99, float(arr.mean()), float(arr.max()))

    to_dict = _as_dict


@dataclass(frozen=True)
class PredictionDifference:
    """The first disagreeing row of one mirrored request."""

    request_id: str
    row: int
    primary: Any
    shadow: Any
    shadow_error: str | None

    to_dict = _as_dict


@dataclass
class _Comparison:
    rows: int = 0
    rows_ok: int = 0
    score_diffs: list[float] = field(default_factory=list)
    value_diffs: list[float] = field(default_factory=list)
    difference: PredictionDifference | None = None


def _compare(o: ShadowObservation, tolerance: float) -> _Comparison:
    """Row-by-row comparison of one request the primary answered."""
    primary = o.primary_labels or []
    shadow = o.shadow_labels if o.shadow_answered else None
    c = _Comparison(rows=len(primary))
    first_bad: int | None = None
    for i, label in enumerate(primary):
        if shadow is None or i >= len(shadow):
            first_bad = i if first_bad is None else first_bad
            continue
        if _agree(label, shadow[i], tolerance):
            c.rows_ok += 1
        elif first_bad is None:
            first_bad = i
        if _floats(label) and (diff := _max_abs_diff(label, shadow[i])) is not None:
            c.value_diffs.append(diff)
        p_scores, s_scores = o.primary_scores, o.shadow_scores
        if p_scores is not None and s_scores is not None and i < min(len(p_scores), len(s_scores)):
            score = _max_abs_diff(p_scores[i], s_scores[i])
            c.score_diffs += [] if score is None else [score]
    if first_bad is None and (shadow is None or len(shadow) != len(primary)):
        first_bad = min(len(primary), len(shadow or []))
    if first_bad is not None:
        c.difference = PredictionDifference(
            o.request_id, first_bad, primary[first_bad] if first_bad < len(primary) else None,
            shadow[first_bad] if shadow is not None and first_bad < len(shadow) else None,
            o.shadow_error)
    return c


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class ShadowReport:
    """How a shadow version compares with production on the same requests.

    Only requests the primary answered are *compared*. A row agrees when the shadow
    answered and its label agrees with the primary's (see :func:`_agree`); a shadow
    error therefore counts as disagreement on every row of its request.
    ``agreement`` is per row, ``request_agreement`` per request (all rows agree).
    ``mean_abs_diff`` / ``max_abs_diff`` are over rows: the largest absolute
    difference of the probability vectors (``diff_basis`` "scores") or, for
    numeric predictions without scores, of the values ("values").
    """

    model: str | None
    shadow_versions: tuple[int, ...]
    primary_versions: tuple[int, ...]
    first: str | None
    last: str | None
    requests: int
    compared_requests: int
    agreeing_requests: int
    rows_compared: int
    rows_agreeing: int
    agreement: float | None
    request_agreement: float | None
    tolerance: float
    kind: str | None
    diff_basis: str | None
    mean_abs_diff: float | None
    max_abs_diff: float | None
    differences: tuple[PredictionDifference, ...]
    primary_latency: LatencySummary
    shadow_latency: LatencySummary
    shadow_errors: int
    shadow_error_rate: float | None
    shadow_error_kinds: dict[str, int]
    primary_errors: int
    primary_error_rate: float | None

    @classmethod
    def from_observations(
        cls, observations: Sequence[ShadowObservation], *, tolerance: float = 1e-6,
        model: str | None = None,
    ) -> ShadowReport:
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise InvalidInput("the agreement tolerance must be a finite number >= 0")
        models = {o.model for o in observations} | ({model} if model else set())
        if len(models) > 1:
            raise InvalidInput("a shadow report covers one model", models=sorted(models))
        compared = agreeing = rows = rows_ok = 0
        score_diffs: list[float] = []
        value_diffs: list[float] = []
        has_scores = has_categories = False
        examples: list[PredictionDifference] = []
        for o in observations:
            if not o.primary_answered:
                continue
            c = _compare(o, tolerance)
            compared += 1
            rows += c.rows
            rows_ok += c.rows_ok
            score_diffs += c.score_diffs
            value_diffs += c.value_diffs
            has_scores = has_scores or o.primary_scores is not None
            has_categories = has_categories or not all(_floats(v) for v in o.primary_labels or [])
            if c.difference is None:
                agreeing += 1
            elif len(examples) < MAX_EXAMPLES:
                examples.append(c.difference)
        kind = None if not rows else ("classifier" if has_scores or has_categories
                                      else "regressor")
        basis, diffs = (("scores", score_diffs) if score_diffs else
                        ("values", value_diffs) if kind == "regressor" and value_diffs else
                        (None, []))
        n = len(observations)
        shadow_errors = Counter(o.shadow_error for o in observations if o.shadow_error is not None)
        primary_errors = sum(1 for o in observations if o.primary_error is not None)
        created = sorted(o.created for o in observations)
        return cls(
            model=model or (next(iter(models)) if models else None),
            shadow_versions=tuple(sorted({o.shadow_version for o in observations})),
            primary_versions=tuple(sorted({o.primary_version for o in observations})),
            first=created[0] if created else None, last=created[-1] if created else None,
            requests=n, compared_requests=compared, agreeing_requests=agreeing,
            rows_compared=rows, rows_agreeing=rows_ok,
            agreement=_rate(rows_ok, rows), request_agreement=_rate(agreeing, compared),
            tolerance=tolerance, kind=kind, diff_basis=basis,
            mean_abs_diff=float(np.mean(diffs)) if diffs else None,
            max_abs_diff=float(np.max(diffs)) if diffs else None,
            differences=tuple(examples),
            primary_latency=LatencySummary.of([o.primary_latency_ms for o in observations]),
            shadow_latency=LatencySummary.of([o.shadow_latency_ms for o in observations
                                              if o.shadow_latency_ms is not None]),
            shadow_errors=sum(shadow_errors.values()),
            shadow_error_rate=_rate(sum(shadow_errors.values()), n),
            shadow_error_kinds=dict(sorted(shadow_errors.items())),
            primary_errors=primary_errors, primary_error_rate=_rate(primary_errors, n),
        )

    def to_dict(self) -> dict[str, Any]:
        out = _as_dict(self)
        out["shadow_versions"] = list(self.shadow_versions)
        out["primary_versions"] = list(self.primary_versions)
        out["differences"] = [d.to_dict() for d in self.differences]
        out["latency_ms"] = {"primary": out.pop("primary_latency").to_dict(),
                             "shadow": out.pop("shadow_latency").to_dict()}
        return out


def ensure_shadow_gate(
    report: ShadowReport, *, min_agreement: float, min_requests: int, version: int | None = None,
) -> None:
    """Raise :class:`ApprovalRequired` unless the shadow evidence supports promotion.

    Needs at least ``min_requests`` compared requests and a row ``agreement`` of at
    least ``min_agreement``; with ``version``, the report must cover exactly it.
    """
    if not 0.0 <= min_agreement <= 1.0 or min_requests < 0:
        raise InvalidInput("min_agreement must be in [0, 1] and min_requests >= 0")
    name = report.model or "the model"
    if version is not None and report.shadow_versions not in ((), (version,)):
        raise ApprovalRequired(
            f"the shadow report does not cover {name} version {version} alone",
            versions=list(report.shadow_versions))
    if report.compared_requests < min_requests:
        raise ApprovalRequired(
            f"only {report.compared_requests} mirrored requests were compared for {name}; "
            f"promotion needs at least {min_requests}",
            compared=report.compared_requests, required=min_requests)
    agreement = report.agreement if report.agreement is not None else 0.0
    if min_agreement > 0 and agreement < min_agreement:
        raise ApprovalRequired(
            f"shadow agreement for {name} is {agreement:.2%}; promotion needs at least "
            f"{min_agreement:.2%}", agreement=agreement, required=min_agreement)
