"""Fixtures for encrypted inference: fitted models, deployments and key pairs.

Key generation and model fitting are the slow parts, so everything here is built once
per session and shared; tests must not mutate these objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from garrison.he import EncryptedScorer, HEClient, HEParams, LinearHEModel, compile_model


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def _split(loader: Any) -> Split:
    X, y = loader(return_X_y=True)
    return Split(*train_test_split(X, y, test_size=0.25, random_state=0))


@pytest.fixture(scope="session")
def cancer() -> Split:
    return _split(load_breast_cancer)


@pytest.fixture(scope="session")
def wine() -> Split:
    return _split(load_wine)


@pytest.fixture(scope="session")
def diabetes() -> Split:
    return _split(load_diabetes)


@dataclass
class Deployment:
    """A fitted estimator, its compiled model, parameters, a scorer and registered clients."""

    estimator: Any
    model: LinearHEModel
    params: HEParams
    scorer: EncryptedScorer
    single: HEClient | None
    batch: HEClient


def deploy(estimator: Any, *, single: bool = True, **params_kw: Any) -> Deployment:
    model = compile_model(estimator)
    params = HEParams.for_model(model, **params_kw)
    scorer = EncryptedScorer(model, params)
    single_client = HEClient.generate(params, mode="single") if single else None
    batch_client = HEClient.generate(params, mode="batch")
    for client in (single_client, batch_client):
        if client is not None:
            assert scorer.register(client.registration()) == client.context_id
    return Deployment(estimator, model, params, scorer, single_client, batch_client)


@pytest.fixture(scope="session")
def cancer_lr(cancer: Split) -> Deployment:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return deploy(est.fit(cancer.X_train, cancer.y_train))


@pytest.fixture(scope="session")
def wine_lr(wine: Split) -> Deployment:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return deploy(est.fit(wine.X_train, wine.y_train))
