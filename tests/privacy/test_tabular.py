"""Streaming reads, the reservoir sample and the minimization report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import garrison.privacy as privacy
from garrison.errors import InvalidInput
from garrison.privacy import ColumnFinding, minimization_report, scan_file
from garrison.privacy.tabular import Reservoir, iter_chunks, list_columns
from garrison.schema import FeatureSpec, InputSchema

from .helpers import CLOCK


def test_reservoir_is_a_uniform_sample_without_replacement() -> None:
    hits = np.zeros(10, dtype=int)
    for seed in range(40):
        reservoir = Reservoir(500, np.random.default_rng(seed))
        for start in range(0, 10_000, 1_300):
            stop = min(start + 1_300, 10_000)
            reservoir.add(pd.DataFrame({"v": [str(i) for i in range(start, stop)]}))
        sample = [int(x) for x in reservoir.sample("v")]
        assert len(sample) == len(set(sample)) == 500
        hits += np.bincount(np.array(sample) // 1000, minlength=10)
    expected = 40 * 500 / 10
    assert np.all(np.abs(hits - expected) < 0.1 * expected)
    assert reservoir.rows == 10_000 and reservoir.non_null["v"] == 10_000


def test_nulls_and_blanks_are_not_sampled() -> None:
    reservoir = Reservoir(10, np.random.default_rng(0))
    reservoir.add(pd.DataFrame({"v": ["a", None, "  ", "b"]}))
    assert sorted(reservoir.sample("v")) == ["a", "b"]
    assert reservoir.non_null["v"] == 2


def test_scan_file_samples_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    frame = pd.DataFrame(
        {
            "id": [f"{i:08d}" for i in range(6000)],
            "email": [f"user{i}@example.com" for i in range(6000)],
        }
    )
    frame.to_csv(path, index=False)
    report = scan_file(path, sample_size=700, chunk_rows=1000, clock=CLOCK)
    assert report.rows == 6000
    assert report.column("email").sampled == 700
    assert report.column("email").non_null == 6000
    assert report.column("email").types == {"email"}


def test_text_reading_keeps_leading_zeros_and_plus_signs(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,phone\n02139,+1 212 555 0100\n")
    chunk = next(iter_chunks(path))
    assert chunk.loc[0, "zip"] == "02139" and chunk.loc[0, "phone"].startswith("+")


def test_unknown_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    with pytest.raises(InvalidInput):
        list(iter_chunks(path, columns=["b"]))


@pytest.mark.parametrize(
    "header",
    ["id,a,a", "id,a,\"a\"", "\ufeffa,a", "\n\na;x,a;x"],
    ids=["plain", "quoted", "bom", "blank-lines"],
)
def test_repeated_csv_headers_are_refused_not_renamed(tmp_path: Path, header: str) -> None:
    # pandas would silently read the second "a" as "a.1".
    path = tmp_path / "dup.csv"
    path.write_text(f"{header}\n1,2,3\n", encoding="utf-8")
    for read in (lambda: list_columns(path), lambda: list(iter_chunks(path)),
                 lambda: list(iter_chunks(path, columns=["a"]))):
        with pytest.raises(InvalidInput, match=r"dup\.csv has duplicate column name\(s\) \['a"):
            read()


def test_repeated_parquet_columns_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([pa.array(["1"]), pa.array(["2"])], names=["a", "a"]), path)
    with pytest.raises(InvalidInput, match=r"duplicate column name\(s\) \['a'\]"):
        list_columns(path)
    with pytest.raises(InvalidInput, match="duplicate column name"):
        list(iter_chunks(path))


def test_distinct_csv_headers_still_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("\ufeffa,a.1,\"b,c\"\n1,2,3\n,5,6\n", encoding="utf-8")
    assert list_columns(path) == ["a", "a.1", "b,c"]
    [chunk] = list(iter_chunks(path))
    assert chunk.columns.tolist() == ["a", "a.1", "b,c"]
    assert chunk["a.1"].tolist() == ["2", "5"] and chunk["a"].isna().tolist() == [False, True]
    [picked] = list(iter_chunks(path, columns=["b,c"]))
    assert picked["b,c"].tolist() == ["3", "6"]


def test_minimization_report() -> None:
    schema = InputSchema((FeatureSpec("age", "int"), FeatureSpec("income"), FeatureSpec("tenure")))
    findings = {
        "email": ColumnFinding("email", "direct_identifier", 0.99),
        "age": ColumnFinding("age", "quasi_identifier", 0.9),
        "notes": ColumnFinding("notes", "non_pii", 0.7),
    }
    report = minimization_report(
        ["email", "age", "income", "notes", "label"], schema, findings=findings, keep=["label"]
    )
    assert report.unneeded == ("email", "notes")
    assert report.unneeded_pii == ("email",)
    assert report.missing_features == ("tenure",)
    assert report.used_pii == ("age",)
    assert report.kept == ("label",)
    assert not report.ok


def test_every_public_name_is_exported() -> None:
    for name in privacy.__all__:
        assert hasattr(privacy, name), name
    public = {n for n in dir(privacy) if not n.startswith("_")}
    modules = {
        "anonymize",
        "attributes",
        "builtin",
        "classify",
        "detectors",
        "generalize",
        "lexicon",
        "minimize",
        "pseudonym",
        "risk",
        "scan",
        "tabular",
        "validators",
        "annotations",
    }
    assert public - modules - set(privacy.__all__) == set()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_without_rows_still_lists_its_columns(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    frame = pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.Series([], dtype="str")})
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    report = scan_file(path, clock=CLOCK)
    assert report.rows == 0
    assert [c.name for c in report.columns] == ["a", "b"]
    assert all(c.role == "non_pii" for c in report.columns)
