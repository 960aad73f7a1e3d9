"""Seeded synthetic data shared by the detection tests (nothing is downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def correlated_frame(rng: np.random.Generator, n: int, d: int = 6) -> pd.DataFrame:
    """Gaussian rows with a fixed, strongly correlated covariance."""
    mix = np.random.default_rng(1234).normal(size=(d, d)) / np.sqrt(d) + 0.8 * np.eye(d)
    data = rng.normal(size=(n, d)) @ mix + np.arange(d)
    return pd.DataFrame(data, columns=[f"x{i}" for i in range(d)])


@pytest.fixture
def det_rng() -> np.random.Generator:
    return np.random.default_rng(20260101)


@pytest.fixture
def det_reference(det_rng: np.random.Generator) -> pd.DataFrame:
    return correlated_frame(det_rng, 2000)
