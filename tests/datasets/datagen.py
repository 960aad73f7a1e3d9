"""Seeded customer tables (Faker + numpy) for the dataset registry tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from faker import Faker


def customers(n: int = 300, seed: int = 11) -> pd.DataFrame:
    """Direct identifiers (name, email, phone), quasi-identifiers, numbers and a label."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    income = np.round(rng.lognormal(10.5, 0.4, n), 2)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "name": [fake.name() for _ in range(n)],
            "email": [fake.unique.email() for _ in range(n)],
            "phone": [fake.numerify("(###) ###-####").replace("(0", "(2").replace("(1", "(3")
                      for _ in range(n)],
            "age": age,
            "income": income,
            "active": rng.random(n) < 0.5,
            "label": (income > np.median(income)).astype(int),
        }
    )


def orders(frame: pd.DataFrame, seed: int = 12) -> pd.DataFrame:
    """An order table that joins ``customers`` on ``email``."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(frame), 2 * len(frame))
    return pd.DataFrame(
        {
            "email": frame["email"].to_numpy()[picks],
            "amount": np.round(rng.random(len(picks)) * 100, 2),
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
