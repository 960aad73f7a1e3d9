"""The gate run for real: the sandboxed child loads the signed artifacts and evaluates
them; its deadline and memory limit hold; the wire format round-trips."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from garrison.errors import GateFailed
from garrison.gates.sandbox import (
    DataBlob,
    GateRequest,
    SubprocessGateRunner,
    decode_request,
    encode_request,
)
from tests.gates.flow_helpers import FEATURES, SCHEMA

rng = np.random.default_rng(7)
ROWS = pd.DataFrame({"age": rng.integers(18, 80, 900).astype(float),
                     "income": rng.normal(50, 10, 900), "debt": rng.normal(10, 3, 900)})
ROWS["label"] = (ROWS["income"] - 3 * ROWS["debt"] + rng.normal(0, 3, 900) > 20).astype(int)
TRAIN, HOLDOUT = ROWS.iloc[:600].reset_index(drop=True), ROWS.iloc[600:].reset_index(drop=True)


def _register(services, person, tmp_path, name: str, labels: pd.Series, train_ref):
    model = LogisticRegression(max_iter=1000).fit(TRAIN[FEATURES], labels)
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(pickle.dumps(model, protocol=5))
    return services.registry.register(
        person, "credit", path, {**SCHEMA, "datasets": [train_ref.model_reference()]})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_real_gate_run_passes_a_good_model_and_blocks_a_useless_one(gated, tmp_path) -> None:
    services, p, _ = gated
    services.gates.runner = SubprocessGateRunner(600, 4096)
    TRAIN.to_csv(tmp_path / "train.csv", index=False)
    HOLDOUT.to_csv(tmp_path / "holdout.csv", index=False)
    train = services.datasets.register(p["alice"], tmp_path / "train.csv", "train",
                                       target="label")
    services.datasets.register(p["alice"], tmp_path / "holdout.csv", "holdout", target="label")
    good = _register(services, p["alice"], tmp_path, "good", TRAIN["label"], train)
    services.gates.set_policy(p["bob"], "credit", {"holdout_dataset": "holdout:1"})
    seen: list[tuple[float, str]] = []
    report = services.gates.run(p["alice"], "credit", good.version,
                                progress=lambda f, s: seen.append((f, s)))
    names = [c["name"] for c in report.predicate["checks"]]
    assert names[0] == "artifact" and {"performance", "leakage", "privacy"} <= set(names)
    assert report.passed, report.result.summary
    assert report.predicate["training"][0]["used"] is True
    assert seen and seen[-1][0] == 1.0
    services.registry.approve(p["bob"], "credit", good.version)
    services.registry.promote(p["bob"], "credit", good.version)

    # Labels shuffled: no better than chance, and clearly worse than production.
    useless = _register(services, p["alice"], tmp_path, "useless",
                        TRAIN["label"].sample(frac=1.0, random_state=1).reset_index(drop=True),
                        train)
    failed = services.gates.report(p["bob"], "credit", useless.version)  # Run at registration.
    assert failed is not None and not failed.passed
    assert not failed.result.check("performance").passed
    assert failed.predicate["production"]["version"] == good.version
    with pytest.raises(GateFailed, match="performance"):
        services.registry.approve(p["bob"], "credit", useless.version)


def _request() -> GateRequest:
    return GateRequest(policy={"holdout_dataset": "h:1", "label": "label"},
                       candidate=b"\x80\x05N.", candidate_format="pickle",
                       candidate_features=("a", "b"), holdout=DataBlob("csv", b"a,b,label\n"),
                       training=(DataBlob("parquet", b"PAR1"), DataBlob("csv", b"x\n")),
                       policy_extension=("m.f",), seed=3)


def test_the_wire_format_round_trips() -> None:
    request = _request()
    assert decode_request(encode_request(request)) == request
    with pytest.raises(ValueError):
        decode_request(b"not a request")


def test_the_deadline_kills_the_child() -> None:
    outcome = SubprocessGateRunner(0.2, 4096).run(_request())
    assert outcome.result is None
    assert "deadline" in outcome.problem


def test_the_memory_limit_holds_in_the_child() -> None:
    # With room, the child gets as far as the (deliberately broken) training data...
    roomy = SubprocessGateRunner(120, 4096).run(_request())
    assert roomy.stages and "Parquet" in roomy.problem
    # ...within 256 MiB of address space it cannot even load its libraries.
    tight = SubprocessGateRunner(120, 256).run(_request())
    assert tight.result is None and tight.stages == () and tight.problem


def test_a_non_sklearn_artifact_is_evaluated_through_the_gateway_runtime() -> None:
    from skl2onnx import to_onnx

    from garrison.gates._sandbox_child import ServedClassifier, serve
    from garrison.registry.loader import loader_for
    from garrison.scanning import DEFAULT_POLICY

    X = TRAIN[FEATURES].to_numpy(np.float32)
    model = LogisticRegression(max_iter=1000).fit(X, TRAIN["label"])
    onx = to_onnx(model, X[:1], options={id(model): {"zipmap": False}}).SerializeToString()
    served = serve(loader_for("onnx")(onx, DEFAULT_POLICY), "onnx", tuple(FEATURES),
                   HOLDOUT.head(8))
    assert isinstance(served, ServedClassifier) and list(served.classes_) == [0, 1]
    # The holdout frame has the label too: each model sees its own features only.
    proba = served.predict_proba(HOLDOUT)
    assert np.allclose(proba, model.predict_proba(HOLDOUT[FEATURES].to_numpy(np.float32)),
                       atol=1e-4)
    expected = model.predict(HOLDOUT[FEATURES].to_numpy(np.float32))
    assert (served.predict(HOLDOUT) == expected).mean() > 0.99


def _fake_python(tmp_path, body: str):
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o700)
    return str(script)


def test_a_child_that_closes_its_stderr_and_hangs_is_killed_at_the_deadline(tmp_path) -> None:
    runner = SubprocessGateRunner(1.0, 4096, python=_fake_python(
        tmp_path, "exec 2>&-\nexec sleep 30"))
    outcome = runner.run(_request())
    assert outcome.result is None and "deadline" in outcome.problem


def test_a_child_answering_garbage_fails_the_run(tmp_path) -> None:
    runner = SubprocessGateRunner(30, 4096, python=_fake_python(
        tmp_path, "cat >/dev/null\necho 'not json'\necho 'boom' >&2"))
    outcome = runner.run(_request())
    assert outcome.result is None and "boom" in outcome.problem


def test_the_child_inherits_no_setting_or_secret(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_MASTER_KEY", "c2VjcmV0")
    monkeypatch.setenv("GARRISON_DATABASE_URL", "postgresql://u:pw@db/garrison")
    runner = SubprocessGateRunner(30, 4096, python=_fake_python(tmp_path, (
        'cat >/dev/null\n'
        'if env | grep -q GARRISON_; then echo leaked >&2; else echo "clean $PATH" >&2; fi\n'
        'exit 3')))
    outcome = runner.run(_request())
    assert "clean /" in outcome.problem and "leaked" not in outcome.problem
