"""Fairness: gaps between the groups of the declared sensitive column, and against production."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from garrison.gates._context import Context, Scored
from garrison.gates._stats import targets_of
from garrison.gates.policy import FairnessThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_fairness", "group_gaps"]

# A group's recall of a class is judged only on at least this many rows of that class.
MIN_CLASS_ROWS = 10


def _gap(values: list[float]) -> float:
    return float(max(values) - min(values)) if len(values) >= 2 else 0.0


def group_gaps(
    y: np.ndarray,
    scored: Scored,
    groups: np.ndarray,
    judged: list[object],
    classes: np.ndarray | None,
    positive: Any = None,
) -> dict[str, float]:
    """The largest between-group gaps of one model's decisions over the ``judged`` groups."""
    masks = [groups == g for g in judged]
    if classes is None:
        error = np.abs(np.asarray(scored.pred, dtype=float) - y)
        overall = float(error.mean()) or 1e-12
        return {"group_error_gap": _gap([float(error[m].mean()) for m in masks]) / overall}
    pred = scored.pred
    parity = max(_gap([float(np.mean(pred[m] == c)) for m in masks]) for c in classes)
    opportunity = 0.0
    for c in targets_of(classes, positive):
        recalls = [
            float(np.mean(pred[m & (y == c)] == c))
            for m in masks
            if np.sum(m & (y == c)) >= MIN_CLASS_ROWS
        ]
        opportunity = max(opportunity, _gap(recalls))
    return {
        "demographic_parity_difference": parity,
        "equal_opportunity_difference": opportunity,
    }


def check_fairness(ctx: Context, th: FairnessThresholds) -> CheckResult:
    column = ctx.policy.sensitive
    if column is None:
        return CheckResult(
            "fairness", True, "skipped: the policy declares no sensitive column", skipped=True
        )
    # Groups by their text (integer codes: comparing codes is far cheaper than strings);
    # a missing value is a group of its own.
    codes, names = pd.factorize(ctx.frame[column].astype(str), sort=True, use_na_sentinel=False)
    groups = np.asarray(codes)
    counts = np.bincount(groups, minlength=len(names))
    judged: list[object] = [g for g, n in enumerate(counts.tolist()) if n >= th.min_group_size]
    metrics: dict[str, MetricValue] = {
        "sensitive": column,
        "groups": int(names.size),
        "groups_judged": len(judged),
        "smallest_group_rows": int(counts.min()),
    }
    if ctx.classes is None:
        limits = {"group_error_gap": th.max_group_error_gap}
    else:
        limits = {
            "demographic_parity_difference": th.max_demographic_parity_difference,
            "equal_opportunity_difference": th.max_equal_opportunity_difference,
        }
    thresholds = {f"max_{k}": v for k, v in limits.items()}
    thresholds["max_increase_vs_production"] = th.max_increase_vs_production
    thresholds["min_group_size"] = th.min_group_size
    if len(judged) < 2:
        reason = f"skipped: fewer than two groups of {column!r} have {th.min_group_size} rows"
        return CheckResult("fairness", True, reason, metrics, thresholds, skipped=True)
    gaps = group_gaps(ctx.y, ctx.candidate, groups, judged, ctx.classes, ctx.positive)
    metrics.update(gaps)
    prod_gaps: dict[str, float] = {}
    if ctx.production is not None:
        prod_gaps = group_gaps(ctx.y, ctx.production, groups, judged, ctx.classes, ctx.positive)
        metrics.update({f"production_{k}": v for k, v in prod_gaps.items()})
    problems = []
    for key, limit in limits.items():
        label = key.replace("_", " ")
        if gaps[key] > limit:
            problems.append(f"{label} {gaps[key]:.3f} above {limit:.3f}")
        elif key in prod_gaps and gaps[key] > prod_gaps[key] + th.max_increase_vs_production:
            problems.append(
                f"{label} {gaps[key]:.3f} exceeds production's {prod_gaps[key]:.3f} "
                f"by more than {th.max_increase_vs_production:.3f}"
            )
    if problems:
        return CheckResult(
            "fairness", False, f"over {column!r}: " + "; ".join(problems), metrics, thresholds
        )
    summary = ", ".join(f"{k.replace('_', ' ')} {gaps[k]:.3f}" for k in limits)
    return CheckResult(
        "fairness", True, f"over {column!r}: {summary} within limits", metrics, thresholds
    )
