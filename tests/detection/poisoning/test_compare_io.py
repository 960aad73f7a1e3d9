"""Comparison with the last accepted training set, and reading CSV / Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from garrison.detection.poisoning import compare_training_sets, read_table, row_hashes
from garrison.errors import InvalidInput, LimitExceeded
from tests.detection.poisoning.attacks import mixed_frame


def test_unchanged_reordered_set_reports_nothing() -> None:
    accepted = mixed_frame(500, seed=0)
    shuffled = accepted.sample(frac=1.0, random_state=1)[list(reversed(accepted.columns))]
    report = compare_training_sets(accepted, shuffled, "y")
    assert report.new_rows == () and report.removed_rows == ()
    assert not report.label_shift.shifted and report.alerts == ()


def test_new_removed_rows_label_shift_and_new_categories() -> None:
    accepted = mixed_frame(1000, seed=0)
    current = accepted.drop(index=range(0, 40)).reset_index(drop=True)
    extra = mixed_frame(200, seed=9)
    extra["y"] = "approve"
    extra.loc[:9, "region"] = "north-east"
    current = pd.concat([current, extra], ignore_index=True)
    report = compare_training_sets(accepted, current, "y")
    assert report.removed_rows == tuple(range(40))
    assert report.new_rows == tuple(range(960, 1160))
    shift = report.label_shift
    assert shift.shifted and shift.p_value < 1e-4 and shift.dof == 1
    assert shift.current["approve"] == shift.previous["approve"] + 200 - sum(
        accepted["y"].iloc[:40] == "approve"
    )
    assert report.new_categories == {"region": ("north-east",)}
    assert any("label distribution shifted" in alert for alert in report.alerts)
    data = report.to_dict(max_rows=3)
    assert data["new_rows"] == {"count": 200, "rows": [960, 961, 962]}
    assert data["label_shift"]["method"] == "chi-square test of homogeneity"


def test_a_small_random_change_is_not_a_shift() -> None:
    accepted = mixed_frame(2000, seed=0)
    current = pd.concat([accepted, mixed_frame(100, seed=5)], ignore_index=True)
    report = compare_training_sets(accepted, current, "y")
    assert len(report.new_rows) == 100 and not report.label_shift.shifted


def test_new_label_and_columns_are_reported() -> None:
    accepted = mixed_frame(300, seed=0)
    current = accepted.drop(columns=["noise"]).assign(extra=1.0)
    current.loc[0, "y"] = "escalate"
    report = compare_training_sets(accepted, current, "y")
    assert report.new_labels == ("escalate",)
    assert report.added_columns == ("extra",) and report.removed_columns == ("noise",)


def test_row_hash_normalizes_numbers_and_column_order() -> None:
    ints = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    floats = pd.DataFrame({"b": ["x", "y"], "a": [1.0, 2.0]})
    assert row_hashes(ints) == row_hashes(floats)
    assert row_hashes(ints)[0] != row_hashes(pd.DataFrame({"a": [1], "b": ["z"]}))[0]


def test_compare_rejects_unknown_target() -> None:
    with pytest.raises(InvalidInput):
        compare_training_sets(mixed_frame(50, 0), mixed_frame(50, 1), "label")


def test_read_csv_and_parquet_round_trip(tmp_path: Path) -> None:
    frame = mixed_frame(100, seed=0)
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_parquet(tmp_path / "train.parquet", index=False)
    for name in ("train.csv", "train.parquet"):
        loaded = read_table(tmp_path / name)
        assert loaded.shape == frame.shape
        assert np.allclose(loaded["income"], frame["income"])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("missing.csv", None),
        ("data.json", b"{}"),
        ("bad.parquet", b"not parquet"),
        ("empty.csv", b""),
    ],
)
def test_read_table_errors_are_invalid_input(
    tmp_path: Path, name: str, content: bytes | None
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InvalidInput):
        read_table(tmp_path / name)


def test_read_table_size_limit(tmp_path: Path) -> None:
    mixed_frame(100, seed=0).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(LimitExceeded):
        read_table(tmp_path / "train.csv", max_bytes=100)
