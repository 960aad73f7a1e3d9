"""The offline commands, run in-process with click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from click.testing import CliRunner
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from garrison.cli.detect import detect_group, drift_group
from garrison.detection import Profile

from .conftest import correlated_frame


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    ref = correlated_frame(rng, 3000, 4)
    same = correlated_frame(rng, 1500, 4)
    shifted = same.assign(x0=same["x0"] + 1.0)
    out = {"ref": root / "ref.csv", "same": root / "same.parquet",
           "shifted": root / "shifted.csv", "profile": root / "ref.json"}
    ref.to_csv(out["ref"], index=False)
    same.to_parquet(out["same"])
    shifted.to_csv(out["shifted"], index=False)
    out["profile"].write_text(json.dumps(Profile.from_frame(ref).to_dict()))
    rows = same.iloc[:20].copy().astype(object)
    rows.loc[3, "x1"] = 1e9
    rows.loc[5, "x2"] = "abc"
    out["rows"] = root / "rows.csv"
    rows.to_csv(out["rows"], index=False)
    out["clean"] = root / "clean.csv"
    same.iloc[:10].to_csv(out["clean"], index=False)
    y = (ref["x0"] > ref["x0"].median()).astype(int)
    out["model"] = root / "model.skops"
    sio.dump(LogisticRegression().fit(ref.to_numpy(), y), out["model"])
    out["tree"] = root / "tree.skops"
    sio.dump(RandomForestClassifier(3).fit(ref.to_numpy(), y), out["tree"])
    out["bad"] = root / "bad.csv"
    out["bad"].write_text("")
    return out


def test_drift_compare_exit_codes_and_json(files: dict[str, Path]) -> None:
    runner = CliRunner()
    quiet = runner.invoke(drift_group, ["compare", str(files["ref"]), str(files["same"])])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.startswith("no drift")
    loud = runner.invoke(drift_group, ["compare", str(files["profile"]), str(files["shifted"]),
                                       "--json"])
    assert loud.exit_code == 1
    body = json.loads(loud.output)
    assert body["drifted"] is True and body["drifted_features"] == ["x0"]
    assert {"rows_reference", "rows_current", "alpha", "correction", "features",
            "correlation"} <= set(body)
    checks = body["features"][0]["checks"]
    check = next(c for c in checks if c["check"] == "distribution")
    assert check["method"] == "ks" and check["drifted"] is True
    location = next(c for c in checks if c["check"] == "location")
    assert location["method"] == "rank-location" and location["drifted"] is True


def test_detect_inputs_flags_rows(files: dict[str, Path]) -> None:
    runner = CliRunner()
    result = runner.invoke(detect_group, ["inputs", "--reference", str(files["ref"]),
                                          "--model", str(files["model"]), str(files["rows"]),
                                          "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert body["rows"] == 20 and body["anomalous"] >= 2
    flagged = {r["row"]: r for r in body["results"] if r["anomalous"]}
    assert "out-of-range:x1" in flagged[3]["reasons"]
    assert "wrong-type:x2" in flagged[5]["reasons"]
    ids = {d["id"] for d in body["detectors"]}
    assert {"mahalanobis", "perturbation-instability"} <= ids
    clean = runner.invoke(detect_group, ["inputs", "--reference", str(files["ref"]),
                                         str(files["clean"])])
    assert clean.exit_code == 0, clean.output
    assert clean.output.startswith("0 of 10 rows anomalous")


@pytest.mark.parametrize("args", [
    ["compare", "missing.csv", "also-missing.csv"],
    ["compare", "{bad}", "{ref}"],
    ["compare", "{ref}", "{model}"],
])
def test_drift_input_errors_exit_2(files: dict[str, Path], args: list[str]) -> None:
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = CliRunner().invoke(drift_group, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error (invalid-input): " in result.output


def test_detect_refuses_untrusted_and_pickle_models(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    runner = CliRunner()
    tree = runner.invoke(detect_group, ["inputs", "--reference", str(files["ref"]),
                                        "--model", str(files["tree"]), str(files["rows"])])
    assert tree.exit_code == 2 and "trust" in tree.output
    pickle_file = tmp_path / "model.joblib"
    pickle_file.write_bytes(b"not really")
    joblib = runner.invoke(detect_group, ["inputs", "--reference", str(files["ref"]),
                                          "--model", str(pickle_file), str(files["rows"])])
    assert joblib.exit_code == 2 and ".skops" in joblib.output
    mismatch = runner.invoke(detect_group, ["inputs", "--reference", str(files["ref"]),
                                            str(files["bad"])])
    assert mismatch.exit_code == 2
