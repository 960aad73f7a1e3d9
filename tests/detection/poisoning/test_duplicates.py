"""The conflicting-duplicates check: same output as the per-row reference, linear per group."""

from __future__ import annotations

import sys
import types
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import PoisonCheckConfig, RowFlag, poison_check
from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning._prepare import prepare
from garrison.detection.poisoning.duplicates import (
    DUPLICATES,
    _group_flags,
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


def _codes(code: types.CodeType) -> set[types.CodeType]:
    """``code`` and every function, comprehension and generator defined inside it."""
    found = {code}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _codes(const)
    return found


def _lines_run(function: Callable[..., object], *args: object, **kwargs: object) -> int:
    """How many lines of ``function`` (comprehensions included) run for the call.

    A count of Python-level operations, not a time: it is the same on an idle machine
    and a loaded one, and it grows with n^2 when the work does.
    """
    mine = _codes(function.__code__)
    count = 0

    def local(frame: types.FrameType, event: str, arg: object) -> object:
        nonlocal count
        count += event == "line"
        return local

    def calls(frame: types.FrameType, event: str, arg: object) -> object:
        return local if frame.f_code in mine else None

    sys.settrace(calls)
    try:
        function(*args, **kwargs)
    finally:
        sys.settrace(None)
    return count


def _group_work(size: int) -> int:
    labels = np.array([0, 1, 2, 0] * (size // 4))
    return _lines_run(_group_flags, np.arange(size), labels, True, str)


def test_a_large_identical_group_is_linear() -> None:
    size = 20_000
    frame = pd.DataFrame({"a": [1.0] * size, "b": ["x"] * size, "y": ["p", "q", "r", "p"] * 5_000})
    report = poison_check(frame, "y", config=_ONLY)
    assert report.summary("conflicting-duplicates").rows_flagged == size
    # The per-group work doubles with the group, where the former O(g^2) flags grew 4x.
    small, large = _group_work(1_000), _group_work(2_000)
    assert large <= 2.1 * small, (small, large)


def test_many_small_groups_are_linear() -> None:
    pairs = 20_000
    values = np.repeat(np.arange(pairs, dtype=float), 2)
    frame = pd.DataFrame({"a": values, "y": ["p", "q"] * pairs})
    report = poison_check(frame, "y", config=_ONLY)
    assert report.summary("conflicting-duplicates").rows_flagged == 2 * pairs
    # One pass over the groups: the Python-level work per pair is constant (the time of
    # the vectorized grouping is measured by bench/duplicates.py).
    def work(n: int) -> int:
        hashes = np.repeat(np.arange(n), 2)
        labels = np.tile([0, 1], n)
        return _lines_run(conflicting_groups, pd.DataFrame(), np.zeros((2 * n, 1)), labels,
                          0.0, 0, hashes=hashes)

    assert work(2_000) <= 2.1 * work(1_000)
