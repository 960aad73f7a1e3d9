"""Exact and near duplicates that carry conflicting labels.

Two rows with the same (or almost the same) features and different labels cannot both be
right; an attacker who copies rows and flips the copies' labels leaves exactly this trace.
Near duplicates are searched on the standardized, one-hot encoded feature vectors: a pair
is a near duplicate when its distance is at most ``(1 - threshold)`` times the median
nearest-neighbour distance of the set. The radius search runs on a PCA projection of at
most 8 dimensions (a projection never lengthens a distance, so no pair is missed) and
every candidate pair is then verified in the full space. The search itself has two steps:
one bounded nearest-neighbour query per row finds the few rows that have any other row
within the radius, and only those are asked for all their neighbours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from garrison.detection.poisoning._context import CheckContext
from garrison.detection.poisoning.registry import (
    CheckOutcome,
    PoisonDetector,
    RowFlag,
)

__all__ = ["DUPLICATES", "conflicting_groups"]

_PROJECTED_DIMENSIONS = 8
_SCALE_SAMPLE = 2_000
_MAX_LISTED = 5


def _typical_distance(matrix: np.ndarray, rng: np.random.Generator) -> float:
    """Median distance from a row to its nearest *distinct* neighbour (on a sample)."""
    n = matrix.shape[0]
    sample = rng.choice(n, size=min(n, _SCALE_SAMPLE), replace=False)
    index = NearestNeighbors(n_neighbors=min(n, 6)).fit(matrix)
    distance, _ = index.kneighbors(matrix[sample])
    positive = np.where(distance > 0, distance, np.inf).min(axis=1)
    positive = positive[np.isfinite(positive)]
    return float(np.median(positive)) if len(positive) else 0.0


def _near_pairs(matrix: np.ndarray, radius: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if matrix.shape[1] > _PROJECTED_DIMENSIONS:
        projected = PCA(n_components=_PROJECTED_DIMENSIONS, random_state=seed).fit_transform(matrix)
    else:
        projected = matrix
    tree = cKDTree(projected)
    # A row with any other row within the radius has its nearest other row there (an exact
    # copy may come back in its place, at distance 0), so these rows hold every pair.
    # (The bound is widened a hair: the query keeps only distances below it, the ball <=.)
    distance, _ = tree.query(projected, k=2, distance_upper_bound=radius * (1.0 + 1e-6))
    rows = np.flatnonzero(np.isfinite(np.asarray(distance)[:, 1]))
    found = tree.query_ball_point(projected[rows], radius, return_sorted=False)
    lengths = np.fromiter((len(item) for item in found), dtype=np.int64, count=len(rows))
    left = np.repeat(rows, lengths)
    right = np.concatenate(found).astype(np.int64) if len(rows) else np.zeros(0, dtype=np.int64)
    keep = left < right
    left, right = left[keep], right[keep]
    # Verify candidates in the full space, in chunks to bound memory.
    close = np.zeros(len(left), dtype=bool)
    for start in range(0, len(left), 200_000):
        part = slice(start, start + 200_000)
        gap = matrix[left[part]] - matrix[right[part]]
        close[part] = np.einsum("ij,ij->i", gap, gap) <= radius * radius
    return left[close], right[close]


def conflicting_groups(
    frame: pd.DataFrame,
    matrix: np.ndarray,
    labels: np.ndarray,
    radius: float,
    seed: int,
    *,
    hashes: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Groups of exact or near-duplicate rows whose labels are not all the same.

    ``hashes`` are the rows' ``pd.util.hash_pandas_object(frame, index=False)`` values when
    the caller already has them (they are computed here otherwise). Each group lists its
    rows in ascending order; groups come in the order of their connected component.
    """
    n = len(labels)
    if hashes is None:
        hashes = _row_hashes(frame)
    order = np.argsort(hashes, kind="stable")
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
    left = [order[same]]
    right = [order[same + 1]]
    if radius > 0:
        near_left, near_right = _near_pairs(matrix, radius, seed)
        left.append(near_left)
        right.append(near_right)
    rows = np.concatenate(left)
    cols = np.concatenate(right)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # Rows of components with 2+ rows, grouped by one stable sort (not one scan of all n rows
    # per component): rows stay ascending within a group, groups in component order.
    grouped = np.flatnonzero(np.bincount(component)[component] > 1)
    grouped = grouped[np.argsort(component[grouped], kind="stable")]
    keys = component[grouped]
    starts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    groups = []
    for members in np.split(grouped, starts) if len(grouped) else ():
        if len(np.unique(labels[members])) > 1:
            groups.append(members)
    return groups


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _group_flags(
    members: np.ndarray, labels: np.ndarray, exact: bool, class_name: Callable[[int], str]
) -> list[RowFlag]:
    """One flag per row of a conflicting group, in O(group size) for the whole group.

    A row's "other" labels are the group's labels without its own only when its own label
    occurs once in the group; the listed rows are the group's first rows other than itself.
    """
    size = len(members)
    codes = labels[members].tolist()
    counts = Counter(codes)
    names = {code: class_name(code) for code in counts}
    all_names = sorted(set(names.values()))
    # Names seen on the rest of the group by a row whose label occurs only once.
    without = {
        code: sorted({names[c] for c in counts if c != code})
        for code, count in counts.items()
        if count == 1
    }
    head = [int(m) for m in members[: _MAX_LISTED + 1]]
    kind = "identical to" if exact else "a near duplicate of"
    more = "" if size - 1 <= _MAX_LISTED else f" and {size - 1 - _MAX_LISTED} more"
    flags = []
    for row, code in zip(members.tolist(), codes, strict=True):
        listed = ", ".join(str(m) for m in [m for m in head if m != row][:_MAX_LISTED])
        other_labels = without.get(code, all_names)
        flags.append(
            RowFlag(
                row=int(row),
                score=1.0 - (counts[code] / size) / 2.0,
                detail=(
                    f"features {kind} row(s) {listed}{more} labelled "
                    f"{', '.join(repr(label) for label in other_labels)}; "
                    f"this row is labelled {names[code]!r}"
                ),
            )
        )
    return flags


def _run(ctx: CheckContext, threshold: float) -> CheckOutcome:
    prepared = ctx.prepared
    typical = _typical_distance(prepared.matrix, ctx.rng(3))
    radius = (1.0 - threshold) * typical
    hashes = _row_hashes(prepared.frame)
    groups = conflicting_groups(
        prepared.frame, prepared.matrix, prepared.labels, radius, ctx.random_state, hashes=hashes
    )
    flags: list[RowFlag] = []
    for members in groups:
        exact = len(np.unique(hashes[members])) == 1
        flags.extend(_group_flags(members, prepared.labels, exact, ctx.class_name))
    return CheckOutcome(
        method="feature-hash groups + radius neighbours on standardized features",
        flags=tuple(flags),
        detail={
            "groups": len(groups),
            "radius": round(radius, 6),
            "typical_neighbour_distance": round(typical, 6),
        },
    )


DUPLICATES = PoisonDetector(
    id="conflicting-duplicates",
    description=(
        "Exact and near-duplicate rows whose labels disagree. Threshold: similarity; "
        "rows closer than (1 - threshold) x the median nearest-neighbour distance "
        "count as near duplicates."
    ),
    default_threshold=0.9,
    applies_to=("binary", "multiclass", "numeric", "categorical"),
    run=_run,
    confirms=True,
)
