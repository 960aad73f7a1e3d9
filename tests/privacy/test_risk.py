"""k-anonymity, uniqueness and l-diversity against brute force; streaming equals in-memory."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from garrison.errors import InvalidInput
from garrison.privacy import assess_file_risk, assess_risk, k_anonymity

CELL = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "1", "2"]))


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, list[str]]:
    width = draw(st.integers(1, 3))
    rows = draw(
        st.lists(st.lists(CELL, min_size=width + 1, max_size=width + 1), min_size=1, max_size=25)
    )
    columns = [f"q{i}" for i in range(width)] + ["s"]
    return pd.DataFrame(rows, columns=columns, dtype="object"), columns[:-1]


def _brute(frame: pd.DataFrame, quasi: list[str]) -> tuple[int, int, int]:
    keys = [tuple(row) for row in frame[quasi].itertuples(index=False, name=None)]
    counts = Counter(keys)
    k = min(counts[key] for key in keys)
    unique = sum(1 for key in keys if counts[key] == 1)
    distinct: dict[tuple[object, ...], set[object]] = {}
    for key, s in zip(keys, frame["s"], strict=True):
        distinct.setdefault(key, set()).add(s)
    return k, unique, min(len(v) for v in distinct.values())


@settings(max_examples=80, deadline=None)
@given(tables())
def test_k_anonymity_equals_a_brute_force_count(case: tuple[pd.DataFrame, list[str]]) -> None:
    frame, quasi = case
    k, unique, l_div = _brute(frame, quasi)
    assert k_anonymity(frame, quasi) == k
    report = assess_risk(frame, quasi, sensitive="s")
    assert (report.k_anonymity, report.unique_rows, report.l_diversity) == (k, unique, l_div)
    assert report.rows == len(frame)


@settings(max_examples=25, deadline=None)
@given(tables())
def test_streamed_counts_equal_in_memory_counts(case: tuple[pd.DataFrame, list[str]]) -> None:
    import tempfile

    frame, quasi = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        frame.to_csv(path, index=False)
        streamed = assess_file_risk(path, quasi, sensitive="s", chunk_rows=2)
    text = frame.astype("object").where(frame.notna(), None)
    text = text.map(lambda x: None if x is None else str(x))
    assert streamed == assess_risk(text, quasi, sensitive="s")


def test_risky_combinations_are_ranked_by_unique_share() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame(
        {
            "zip": rng.integers(0, 40, n).astype(str),
            "age": rng.integers(20, 70, n).astype(str),
            "gender": rng.choice(["F", "M"], n),
            "constant": ["x"] * n,
        }
    )
    report = assess_risk(frame, ["zip", "age", "gender", "constant"], max_combination=3)
    shares = [c.unique_share for c in report.risky_combinations]
    assert shares == sorted(shares, reverse=True)
    top = report.risky_combinations[0]
    assert set(top.columns) >= {"zip", "age"}
    for combo in report.risky_combinations:
        unique = (frame.groupby(list(combo.columns)).size() == 1).sum()
        assert combo.unique_share == pytest.approx(unique / n)
    assert all(len(c.columns) <= 3 for c in report.risky_combinations)


def test_every_subset_up_to_the_limit_is_searched() -> None:
    frame = pd.DataFrame({c: list("aabbccdd") for c in "wxyz"})
    frame["z"] = list("abcdefgh")  # z alone makes every row unique
    report = assess_risk(frame, list("wxyz"), max_combination=2, top=50)
    assert report.risky_combinations[0].columns == ("z",)
    assert len([c for c in report.risky_combinations if "z" in c.columns]) == len(
        [c for n in (1, 2) for c in itertools.combinations("wxyz", n) if "z" in c]
    )


@pytest.mark.parametrize(
    ("quasi", "sensitive"), [([], None), (["a", "a"], None), (["a"], "a"), (["nope"], None)]
)
def test_bad_arguments_are_refused(quasi: list[str], sensitive: str | None) -> None:
    frame = pd.DataFrame({"a": ["1", "2"], "b": ["x", "y"]})
    with pytest.raises(InvalidInput):
        assess_risk(frame, quasi, sensitive=sensitive)
