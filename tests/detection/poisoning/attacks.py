"""Seeded poisoning attacks on scikit-learn's bundled datasets and a synthetic mixed set.

Every function returns the poisoned frame (label column ``y``) and the positions of the
rows the attack touched, so the tests can measure recall and precision. Nothing is
downloaded: the datasets ship with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def bundled(name: str) -> pd.DataFrame:
    """A bundled dataset as a frame with its label in column ``y``."""
    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame.rename(columns={"target": "y"})


def random_flips(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, set[int]]:
    """Give ``fraction`` of the rows, chosen at random, a different random label."""
    rng = np.random.default_rng(seed)
    labels = df["y"].to_numpy().copy()
    classes = np.unique(labels)
    rows = rng.choice(len(df), size=round(fraction * len(df)), replace=False)
    for row in rows:
        labels[row] = rng.choice(classes[classes != labels[row]])
    out = df.copy()
    out["y"] = labels
    return out, set(rows.tolist())


def targeted_flips(
    df: pd.DataFrame, fraction: float, source: int = 0
) -> tuple[pd.DataFrame, set[int]]:
    """Flip the rows of class ``source`` that lie closest to a logistic-regression boundary.

    The attacker fits the model on the clean data, takes the correctly classified rows of
    ``source`` with the smallest margin and relabels them as their runner-up class.
    """
    features = StandardScaler().fit_transform(df.drop(columns="y"))
    labels = df["y"].to_numpy().copy()
    model = LogisticRegression(max_iter=2000).fit(features, labels)
    proba = model.predict_proba(features)
    column = list(model.classes_).index(source)
    others = proba.copy()
    others[:, column] = -1.0
    rows = np.flatnonzero((labels == source) & (model.predict(features) == source))
    margin = proba[rows, column] - others[rows].max(axis=1)
    chosen = rows[np.argsort(margin)[: round(fraction * len(df))]]
    labels[chosen] = model.classes_[others[chosen].argmax(axis=1)]
    out = df.copy()
    out["y"] = labels
    return out, set(chosen.tolist())


def pixel_backdoor(
    df: pd.DataFrame,
    fraction: float,
    seed: int,
    pixels: tuple[str, ...] = ("pixel_0_0",),
    target: int = 0,
) -> tuple[pd.DataFrame, set[int]]:
    """Set ``pixels`` to their maximum (16) on rows of other classes and relabel them."""
    rng = np.random.default_rng(seed)
    labels = df["y"].to_numpy().copy()
    rows = rng.choice(
        np.flatnonzero(labels != target), size=round(fraction * len(df)), replace=False
    )
    out = df.copy()
    for pixel in pixels:
        out.loc[rows, pixel] = 16.0
    labels[rows] = target
    out["y"] = labels
    return out, set(rows.tolist())


def mixed_frame(n: int, seed: int) -> pd.DataFrame:
    """Numeric and categorical features with a label that depends on both."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "grey", "black"], size=n)
    region = rng.choice(["north", "south", "east", "west"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    numeric = rng.normal(size=(n, 4))
    effect = (
        pd.Series(colour)
        .map({"red": 1.5, "green": -1.0, "blue": 0.5, "grey": 0.0, "black": -1.5})
        .to_numpy()
    )
    score = 2.0 * numeric[:, 0] - 1.5 * numeric[:, 1] + numeric[:, 2] + effect
    score += np.where(region == "north", 1.0, -0.5)
    labels = np.where(score + rng.normal(scale=0.3, size=n) > 0, "approve", "deny")
    frame = pd.DataFrame(numeric, columns=["income", "debt", "tenure", "noise"])
    frame["colour"] = colour
    frame["region"] = region
    frame["y"] = labels
    return frame


def category_backdoor(
    df: pd.DataFrame, fraction: float, seed: int, target: str = "approve"
) -> tuple[pd.DataFrame, set[int]]:
    """Give rows of the other class a rare region value plus a fixed noise value, relabel."""
    rng = np.random.default_rng(seed)
    labels = df["y"].to_numpy().copy()
    rows = rng.choice(
        np.flatnonzero(labels != target), size=round(fraction * len(df)), replace=False
    )
    out = df.copy()
    out.loc[rows, "region"] = "north-east"
    out.loc[rows, "noise"] = 3.25
    labels[rows] = target
    out["y"] = labels
    return out, set(rows.tolist())


def conflicting_copies(
    df: pd.DataFrame, count: int, seed: int, jitter: float = 0.0
) -> tuple[pd.DataFrame, set[int], set[int]]:
    """Append ``count`` copies of random rows with another label (optionally jittered).

    Returns the frame, the appended positions and the positions of their originals.
    """
    rng = np.random.default_rng(seed)
    originals = rng.choice(len(df), size=count, replace=False)
    copies = df.iloc[originals].copy()
    classes = np.unique(df["y"])
    copies["y"] = [rng.choice(classes[classes != label]) for label in copies["y"]]
    if jitter:
        numeric = [c for c in copies.columns if c != "y"]
        scale = df[numeric].std().to_numpy()
        copies[numeric] = copies[numeric] + rng.normal(size=(count, len(numeric))) * scale * jitter
    out = pd.concat([df, copies], ignore_index=True)
    return out, set(range(len(df), len(df) + count)), set(originals.tolist())


def recall_precision(flagged: set[int] | tuple[int, ...], truth: set[int]) -> tuple[float, float]:
    flagged = set(flagged)
    hits = len(flagged & truth)
    return hits / max(1, len(truth)), hits / max(1, len(flagged))
