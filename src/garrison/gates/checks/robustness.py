"""Robustness: the score under small perturbations, and a black-box attack against production's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from garrison.gates._context import Context, Scored, feature_columns
from garrison.gates._stats import metric
from garrison.gates.checks._attack import AttackOutcome, boundary_attack
from garrison.gates.policy import RobustnessThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_robustness", "perturb"]

_SALT = 3
_MIN_ATTACK_ROWS = 10
# Holdout rows searched for each attacked row's starting point (the nearest one labelled
# differently).
_POOL_ROWS = 2000
# Holdout rows given noise (all of them when fewer): enough for the accuracy drop to be
# measured to a fraction of a point, paired with the same rows' clean predictions.
_NOISE_ROWS = 5000


def perturb(
    frame: pd.DataFrame,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    spread: dict[str, float],
    noise: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Gaussian noise of ``noise`` x spread on numeric columns; categorical values swapped
    to another observed category with probability ``noise``. Missing values stay missing."""
    n = len(frame)
    moved = [c for c in numeric if spread[c] > 0]
    shifted = np.empty((n, 0))
    if moved:
        scale = noise * np.array([spread[c] for c in moved])
        shifted = (
            frame[moved].to_numpy(dtype=float, na_value=np.nan)
            + rng.standard_normal((n, len(moved))) * scale
        )
    if moved == list(frame.columns):  # all moved: one float block, built without a copy
        return pd.DataFrame(shifted, columns=frame.columns, index=frame.index, copy=False)
    # Column arrays, not Series: no index alignment (stacked copies repeat index labels).
    columns: dict[str, Any] = {c: frame[c].array for c in frame.columns}
    columns.update({c: shifted[:, j] for j, c in enumerate(moved)})
    for column in categorical:
        values = frame[column].to_numpy(dtype=object)
        present = frame[column].notna().to_numpy()
        observed = pd.unique(values[present])
        if observed.size < 2:
            continue
        swap = (rng.random(n) < noise) & present  # a missing value stays missing
        if not swap.any():
            continue
        codes = pd.Index(observed).get_indexer(values[swap])
        shift = rng.integers(1, observed.size, size=codes.size)
        replaced = values.copy()
        replaced[swap] = observed[(codes + shift) % observed.size]
        columns[column] = pd.Series(replaced).astype(frame[column].dtype).array
    return pd.DataFrame(columns, index=frame.index)


def _noise_rows(ctx: Context) -> np.ndarray:
    rows = np.arange(ctx.y.size)
    if rows.size > _NOISE_ROWS:
        rows = np.sort(ctx.rng(_SALT + 4).choice(rows, size=_NOISE_ROWS, replace=False))
    return rows


def _stack_columns(ctx: Context) -> list[str]:
    """The columns either model reads, the candidate's first."""
    columns = feature_columns(ctx.candidate_model, ctx.frame, ctx.label)
    if ctx.production_model is not None:
        seen = set(columns)
        extra = feature_columns(ctx.production_model, ctx.frame, ctx.label)
        columns += [c for c in extra if c not in seen]
    return columns


def _matrix_stack(
    ctx: Context, rows: np.ndarray, th: RobustnessThresholds, columns: list[str]
) -> np.ndarray | None:
    """The noisy copies as one float matrix, when every column is numeric, finite and
    moved and every model has a verified twin reading exactly these columns: the same
    draws as ``perturb`` gives, without building a frame nobody reads."""
    models = [m for m in (ctx.candidate_model, ctx.production_model) if m is not None]
    twins_read_all = all(
        ctx.twin(m) is not None and list(ctx.holdout_inputs(m).columns) == columns
        for m in models
    )
    if not twins_read_all or any(ctx.spread.get(c, 0.0) <= 0 for c in columns):
        return None
    x = ctx.holdout_matrix(ctx.candidate_model)
    if not np.isfinite(x).all():
        return None
    picked = x[rows]
    scale = th.noise * np.array([ctx.spread[c] for c in columns])
    # Single-precision draws (twice as fast; ample for noise), copy k of the rows at a time.
    shifted = ctx.rng(_SALT).standard_normal((th.repeats, *picked.shape), dtype=np.float32)
    shifted *= scale.astype(np.float32)
    # In place, in single precision: the rounding (1e-7 relative) is far below the noise.
    shifted += picked[None]
    stack: np.ndarray = shifted.reshape(-1, picked.shape[1])
    return stack


