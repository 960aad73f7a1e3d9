"""A decision-based (black-box) evasion attack in the style of HopSkipJump.

The attacker only sees predicted labels. For each row it starts from the nearest
holdout row the model labels differently (categorical values kept from the original
row), searches the segment for the decision boundary, then repeats: estimate the
boundary's normal from the labels of random probes around the boundary point, step
along it, and search back towards the original row. All rows are attacked together and
every search tests a grid of points at once, so a round costs four batched model calls
whatever the number of rows (per-call overhead, not rows, dominates small batches).
Distances are root-mean-square changes per numeric feature, in units of each feature's
spread; categorical columns never change.

Reference: Chen, Jordan and Wainwright, "HopSkipJumpAttack: A Query-Efficient
Decision-Based Attack", IEEE S&P 2020 (the gradient-direction estimate and the
geometric step size used here are the paper's, without its adaptive probe radius).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["AttackOutcome", "boundary_attack"]

_GRID = 8  # points per row in each line-search call
_GRID_CALLS = 2  # line-search calls: the boundary is located to 1 / 8**2 of the segment
_PROBES = 16
_PROBE_REACH = 4.0
_STEPS = (1.0, 0.5, 0.25)  # geometric step sizes tried at once
_INIT_CANDIDATES = 4
_DISTANCE_CELLS = 1_000_000  # largest attacked-rows x pool distance matrix at once

Predict = Callable[[pd.DataFrame], np.ndarray]
#: Labels of rows given as a float matrix of the model's features, in order.
MatrixPredict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AttackOutcome:
    """Per attacked row: the smallest adversarial distance found (``inf`` when none)."""

    distances: np.ndarray
    queries: int
    calls: int
    #: What answered the search: ``"model"``, or ``"linear-twin"`` (then every adversarial
    #: point was confirmed by the model, and ``unconfirmed`` counts those it refused).
    oracle: str = "model"
    unconfirmed: int = 0

    def success_rate(self, radius: float) -> float:
        return float(np.mean(self.distances <= radius)) if self.distances.size else 0.0

    @property
    def median_distance(self) -> float:
        """The median over attacked rows (``inf`` when the attack failed on half or more)."""
        return float(np.median(self.distances)) if self.distances.size else float("inf")


class _Oracle:
    """Turns points of the standardized numeric space back into model inputs and counts queries.

    With a ``twin`` (a verified numeric twin of the model taking the feature matrix),
    the search asks the twin and :meth:`confirm` asks the model itself.
    """

    def __init__(
        self,
        predict: Predict,
        rows: pd.DataFrame,
        dims: list[str],
        spread: np.ndarray,
        twin: MatrixPredict | None = None,
    ):
        self.predict = predict
        self.dims = {d: j for j, d in enumerate(dims)}
        self.spread = spread
        self.twin = twin
        if twin is not None:  # every column numeric: rows are rebuilt from one float matrix
            self.base = rows.to_numpy(dtype=float, na_value=np.nan)
            self.names = rows.columns
            self.moved = np.array([rows.columns.get_loc(d) for d in dims], dtype=np.intp)
            self.every_column_moves = np.array_equal(self.moved, np.arange(self.base.shape[1]))
            self.origin = self.base[:, self.moved]
        else:
            # Extension arrays keep each column's type (categorical, dates, nullable, strings).
            self.columns = {c: rows[c].array for c in rows.columns}
            block = rows if list(rows.columns) == dims else rows[dims]
            self.origin = block.to_numpy(dtype=float, na_value=np.nan)
        self.queries = 0
        self.calls = 0
        self.model_calls = 0

    def labels(self, which: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Predicted labels of row ``which[k]`` moved by ``z[k]`` (standardized units)."""
        self.queries += int(which.size)
        self.calls += 1
        if self.twin is None:
            return self.confirm(which, z)
        moved = self.origin[which] + z * self.spread
        if self.every_column_moves:  # the moved columns are the row: no copy to patch
            return np.asarray(self.twin(moved)).ravel()
        full = self.base[which]
        full[:, self.moved] = moved
        return np.asarray(self.twin(full)).ravel()

    def confirm(self, which: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The model's own labels of row ``which[k]`` moved by ``z[k]``."""
        values = self.origin[which] + z * self.spread
        self.model_calls += 1
        if self.twin is not None:  # every column numeric: one float block
            full = self.base[which]
            full[:, self.moved] = values
            return np.asarray(self.predict(pd.DataFrame(full, columns=self.names))).ravel()
        frame = pd.DataFrame(
            {
                c: values[:, self.dims[c]] if c in self.dims else column.take(which)
                for c, column in self.columns.items()
            }
        )
        return np.asarray(self.predict(frame)).ravel()


def _rms(z: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(z**2, axis=-1))


def _search(
    oracle: _Oracle, which: np.ndarray, z_adv: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Grid search on each segment origin -> ``z_adv`` (adversarial) for the nearest point
    still adversarial: each call tests ``_GRID`` points per row inside the current bracket."""
    lo = np.zeros(which.size)
    hi = np.ones(which.size)
    fractions = np.arange(1, _GRID + 1) / _GRID
    for _ in range(_GRID_CALLS):
        t = lo[:, None] + (hi - lo)[:, None] * fractions[None, :]
        points = z_adv[:, None, :] * t[:, :, None]
        rows = np.repeat(which, _GRID)
        flipped = (oracle.labels(rows, points.reshape(-1, z_adv.shape[1])) != labels[rows]).reshape(
            which.size, _GRID
        )
        flipped[:, -1] |= True  # hi is adversarial by construction
        first = np.argmax(flipped, axis=1)
        new_hi = t[np.arange(which.size), first]
        lo = np.where(first > 0, t[np.arange(which.size), np.maximum(first - 1, 0)], lo)
        hi = new_hi
    return z_adv * hi[:, None]


def _starts(
    origin_z: np.ndarray, labels: np.ndarray, pool_z: np.ndarray, pool_labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``_INIT_CANDIDATES`` starting points per row: the moves (in standardized units)
    to the nearest pool rows labelled differently, as (row index, move) pairs.

    A missing value stays missing: that feature is not moved and does not count in the
    distance. The squared distances of every row to every pool row come from three matrix
    products (the expansion of the square over the features both rows have).
    """
    if pool_z.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), np.zeros((0, origin_z.shape[1]))
    a_known, b_known = np.isfinite(origin_z), np.isfinite(pool_z)
    a, b = np.where(a_known, origin_z, 0.0), np.where(b_known, pool_z, 0.0)
    rows, picks = [], []
    # Rows of one label at a time, against only the pool rows labelled otherwise.
    for label in np.unique(labels):
        mine, other = np.flatnonzero(labels == label), np.flatnonzero(pool_labels != label)
        take = min(_INIT_CANDIDATES, other.size)
        if take == 0:
            continue
        b_other, known_other = b[other], b_known[other]
        b_squared = (b_other**2).T
        chunk = max(1, _DISTANCE_CELLS // other.size)  # bounds the rows x pool matrix
        for start in range(0, mine.size, chunk):
            part = mine[start : start + chunk]
            squared = (
                (a[part] ** 2) @ known_other.T
                + a_known[part] @ b_squared
                - 2.0 * (a[part] @ b_other.T)
            )
            nearest = np.argpartition(squared, take - 1, axis=1)[:, :take]
            rows.append(np.repeat(part, take))
            picks.append(other[nearest].ravel())
    if not rows:
        return np.zeros(0, dtype=np.intp), np.zeros((0, origin_z.shape[1]))
    which, picked = np.concatenate(rows), np.concatenate(picks)
    order = np.argsort(which, kind="stable")  # each row's starting points together, in order
    which, picked = which[order], picked[order]
    gap = np.nan_to_num(pool_z[picked] - origin_z[which], nan=0.0)
    return which, gap


def boundary_attack(
    predict: Predict,
    rows: pd.DataFrame,
    labels: np.ndarray,
    pool: pd.DataFrame,
    pool_labels: np.ndarray,
    dims: list[str],
    spread: np.ndarray,
    *,
    budget: int,
    radius: float,
    rng: np.random.Generator,
    twin: MatrixPredict | None = None,
) -> AttackOutcome:
    """Attack every row of ``rows`` (predicted ``labels``) with ``budget`` queries per row.

    ``pool`` (with its predicted ``pool_labels``) supplies the starting points. A row
    stops once it is within ``radius``: the check only needs to know whether it can be.
    ``twin`` (labels of a float matrix of ``rows``' columns, verified against the model by
    the caller) answers the search in place of ``predict``; the model then confirms, in
    one call, every adversarial point found, and a point it does not confirm is no success.
    """
    n, d = len(rows), len(dims)
    oracle = _Oracle(predict, rows, dims, spread, twin)
    distances = np.full(n, np.inf)
    if n == 0 or d == 0:
        return AttackOutcome(distances, 0, 0)
    pool_block = pool if list(pool.columns) == dims else pool[dims]
    pool_z = pool_block.to_numpy(dtype=float, na_value=np.nan) / spread
    origin_z = oracle.origin / spread
    missing = ~np.isfinite(origin_z)
    any_missing = bool(missing.any())
    z_best = np.zeros((n, d))
    found = np.zeros(n, dtype=bool)
    # Start: the nearest pool rows labelled differently, a few per row, in one batch.
    which, z_try = _starts(origin_z, labels, pool_z, pool_labels)
    if which.size:
        flipped = oracle.labels(which, z_try) != labels[which]
        size = np.where(flipped, _rms(z_try), np.inf)
        best = np.full(n, np.inf)
        np.minimum.at(best, which, size)
        # Per row, the first of its closest starting points the model labels differently.
        chosen = np.flatnonzero(np.isfinite(size) & (size == best[which]))
        chosen = chosen[np.unique(which[chosen], return_index=True)[1]]
        z_best[which[chosen]] = z_try[chosen]
        found[which[chosen]] = True
    active = np.flatnonzero(found)
    if active.size:
        z_best[active] = _search(oracle, active, z_best[active], labels)
        distances[active] = _rms(z_best[active])
    per_round = _PROBES + len(_STEPS) + _GRID * _GRID_CALLS
    spent = _INIT_CANDIDATES + _GRID * _GRID_CALLS
    step = 0
    while spent + per_round <= budget:
        active = np.flatnonzero(found & (distances > radius))
        if active.size == 0:
            break
        step += 1
        spent += per_round
        z_b = z_best[active]
        dist = _rms(z_b)
        # Estimate the direction away from the original label from random probes.
        # Probes reach a few times past the line search's resolution (which is relative to the
        # segment's length), so some land on each side of the boundary.
        delta = np.maximum(np.linalg.norm(z_b, axis=1), 1e-6) * _PROBE_REACH / _GRID**_GRID_CALLS
        u = rng.standard_normal((active.size, _PROBES, d))
        if any_missing:  # a missing value is never moved
            u[np.broadcast_to(missing[active][:, None, :], u.shape)] = 0.0
        u /= np.maximum(np.linalg.norm(u, axis=2, keepdims=True), 1e-12)
        probes = z_b[:, None, :] + delta[:, None, None] * u
        which = np.repeat(active, _PROBES)
        adv = oracle.labels(which, probes.reshape(-1, d)) != labels[which]
        phi = np.where(adv.reshape(active.size, _PROBES), 1.0, -1.0)
        phi -= phi.mean(axis=1, keepdims=True)
        grad = np.einsum("rp,rpd->rd", phi, u)
        norm = np.linalg.norm(grad, axis=1, keepdims=True)
        grad = np.where(norm > 0, grad / np.maximum(norm, 1e-12), 0.0)
        # Geometric steps along the estimate (the largest that stays adversarial wins),
        # then back to the boundary towards the origin.
        eps = dist * np.sqrt(d) / np.sqrt(step + 1)
        sizes = np.asarray(_STEPS)
        tries = z_b[:, None, :] + (eps[:, None] * sizes[None, :])[:, :, None] * grad[:, None, :]
        which = np.repeat(active, sizes.size)
        adv = (oracle.labels(which, tries.reshape(-1, d)) != labels[which]).reshape(
            active.size, sizes.size
        )
        still = adv.any(axis=1)
        moved = active[still]
        if moved.size:
            pick = np.argmax(adv[still], axis=1)
            z_new = _search(oracle, moved, tries[still][np.arange(moved.size), pick], labels)
            closer = _rms(z_new) < distances[moved]
            z_best[moved[closer]] = z_new[closer]
            distances[moved[closer]] = _rms(z_new[closer])
    if twin is None:
        return AttackOutcome(distances, oracle.queries, oracle.calls)
    hits = np.flatnonzero(np.isfinite(distances))
    refused = np.zeros(0, dtype=np.intp)
    if hits.size:
        refused = hits[oracle.confirm(hits, z_best[hits]) == labels[hits]]
        distances[refused] = np.inf
    return AttackOutcome(distances, oracle.queries, oracle.calls, "linear-twin", int(refused.size))
