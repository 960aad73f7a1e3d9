"""Shared test data of the registry tests: small models that can serve."""

from __future__ import annotations

import pickle
from functools import lru_cache

#: Metadata that makes a 4-feature model (``fitted``, ``servable_model_bytes``) servable:
#: versions without an input schema can be registered but never approved or promoted.
SERVABLE = {"input_schema": {"features": [{"name": f"x{i}"} for i in range(4)]}}


@lru_cache(maxsize=4)
def servable_model_bytes(seed: int = 0) -> bytes:
    """A pickled scikit-learn classifier on 4 numeric features ``x0..x3`` (fitted on arrays,
    so it declares a count and no names)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return pickle.dumps(LogisticRegression().fit(X, y), protocol=5)
