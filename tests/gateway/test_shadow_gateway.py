"""Shadow deployment through the gateway: mirrored, never changes answers, gates promotion."""

from __future__ import annotations

import json
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from garrison.errors import ApprovalRequired
from garrison.serving.deployment import DeploymentConfig
from garrison.serving.shadow import ShadowReport
from garrison.storage.shadow_repo import SQLShadowStore
from garrison.testing import configure_deployment
from tests.waiting import HANG_GUARD

from .conftest import auth

FEATURES = [f"f{i:02d}" for i in range(20)]


def _register_shadow(services, demo, estimator) -> int:
    people, reg = demo.extra["people"], services.registry
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pkl"
        path.write_bytes(pickle.dumps(estimator))
        v = reg.register(people["alice"], "credit-risk", path,
                         {"input_schema": reg.get("credit-risk", 1).metadata.input_schema
                          .to_dict()})
    reg.approve(people["bob"], "credit-risk", v.version)
    reg.promote(people["bob"], "credit-risk", v.version, stage="shadow")
    return v.version


def _wait_for_shadow(state, version) -> None:
    deadline = time.time() + HANG_GUARD
    while time.time() < deadline:
        served = state.dataplane.table.entries.get("credit-risk")
        if served and served.shadow and served.shadow.version.version == version:
            return
        time.sleep(0.05)
    raise AssertionError("shadow not loaded")


@pytest.mark.parametrize("same", [True, False], ids=["same-model", "worse-model"])
def test_shadow_traffic_is_recorded_and_gates_promotion(gateway, same) -> None:
    client, state, demo, services = gateway
    configure_deployment(services, "credit-risk", DeploymentConfig.from_dict({
        "callers": ["scoring-app"], "shadow_fraction": 1.0, "shadow_min_agreement": 0.95,
        "shadow_min_requests": 20}))
    candidate = demo.estimator if same else DummyClassifier(strategy="constant", constant=0).fit(
        demo.X, np.zeros(len(demo.X), dtype=int))
    version = _register_shadow(services, demo, candidate)
    _wait_for_shadow(state, version)
    key = auth(demo.keys["scoring-app"])
    for i in range(30):
        row = {n: float(demo.X[i, j]) for j, n in enumerate(FEATURES)}
        r = client.post("/v1/models/credit-risk/predict", headers=key,
                        content=json.dumps({"instances": [row]}))
        assert r.status_code == 200 and r.json()["model_version"] == 1
        expected = demo.estimator.predict_proba(demo.X[i:i + 1])[0, 1]
        assert r.json()["predictions"][0]["scores"]["1"] == pytest.approx(expected)
    mirror = state.background[3]
    assert mirror.flush(20)
    observations = SQLShadowStore(services.store).observations("credit-risk",
                                                               shadow_version=version)
    assert len(observations) == 30
    report = ShadowReport.from_observations(observations, model="credit-risk")
    bob = demo.extra["people"]["bob"]
    if same:
        assert report.agreement == 1.0
        services.registry.promote(bob, "credit-risk", version)
        assert services.registry.production("credit-risk").version == version
    else:
        assert report.agreement < 0.95
        with pytest.raises(ApprovalRequired):
            services.registry.promote(bob, "credit-risk", version)
        assert services.registry.production("credit-risk").version == 1
