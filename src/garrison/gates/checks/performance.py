"""Performance: the primary metric against a floor, and against production on the same rows."""

from __future__ import annotations

from garrison.gates._context import Context
from garrison.gates._stats import baseline_score, metric, paired_test
from garrison.gates.policy import PerformanceThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_performance"]

_SALT = 1


def check_performance(ctx: Context, th: PerformanceThresholds) -> CheckResult:
    name = ctx.policy.primary_metric
    higher = ctx.policy.higher_is_better
    score = metric(name, ctx.y, ctx.candidate, ctx.classes)
    metrics: dict[str, MetricValue] = {"metric": name, name: score, "rows": int(ctx.y.size)}
    thresholds: dict[str, float] = {"confidence": th.confidence, "tolerance": th.tolerance}

    def better(a: float, b: float) -> bool:
        return a > b if higher else a < b

    if th.floor is not None:
        thresholds["floor"] = th.floor
        floor_ok = score >= th.floor if higher else score <= th.floor
        floor_text = f"{'floor' if higher else 'ceiling'} {th.floor:.4g}"
    else:
        baseline = baseline_score(name, ctx.y, ctx.classes)
        metrics["baseline"] = baseline
        floor_ok = better(score, baseline)
        floor_text = f"trivial baseline {baseline:.4g}"
    if score != score:  # NaN: the metric is undefined on these rows
        return CheckResult(
            "performance", False, f"{name} is undefined on the holdout rows", metrics, thresholds
        )
    if not floor_ok:
        verb = "does not beat" if th.floor is None else "misses the"
        reason = f"{name} {score:.4g} {verb} {floor_text}"
        return CheckResult("performance", False, reason, metrics, thresholds)
    if ctx.production is None:
        reason = f"{name} {score:.4g} meets the {floor_text}; no production version to compare with"
        return CheckResult("performance", True, reason, metrics, thresholds)

    prod_score = metric(name, ctx.y, ctx.production, ctx.classes)
    test = paired_test(
        name,
        ctx.y,
        ctx.candidate,
        ctx.production,
        ctx.classes,
        confidence=th.confidence,
        rounds=th.bootstrap_rounds,
        rng=ctx.rng(_SALT),
    )
    drop = (prod_score - score) if higher else (score - prod_score)
    allowed = th.tolerance * max(abs(prod_score), 1e-12)
    significant = test.p_worse < 1 - th.confidence
    metrics.update(
        {
            "production": prod_score,
            "drop": drop,
            "allowed_drop": allowed,
            "test": test.method,
            "p_value_worse": test.p_worse,
            "difference_upper_bound": test.upper,
        }
    )
    if significant and drop > allowed:
        reason = (
            f"{name} {score:.4g} is significantly worse than production's {prod_score:.4g} "
            f"({test.method}, p={test.p_worse:.2g} at {th.confidence:.0%} confidence)"
        )
        return CheckResult("performance", False, reason, metrics, thresholds)
    if drop > 0:
        why = "not significant" if not significant else f"within the {th.tolerance:.1%} tolerance"
        reason = f"{name} {score:.4g} vs production {prod_score:.4g}: the drop is {why}"
    else:
        reason = f"{name} {score:.4g} is at least production's {prod_score:.4g}"
    return CheckResult("performance", True, reason, metrics, thresholds)
