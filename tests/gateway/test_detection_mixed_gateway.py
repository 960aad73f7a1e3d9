"""Issue 19, end to end: the gateway flags evasion of a pipeline over mixed columns.

Before, a request to a model with a category input arrived as columns, not as one
numeric matrix, and the gateway skipped detection for it altogether.
"""

from __future__ import annotations

import json
import pickle
import time

from starlette.testclient import TestClient

from garrison.app import build_gateway
from tests.detection.attacks import mixed_case
from tests.waiting import HANG_GUARD

from .conftest import auth


def test_gateway_flags_attacks_on_a_mixed_pipeline(installation, tmp_path) -> None:
    settings, services, demo = installation
    people = demo.extra["people"]
    case = mixed_case(attacks=30, seed=4, rows=2400)
    artifact = tmp_path / "loans.pkl"
    artifact.write_bytes(pickle.dumps(case.model, protocol=5))
    reference = tmp_path / "reference.csv"
    case.reference.to_csv(reference, index=False)
    services.registry.register(people["alice"], "loans", artifact, reference=reference,
                               metadata={"framework": "scikit-learn"})
    services.registry.approve(people["bob"], "loans", 1, "reviewed")
    services.registry.promote(people["bob"], "loans", 1, reason="go live")
    services.deployments.configure(people["bob"], "loans", {
        "callers": ["scoring-app"], "detection": "flag", "detection_fpr": 0.05,
        "rate_limit": 1000, "rate_burst": 1000})
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with TestClient(app) as client:
        deadline = time.time() + HANG_GUARD
        while "loans" not in state.dataplane.table.entries and time.time() < deadline:
            time.sleep(0.05)
        monitor = state.dataplane.table.entries["loans"].primary.monitor
        assert "perturbation-instability" in monitor.detectors

        def flagged(frame) -> int:
            rows = json.loads(frame.to_json(orient="records"))
            response = client.post("/v1/models/loans/predict",
                                   headers=auth(demo.keys["scoring-app"]),
                                   content=json.dumps({"instances": rows}))
            assert response.status_code == 200, response.text
            return len(response.json().get("flags", []))

        caught = flagged(case.adversarial)
        normal = flagged(case.normal.iloc[:200])
    print(f"\ngateway, mixed pipeline: {caught}/{len(case.adversarial)} attacks flagged; "
          f"{normal}/200 normal rows flagged (target 5%)")
    assert caught >= 0.75 * len(case.adversarial)
    assert normal <= 20