def _noisy_stack(
    ctx: Context, rows: np.ndarray, th: RobustnessThresholds
) -> pd.DataFrame | np.ndarray:
    """``th.repeats`` noisy copies of the holdout ``rows`` stacked in one frame (copy k is
    rows ``k*n .. (k+1)*n``), so that each model scores all of them in one call. Only the
    columns a model reads are copied. When both models' twins answer, a float matrix of
    those columns instead (see ``_matrix_stack``)."""
    columns = _stack_columns(ctx)
    matrix = _matrix_stack(ctx, rows, th, columns)
    if matrix is not None:
        return matrix
    used = set(columns)
    frame = ctx.frame[columns].iloc[np.tile(rows, th.repeats)]
    numeric = tuple(c for c in ctx.numeric if c in used)
    categorical = tuple(c for c in ctx.categorical if c in used)
    return perturb(frame, numeric, categorical, ctx.spread, th.noise, ctx.rng(_SALT))


def _noise_effect(
    ctx: Context,
    model: Any,
    clean: Scored,
    rows: np.ndarray,
    stack: pd.DataFrame | np.ndarray,
    repeats: int,
) -> dict[str, float]:
    """Mean score drop and prediction flip rate over the noisy copies of the holdout ``rows``."""
    drops, flips = [], []
    y, clean = ctx.y[rows], Scored(clean.pred[rows], None)
    if ctx.is_classification:
        clean_score = metric("accuracy", y, clean, ctx.classes)
    else:
        clean_score = metric("rmse", y, clean, None)
    if isinstance(stack, np.ndarray):  # only built when this model's twin reads it
        twin = ctx.twin(model)
        assert twin is not None
        noisy = twin.labels(stack)
    else:
        noisy = ctx.decisions(model, stack)
    for k in range(repeats):
        scored = Scored(noisy[k * rows.size : (k + 1) * rows.size], None)
        if ctx.is_classification:
            drops.append(clean_score - metric("accuracy", y, scored, ctx.classes))
            flips.append(float(np.mean(scored.pred != clean.pred)))
        else:
            rmse = metric("rmse", y, scored, None)
            drops.append((rmse - clean_score) / max(clean_score, 1e-12))
            change = np.abs(np.asarray(scored.pred, float) - np.asarray(clean.pred, float))
            flips.append(float(np.mean(change)) / max(clean_score, 1e-12))
    return {"score_drop": float(np.mean(drops)), "flip_rate": float(np.mean(flips))}


def _attack_rows(ctx: Context, th: RobustnessThresholds) -> np.ndarray:
    correct = ctx.candidate.pred == ctx.y
    if ctx.production is not None:
        correct &= ctx.production.pred == ctx.y
    rows = np.flatnonzero(correct)
    if rows.size > th.attack_rows:
        rows = np.sort(ctx.rng(_SALT + 1).choice(rows, size=th.attack_rows, replace=False))
    return rows


