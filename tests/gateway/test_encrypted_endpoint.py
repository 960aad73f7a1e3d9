"""Encrypted inference over HTTP: same guards, agreement with plaintext, no plaintext stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from garrison.he import EncryptedResponse, HEClient, HEParams
from tests.waiting import HANG_GUARD

from .conftest import auth

pytestmark = pytest.mark.slow


def test_encrypted_round_trip_over_the_gateway(gateway) -> None:
    client, state, demo, services = gateway
    key = auth(demo.keys["scoring-app"])
    r = client.get("/v1/models/credit-risk/he-params", headers=key)
    assert r.status_code == 200, r.text
    params = HEParams.from_dict(r.json()["params"])
    he = HEClient.generate(params, mode="batch")
    registration = he.registration().to_json()
    r = client.post("/v1/models/credit-risk/he-contexts", headers=key, content=registration)
    assert r.status_code == 201, r.text
    assert r.json()["context_id"] == he.context_id
    X = demo.X[:64]
    r = client.post("/v1/models/credit-risk/infer-encrypted", headers=key,
                    content=he.request_batch(X).to_json())
    assert r.status_code == 200, r.text
    scores = he.decrypt_response(EncryptedResponse.from_json(r.content, max_bytes=1 << 26))
    expected = demo.estimator.decision_function(X)
    got = np.asarray(scores).reshape(len(X), -1)[:, -1]
    assert np.max(np.abs(got - expected)) < 1e-3
    rid = r.headers["x-request-id"]
    state.background[0].flush()
    record = client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["carol"])).json()
    assert record["outputs"] == [] and record["inputs"] is None and record["rows"] == 64
    assert "encrypted" in record["flags"]


def test_encrypted_endpoints_keep_the_guards(gateway) -> None:
    client, state, demo, _ = gateway
    assert client.get("/v1/models/credit-risk/he-params").status_code == 401
    assert client.get("/v1/models/credit-risk/he-params",
                      headers=auth(demo.keys["alice"])).status_code == 404  # as unknown
    key = auth(demo.keys["scoring-app"])
    for body in (b"{", b"{}", json.dumps({"kind": "garrison-he-request", "version": 1}).encode(),
                 b"x" * 100):
        r = client.post("/v1/models/credit-risk/infer-encrypted", headers=key, content=body)
        assert r.status_code in (400, 404, 413, 422), (body[:20], r.status_code, r.text)


def test_encrypted_samples_count_against_the_daily_row_quota(gateway) -> None:
    """Exact decrypted scores are enough to extract a linear model: every encrypted sample
    is a query, charged to the same quota as a plaintext row."""
    from garrison.serving.deployment import DeploymentConfig
    from garrison.testing import configure_deployment

    client, state, demo, services = gateway
    cfg = DeploymentConfig.from_dict({"callers": ["scoring-app"], "daily_quota": 100})
    configure_deployment(services, "credit-risk", cfg)
    import time

    deadline = time.time() + HANG_GUARD
    while state.dataplane.table.entries["credit-risk"].primary.config != cfg:
        assert time.time() < deadline
        time.sleep(0.05)
    key = auth(demo.keys["scoring-app"])
    params = HEParams.from_dict(client.get("/v1/models/credit-risk/he-params",
                                           headers=key).json()["params"])
    he = HEClient.generate(params, mode="batch")
    assert client.post("/v1/models/credit-risk/he-contexts", headers=key,
                       content=he.registration().to_json()).status_code == 201
    first = client.post("/v1/models/credit-risk/infer-encrypted", headers=key,
                        content=he.request_batch(demo.X[:64]).to_json())
    assert first.status_code == 200
    over = client.post("/v1/models/credit-risk/infer-encrypted", headers=key,
                       content=he.request_batch(demo.X[:64]).to_json())  # 128 > 100
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota-exceeded"
    plain = client.post("/v1/models/credit-risk/predict", headers=key, content=json.dumps(
        {"instances": [{f"f{j:02d}": float(v) for j, v in enumerate(demo.X[0])}] * 40}))
    assert plain.status_code == 429  # 64 + 40 > 100: one quota for both protocols
