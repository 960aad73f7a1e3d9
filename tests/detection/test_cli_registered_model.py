"""`garrison detect inputs --model NAME:VERSION` (issue 19).

Before, ``--model`` took only a loose ``.skops`` file under skops' default trust list,
which refuses tree models, and refused joblib files outright: the model-based detectors
never ran for the models people deploy. Now a registered version is loaded through the
registry (signature, digest, scan, restricted loader), its signed reference sample is
the default reference, and the load is authorized and audited.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner

from garrison.cli.main import cli
from tests.detection.attacks import AttackCase, mixed_case, numeric_case


def run(*args: str, key: str | None = None, code: int | None = 0):
    result = CliRunner().invoke(cli, list(args), env={"GARRISON_API_KEY": key} if key else {},
                                catch_exceptions=False)
    if code is None:  # 0 or 1: rows found or not; never an error.
        assert result.exit_code in (0, 1), (result.output, result.stderr)
    else:
        assert result.exit_code == code, (result.output, result.stderr)
    return result


def _joblib(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cases() -> dict[str, AttackCase]:
    return {"forest": numeric_case(attacks=30, seed=2),
            "mixed": mixed_case(attacks=50, seed=2, rows=4000)}


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    admin = json.loads(run("init", "--json").stdout)["api_key"]
    out = {"admin": admin}
    for user, role in (("alice", "data-scientist"), ("bob", "approver")):
        out[user] = json.loads(run("user", "add", user, "--role", role, "--with-key", "--json",
                                   key=admin).stdout)["api_key"]
    return out


@pytest.mark.parametrize("which", ["forest", "mixed"])
def test_registered_joblib_model_catches_attacks(which: str, cases: dict[str, AttackCase],
                                                 keys: dict[str, str], tmp_path: Path) -> None:
    case = cases[which]
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(_joblib(case.model))
    reference = tmp_path / "reference.csv"
    case.reference.to_csv(reference, index=False)
    run("model", "register", which, str(artifact), "--framework", "sklearn", "--reference",
        str(reference), key=keys["alice"])
    attacks = tmp_path / "attacks.csv"
    case.adversarial.to_csv(attacks, index=False)
    result = run("detect", "inputs", "--model", f"{which}:1", "--fpr", "0.05", "--json",
                 str(attacks), key=keys["alice"], code=1)
    body = json.loads(result.stdout)
    assert "perturbation-instability" in {d["id"] for d in body["detectors"]}
    caught = body["anomalous"] / body["rows"]
    print(f"\n{case.name} through the CLI: {body['anomalous']}/{body['rows']} caught")
    # The path is what this test is about; the 80% goal at 5% is measured over more
    # attacks by tests/detection/test_adversarial_models.py and the bench.
    assert caught >= 0.75
    normal = tmp_path / "normal.csv"
    case.normal.to_csv(normal, index=False)
    quiet = json.loads(run("detect", "inputs", "--model", f"{which}:1", "--fpr", "0.05",
                           "--detectors", "perturbation-instability", "--json", str(normal),
                           key=keys["alice"], code=1).stdout)
    # Includes the rules, which are not calibrated: a fresh row beyond the reference's
    # widened range (the breast-cancer features have long tails; the reference is 227 rows).
    assert quiet["anomalous"] / quiet["rows"] <= 0.15


def test_loading_needs_download_permission_and_is_audited(cases: dict[str, AttackCase],
                                                          keys: dict[str, str],
                                                          tmp_path: Path) -> None:
    case = cases["forest"]
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(_joblib(case.model))
    reference = tmp_path / "reference.csv"
    case.reference.to_csv(reference, index=False)
    run("model", "register", "forest", str(artifact), "--framework", "sklearn", "--reference",
        str(reference), key=keys["alice"])
    rows = tmp_path / "rows.csv"
    case.normal.iloc[:5].to_csv(rows, index=False)
    denied = run("detect", "inputs", "--model", "forest:1", str(rows), key=keys["bob"], code=1)
    assert "forbidden" in denied.stderr
    run("detect", "inputs", "--model", "forest:1", "--detectors", "perturbation-instability",
        "--fpr", "0.2", str(rows), key=keys["alice"], code=None)
    events = json.loads(run("audit", "log", "--json", key=keys["admin"]).stdout)
    seen = {(e["actor"], e["action"], e["outcome"]) for e in events}
    assert ("bob", "download-artifact", "denied") in seen
    assert ("alice", "load-model-version", "ok") in seen
    assert not any(a == "bob" and act == "load-model-version" for a, act, _ in seen)


def test_loose_joblib_file_is_refused_with_the_way_out(tmp_path: Path,
                                                       cases: dict[str, AttackCase]) -> None:
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(_joblib(cases["forest"].model))
    reference = tmp_path / "reference.csv"
    cases["forest"].reference.to_csv(reference, index=False)
    result = run("detect", "inputs", "--model", str(artifact), "--reference", str(reference),
                 str(reference), code=2)
    assert "garrison model register" in result.output + result.stderr
