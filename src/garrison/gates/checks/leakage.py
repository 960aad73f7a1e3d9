"""Leakage: holdout rows also in the training set, and features that near-copy the label."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from garrison.gates._context import Context, feature_columns
from garrison.gates._stats import auc
from garrison.gates.policy import LeakageThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = ["check_leakage", "feature_label_strength", "natural_overlap", "row_overlap"]

_SALT = 5
_BINS = 20
_SMOOTHING = 1.0
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _row_ids(holdout: pd.DataFrame, training: pd.DataFrame, columns: list[Any]) -> np.ndarray:
    """One integer per row, holdout rows first: equal rows over ``columns``, equal integers.

    Rows are compared by their normalized bytes: numbers as float32 (so int/float storage
    and float64 noise below float32 precision, as from a CSV round trip, do not hide a
    copy), other values by their text, encoded jointly over both frames.
    """

    def numeric(dtype: Any) -> bool:
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)

    ours, theirs = holdout.dtypes, training.dtypes  # not a Series per column
    numbers = [c for c in columns if numeric(ours[c]) and numeric(theirs[c])]
    texts = [c for c in columns if c not in set(numbers)]
    parts = []
    if numbers:  # one block: a conversion per frame, not per column
        values = np.concatenate(
            [
                holdout[numbers].to_numpy(dtype=float, na_value=np.nan),
                training[numbers].to_numpy(dtype=float, na_value=np.nan),
            ]
        )
        parts.append(values.astype(np.float32).view(np.int32))
    for column in texts:
        text = pd.concat([holdout[column], training[column]], ignore_index=True).astype(str)
        parts.append(pd.factorize(text, use_na_sentinel=False)[0].astype(np.int32)[:, None])
    if not parts:
        return np.zeros(len(holdout) + len(training), dtype=np.intp)
    keys = np.ascontiguousarray(np.concatenate(parts, axis=1))
    ids = _ids_by_hash(keys)
    if ids is None:  # two different rows share a hash: compare the rows' bytes instead
        rows = keys.view(np.dtype((np.void, keys.itemsize * keys.shape[1]))).ravel()
        ids = pd.factorize(np.array(rows.tolist(), dtype=object))[0]
    return ids


def _ids_by_hash(keys: np.ndarray) -> np.ndarray | None:
    """Row ids from a 64-bit FNV-1a hash of each row's 32-bit words, or ``None`` when the
    hash merged two different rows (checked row against row: the ids are exact)."""
    words = keys.view(np.uint32).astype(np.uint64)
    digest = np.full(keys.shape[0], _FNV_OFFSET, dtype=np.uint64)
    for j in range(words.shape[1]):
        digest ^= words[:, j]
        digest *= _FNV_PRIME
    ids: np.ndarray = pd.factorize(digest)[0]
    order = np.argsort(ids, kind="stable")
    grouped, same_id = keys[order], ids[order][1:] == ids[order][:-1]
    if (same_id & (grouped[1:] != grouped[:-1]).any(axis=1)).any():
        return None
    return ids


def row_overlap(holdout: pd.DataFrame, training: pd.DataFrame, columns: list[Any]) -> np.ndarray:
    """Which holdout rows also appear in ``training`` over ``columns``."""
    return _overlap_of_ids(_row_ids(holdout, training, columns), len(holdout))


def _overlap_of_ids(ids: np.ndarray, n: int) -> np.ndarray:
    return np.isin(ids[:n], ids[n:])


def natural_overlap(holdout: pd.DataFrame, training_rows: int, columns: list[Any]) -> float:
    """The overlap expected without any copying, from how often holdout rows repeat among
    themselves: a row whose value covers a share p of the holdout would turn up among
    ``training_rows`` independent draws with probability 1 - (1 - p) ** training_rows.

    Continuous data never repeats (0: any overlap is a copy); a small categorical table
    repeats all the time (near 1). Copies of distinct training rows do not repeat within
    the holdout, so contamination does not raise this estimate.
    """
    return _natural_of_ids(_row_ids(holdout, holdout.iloc[:0], columns), training_rows)


def _natural_of_ids(ids: np.ndarray, training_rows: int) -> float:
    """``natural_overlap`` from the holdout rows' identities (equal rows, equal ids)."""
    n = ids.size
    if n < 2:
        return 0.0
    counts = np.bincount(ids)
    share = (counts[ids] - 1) / (n - 1)
    return float(np.mean(1.0 - (1.0 - share) ** training_rows))


