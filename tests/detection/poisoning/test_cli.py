"""`garrison data poison-check`, invoked through click's CliRunner on the command object."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from garrison.cli.poison import poison_check_command
from tests.detection.poisoning.attacks import bundled, random_flips


def _separated(n: int = 200) -> pd.DataFrame:
    """Two far-apart, tight clusters: nothing in it is suspicious."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], n // 2)
    data = rng.uniform(-1.0, 1.0, size=(n, 3)) + labels[:, None] * 10.0
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    frame["y"] = labels
    return frame


@pytest.fixture(scope="module")
def poisoned_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("poison") / "train.csv"
    random_flips(bundled("wine"), 0.05, seed=0)[0].to_csv(path, index=False)
    return path


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "clean.parquet"
    _separated().to_parquet(path, index=False)
    result = CliRunner().invoke(poison_check_command, [str(path), "--target", "y"])
    assert result.exit_code == 0, result.output
    assert "No suspicious rows found" in result.output


def test_poisoned_file_exits_one_with_a_table(poisoned_csv: Path) -> None:
    result = CliRunner().invoke(
        poison_check_command, [str(poisoned_csv), "--target", "y", "--max-rows", "3"]
    )
    assert result.exit_code == 1, result.output
    assert "suspicious rows" in result.output and "label-issue" in result.output
    assert "Traceback" not in result.output


def test_json_output(poisoned_csv: Path) -> None:
    result = CliRunner().invoke(
        poison_check_command, [str(poisoned_csv), "--target", "y", "--json", "--max-rows", "4"]
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["kind"] == "garrison.poison-check" and data["suspicious"] is True
    assert data["findings_shown"] == 4 and data["rows_flagged"] >= 9


def test_compare_marks_new_rows(tmp_path: Path, poisoned_csv: Path) -> None:
    accepted = bundled("wine")
    accepted.to_csv(tmp_path / "accepted.csv", index=False)
    result = CliRunner().invoke(
        poison_check_command,
        [str(poisoned_csv), "--target", "y", "--compare", str(tmp_path / "accepted.csv"), "--json"],
    )
    assert result.exit_code == 1
    data = json.loads(result.output)
    comparison = data["comparison"]
    # Each flip is one removed row and one new row.
    assert comparison["new_rows"]["count"] == comparison["removed_rows"]["count"] == 9
    assert any(finding["new_row"] for finding in data["findings"])
    human = CliRunner().invoke(
        poison_check_command,
        [str(poisoned_csv), "--target", "y", "--compare", str(tmp_path / "accepted.csv")],
    )
    assert "9 new row(s), 9 removed row(s)" in human.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "label"], "unknown target column"),
        (["--target", "y", "--compare", "/nonexistent/accepted.csv"], "cannot read"),
    ],
)
def test_bad_target_or_compare_file_exits_two(
    poisoned_csv: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(poison_check_command, [str(poisoned_csv), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("content", [None, b"\x00\x01 not a table", b""])
def test_unreadable_file_exits_two(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "train.parquet"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(poison_check_command, [str(path), "--target", "y"])
    assert result.exit_code == 2
    assert result.output.startswith("error (invalid-input)")
    assert "Traceback" not in result.output


def test_command_metadata() -> None:
    assert poison_check_command.name == "poison-check"
    names = {p.name for p in poison_check_command.params}
    assert {"file", "target", "previous", "as_json", "max_rows"} <= names


def _circles_csv(tmp_path: Path) -> Path:
    from tests.detection.poisoning.test_precision import circles

    path = tmp_path / "circles.csv"
    circles().to_csv(path, index=False)
    return path


def test_a_weak_model_is_refused_loudly_with_exit_one(tmp_path: Path) -> None:
    path = _circles_csv(tmp_path)
    result = CliRunner().invoke(
        poison_check_command, [str(path), "--target", "y", "--model", "logistic"]
    )
    assert result.exit_code == 1, result.output
    assert "Labels not judged" in result.stdout
    assert "warning" in result.stderr and "labels not judged" in result.stderr
    assert "No suspicious rows found" in result.stdout  # Refused, not flagged en masse.
    data = json.loads(CliRunner().invoke(
        poison_check_command,
        [str(path), "--target", "y", "--model", "logistic", "--json"],
    ).stdout)
    assert data["labels_judged"] is False and data["model_selection"]["chosen"] == "logistic"
    # The default picks a model that can judge this set, and flags almost nothing.
    result = CliRunner().invoke(poison_check_command, [str(path), "--target", "y", "--json"])
    data = json.loads(result.stdout)
    assert data["labels_judged"] is True and data["rows_flagged"] <= 8
    assert [w.split(":")[0] for w in data["warnings"]] == ["boundary-flip"]  # LDA: circles.
    # A user may accept the weak model explicitly.
    accepted = CliRunner().invoke(poison_check_command, [
        str(path), "--target", "y", "--model", "logistic", "--min-model-skill", "0",
        "--check", "label-issue", "--json",
    ])
    assert json.loads(accepted.stdout)["labels_judged"] is True


def test_checks_and_thresholds_from_the_command_line(poisoned_csv: Path) -> None:
    result = CliRunner().invoke(poison_check_command, [
        str(poisoned_csv), "--target", "y", "--check", "outlier", "--threshold", "outlier=0.99",
        "--model", "hist_gradient_boosting", "--folds", "3", "--json",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["check"] for c in data["checks"]] == ["outlier"]
    assert data["checks"][0]["threshold"] == 0.99 and data["model"] == "none"
    result = CliRunner().invoke(poison_check_command, [
        str(poisoned_csv), "--target", "y", "--check", "label-issue",
        "--model", "hist_gradient_boosting", "--json",
    ])
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["model_selection"]["chosen"] == "hist_gradient_boosting"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "outlier"], "is not CHECK=VALUE"),
        (["--threshold", "outlier=high"], "is not CHECK=VALUE"),
        (["--threshold", "outlier=1.5"], "must be a number in [0, 1]"),
        (["--threshold", "no-such-check=0.5"], "unknown poisoning check"),
        (["--check", "no-such-check"], "unknown poisoning check"),
    ],
)
def test_bad_check_options_exit_two(poisoned_csv: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(poison_check_command, [str(poisoned_csv), "--target", "y", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
