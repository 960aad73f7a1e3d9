"""The gateway records in the audit trail which runtime serves each loaded version."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway
from garrison.audit import AuditQuery
from garrison.serving.compiled import TOLERANCE, CompiledRuntime
from tests.waiting import HANG_GUARD

from .conftest import auth


def test_the_gateway_audits_which_runtime_serves(gateway) -> None:
    client, state, demo, services = gateway
    events = services.store.query(AuditQuery(action="compile-model-version", limit=None))
    assert events, "loading a served version records its compilation"
    payload = json.loads(events[-1].payload)
    assert payload["compiled"] is True and payload["runtime"] == "sklearn-linear"
    assert payload["reference_rows"] > 0 and payload["max_abs_diff"] < TOLERANCE
    assert payload["sha256"]


def test_a_native_booster_is_compiled_in_the_gateway(installation, tmp_path) -> None:
    """A native XGBoost booster (``xgboost-json``) was served by the library; the gateway
    now serves its compiled graph, checked on the signed reference sample (rows with holes
    included) and audited, and answers as the booster does."""
    xgboost = pytest.importorskip("xgboost")
    settings, services, demo = installation
    people = demo.extra["people"]
    names = ["age", "income", "debt", "tenure"]
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 4))
    y = (X[:, 1] - X[:, 2] + 0.3 * rng.normal(size=400) > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 4, "nthread": 1},
                            xgboost.DMatrix(X, label=y, feature_names=names),
                            num_boost_round=30)
    artifact = tmp_path / "boost.json"
    booster.save_model(str(artifact))
    reference = tmp_path / "reference.csv"
    pd.DataFrame(X[:200], columns=names).to_csv(reference, index=False)
    services.registry.register(people["alice"], "boost", artifact, reference=reference,
                               metadata={"input_schema": {
                                   "features": [{"name": n} for n in names]}})
    services.registry.approve(people["bob"], "boost", 1, "reviewed")
    services.registry.promote(people["bob"], "boost", 1, reason="go live")
    services.deployments.configure(people["bob"], "boost", {"callers": ["scoring-app"]})
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with TestClient(app) as client:
        deadline = time.time() + HANG_GUARD
        while "boost" not in state.dataplane.table.entries and time.time() < deadline:
            time.sleep(0.05)
        runtime = state.dataplane.table.entries["boost"].primary.runtime
        assert isinstance(runtime, CompiledRuntime) and runtime.kind == "compiled:Booster"
        rows = X[200:210]
        response = client.post("/v1/models/boost/predict",
                               headers=auth(demo.keys["scoring-app"]),
                               content=json.dumps({"instances": [
                                   dict(zip(names, map(float, r), strict=True))
                                   for r in rows]}))
        assert response.status_code == 200, response.text
    events = services.store.query(AuditQuery(action="compile-model-version", limit=None))
    payload = [json.loads(e.payload) for e in events
               if json.loads(e.payload)["runtime"] == "compiled:Booster"][-1]
    assert payload["compiled"] is True and payload["missing_values"] == "compiled"
    assert payload["reference_rows"] == 200 and payload["max_abs_diff"] < TOLERANCE
    expected = booster.predict(xgboost.DMatrix(rows, feature_names=names))
    answered = [p["scores"]["1"] for p in response.json()["predictions"]]
    np.testing.assert_allclose(answered, expected, atol=TOLERANCE)
    assert [p["label"] for p in response.json()["predictions"]] == list(
        (expected > 0.5).astype(int))
