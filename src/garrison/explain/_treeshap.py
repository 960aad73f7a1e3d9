"""Path-dependent TreeSHAP, vectorized over rows and leaves (private; used by ``tree.py``).

This computes exactly the values of Lundberg et al. 2018, "Consistent Individualized Feature
Attribution for Tree Ensembles", Algorithm 2, but arranges the work by leaf instead of by
recursion so that numpy can process every leaf of every tree for a block of rows at once.

For one leaf with value ``v`` let its root path test the unique features ``j = 1..d`` (several
splits on one feature are merged, as Algorithm 2's UNWIND does). Each feature has a zero
fraction ``z_j`` (the share of training cover that follows the path at its splits) and a one
fraction ``o_j`` (1 if the row follows the path at all of its splits, else 0). The
path-dependent conditional expectation restricted to this leaf is the game
``v(S) = v * prod_{j in S} o_j * prod_{j not in S} z_j``, and its Shapley values are

    phi_i = v * (o_i - z_i) * sum_k  k! (d-1-k)! / d!  *  e_k(i)

where ``e_k(i)`` is the coefficient of ``t^k`` in ``prod_{j != i} (z_j + o_j t)``: Algorithm 2's
EXTEND builds that product along the path and UNWIND divides one factor back out. Because
``k! (d-1-k)! / d!`` is the Beta integral of ``t^k (1-t)^(d-1-k)`` over [0, 1], the weighted sum
equals ``integral_0^1 prod_{j != i} (z_j (1 - t) + o_j t) dt``: the integral of a polynomial of
degree d - 1, which Gauss-Legendre quadrature with ``ceil(d / 2)`` nodes computes exactly. That
turns the per-leaf dynamic programme into a few whole-array products, with no cancellation.
Summing over leaves (Shapley values are linear in the game) gives the tree's values. Leaves
are grouped by ``d`` so each group runs as one set of whole-array operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tree", "TreePaths"]

# Rows are processed in blocks so that each (rows x depth x leaves) work array stays near 1 MB
# and in cache; larger blocks measured slower per row, not faster.
_BLOCK_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class Tree:
    """One binary tree in a model-neutral form.

    ``left``/``right`` are child indices (-1 at leaves); a row goes left when
    ``x[feature] <= threshold`` and, when the value is NaN, when ``nan_left`` is set.
    ``cover`` is the (weighted) number of training samples in each node and ``value`` holds
    each node's output vector (only leaves are read), already scaled by the ensemble weight.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    cover: np.ndarray
    value: np.ndarray


