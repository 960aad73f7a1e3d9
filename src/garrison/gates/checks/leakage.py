"""Leakage: holdout rows also in the training set, and features that near-copy the label."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from garrison.gates._context import Context
from garrison.gates._stats import auc, auc_columns
from garrison.gates.policy import LeakageThresholds
from garrison.gates.results import CheckResult, MetricValue

__all__ = [
    "check_leakage",
    "feature_label_strength",
    "feature_label_strengths",
    "natural_overlap",
    "row_overlap",
]

_SALT = 5
_BINS = 20
_SMOOTHING = 1.0
# The single-feature screen: above this many rows, every numeric column is first ranked on
# a seeded stratified sample of _SCREEN_ROWS rows, and only the columns the sample cannot
# clear are ranked on every row (see _screened_strengths).
_SCREEN_ROWS = 2000
_SCREEN_MISS = 1e-6  # chance, per column, that the sample clears a column it should not
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
    if not columns:
        return np.zeros(len(holdout) + len(training), dtype=np.intp)
    # One int32 matrix, filled in place: numbers as float32 bits, then one code per text.
    n, m = len(holdout), len(numbers)
    keys = np.empty((n + len(training), len(columns)), dtype=np.int32)
    if numbers:  # one block: a conversion per frame, not per column
        bits = keys[:, :m].view(np.float32)
        for part, frame in ((slice(0, n), holdout), (slice(n, None), training)):
            block = frame[numbers].to_numpy(dtype=float, na_value=np.nan)
            np.copyto(bits[part], block, casting="same_kind")
    for j, column in enumerate(texts, start=m):
        text = pd.concat([holdout[column], training[column]], ignore_index=True).astype(str)
        keys[:, j] = pd.factorize(text, use_na_sentinel=False)[0]
    ids = _ids_by_hash(keys)
    if ids is None:  # two different rows share a hash: compare the rows' bytes instead
        rows = keys.view(np.dtype((np.void, keys.itemsize * keys.shape[1]))).ravel()
        ids = pd.factorize(np.array(rows.tolist(), dtype=object))[0]
    return ids


def _ids_by_hash(keys: np.ndarray) -> np.ndarray | None:
    """Row ids from a 64-bit FNV-1a hash of each row's 32-bit words, or ``None`` when the
    hash merged two different rows (checked row against row: the ids are exact)."""
    digest = np.full(keys.shape[0], _FNV_OFFSET, dtype=np.uint64)
    for word in np.ascontiguousarray(keys.view(np.uint32).T):  # one column at a time
        digest ^= word
        digest *= _FNV_PRIME
    ids: np.ndarray = pd.factorize(digest)[0]
    # Only rows sharing a hash can have been merged: compare those (usually few) rows.
    shared = np.flatnonzero(np.bincount(ids)[ids] > 1)
    order = shared[np.argsort(ids[shared], kind="stable")]
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


def _plain_number(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _screened_strengths(
    positive: np.ndarray, values: np.ndarray, rng: np.random.Generator, threshold: float
) -> np.ndarray:
    """Each column's strength (oriented AUC), exact where it matters.

    Every column is ranked on a stratified sample of ``_SCREEN_ROWS`` rows (the classes in
    their holdout proportions). By Hoeffding's bound for this two-sample U-statistic, a
    sample of m rows of the rarer class misses the exact AUC by ``t`` or more with
    probability at most exp(-2 m t^2); ``t`` is set so that this is ``_SCREEN_MISS``. A
    column is ranked again on every row when its sampled strength is within ``t`` of the
    threshold or above it, and so is the strongest sampled column: a near-copy is still
    found on every row, and the strongest column's strength is exact. The other columns
    keep their sampled strength, which is below the threshold by more than ``t`` (among
    columns of nearly equal strength, the one reported strongest is the sample's choice).
    """
    rows = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(positive == side),
                size=max(1, round(_SCREEN_ROWS * float(np.mean(positive == side)))),
                replace=False,
            )
            for side in (False, True)
        ]
    )
    sampled = auc_columns(positive[rows], values[rows])
    strength = np.maximum(sampled, 1 - sampled)
    rarer = min(int(positive[rows].sum()), int((~positive[rows]).sum()))
    t = float(np.sqrt(np.log(1 / _SCREEN_MISS) / (2 * rarer)))
    unclear = strength + t > threshold
    unclear[np.argmax(strength)] = True
    if unclear.any():
        exact = auc_columns(positive, values[:, unclear])
        strength[unclear] = np.maximum(exact, 1 - exact)
    return strength


def feature_label_strengths(
    frame: pd.DataFrame,
    y: np.ndarray,
    classes: np.ndarray | None,
    folds: np.ndarray,
    screen: tuple[np.random.Generator, float] | None = None,
) -> dict[Any, float]:
    """``feature_label_strength`` of every column of ``frame``. For a binary label, the
    columns of finite numbers are ranked together (sorts of the float matrix, the exact
    AUC on every row); the others go one by one. With ``screen`` (a generator and the
    threshold that matters) and more than twice ``_SCREEN_ROWS`` rows, the numeric columns
    are screened on a sample first (``_screened_strengths``)."""
    strengths: dict[Any, float] = {}
    columns = list(frame.columns)
    if classes is not None and classes.size == 2:
        dtypes = frame.dtypes
        numbers = [c for c in columns if _plain_number(dtypes[c])]
        if numbers:
            block = frame if len(numbers) == len(columns) else frame[numbers]
            values = block.to_numpy(dtype=float, na_value=np.nan)
            finite = np.isfinite(values).all(axis=0)
            positive = y == classes[1]
            if screen is None or positive.size <= 2 * _SCREEN_ROWS:
                scores = auc_columns(positive, values[:, finite])
                found = np.maximum(scores, 1 - scores)
            else:
                found = _screened_strengths(positive, values[:, finite], *screen)
            ranked = [c for c, ok in zip(numbers, finite, strict=True) if ok]
            strengths = {c: float(a) for c, a in zip(ranked, found, strict=True)}
    for column in columns:
        if column not in strengths:
            strengths[column] = feature_label_strength(frame[column], y, classes, folds)
    return {c: strengths[c] for c in columns}


def check_leakage(ctx: Context, th: LeakageThresholds) -> CheckResult:
    thresholds = {
        "max_overlap_fraction": th.max_overlap_fraction,
        "max_feature_auc": th.max_feature_auc,
    }
    metrics: dict[str, MetricValue] = {}
    problems: list[str] = []
    notes: list[str] = []
    folds = ctx.rng(_SALT).integers(0, 2, size=ctx.y.size)
    # The candidate's feature columns, as selected once for it.
    inputs = ctx.holdout_inputs(ctx.candidate_model)
    screen = (ctx.rng(_SALT + 1), th.max_feature_auc)
    strengths = feature_label_strengths(inputs, ctx.y, ctx.classes, folds, screen)
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
