"""Privacy: a loss-threshold membership-inference attack, training rows against holdout rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from garrison.gates._context import Context, Scored
from garrison.gates._stats import auc
from garrison.gates.policy import PrivacyThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_privacy", "row_losses"]

_SALT = 4
_EPS = 1e-15
_Z95 = 1.645  # one-sided 95%: an AUC is judged by its lower confidence bound


def row_losses(ctx: Context, y: np.ndarray, scored: Scored) -> np.ndarray:
    """Per-row loss: log loss (or 0/1 error without probabilities); squared error for regression."""
    if ctx.classes is None:
        return (np.asarray(scored.pred, dtype=float) - y) ** 2
    if scored.proba is None:
        return (scored.pred != y).astype(float)
    index = np.searchsorted(ctx.classes, y)
    return -np.log(np.clip(scored.proba[np.arange(y.size), index], _EPS, 1.0))


def _sample(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= size:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=size, replace=False))]


def check_privacy(ctx: Context, th: PrivacyThresholds) -> CheckResult:
    thresholds = {"max_membership_auc": th.max_membership_auc}
    if ctx.training is None:
        if th.require_training:
            reason = "no training set recorded in lineage, and the policy requires one"
            return CheckResult("privacy", False, reason, {}, thresholds)
        reason = "skipped: no training set recorded in lineage"
        return CheckResult("privacy", True, reason, {}, thresholds, skipped=True)
    training = ctx.training
    if ctx.classes is not None:
        training = training[training[ctx.label].isin(ctx.classes.tolist())]
    rng = ctx.rng(_SALT)
    size = min(th.sample_rows, len(training), len(ctx.y))
    members = _sample(training.reset_index(drop=True), size, rng)
    holdout_rows = np.sort(rng.choice(len(ctx.y), size=size, replace=False))
    metrics: dict[str, MetricValue] = {"rows_per_side": int(size)}
    if size < 20:
        reason = f"skipped: only {size} training rows to compare"
        return CheckResult("privacy", True, reason, metrics, thresholds, skipped=True)
    member_y = members[ctx.label].to_numpy()
    if ctx.classes is None:
        member_y = member_y.astype(float)
    member_frame = members.drop(columns=[ctx.label])
    member_loss = row_losses(ctx, member_y, ctx.probabilities(ctx.candidate_model, member_frame))
    holdout_scored = Scored(
        ctx.candidate.pred[holdout_rows],
        None if ctx.candidate.proba is None else ctx.candidate.proba[holdout_rows],
    )
    holdout_loss = row_losses(ctx, ctx.y[holdout_rows], holdout_scored)
    is_member = np.concatenate([np.ones(size, bool), np.zeros(size, bool)])
    losses = np.concatenate([member_loss, holdout_loss])
    attack_auc = auc(is_member, -losses)
    noise = _Z95 * _auc_standard_error(attack_auc, size, size)
    metrics.update(
        {
            "membership_auc": attack_auc,
            "membership_auc_noise": noise,
            "training_loss": float(member_loss.mean()),
            "holdout_loss": float(holdout_loss.mean()),
            "attack": "loss-threshold",
            "max_advantage": _max_advantage(member_loss, holdout_loss),
        }
    )
    if attack_auc - noise > th.max_membership_auc:
        reason = (
            f"membership-inference AUC {attack_auc:.3f} above {th.max_membership_auc:.3f} "
            f"(+{noise:.3f} noise on {size} rows a side): "
            f"the model memorizes its training rows (loss {member_loss.mean():.3g} on them "
            f"vs {holdout_loss.mean():.3g} on holdout rows)"
        )
        return CheckResult("privacy", False, reason, metrics, thresholds)
    reason = f"membership-inference AUC {attack_auc:.3f} within {th.max_membership_auc:.3f}"
    return CheckResult("privacy", True, reason, metrics, thresholds)


def _auc_standard_error(a: float, positives: int, negatives: int) -> float:
    """Hanley and McNeil's (1982) standard error of an ROC AUC of ``a`` on these counts."""
    if not np.isfinite(a):
        return 0.0
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (
        a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)
    ) / (positives * negatives)
    return float(np.sqrt(max(var, 0.0)))


def _max_advantage(member: np.ndarray, holdout: np.ndarray) -> float:
    """The best TPR - FPR of a single loss threshold (Yeom et al.'s membership advantage)."""
    cuts = np.unique(np.concatenate([member, holdout]))
    member_sorted = np.sort(member)
    holdout_sorted = np.sort(holdout)
    tpr = np.searchsorted(member_sorted, cuts, side="right") / member.size
    fpr = np.searchsorted(holdout_sorted, cuts, side="right") / holdout.size
    return float(np.max(tpr - fpr)) if cuts.size else 0.0