class TreePaths:
    """Every root-to-leaf path of an ensemble, grouped by the number of features it tests."""

    def __init__(self, trees: list[Tree], n_features: int, n_outputs: int) -> None:
        paths: list[list[tuple[int, float, float, bool, float]]] = []
        values: list[np.ndarray] = []
        for tree in trees:
            leaves = _paths(tree)
            paths.extend(path for _, path in leaves)
            index = np.array([leaf for leaf, _ in leaves], dtype=np.intp)
            values.append(np.asarray(tree.value, dtype=np.float64)[index].reshape(-1, n_outputs))
        value = np.concatenate(values) if values else np.zeros((0, n_outputs))
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.n_leaves = len(paths)
        self.depth = max((len(path) for path in paths), default=0)
        # Leaves that test no feature (single-leaf trees) only shift the output.
        lengths = np.array([len(path) for path in paths], dtype=np.intp)
        self._constant = value[lengths == 0].sum(axis=0)
        # One group per path length, so no work is spent on padding.
        self._groups = [
            _Group([paths[i] for i in members], value[members])
            for d in range(1, self.depth + 1)
            if len(members := np.flatnonzero(lengths == d))
        ]

    @property
    def expected_value(self) -> np.ndarray:
        """Cover-weighted mean output of the trees (the value with no feature known)."""
        return self._constant + sum(
            ((g.value * g.zero.prod(axis=0)[:, None]).sum(axis=0) for g in self._groups),
            np.zeros(self.n_outputs),
        )

    def shap_values(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(phi, output)``: shapes (rows, outputs, features) and (rows, outputs)."""
        n_rows = X.shape[0]
        phi = np.zeros((n_rows, self.n_outputs, self.n_features))
        output = np.zeros((n_rows, self.n_outputs))
        output += self._constant
        if not self._groups or n_rows == 0:
            return phi, output
        largest = max(g.depth * g.n_leaves for g in self._groups)
        block = max(1, _BLOCK_ELEMENTS // largest)
        may_be_nan = bool(np.isnan(X).any())
        for start in range(0, n_rows, block):
            rows = slice(start, min(n_rows, start + block))
            for group in self._groups:
                group.accumulate(X[rows], may_be_nan, phi[rows], output[rows])
        return phi, output


class _Group:
    """The leaves whose paths test exactly ``depth`` distinct features."""

    def __init__(self, paths: list[list[tuple[int, float, float, bool, float]]], value: np.ndarray):
        self.n_leaves = len(paths)
        self.depth = len(paths[0])
        # Columns of the (leaves, depth) tables, stored transposed: (depth, leaves).
        columns = list(zip(*(item for path in paths for item in path), strict=True))
        shape = (self.n_leaves, self.depth)
        self.feature = np.array(columns[0], dtype=np.intp).reshape(shape).T.copy()
        self.lo = np.array(columns[1], dtype=np.float64).reshape(shape).T.copy()
        self.hi = np.array(columns[2], dtype=np.float64).reshape(shape).T.copy()
        self.nan_ok = np.array(columns[3], dtype=bool).reshape(shape).T.copy()
        self.zero = np.array(columns[4], dtype=np.float64).reshape(shape).T.copy()
        self.value = value
        self.zero_cover = bool((self.zero == 0.0).any())
        # Gauss-Legendre nodes and weights on [0, 1], exact for degree <= 2 * n - 1 >= d - 1.
        nodes, node_weights = np.polynomial.legendre.leggauss((self.depth + 1) // 2)
        t = (nodes + 1.0) / 2.0
        self.t = t.tolist()
        self.node_weights = (node_weights / 2.0).tolist()
        # The part z_j (1 - t) of the factor z_j (1 - t) + o_j t: (nodes, 1, depth, leaves).
        self.factor0 = (1.0 - t)[:, None, None, None] * self.zero[None, None, :, :]
        # Slots (flattened depth-major) sorted by feature, to sum their gains per feature.
        flat = self.feature.reshape(-1)
        self.order = np.argsort(flat, kind="stable")
        self.slot_values = value[self.order % self.n_leaves]
        self.present, self.starts = np.unique(flat[self.order], return_index=True)

    def accumulate(
        self, X: np.ndarray, may_be_nan: bool, phi: np.ndarray, output: np.ndarray
    ) -> None:
        """Add this group's contributions for the rows ``X`` into ``phi`` and ``output``."""
        # Work arrays are (rows, depth, leaves): leaves innermost, so every operation runs
        # along one long contiguous axis even for a single row.
        xg = X[:, self.feature]
        one_b = (xg > self.lo) & (xg <= self.hi)
        if may_be_nan:
            one_b = np.where(np.isnan(xg), self.nan_ok, one_b)
        one = one_b.astype(np.float64)
        integral = np.zeros(one.shape)
        factors = np.empty(one.shape)
        for t, factor0, weight in zip(self.t, self.factor0, self.node_weights, strict=True):
            # Integrand at one quadrature node: prod_{j != i} of the factors, for every slot i.
            np.multiply(one, t, out=factors)
            factors += factor0
            product = factors.prod(axis=1, keepdims=True)
            product *= weight
            if self.zero_cover:
                # A zero factor needs z_i == o_i == 0, whose gain o_i - z_i is 0 anyway.
                np.copyto(factors, 1.0, where=factors == 0.0)
            np.divide(product, factors, out=factors)
            integral += factors
        gain = (one - self.zero) * integral
        # einsum, not matmul: a BLAS call for this small product can cost milliseconds of
        # thread start-up on a busy host.
        output += np.einsum("rl,lc->rc", one.prod(axis=1), self.value)
        slots = gain.reshape(X.shape[0], -1)[:, self.order]
        sums = np.add.reduceat(
            slots[:, :, None] * self.slot_values[None, :, :], self.starts, axis=1
        )
        phi[:, :, self.present] += sums.transpose(0, 2, 1)


def _paths(tree: Tree) -> list[tuple[int, list[tuple[int, float, float, bool, float]]]]:
    """Each leaf with its merged path: (feature, lo, hi, nan_follows, zero_fraction) items."""
    left, right = tree.left.tolist(), tree.right.tolist()
    feature, threshold = tree.feature.tolist(), tree.threshold.tolist()
    nan_left, cover = tree.nan_left.tolist(), tree.cover.tolist()
    result: list[tuple[int, list[tuple[int, float, float, bool, float]]]] = []
    start: dict[int, tuple[float, float, bool, float]] = {}
    stack = [(0, start)]
    while stack:
        node, conditions = stack.pop()
        if left[node] < 0:
            items = [(f, *c) for f, c in sorted(conditions.items())]
            result.append((node, items))
            continue
        f, cut, parent = feature[node], threshold[node], cover[node]
        lo, hi, nan_ok, z = conditions.get(f, (-math.inf, math.inf, True, 1.0))
        for child, goes_left in ((left[node], True), (right[node], False)):
            ratio = cover[child] / parent if parent > 0 else 0.0
            updated = dict(conditions)
            updated[f] = (
                lo if goes_left else max(lo, cut),
                min(hi, cut) if goes_left else hi,
                nan_ok and (bool(nan_left[node]) == goes_left),
                z * ratio,
            )
            stack.append((child, updated))
    return result
