"""``garrison data scan`` / ``anonymize`` through click's CliRunner: shapes and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from garrison.cli.data import data_group
from garrison.privacy import k_anonymity

from .datagen import labelled_table
from .helpers import VECTORS, load_vector, schema_errors

DOCS = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = labelled_table(300, seed=21)
    rng = np.random.default_rng(0)
    frame["age"] = rng.integers(18, 90, len(frame)).astype(str)
    frame["diagnosis"] = rng.choice(["E11.9", "I10", "J45.909", "F32.9", "C50.9"], len(frame))
    path = tmp_path_factory.mktemp("data") / "people.csv"
    frame.to_csv(path, index=False)
    return path


def _invoke(*args: str) -> object:
    return CliRunner().invoke(data_group, list(args), catch_exceptions=False)


def test_scan_json_matches_the_documented_schema(table_path: Path) -> None:
    result = _invoke("scan", str(table_path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert schema_errors(report, load_vector("scan_report.schema.json")) == []
    assert len(report["columns"]) == 32
    assert report["rows"] == 300
    assert "c01" in report["summary"]["direct_identifier"]
    assert report["risk"]["k_anonymity"] >= 1
    assert "age" in report["risk"]["quasi_identifiers"]
    assert report["risk"]["sensitive"] == "diagnosis"
    assert report["risk"]["suggestion"]["target_k"] == 5


def test_scan_parquet_and_explicit_quasi(table_path: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "people.parquet"
    pd.read_csv(table_path, dtype=str).to_parquet(parquet)
    result = _invoke("scan", str(parquet), "--json", "--quasi", "age,c15", "--target-k", "3")
    report = json.loads(result.output)
    assert result.exit_code == 0
    assert report["format"] == "parquet"
    frame = pd.read_csv(table_path, dtype=str)
    assert report["risk"]["quasi_identifiers"] == ["age", "c15"]
    assert report["risk"]["k_anonymity"] == k_anonymity(frame, ["age", "c15"])


def test_scan_with_schema_reports_minimization(table_path: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "features": [
                    {"name": "age", "type": "int"},
                    {"name": "c24", "type": "float"},
                    {"name": "income", "type": "float"},
                ]
            }
        )
    )
    result = _invoke(
        "scan",
        str(table_path),
        "--json",
        "--no-risk",
        "--schema",
        str(schema),
        "--keep",
        "diagnosis",
    )
    mini = json.loads(result.output)["minimization"]
    assert "c01" in mini["unneeded"] and "c01" in mini["unneeded_pii"]
    assert "c24" not in mini["unneeded"] and "diagnosis" not in mini["unneeded"]
    assert mini["missing_features"] == ["income"]
    assert "age" in mini["used_pii"]


def test_scan_human_output(table_path: Path) -> None:
    result = _invoke("scan", str(table_path))
    assert result.exit_code == 0
    assert "k-anonymity" in result.output and "direct_identifier" in result.output


def test_anonymize_reaches_k(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "anon.csv"
    result = _invoke(
        "anonymize",
        str(table_path),
        "--quasi",
        "age",
        "--quasi",
        "c14,c15",
        "--k",
        "5",
        "--out",
        str(out),
        "--drop",
        "c00,c01",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert schema_errors(data, load_vector("anonymize_result.schema.json")) == []
    written = pd.read_csv(out, dtype=str)
    assert k_anonymity(written, ["age", "c14", "c15"]) == data["k_verified"] >= 5
    assert "c00" not in written.columns
    human = _invoke(
        "anonymize",
        str(table_path),
        "--quasi",
        "age",
        "--k",
        "5",
        "--out",
        str(tmp_path / "b.parquet"),
    )
    assert human.exit_code == 0 and "k-anonymity reached" in human.output


def _truncated_parquet(tmp: Path) -> Path:
    good = tmp / "good.parquet"
    pd.DataFrame({"a": range(1000)}).to_parquet(good)
    bad = tmp / "bad.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_truncated_parquet, "truncated"),
        (lambda t: (t / "g.csv", (t / "g.csv").write_bytes(bytes(range(256)) * 40))[0], "binary"),
        (lambda t: (t / "e.csv", (t / "e.csv").write_bytes(b""))[0], "empty"),
        (lambda t: (t / "x.csv", (t / "x.csv").write_bytes(b"\xff\xfe\xfa name\n"))[0], "UTF-8"),
        (lambda t: (t / "r.csv", (t / "r.csv").write_text("a,b\n1,2\n3,4,5,6\n"))[0], "malformed"),
        (lambda t: t / "missing.csv", "cannot read"),
    ],
)
def test_unreadable_files_exit_2_without_traceback(
    tmp_path: Path, make: object, message: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    for command in (
        ["scan", str(path)],
        ["anonymize", str(path), "--quasi", "a", "--k", "2", "--out", str(tmp_path / "o.csv")],
    ):
        result = CliRunner().invoke(data_group, command)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        )


def test_unknown_quasi_identifier_exits_2(table_path: Path) -> None:
    result = CliRunner().invoke(data_group, ["scan", str(table_path), "--quasi", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_docs_embed_the_same_json_schemas() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(\{.*?\})\n```", text, re.S)]
    for name in ("scan_report.schema.json", "anonymize_result.schema.json"):
        assert json.loads((VECTORS / name).read_text()) in blocks, name
