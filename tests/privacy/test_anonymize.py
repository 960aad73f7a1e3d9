"""Anonymization reaches the target k, verified by recomputation on the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from garrison.errors import InvalidInput
from garrison.privacy import (
    DateHierarchy,
    NumericHierarchy,
    PrefixHierarchy,
    anonymize_file,
    class_sizes,
    infer_hierarchy,
    k_anonymity,
    plan_anonymization,
)

QUASI = ["age", "zip", "gender", "dob"]


def _people(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years = rng.integers(1940, 2006, n)
    return pd.DataFrame(
        {
            "name": [f"person {i}" for i in range(n)],
            "age": (2025 - years).astype(str),
            "zip": [f"{z:05d}" for z in rng.choice(rng.integers(0, 99999, 60), n)],
            "gender": rng.choice(["F", "M", "X"], n, p=[0.49, 0.49, 0.02]),
            "dob": [
                f"{y}-{m:02d}-{d:02d}"
                for y, m, d in zip(
                    years, rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True
                )
            ],
            "diagnosis": rng.choice(["E11.9", "I10", "J45.909", "F32.9"], n),
        }
    )


@pytest.mark.parametrize("k", [2, 5, 10, 25])
def test_plan_reaches_target_k_verified_by_recomputation(k: int) -> None:
    frame = _people(3000)
    assert k_anonymity(frame, QUASI) == 1
    plan = plan_anonymization(frame, QUASI, k, max_suppression=0.05)
    out, dropped = plan.apply(frame)
    assert k_anonymity(out, QUASI) >= k
    assert k_anonymity(out, QUASI) == plan.k_reached
    assert dropped == plan.rows_suppressed <= 0.05 * len(frame)
    assert len(out) + dropped == len(frame)


def test_the_plan_is_minimal_along_each_axis() -> None:
    frame = _people(2000, seed=3)
    k, cap = 5, 0.05
    plan = plan_anonymization(frame, QUASI, k, max_suppression=cap)
    for i, level in enumerate(plan.levels):
        if level == 0:
            continue
        lower = list(plan.levels)
        lower[i] -= 1
        from garrison.privacy import generalize_frame

        sizes = class_sizes(generalize_frame(frame, plan.hierarchies, lower), QUASI)
        assert sizes[sizes < k].sum() > cap * len(frame)


def test_a_zero_suppression_cap_generalizes_further() -> None:
    frame = _people(1500, seed=4)
    loose = plan_anonymization(frame, QUASI, 5, max_suppression=0.1)
    strict = plan_anonymization(frame, QUASI, 5, max_suppression=0.0)
    assert strict.rows_suppressed == 0
    assert sum(strict.levels) >= sum(loose.levels)
    assert k_anonymity(strict.apply(frame)[0], QUASI) >= 5


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_anonymize_file_streams_and_verifies(tmp_path: Path, suffix: str) -> None:
    frame = _people(2500, seed=5)
    source = tmp_path / f"in{suffix}"
    out = tmp_path / f"out{suffix}"
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)
    result = anonymize_file(source, out, QUASI, 10, drop=["name"], chunk_rows=700)
    written = pd.read_csv(out, dtype=str) if suffix == ".csv" else pd.read_parquet(out)
    assert "name" not in written.columns
    assert len(written) == result.rows_written == len(frame) - result.rows_suppressed
    assert k_anonymity(written, QUASI) == result.k_verified >= 10
    assert result.rows_suppressed <= 0.05 * len(frame)
    assert set(written["diagnosis"]) <= set(frame["diagnosis"])


def test_refusals(tmp_path: Path) -> None:
    frame = _people(10)
    with pytest.raises(InvalidInput):
        plan_anonymization(frame, QUASI, 11)
    with pytest.raises(InvalidInput):
        plan_anonymization(frame, ["missing"], 2)
    with pytest.raises(InvalidInput):
        plan_anonymization(frame, QUASI, 0)
    path = tmp_path / "x.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidInput):
        anonymize_file(path, path, QUASI, 2)
    with pytest.raises(InvalidInput):
        anonymize_file(path, tmp_path / "o.csv", ["age"], 2, drop=["age"])


def test_hierarchies_are_inferred_from_values() -> None:
    assert isinstance(infer_hierarchy(pd.Series(["34", "51", "7"]), "a", 5), NumericHierarchy)
    assert isinstance(infer_hierarchy(pd.Series(["02139", "10001"]), "z", 5), PrefixHierarchy)
    assert isinstance(
        infer_hierarchy(pd.Series(["1980-01-02", "1975-12-31"]), "d", 5), DateHierarchy
    )
    ages = NumericHierarchy("a", (5, 10))
    assert ages.apply(pd.Series(["34", "40", None]), 1).tolist() == ["30-34", "40-44", None]
    assert ages.apply(pd.Series(["34"]), 3).tolist() == ["*"]
    zips = PrefixHierarchy("z", 5)
    assert zips.apply(pd.Series(["02139"]), 2).tolist() == ["021**"]
    dates = DateHierarchy("d")
    assert dates.apply(pd.Series(["1983-07-14"]), 2).tolist() == ["1983"]
    assert dates.apply(pd.Series(["1983-07-14"]), 4).tolist() == ["1980-1989"]
