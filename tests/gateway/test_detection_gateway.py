"""Detection inside the gateway: anomalous inputs under each policy, extraction alerts."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from garrison.serving.deployment import DeploymentConfig
from garrison.testing import configure_deployment
from tests.waiting import HANG_GUARD

from .conftest import auth

FEATURES = [f"f{i:02d}" for i in range(20)]


def _post(client, key, rows):
    return client.post("/v1/models/credit-risk/predict", headers=auth(key),
                       content=json.dumps({"instances": rows}))


def _reconfigure(state, services, **config):
    cfg = DeploymentConfig.from_dict({"callers": ["scoring-app"], **config})
    configure_deployment(services, "credit-risk", cfg)
    deadline = time.time() + HANG_GUARD
    while time.time() < deadline:
        served = state.dataplane.table.entries.get("credit-risk")
        if served and served.primary.config == cfg:
            return served
        time.sleep(0.05)
    raise AssertionError("table did not reload")


def _rows(demo, idx):
    return [{n: float(demo.X[i, j]) for j, n in enumerate(FEATURES)} for i in idx]


def _odd(demo):
    row = _rows(demo, [0])[0]
    hi = demo.X.max(axis=0)
    row["f05"] = float(hi[5] + 0.8 * (hi[5] - demo.X.min(axis=0)[5]))  # in schema, off profile
    return row


def test_monitor_is_fitted_from_the_signed_reference(gateway) -> None:
    client, state, demo, _ = gateway
    assert state.dataplane.table.entries["credit-risk"].primary.monitor is not None


def test_flag_policy_marks_anomalous_rows_only(gateway) -> None:
    client, state, demo, _ = gateway
    body = _post(client, demo.keys["scoring-app"], [*_rows(demo, [1, 2]), _odd(demo)]).json()
    assert [f["row"] for f in body["flags"]] == [2]
    normal = _post(client, demo.keys["scoring-app"], _rows(demo, range(3, 40))).json()
    assert len(normal.get("flags", [])) <= 2  # about the calibrated 1% false-positive rate


def test_reject_policy_answers_422(gateway) -> None:
    client, state, demo, services = gateway
    _reconfigure(state, services, detection="reject")
    r = _post(client, demo.keys["scoring-app"], [_odd(demo)])
    assert r.status_code == 422 and r.json()["error"]["problem"] == "anomalous-input"
    assert _post(client, demo.keys["scoring-app"], _rows(demo, [4])).status_code == 200


def test_fallback_policy_answers_from_the_fallback(gateway) -> None:
    client, state, demo, services = gateway
    _reconfigure(state, services, detection="fallback",
                 fallback={"kind": "constant", "constant": "manual-review"})
    body = _post(client, demo.keys["scoring-app"], [_odd(demo)]).json()
    assert body["fallback"]["reason"] == "anomalous-input"
    assert body["predictions"] == [{"label": "manual-review"}]


@pytest.mark.slow
def test_extraction_sweep_raises_an_alert(gateway) -> None:
    client, state, demo, services = gateway
    _reconfigure(state, services, detection="off", rate_limit=1e6, rate_burst=1_000_000)
    rng = np.random.default_rng(1)
    lo, hi = demo.X.min(axis=0), demo.X.max(axis=0)
    for _ in range(300):  # A uniform sweep of the input space, one query per request.
        sweep = rng.uniform(lo, hi, size=(1, 20))
        rows = [{n: float(r[j]) for j, n in enumerate(FEATURES)} for r in sweep]
        assert _post(client, demo.keys["scoring-app"], rows).status_code == 200
    state.background[0].flush()
    deadline = time.time() + HANG_GUARD
    while not services.alerts.list(caller="scoring-app") and time.time() < deadline:
        time.sleep(0.1)
    kinds = {a.kind for a in services.alerts.list(caller="scoring-app")}
    assert kinds & {"input-space-sweep", "extraction-pattern"}, kinds


@pytest.mark.slow
def test_live_drift_window_raises_a_drift_alert(installation) -> None:
    from starlette.testclient import TestClient

    from garrison.app import build_gateway

    settings, services, demo = installation
    settings = settings.model_copy(update={"drift_window": 400})
    configure_deployment(services, "credit-risk", DeploymentConfig.from_dict(
        {"callers": ["scoring-app"], "detection": "off"}))
    app, state = build_gateway(services, settings)
    shifted = demo.X[:400].copy()
    shifted[:, 3] += 1.5 * demo.X[:, 3].std()  # a mean shift in one feature
    with TestClient(app) as client:
        for start in range(0, 400, 50):
            rows = [{n: float(r[j]) for j, n in enumerate(FEATURES)}
                    for r in shifted[start:start + 50]]
            assert _post(client, demo.keys["scoring-app"], rows).status_code == 200
        deadline = time.time() + HANG_GUARD
        while time.time() < deadline:
            drift = [a for a in services.alerts.list(kind="drift")]
            if drift:
                break
            time.sleep(0.2)
    assert drift and "f03" in json.dumps(drift[0].detail)


@pytest.mark.slow
def test_a_caller_sending_mostly_anomalous_inputs_raises_an_alert(gateway) -> None:
    """The extraction monitor sees the input detector's verdicts: a caller whose
    queries are flagged (here 1 in 2) gets an anomalous-queries alert; rejected rows
    (policy reject) count too."""
    client, state, demo, services = gateway
    _reconfigure(state, services, detection="reject", rate_limit=1e6, rate_burst=1_000_000)
    statuses = set()
    for i in range(120):
        rows = [_odd(demo)] if i % 2 else _rows(demo, [i % 50])
        statuses.add(_post(client, demo.keys["scoring-app"], rows).status_code)
    assert statuses == {200, 422}
    deadline = time.time() + HANG_GUARD
    kinds: set[str] = set()
    while "anomalous-queries" not in kinds and time.time() < deadline:
        time.sleep(0.1)
        kinds = {a.kind for a in services.alerts.list(caller="scoring-app")}
    assert "anomalous-queries" in kinds, kinds
    alert = next(a for a in services.alerts.list(caller="scoring-app")
                 if a.kind == "anomalous-queries")
    assert alert.detail["share"] >= 0.4
