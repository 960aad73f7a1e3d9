"""A demo installation: people for every role, a model registered, approved and promoted.

Used by ``garrison demo``, the gateway's end-to-end tests and ``bench/gateway.py``. The
model is a scikit-learn LogisticRegression on 20 synthetic features (no downloads),
registered by a data scientist, approved by a different person (four eyes), promoted
by the approver, and configured so the ``scoring-app`` client may call it.
"""

from __future__ import annotations

import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DemoInstallation", "demo_model", "setup_demo"]

FEATURES = [f"f{i:02d}" for i in range(20)]


def demo_model(seed: int = 7) -> tuple[Any, np.ndarray]:
    """The fitted model and its training features (labels are kept on the estimator)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, len(FEATURES)))
    w = rng.normal(size=len(FEATURES))
    y = (X @ w + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    model.garrison_train_accuracy_ = float(model.score(X, y))
    return model, X


def demo_schema(X: np.ndarray) -> dict[str, Any]:
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    return {"features": [
        {"name": n, "type": "float", "minimum": float(lo[i] - span[i]),
         "maximum": float(hi[i] + span[i])} for i, n in enumerate(FEATURES)]}


@dataclass
class DemoInstallation:
    keys: dict[str, str]
    model: str
    X: np.ndarray
    estimator: Any
    extra: dict[str, Any] = field(default_factory=dict)


def setup_demo(services: Any, admin: Any, *, model: str = "credit-risk",
               callers: tuple[str, ...] = ("scoring-app",), config: dict[str, Any] | None = None,
               ) -> DemoInstallation:
    acc = services.accounts
    keys: dict[str, str] = {}
    people = {}
    for name, role in [("alice", "data-scientist"), ("bob", "approver"),
                       ("carol", "auditor"), ("scoring-app", "client")]:
        kind = "service" if role == "client" else "human"
        people[name] = acc.create_principal(admin, name, kind=kind, roles=[role])
        keys[name] = acc.create_key(admin, name, name="demo", days=30).secret
    estimator, X = demo_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator, protocol=5))
        reference = Path(tmp) / "reference.csv"
        import pandas as pd

        pd.DataFrame(X, columns=FEATURES).to_csv(reference, index=False)
        services.registry.register(people["alice"], model, path, reference=reference,
                                   metadata={
            "framework": "scikit-learn", "description": "demo credit-risk scorer",
            "input_schema": demo_schema(X), "metrics": {
                "train_accuracy": estimator.garrison_train_accuracy_},
        })
    services.registry.approve(people["bob"], model, 1, "demo: reviewed")
    services.registry.promote(people["bob"], model, 1, reason="demo: go live")
    services.deployments.configure(people["bob"], model,
                                   {"callers": list(callers), **(config or {})})
    return DemoInstallation(keys=keys, model=model, X=X, estimator=estimator,
                            extra={"people": people})
