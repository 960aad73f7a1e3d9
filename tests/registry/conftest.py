from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.app import initialize
from garrison.config import load_settings


@pytest.fixture(scope="session")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


@pytest.fixture
def model_file(tmp_path, fitted) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted[0], protocol=5))
    return path


@pytest.fixture
def env(tmp_path, db_url, clock):
    """An initialized installation with one principal per role."""
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    services, admin, _ = initialize(settings, "root", clock=clock)
    acc = services.accounts
    people = {"root": admin}
    for name, roles in [("alice", ["data-scientist"]), ("bob", ["approver"]),
                        ("carol", ["data-scientist", "approver"]), ("dan", ["auditor"])]:
        people[name] = acc.create_principal(admin, name, roles=roles)
    yield services, people
    services.close()
