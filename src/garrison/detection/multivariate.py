"""Multivariate per-request detectors fitted on the reference, scored with numpy.

scikit-learn fits the models; scoring never calls scikit-learn per row. The fitted
parameters (robust covariance, tree arrays, network weights) are extracted once and
scores are computed with vectorized numpy, which keeps a single request in the
microsecond range. Tests check each score against scikit-learn's own.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.covariance import MinCovDet
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from garrison.detection.base import DetectorInfo, FitContext, register_detector
from garrison.errors import InvalidInput

__all__ = [
    "AutoencoderDetector",
    "IsolationForestDetector",
    "MagnitudeDetector",
    "MahalanobisDetector",
]


class MagnitudeDetector:
    """Extreme magnitude: the largest robust z-score |x - median| / (1.4826 MAD) of a row."""

    id = "magnitude"

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        self.center = np.median(reference, axis=0)
        mad = 1.4826 * np.median(np.abs(reference - self.center), axis=0)
        # A column whose MAD is zero (mostly constant, or 0/1) falls back to its std.
        self.inv_scale = 1.0 / np.where(mad > 0, mad, context.scale)

    def score(self, rows: np.ndarray) -> np.ndarray:
        z = np.abs(rows - self.center)
        z *= self.inv_scale
        return z.max(axis=1)

    def score_one(self, x: np.ndarray) -> float:
        z = np.abs(x - self.center)
        z *= self.inv_scale
        return float(z.max())


class MahalanobisDetector:
    """Squared Mahalanobis distance under a robust (Minimum Covariance Determinant) fit.

    The data are standardized, MinCovDet estimates location and covariance on at most
    ``max_rows`` rows, and ``ridge`` is added to the diagonal so that a degenerate
    column cannot make the precision matrix singular. Scoring is one matmul with the
    Cholesky factor of the precision matrix.
    """

    id = "mahalanobis"

    def __init__(self, max_rows: int = 500, ridge: float = 1e-3) -> None:
        self.max_rows = max_rows
        self.ridge = ridge

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        sample = _subsample(reference, self.max_rows, context.rng)
        mean = sample.mean(axis=0)
        z = (sample - mean) / context.scale
        seed = int(context.rng.integers(2**31 - 1))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mcd = MinCovDet(random_state=seed).fit(z)
            location, cov = mcd.location_, mcd.covariance_
        except (ValueError, np.linalg.LinAlgError):
            # MinCovDet fails on some degenerate data; the classical estimate is
            # the documented fallback.
            location, cov = z.mean(axis=0), np.cov(z, rowvar=False).reshape(z.shape[1], -1)
        cov = cov + self.ridge * np.eye(cov.shape[0])
        precision = np.linalg.inv(cov)
        precision = (precision + precision.T) / 2
        chol = np.linalg.cholesky(precision)
        # Fold the standardization into the transform: d(x) = ||(x - c) @ T||^2.
        self.center = mean + location * context.scale
        self.transform = chol / context.scale[:, None]

    def score(self, rows: np.ndarray) -> np.ndarray:
        t = (rows - self.center) @ self.transform
        t *= t
        return t.sum(axis=1)

    def score_one(self, x: np.ndarray) -> float:
        t = (x - self.center) @ self.transform
        return float(t @ t)


class IsolationForestDetector:
    """Isolation forest; score = ``-score_samples`` = 2^(-mean path / c(n)), in (0, 1].

    The fitted trees are flattened into padded arrays and all trees are walked at once
    with numpy, which matches scikit-learn's ``score_samples`` exactly (features are
    compared in float32, as scikit-learn does).
    """

    id = "isolation-forest"

    def __init__(self, n_estimators: int = 100, max_samples: int = 256) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        seed = int(context.rng.integers(2**31 - 1))
        forest = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(self.max_samples, len(reference)),
            max_features=1.0, random_state=seed,
        ).fit(reference)
        self.forest = forest
        trees = [est.tree_ for est in forest.estimators_]
        width = max(t.node_count for t in trees)
        n_trees = len(trees)
        self.left = np.full((n_trees, width), -1, dtype=np.intp)
        self.right = np.full((n_trees, width), -1, dtype=np.intp)
        self.feature = np.zeros((n_trees, width), dtype=np.intp)
        self.threshold = np.zeros((n_trees, width))
        self.leaf_value = np.zeros((n_trees, width))
        for t, tree in enumerate(trees):
            m = tree.node_count
            self.left[t, :m] = tree.children_left
            self.right[t, :m] = tree.children_right
            self.feature[t, :m] = np.maximum(tree.feature, 0)
            self.threshold[t, :m] = tree.threshold
            depth = _node_depths(tree.children_left, tree.children_right)
            self.leaf_value[t, :m] = depth + _average_path_length(tree.n_node_samples)
        self.max_depth = int(max(t.max_depth for t in trees))
        self.denominator = n_trees * float(
            _average_path_length(np.array([forest.max_samples_]))[0]
        )
        self._rows = np.arange(n_trees)

    def score(self, rows: np.ndarray) -> np.ndarray:
        x = rows.astype(np.float32).astype(np.float64)
        n = x.shape[0]
        node = np.zeros((n, self.left.shape[0]), dtype=np.intp)
        tree_idx = np.broadcast_to(self._rows, node.shape)
        sample_idx = np.arange(n)[:, None]
        for _ in range(self.max_depth):
            left = self.left[tree_idx, node]
            internal = left >= 0
            if not internal.any():
                break
            feat = self.feature[tree_idx, node]
            go_left = x[sample_idx, feat] <= self.threshold[tree_idx, node]
            node = np.where(internal, np.where(go_left, left, self.right[tree_idx, node]), node)
        depths = self.leaf_value[tree_idx, node].sum(axis=1)
        if self.denominator == 0:
            return np.ones(n)
        return 2.0 ** (-depths / self.denominator)


class AutoencoderDetector:
    """Reconstruction error of a small autoencoder (MLPRegressor trained on X -> X).

    Inputs are standardized; the network has one tanh hidden layer of ``bottleneck``
    units (default: a third of the columns, at least 2) between two wider layers.
    The score is the mean squared reconstruction error, computed with numpy matmuls
    from the extracted weights.
    """

    id = "autoencoder"

    def __init__(self, bottleneck: int | None = None, max_iter: int = 200,
                 max_rows: int = 2000) -> None:
        self.bottleneck = bottleneck
        self.max_iter = max_iter
        self.max_rows = max_rows

    def fit(self, reference: np.ndarray, context: FitContext) -> None:
        d = reference.shape[1]
        if d < 2:
            raise InvalidInput("the autoencoder needs at least two numeric features")
        width = self.bottleneck or max(2, d // 3)
        sample = _subsample(reference, self.max_rows, context.rng)
        self.mean = sample.mean(axis=0)
        self.inv_scale = 1.0 / context.scale
        z = (sample - self.mean) * self.inv_scale
        hidden = max(2 * width, min(2 * d, 32))
        net = MLPRegressor(
            hidden_layer_sizes=(hidden, width, hidden), activation="tanh", alpha=1e-4,
            max_iter=self.max_iter, early_stopping=True, n_iter_no_change=15,
            random_state=int(context.rng.integers(2**31 - 1)),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.fit(z, z)
        self.net = net
        self.weights = [w.copy() for w in net.coefs_]
        self.biases = [b.copy() for b in net.intercepts_]

    def score(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - self.mean) * self.inv_scale
        h = z
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=False)):
            h = h @ w + b
            if i < last:
                np.tanh(h, out=h)
        return np.mean((h - z) ** 2, axis=1)


def _subsample(data: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(data) <= limit:
        return data
    return data[rng.choice(len(data), size=limit, replace=False)]


def _node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(left))
    for node in range(len(left)):
        # Children always have larger ids than their parent in scikit-learn trees.
        if left[node] >= 0:
            depth[left[node]] = depth[node] + 1
            depth[right[node]] = depth[node] + 1
    return depth


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """Average path length of an unsuccessful search in a BST of ``n`` nodes."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


register_detector(DetectorInfo(
    id="magnitude", factory=MagnitudeDetector,
    description="Largest robust z-score of the row (extreme magnitude in any one feature).",
))
register_detector(DetectorInfo(
    id="mahalanobis", factory=MahalanobisDetector,
    description="Squared Mahalanobis distance under a MinCovDet robust covariance "
    "(joint outliers).",
    params={"max_rows": 500, "ridge": 1e-3},
))
register_detector(DetectorInfo(
    id="isolation-forest", factory=IsolationForestDetector,
    description="Isolation forest path length, walked in numpy over all trees at once.",
    params={"n_estimators": 100, "max_samples": 256},
))
register_detector(DetectorInfo(
    id="autoencoder", factory=AutoencoderDetector,
    description="Reconstruction error of a small MLP autoencoder through a bottleneck.",
    params={"bottleneck": None, "max_iter": 200, "max_rows": 2000},
))