def _out_of_fold_encoding(codes: np.ndarray, target: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row's category mean of ``target`` (rows x k), learnt on the other fold only."""
    out = np.empty_like(target, dtype=float)
    prior = target.mean(axis=0)
    size = int(codes.max()) + 1 if codes.size else 1
    for fold in (0, 1):
        learn, apply = folds != fold, folds == fold
        counts = np.bincount(codes[learn], minlength=size).astype(float)[:, None]
        sums = np.stack(
            [
                np.bincount(codes[learn], weights=target[learn, j], minlength=size)
                for j in range(target.shape[1])
            ],
            axis=1,
        )
        table = (sums + _SMOOTHING * prior) / (counts + _SMOOTHING)
        out[apply] = table[codes[apply]]
    return out


def feature_label_strength(
    values: pd.Series, y: np.ndarray, classes: np.ndarray | None, folds: np.ndarray
) -> float:
    """How well one feature alone predicts the label: ROC AUC (classification, oriented so
    0.5 is useless and 1 a perfect copy) or absolute Spearman correlation (regression)."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    raw = values.to_numpy(dtype=float, na_value=np.nan) if numeric else None
    binary = classes is not None and classes.size == 2
    if raw is not None and np.isfinite(raw).all() and (classes is None or binary):
        if classes is None:
            rho = stats.spearmanr(raw, y).statistic
            return float(abs(rho)) if np.isfinite(rho) else 0.0
        a = auc(y == classes[1], raw)
        return max(a, 1 - a)
    if raw is not None:
        finite = np.where(
            np.isfinite(raw), raw, np.nanmedian(raw) if np.isfinite(raw).any() else 0.0
        )
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, _BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, finite)
    else:
        codes = pd.factorize(values.astype(str))[0]
    if classes is None:
        encoded = _out_of_fold_encoding(codes, y[:, None], folds)[:, 0]
        rho = stats.spearmanr(encoded, y).statistic
        return float(abs(rho)) if np.isfinite(rho) else 0.0
    onehot = (y[:, None] == classes[None, :]).astype(float)
    encoded = _out_of_fold_encoding(codes, onehot, folds)
    scores = [
        auc(onehot[:, j] > 0, encoded[:, j]) for j in range(classes.size) if onehot[:, j].any()
    ]
    scores = [max(s, 1 - s) for s in scores if np.isfinite(s)]
    if binary:
        return scores[-1] if scores else 0.5
    return float(np.mean(scores)) if scores else 0.5


def check_leakage(ctx: Context, th: LeakageThresholds) -> CheckResult:
    thresholds = {
        "max_overlap_fraction": th.max_overlap_fraction,
        "max_feature_auc": th.max_feature_auc,
    }
    metrics: dict[str, MetricValue] = {}
    problems: list[str] = []
    notes: list[str] = []
    columns = feature_columns(ctx.candidate_model, ctx.frame, ctx.label)
    folds = ctx.rng(_SALT).integers(0, 2, size=ctx.y.size)
    strengths = {
        c: feature_label_strength(ctx.frame[c], ctx.y, ctx.classes, folds) for c in columns
    }
    if strengths:
        worst = max(strengths, key=lambda c: strengths[c])
        metrics.update({"strongest_feature": worst, "strongest_feature_auc": strengths[worst]})
        leaked = sorted(c for c, s in strengths.items() if s > th.max_feature_auc)
        if leaked:
            shown = ", ".join(repr(c) for c in leaked[:3]) + (" ..." if len(leaked) > 3 else "")
            problems.append(
                f"feature {shown} alone predicts the label (strength {strengths[worst]:.3f} "
                f"above {th.max_feature_auc:.3f}): a near-copy of the label"
            )
            metrics["leaked_features"] = len(leaked)
    if ctx.training is None:
        if th.require_training:
            problems.append("no training set recorded in lineage, and the policy requires one")
        else:
            notes.append("overlap not checked (no training set in lineage)")
    else:
        shared = [c for c in ctx.frame.columns if c in ctx.training.columns] + [ctx.label]
        holdout = ctx.frame.assign(**{ctx.label: ctx.y})
        ids = _row_ids(holdout, ctx.training, shared)  # once for both measures
        repeated = _overlap_of_ids(ids, len(holdout))
        overlap = float(repeated.mean())
        natural = _natural_of_ids(ids[: len(holdout)], len(ctx.training))
        metrics.update(
            {
                "overlap_fraction": overlap,
                "overlap_rows": int(repeated.sum()),
                "expected_natural_overlap": natural,
            }
        )
        if overlap - natural > th.max_overlap_fraction:
            expected = f", {natural:.1%} expected from repeated values" if natural >= 0.001 else ""
            problems.append(
                f"{overlap:.1%} of holdout rows also appear in the training set{expected} "
                f"(excess above {th.max_overlap_fraction:.1%}): the holdout is contaminated"
            )
        else:
            notes.append(f"{overlap:.1%} of holdout rows in training ({natural:.1%} expected)")
    if problems:
        return CheckResult("leakage", False, "; ".join(problems), metrics, thresholds)
    strongest = (
        f"strongest single feature {metrics['strongest_feature_auc']:.3f}"
        if strengths
        else "no features"
    )
    return CheckResult("leakage", True, "; ".join([strongest, *notes]), metrics, thresholds)
