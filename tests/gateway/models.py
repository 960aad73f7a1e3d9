"""More production models next to the demo's, for the isolation and fault tests."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

from garrison.demo import FEATURES, demo_model, demo_schema


def add_model(services: Any, demo: Any, name: str, *, seed: int = 11,
              config: dict[str, Any] | None = None, attrs: dict[str, Any] | None = None,
              ) -> int:
    """Register, approve and promote a copy of the demo model as ``name`` (servability
    checks included); its callers are the demo's. ``attrs`` are set on the estimator
    before it is pickled (a test server's fault switch). Returns the new version."""
    import pandas as pd

    people = demo.extra["people"]
    estimator, X = demo_model(seed)
    for key, value in (attrs or {}).items():
        setattr(estimator, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(pickle.dumps(estimator, protocol=5))
        reference = Path(tmp) / "reference.csv"
        pd.DataFrame(X, columns=FEATURES).to_csv(reference, index=False)
        v = services.registry.register(people["alice"], name, path, reference=reference,
                                       metadata={"input_schema": demo_schema(X)})
    services.registry.approve(people["bob"], name, v.version, "reviewed")
    services.registry.promote(people["bob"], name, v.version, reason="go live")
    services.deployments.configure(people["bob"], name,
                                   {"callers": ["scoring-app"], **(config or {})})
    return int(v.version)


def artifact_path(home: Path, name: str, version: int) -> Path:
    """Where the local artifact store keeps a version's sealed artifact."""
    return home / "artifacts" / name / f"{version}.sealed"


def row(X: Any, i: int = 0) -> dict[str, float]:
    return {n: float(X[i, j]) for j, n in enumerate(FEATURES)}
