"""The worked example of docs/encrypted-inference.md, run through the CLI."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.cli.he import he_group
from garrison.he import _proto


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, cancer) -> Path:
    path = tmp_path_factory.mktemp("he-cli")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    sio.dump(model.fit(cancer.X_train, cancer.y_train), path / "model.skops")
    np.savetxt(path / "rows.csv", cancer.X_test[:4], delimiter=",",
               header=",".join(f"f{i}" for i in range(30)), comments="")
    return path


def _run(args: list[str], cwd: Path) -> str:
    result = CliRunner().invoke(he_group, args, catch_exceptions=False,
                                env={"GARRISON_DEBUG": ""}, obj=None)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_worked_example(workdir: Path, cancer, monkeypatch) -> None:
    monkeypatch.chdir(workdir)
    out = _run(["compile", "--model", "model.skops", "--out", "deploy.json",
                "--params-out", "params.json", "--json"], workdir)
    assert json.loads(out)["kind"] == "binary"
    _run(["keygen", "--params", "params.json", "--out", "keys"], workdir)
    secret = workdir / "keys" / "secret.json"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    public = json.loads((workdir / "keys" / "public.json").read_text())
    assert public["format"] == "garrison-he-context"
    assert _proto.decode_context(base64.b64decode(public["context"])).secret_key == b""
    assert b"secret" not in (workdir / "params.json").read_bytes()
    assert "weights" not in json.loads((workdir / "params.json").read_text())

    reference = sio.load(workdir / "model.skops", trusted=[])
    scores = reference.decision_function(cancer.X_test[:4])
    for batch in (False, True):
        flag = ["--batch"] if batch else []
        _run(["encrypt", "--keys", "keys", "--in", "rows.csv", "--out", "req.jsonl", *flag],
             workdir)
        lines = (workdir / "req.jsonl").read_bytes().splitlines()
        assert len(lines) == (1 if batch else 4)
        _run(["score", "--model", "deploy.json", "--context", "keys/public.json",
              "--in", "req.jsonl", "--out", "resp.jsonl"], workdir)
        out = _run(["decrypt", "--keys", "keys", "--in", "resp.jsonl", "--sigmoid", "--json"],
                   workdir)
        rows = json.loads(out)["rows"]
        assert [r["prediction"] for r in rows] == list(reference.predict(cancer.X_test[:4]))
        np.testing.assert_allclose([r["scores"][0] for r in rows], scores, atol=1e-3)
        np.testing.assert_allclose([r["probabilities"] for r in rows],
                                   reference.predict_proba(cancer.X_test[:4]), atol=1e-4)


def test_cli_errors_exit_cleanly(workdir: Path, monkeypatch) -> None:
    monkeypatch.chdir(workdir)
    (workdir / "bad.json").write_text("{}")
    result = CliRunner().invoke(he_group, ["keygen", "--params", "bad.json", "--out", "k2"])
    assert result.exit_code == 2 and "invalid-input" in result.output
    if (workdir / "keys").exists():
        again = CliRunner().invoke(he_group, ["keygen", "--params", "params.json", "--out", "keys"])
        assert again.exit_code == 2 and "--force" in again.output