def _attack(
    ctx: Context, model: Any, clean: Scored, rows: np.ndarray, th: RobustnessThresholds
) -> AttackOutcome:
    inputs = ctx.holdout_inputs(model)
    columns = list(inputs.columns)
    known = set(columns)
    dims = [c for c in ctx.numeric if ctx.spread[c] > 0 and c in known]
    pool = np.arange(len(inputs))
    if pool.size > _POOL_ROWS:
        pool = np.sort(ctx.rng(_SALT + 3).choice(pool, size=_POOL_ROWS, replace=False))
    # Every feature numeric (the holdout's are finite when a twin exists): the twin may answer.
    twin = ctx.twin(model) if set(columns) <= set(ctx.numeric) else None
    outcome = boundary_attack(
        model.predict,
        inputs.iloc[rows],
        clean.pred[rows],
        inputs.iloc[pool],
        clean.pred[pool],
        dims,
        np.array([ctx.spread[c] for c in dims]),
        budget=th.attack_budget,
        radius=th.attack_radius,
        rng=ctx.rng(_SALT + 2),
        twin=twin,
    )
    return outcome


def check_robustness(ctx: Context, th: RobustnessThresholds) -> CheckResult:
    unit = "accuracy drop" if ctx.is_classification else "relative RMSE rise"
    thresholds: dict[str, float] = {"noise": th.noise, "max_score_drop": th.max_score_drop}
    noised = _noise_rows(ctx)
    stack = _noisy_stack(ctx, noised, th)  # the same noisy rows for both models
    effect = _noise_effect(ctx, ctx.candidate_model, ctx.candidate, noised, stack, th.repeats)
    metrics: dict[str, MetricValue] = {"measure": unit, "noise_rows": int(noised.size), **effect}
    if ctx.production is not None:
        prod = _noise_effect(ctx, ctx.production_model, ctx.production, noised, stack, th.repeats)
        metrics.update({f"production_{k}": v for k, v in prod.items()})
    problems = []
    if effect["score_drop"] > th.max_score_drop:
        problems.append(
            f"{unit} {effect['score_drop']:.3f} under {th.noise:.0%}-of-spread noise "
            f"above {th.max_score_drop:.3f}"
        )
    attack_text = "attack not applicable to regression"
    dims = [c for c in ctx.numeric if ctx.spread[c] > 0]
    if ctx.is_classification and th.attack_rows > 0 and dims:
        rows = _attack_rows(ctx, th)
        thresholds.update(
            {
                "attack_radius": th.attack_radius,
                "attack_budget": th.attack_budget,
                "max_attack_success": th.max_attack_success,
                "max_attack_increase": th.max_attack_increase,
            }
        )
        metrics["attack_rows"] = int(rows.size)
        if rows.size < _MIN_ATTACK_ROWS:
            attack_text = f"attack skipped: only {rows.size} correctly classified rows"
        else:
            outcome = _attack(ctx, ctx.candidate_model, ctx.candidate, rows, th)
            rate = outcome.success_rate(th.attack_radius)
            metrics["attack_median_distance"] = outcome.median_distance
            metrics["attack_queries"] = outcome.queries
            metrics["attack_oracle"] = outcome.oracle
            metrics["attack_success"] = rate
            attack_text = f"attack success {rate:.2f}"
            if rate > th.max_attack_success:
                problems.append(f"attack success {rate:.2f} above {th.max_attack_success:.2f}")
            if ctx.production is not None:
                assert ctx.production_model is not None
                prod_outcome = _attack(ctx, ctx.production_model, ctx.production, rows, th)
                prod_rate = prod_outcome.success_rate(th.attack_radius)
                metrics["production_attack_median_distance"] = prod_outcome.median_distance
                metrics["production_attack_success"] = prod_rate
                attack_text += f" (production {prod_rate:.2f})"
                if rate > prod_rate + th.max_attack_increase:
                    problems.append(
                        f"attack success {rate:.2f} exceeds production's {prod_rate:.2f} "
                        f"by more than {th.max_attack_increase:.2f}"
                    )
    elif ctx.is_classification:
        attack_text = "attack skipped: no numeric feature to move"
    if problems:
        return CheckResult("robustness", False, "; ".join(problems), metrics, thresholds)
    reason = f"{unit} {effect['score_drop']:.3f} under noise; {attack_text}"
    return CheckResult("robustness", True, reason, metrics, thresholds)
