"""The conflicting-duplicates check: same output as the per-row reference, linear per group."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import PoisonCheckConfig, RowFlag, poison_check
from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning._prepare import prepare
from garrison.detection.poisoning.duplicates import (
    DUPLICATES,
    _typical_distance,
    conflicting_groups,
)

_ONLY = PoisonCheckConfig(checks=("conflicting-duplicates",))


def _reference_flags(ctx: CheckContext, threshold: float) -> list[RowFlag]:
    """The former O(g^2)-per-group implementation, kept verbatim as the oracle."""
    prepared = ctx.prepared
    typical = _typical_distance(prepared.matrix, ctx.rng(3))
    radius = (1.0 - threshold) * typical
    groups = conflicting_groups(
        prepared.frame, prepared.matrix, prepared.labels, radius, ctx.random_state
    )
    hashes = pd.util.hash_pandas_object(prepared.frame, index=False).to_numpy()
    flags: list[RowFlag] = []
    for members in groups:
        counts = Counter(prepared.labels[members].tolist())
        exact = len(np.unique(hashes[members])) == 1
        for row in members:
            others = [int(m) for m in members if m != row]
            other_labels = sorted({ctx.class_name(prepared.labels[m]) for m in others})
            share = counts[int(prepared.labels[row])] / len(members)
            listed = ", ".join(str(m) for m in others[:5])
            more = "" if len(others) <= 5 else f" and {len(others) - 5} more"
            kind = "identical to" if exact else "a near duplicate of"
            flags.append(
                RowFlag(
                    row=int(row),
                    score=1.0 - share / 2.0,
                    detail=(
                        f"features {kind} row(s) {listed}{more} labelled "
                        f"{', '.join(repr(label) for label in other_labels)}; "
                        f"this row is labelled {ctx.class_name(prepared.labels[row])!r}"
                    ),
                )
            )
    return flags


def _mixed_groups(seed: int) -> pd.DataFrame:
    """Identical groups of sizes 2..12 with mixed labels (some once, some repeated),
    near-duplicate copies, and unique background rows."""
    rng = np.random.default_rng(seed)
    background = rng.normal(size=(120, 3))
    rows, labels = [background], list(rng.choice(["cat", "dog", "eel", "fox"], 120))
    for size in (2, 3, 5, 6, 7, 12):
        point = rng.normal(size=(1, 3)) * 10
        rows.append(np.repeat(point, size, axis=0))
        labels.extend(rng.choice(["cat", "dog", "eel", "fox"], size))
    near = background[:10] + rng.normal(scale=1e-6, size=(10, 3))
    rows.append(near)
    labels.extend(rng.choice(["cat", "dog", "eel", "fox"], 10))
    frame = pd.DataFrame(np.vstack(rows), columns=["a", "b", "c"])
    frame["y"] = labels
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_flags_match_the_reference_implementation(seed: int) -> None:
    frame = _mixed_groups(seed)
    prepared = prepare(frame, "y", max_rows=10**6, max_categories=50)
    ctx = CheckContext(prepared, _ONLY, random_state=0)
    outcome = DUPLICATES.run(ctx, DUPLICATES.default_threshold)
    expected = _reference_flags(ctx, DUPLICATES.default_threshold)
    assert len(expected) > 20  # The fixture really has conflicting groups, large and small.
    assert list(outcome.flags) == expected


def test_a_label_seen_once_is_not_among_its_rows_other_labels() -> None:
    frame = pd.DataFrame({"a": [1.0] * 8 + list(range(10, 22)),
                          "y": ["p"] * 7 + ["q"] + ["p", "q"] * 6})
    report = poison_check(frame, "y", config=_ONLY)
    details = {f.row: f.reasons[0].detail for f in report.findings}
    assert details[7] == (
        "features identical to row(s) 0, 1, 2, 3, 4 and 2 more labelled 'p'; "
        "this row is labelled 'q'"
    )
    assert details[0] == (
        "features identical to row(s) 1, 2, 3, 4, 5 and 2 more labelled 'p', 'q'; "
        "this row is labelled 'p'"
    )


def test_a_large_identical_group_is_linear() -> None:
    size = 20_000
    frame = pd.DataFrame({"a": [1.0] * size, "b": ["x"] * size, "y": ["p", "q", "r", "p"] * 5_000})
    start = time.perf_counter()
    report = poison_check(frame, "y", config=_ONLY)
    elapsed = time.perf_counter() - start
    assert report.summary("conflicting-duplicates").rows_flagged == size
    assert elapsed < 5.0, f"{elapsed:.1f}s for one group of {size} rows"


def test_many_small_groups_are_linear() -> None:
    pairs = 20_000
    values = np.repeat(np.arange(pairs, dtype=float), 2)
    frame = pd.DataFrame({"a": values, "y": ["p", "q"] * pairs})
    start = time.perf_counter()
    report = poison_check(frame, "y", config=_ONLY)
    elapsed = time.perf_counter() - start
    assert report.summary("conflicting-duplicates").rows_flagged == 2 * pairs
    assert elapsed < 5.0, f"{elapsed:.1f}s for {pairs} pairs"
