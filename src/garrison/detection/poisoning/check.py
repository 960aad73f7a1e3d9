"""``poison_check``: run the registered detectors over one training set and merge findings."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from threadpoolctl import threadpool_limits

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning._prepare import prepare
from garrison.detection.poisoning.config import PoisonCheckConfig
from garrison.detection.poisoning.registry import detectors, get_detector
from garrison.detection.poisoning.report import (
    CheckSummary,
    PoisonReport,
    Reason,
    RowFinding,
    combine_scores,
)

__all__ = ["poison_check"]

_DEFAULT_CONFIG = PoisonCheckConfig()


# One native (BLAS / OpenMP) thread for the whole check: its native calls are many and
# small, and on a shared machine their thread start-up and spin-waiting made the check about
# four times slower than one thread (bench/data_poison.py, load average 7 on 2 cores).
@threadpool_limits.wrap(limits=1)
def poison_check(
    df: pd.DataFrame,
    target: str,
    *,
    config: PoisonCheckConfig = _DEFAULT_CONFIG,
    random_state: int = 0,
) -> PoisonReport:
    """Find suspicious training rows of ``df`` whose label column is ``target``.

    Every check named in ``config.checks`` (all registered ones by default) runs with
    its default threshold unless ``config.thresholds`` overrides it. A row is reported
    when at least one check flags it; its score is the noisy-or of the checks' scores.
    Rows a mechanism check (``confirms``) flagged come first, then the rest by score.
    Raises ``InvalidInput`` for an unusable table and ``LimitExceeded`` above
    ``config.max_rows`` rows. The result depends only on the data, the configuration and
    ``random_state``.
    """
    selected = (
        [get_detector(name) for name in config.checks]
        if config.checks is not None
        else list(detectors())
    )
    for name in config.thresholds:
        get_detector(name)
    prepared = prepare(df, target, max_rows=config.max_rows, max_categories=config.max_categories)
    ctx = CheckContext(prepared, config, random_state)
    reasons: dict[int, list[Reason]] = defaultdict(list)
    summaries = []
    warnings: list[str] = []
    for detector in selected:
        threshold = float(config.thresholds.get(detector.id, detector.default_threshold))
        outcome = detector.run(ctx, threshold)
        for flag in outcome.flags:
            score = min(1.0, max(0.0, float(flag.score)))
            reasons[flag.row].append(
                Reason(detector.id, flag.detail, score, confirmed=detector.confirms)
            )
        warnings.extend(f"{detector.id}: {text}" for text in outcome.warnings)
        summaries.append(
            CheckSummary(
                check=detector.id,
                method=outcome.method,
                threshold=threshold,
                rows_flagged=len({flag.row for flag in outcome.flags}),
                detail=dict(outcome.detail),
            )
        )
    findings = [
        RowFinding(
            row=row,
            score=combine_scores([reason.score for reason in row_reasons]),
            label=prepared.classes[int(prepared.labels[row])],
            reasons=tuple(sorted(row_reasons, key=lambda reason: -reason.score)),
        )
        for row, row_reasons in reasons.items()
    ]
    findings.sort(key=lambda finding: (not finding.confirmed, -finding.score, finding.row))
    fitted = "model_choice" in ctx.__dict__
    model = ctx.model_description if fitted else "none"
    weak = fitted and ctx.model_too_weak
    if weak:
        warnings.insert(0, ctx.weak_model_warning())
    return PoisonReport(
        target=str(target),
        rows=prepared.n_rows,
        classes=prepared.classes,
        model=model,
        findings=tuple(findings),
        checks=tuple(summaries),
        warnings=tuple(warnings),
        labels_judged=not weak,
        model_selection=ctx.model_choice.describe() if fitted else {},
    )
