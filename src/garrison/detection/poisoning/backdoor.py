"""Backdoor triggers: a rare pattern of feature values whose rows nearly all carry one label
although the rest of their features say otherwise.

1. Items are exact feature values: every category of a categorical feature and every
   repeated value of a numeric feature seen in at least ``min_count`` rows (a trigger such
   as "pixel 0 set to its maximum" is a repeated value; a continuous feature has none),
   except a feature's usual value (its most common one when that is in more than
   ``_MAX_SUPPORT`` of the rows: a trigger departs from the normal).
2. Candidate itemsets are single items and pairs of items (frequent-itemset style, via a
   sparse co-occurrence product) that are *rare* (at most ``_MAX_SUPPORT`` of the rows) and
   *pure* (at least ``_MIN_PURITY`` of their rows share one label ``c``); the most
   surprising ones under the label base rates are kept.
3. Each candidate is tested against the rest of the data: a logistic model fitted on the
   rows that do *not* carry the pattern (on the columns that vary there, so an
   unseen trigger value is ignored rather than extrapolated) gives each pattern row the
   probability ``q`` of label ``c``. Under "the pattern is harmless" the
   count of ``c`` labels is Poisson-binomial with those ``q``; the excess over its mean, as
   a share of the itemset, is the score, and it must also be significant (z >= 5).
   The pattern must be tied to the label, not a trait of the class: on the whole the
   other features must point away from it (mean ``q`` at most 0.5). A pattern that fails
   under the logistic model is tested again (at most 5 times per check) with the stronger
   model the label checks chose, when it is not logistic: a linear model may not know
   where rows of non-linear classes belong.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.stats import binom

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning._oof import fit_predict_proba
from garrison.detection.poisoning.registry import (
    CheckOutcome,
    PoisonDetector,
    RowFlag,
)

__all__ = ["BACKDOOR", "Item", "candidate_itemsets"]

Item = tuple[str, object]

_MAX_SUPPORT = 0.10
_PAIR_ITEM_MAX_SUPPORT = 0.5
_MIN_PURITY = 0.85
_MAX_PAIR_ITEMS = 600
_MAX_CANDIDATES = 30
_MAX_CLASS_SHARE = 0.5
_REFERENCE_ROWS = 20_000
_MIN_Z = 5.0
_MAX_EXPECTED_SHARE = 0.5
_MAX_STRONG_RETESTS = 5


def _items(ctx: CheckContext, min_count: int) -> tuple[list[Item], sparse.csc_matrix]:
    frame = ctx.prepared.frame
    n = len(frame)
    items: list[Item] = []
    columns: list[np.ndarray] = []
    for name in ctx.prepared.features:
        series = frame[name]
        counts = series.value_counts(dropna=True)
        # A trigger is a departure from the normal: a feature's usual value (the zero of
        # a pixel that is almost always zero) is never one.
        if len(counts) and counts.iloc[0] > _MAX_SUPPORT * n:
            counts = counts.iloc[1:]
        counts = counts[(counts >= min_count) & (counts <= _PAIR_ITEM_MAX_SUPPORT * n)]
        if counts.empty:
            continue
        values = series.to_numpy()
        for value in counts.index:
            items.append((name, value.item() if hasattr(value, "item") else value))
            columns.append(np.flatnonzero(values == value))
    if not columns:
        return [], sparse.csc_matrix((n, 0), dtype=np.float64)
    lengths = [len(rows) for rows in columns]
    data = np.ones(sum(lengths), dtype=np.float64)
    rows = np.concatenate(columns)
    cols = np.repeat(np.arange(len(columns)), lengths)
    return items, sparse.csc_matrix((data, (rows, cols)), shape=(n, len(columns)))


def candidate_itemsets(
    ctx: CheckContext, min_count: int
) -> list[tuple[tuple[Item, ...], np.ndarray, int, float]]:
    """Rare, label-pure itemsets: (items, rows, majority label, surprise), best first."""
    labels = ctx.labels
    n, n_classes = len(labels), ctx.prepared.n_classes
    items, matrix = _items(ctx, min_count)
    if not items:
        return []
    onehot = sparse.csc_matrix(
        (np.ones(n), (np.arange(n), labels)), shape=(n, n_classes), dtype=np.float64
    )
    base = np.bincount(labels, minlength=n_classes) / n
    found: list[tuple[tuple[int, ...], int, int, int]] = []
    single_class = np.asarray((matrix.T @ onehot).todense())
    for index in range(len(items)):
        found.append(((index,), *_best(single_class[index])))
    # Pairs are built from the items whose label mix is most skewed already: a trigger
    # made of two individually common values still tilts each value towards its label.
    support = single_class.sum(axis=1)
    top = single_class.max(axis=1)
    skew = -binom.logsf(top - 1, support, base[single_class.argmax(axis=1)])
    pair_items = np.argsort(-skew, kind="stable")[:_MAX_PAIR_ITEMS]
    sub = matrix[:, pair_items]
    together = sparse.triu(sub.T @ sub, k=1).tocoo()
    keep = (together.data >= min_count) & (together.data <= _MAX_SUPPORT * n)
    left, right = together.row[keep], together.col[keep]
    if len(left):
        per_class = np.zeros((len(left), n_classes))
        for c in range(n_classes):
            rows_c = sub[labels == c]
            joint = (rows_c.T @ rows_c).tocsr()
            per_class[:, c] = np.asarray(joint[left, right]).ravel()
        for a, b, counts in zip(left, right, per_class, strict=True):
            found.append(((int(pair_items[a]), int(pair_items[b])), *_best(counts)))
    scored = []
    for members, total, label, count in found:
        if not min_count <= total <= _MAX_SUPPORT * n or count < _MIN_PURITY * total:
            continue
        if len({items[m][0] for m in members}) < len(members):
            continue
        surprise = -float(binom.logsf(count - 1, total, base[label]))
        scored.append((surprise, members, label))
    scored.sort(key=lambda entry: -entry[0])
    out = []
    for surprise, members, label in scored[: _MAX_CANDIDATES * 4]:
        hits = np.asarray(matrix[:, list(members)].sum(axis=1)).ravel()
        rows = np.flatnonzero(hits == len(members))
        out.append((tuple(items[m] for m in members), rows, label, surprise))
    return out


def _best(counts: np.ndarray) -> tuple[int, int, int]:
    counts = np.asarray(counts).ravel()
    label = int(counts.argmax())
    return int(counts.sum()), label, int(counts[label])


def _outside_support(
    ctx: CheckContext, rows: np.ndarray, label: int, models: tuple[str, ...] = ("logistic",)
) -> np.ndarray:
    """Probability of ``label`` for ``rows`` from a model of the rows outside them.

    The logistic model is fitted on (a sample of) the rows that do not carry the pattern,
    on the columns that vary among them, so a trigger value never seen outside the
    pattern is ignored instead of extrapolated.
    """
    outside = np.ones(len(ctx.labels), dtype=bool)
    outside[rows] = False
    train = np.flatnonzero(outside)
    if len(train) > _REFERENCE_ROWS:
        train = np.sort(ctx.rng(29).choice(train, size=_REFERENCE_ROWS, replace=False))
    matrix = ctx.prepared.matrix
    varying = matrix[train].std(axis=0) > 1e-9
    proba = fit_predict_proba(
        matrix[np.ix_(train, varying)],
        ctx.labels[train],
        matrix[np.ix_(rows, varying)],
        ctx.prepared.n_classes,
        models,
        ctx.random_state,
    )
    return proba[:, label]


def _test(
    ctx: CheckContext, rows: np.ndarray, label: int, observed: float, models: tuple[str, ...]
) -> tuple[np.ndarray, float, float, float]:
    """``q``, expected count, z and score of one pattern under ``models``."""
    q = np.clip(_outside_support(ctx, rows, label, models), 0.01, 0.99)
    expected = float(q.sum())
    z = (observed - expected) / math.sqrt(float((q * (1.0 - q)).sum()))
    return q, expected, z, max(0.0, (observed - expected) / len(rows))


def _passes(threshold: float, z: float, score: float, expected: float, rows: int) -> bool:
    # Tied to the label: without the pattern, the rows' other features must on the whole
    # point away from the label (a natural trait of the class does not).
    return score >= threshold and z >= _MIN_Z and expected <= _MAX_EXPECTED_SHARE * rows


def _describe(pattern: tuple[Item, ...]) -> str:
    return " and ".join(f"{name} = {value!r}" for name, value in pattern)


def _run(ctx: CheckContext, threshold: float) -> CheckOutcome:
    n = len(ctx.labels)
    min_count = max(5, math.ceil(0.001 * n))
    candidates = candidate_itemsets(ctx, min_count)
    chosen = candidates[:_MAX_CANDIDATES]
    class_rows = np.bincount(ctx.labels, minlength=ctx.prepared.n_classes)
    flags: dict[int, RowFlag] = {}
    triggers = []
    covered = np.zeros(n, dtype=bool)
    # The out-of-fold model is only reused when another check already paid for it.
    strong = ctx.models if "model_choice" in ctx.__dict__ and ctx.models != ("logistic",) else ()
    retests = _MAX_STRONG_RETESTS
    for pattern, rows, label, _surprise in chosen:
        labelled = rows[ctx.labels[rows] == label]
        # A pattern that holds most of its label's rows defines that label; the rows
        # outside it cannot say whether it is a trigger, so it is not judged.
        if covered[labelled].mean() >= 0.8 or len(labelled) > _MAX_CLASS_SHARE * class_rows[label]:
            continue
        observed = float(len(labelled))
        q, expected, z, score = _test(ctx, rows, label, observed, ("logistic",))
        if not _passes(threshold, z, score, expected, len(rows)) and strong and retests:
            # A linear model of the other rows may not know where the pattern's rows
            # belong (non-linear classes): ask the stronger model the label checks chose.
            retests -= 1
            q, expected, z, score = _test(ctx, rows, label, observed, strong)
        if not _passes(threshold, z, score, expected, len(rows)):
            continue
        covered[labelled] = True
        name = ctx.class_name(label)
        triggers.append(
            {
                "pattern": [{"feature": f, "value": str(v)} for f, v in pattern],
                "label": name,
                "rows": len(rows),
                "purity": round(observed / len(rows), 4),
                "expected_share": round(expected / len(rows), 4),
                "score": round(score, 4),
                "z": round(z, 2),
            }
        )
        for row, support in zip(rows, q, strict=True):
            if ctx.labels[row] != label or (row in flags and flags[row].score >= score):
                continue
            flags[int(row)] = RowFlag(
                row=int(row),
                score=score,
                detail=(
                    f"carries the rare pattern {_describe(pattern)}: {len(labelled)} of its "
                    f"{len(rows)} rows are labelled {name!r}, but a model of the rows "
                    f"without the pattern expects {expected / len(rows):.0%} "
                    f"(this row: {support:.0%})"
                ),
            )
    return CheckOutcome(
        method="rare pure itemsets (single values and pairs) tested against a logistic "
        "model of the rows outside each pattern"
        + (f" (retested with {'+'.join(strong)})" if strong else ""),
        flags=tuple(flags.values()),
        detail={"candidates": len(candidates), "tested": len(chosen), "triggers": triggers},
    )


BACKDOOR = PoisonDetector(
    id="backdoor-trigger",
    description=(
        "Rare feature-value patterns (one or two values) whose rows nearly all carry one "
        "label that the rest of their features do not support. Threshold: minimum share "
        "of the pattern's rows whose label is unexplained by the other features."
    ),
    default_threshold=0.4,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_run,
    confirms=True,
)
