"""Shared set-up of the gate-flow tests: an installation, a holdout set, a model, and a
runner fake that answers what a test tells it (the real sandbox is tested on its own)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from garrison.gates.sandbox import GateRequest, GateRunOutcome

rng = np.random.default_rng(16)
FRAME = pd.DataFrame({"age": rng.integers(18, 80, 300).astype(float),
                      "income": rng.normal(50, 10, 300), "debt": rng.normal(10, 3, 300)})
FRAME["label"] = (FRAME["income"] - 3 * FRAME["debt"] > 20).astype(int)
FEATURES = ["age", "income", "debt"]
SCHEMA = {"input_schema": {"features": [{"name": n, "type": "float"} for n in FEATURES]}}


def model_bytes(c: float = 1.0) -> bytes:
    model = LogisticRegression(C=c, max_iter=500).fit(FRAME[FEATURES], FRAME["label"])
    return pickle.dumps(model, protocol=5)


def verdict(passed: bool, policy_digest: str = "x", reason: str = "") -> dict[str, Any]:
    return {"passed": passed, "policy_digest": policy_digest, "checks": [
        {"name": "performance", "passed": passed,
         "reason": reason or ("accuracy 0.95 >= floor 0.9" if passed
                              else "accuracy 0.41 is below the floor 0.9"),
         "metrics": {"accuracy": 0.95 if passed else 0.41}, "thresholds": {"floor": 0.9}}]}


@dataclass
class FakeRunner:
    """Answers each run with ``answer`` (a GateResult mapping) or ``problem``; records the
    requests it got."""

    answer: dict[str, Any] | None = field(default_factory=lambda: verdict(True))
    problem: str = ""
    requests: list[GateRequest] = field(default_factory=list)

    def run(self, request: GateRequest, progress: Any = None) -> GateRunOutcome:
        self.requests.append(request)
        if progress is not None:
            progress(0.5, "evaluating")
        return GateRunOutcome(self.answer, self.problem)


def register_holdout(services: Any, person: Any, tmp_path: Path, name: str = "holdout") -> Any:
    path = tmp_path / f"{name}.csv"
    FRAME.to_csv(path, index=False)
    return services.datasets.register(person, path, name, target="label")


def register_model(services: Any, person: Any, tmp_path: Path, name: str = "credit",
                   c: float = 1.0) -> Any:
    path = tmp_path / f"{name}-{c}.pkl"
    path.write_bytes(model_bytes(c))
    return services.registry.register(person, name, path, SCHEMA)
