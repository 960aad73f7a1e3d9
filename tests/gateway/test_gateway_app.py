"""The gateway in-process: every guard, attacked; fallback, breaker, explanations."""

from __future__ import annotations

import datetime
import json
import time

import numpy as np
import pytest

from garrison.audit import AuditQuery
from garrison.serving.deployment import DeploymentConfig
from garrison.testing import configure_deployment, reseal_api_key
from tests.waiting import HANG_GUARD

from .conftest import auth

FEATURES = [f"f{i:02d}" for i in range(20)]


def _row(X, i=0):
    return {n: float(X[i, j]) for j, n in enumerate(FEATURES)}


def _predict(client, key, instances, **params):
    return client.post("/v1/models/credit-risk/predict", params=params, headers=auth(key),
                       content=json.dumps({"instances": instances}))


def test_health_needs_no_credentials_and_ready_after_load(gateway) -> None:
    client, state, demo, _ = gateway
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}


def test_friendly_predict_matches_the_model(gateway) -> None:
    client, state, demo, _ = gateway
    r = _predict(client, demo.keys["scoring-app"], [_row(demo.X, i) for i in range(5)])
    assert r.status_code == 200, r.text
    body = r.json()
    expected = demo.estimator.predict_proba(demo.X[:5])
    got = np.array([[p["scores"]["0"], p["scores"]["1"]] for p in body["predictions"]])
    assert np.allclose(got, expected) and body["model_version"] == 1
    assert r.headers["x-request-id"] == body["request_id"]


def test_oip_v2_infer_single_tensor(gateway) -> None:
    client, state, demo, _ = gateway
    payload = {"id": "abc", "inputs": [{"name": "input", "shape": [2, 20], "datatype": "FP64",
                                        "data": demo.X[:2].ravel().tolist()}]}
    r = client.post("/v2/models/credit-risk/versions/1/infer", headers=auth(
        demo.keys["scoring-app"]), content=json.dumps(payload))
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["label"]["data"] == demo.estimator.predict(demo.X[:2]).tolist()
    assert r.json()["id"] == "abc"
    meta = client.get("/v2/models/credit-risk", headers=auth(demo.keys["scoring-app"])).json()
    assert [i["name"] for i in meta["inputs"]] == FEATURES


@pytest.mark.parametrize("key,status", [
    (None, 401), ("gk_000000000000_" + "A" * 43, 401), ("garbage", 401),
])
def test_authentication_failures_are_opaque(gateway, key, status) -> None:
    client, state, demo, services = gateway
    headers = auth(key) if key else {}
    r = client.post("/v1/models/credit-risk/predict", headers=headers, content=b"{}")
    assert r.status_code == status
    assert r.json()["error"]["message"] == "authentication failed"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_authorization_role_and_caller_list(gateway) -> None:
    client, state, demo, services = gateway
    row = [_row(demo.X)]
    # No invoke-model, or not listed: answered as an unknown model would be (issue 11).
    assert _predict(client, demo.keys["alice"], row).status_code == 404
    root = services.accounts.get("root")
    services.accounts.create_principal(root, "other-app", kind="service", roles=["client"])
    other = services.accounts.create_key(root, "other-app").secret  # a client, not listed
    r = _predict(client, other, row)
    assert r.status_code == 404 and r.json()["error"]["message"] == "not found"
    assert state.background[4].flush()  # Denials are audited off the event loop.
    denied = services.store.query(AuditQuery(action="invoke-model", outcome="denied"))
    assert {e.reason for e in denied} == {"no-role-grants-action", "not-in-deployment-callers"}


@pytest.mark.parametrize("instances,problem,status", [
    ([{**{n: 0.0 for n in FEATURES}, "ssn": "123"}], "unknown-field", 422),
    ([{n: 0.0 for n in FEATURES[:-1]}], "missing-field", 422),
    ([{**{n: 0.0 for n in FEATURES}, "f03": "high"}], None, 422),
    ([{**{n: 0.0 for n in FEATURES}, "f03": True}], None, 422),
    ([{**{n: 0.0 for n in FEATURES}, "f03": 1e9}], None, 422),
    ([{**{n: 0.0 for n in FEATURES}, "f03": "NaN"}], None, 422),
])
def test_validation_names_the_field(gateway, instances, problem, status) -> None:
    client, state, demo, _ = gateway
    r = _predict(client, demo.keys["scoring-app"], instances)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == "schema-violation" and "field" in err
    if problem:
        assert err["problem"] == problem


def test_malformed_bodies(gateway) -> None:
    client, state, demo, _ = gateway
    key = auth(demo.keys["scoring-app"])
    url = "/v1/models/credit-risk/predict"
    for body in (b"{", b"[]", b'{"instances": 5}', b"\xff\xfe", b'{"instances": []}',
                 b'{"instances": [{"f00": NaN}]}', b"[" * 5000 + b"]" * 5000):
        r = client.post(url, headers=key, content=body)
        assert r.status_code in (400, 413, 422), (body[:20], r.status_code)
        assert "error" in r.json()
    big = client.post(url, headers=key, content=b" " * (state.max_body_bytes + 1))
    assert big.status_code == 413
    rows = [_row(demo.X)] * 1001
    assert _predict(client, demo.keys["scoring-app"], rows).status_code == 413


def test_rate_limit_and_quota(installation) -> None:
    from starlette.testclient import TestClient

    from garrison.app import build_gateway

    settings, services, demo = installation
    configure_deployment(services, "credit-risk", DeploymentConfig.from_dict(
        {"callers": ["scoring-app"], "rate_limit": 0.001, "rate_burst": 3}))
    app, _ = build_gateway(services, settings)
    with TestClient(app) as client:
        codes = [_predict(client, demo.keys["scoring-app"], [_row(demo.X)]).status_code
                 for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
        assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "rate-limited"


def test_daily_quota_counts_rows(installation) -> None:
    from starlette.testclient import TestClient

    from garrison.app import build_gateway

    settings, services, demo = installation
    configure_deployment(services, "credit-risk", DeploymentConfig.from_dict(
        {"callers": ["scoring-app"], "daily_quota": 5}))
    app, _ = build_gateway(services, settings)
    rows = [_row(demo.X, i) for i in range(3)]
    with TestClient(app) as client:
        assert _predict(client, demo.keys["scoring-app"], rows).status_code == 200
        r = _predict(client, demo.keys["scoring-app"], rows)  # 6 rows > 5: refused whole
        assert r.status_code == 429 and r.json()["error"]["code"] == "quota-exceeded"
        assert int(r.headers["retry-after"]) >= 1
        assert _predict(client, demo.keys["scoring-app"], rows[:2]).status_code == 200


def _reconfigure(state, services, **config):
    configure_deployment(services, "credit-risk",
                         DeploymentConfig.from_dict({"callers": ["scoring-app"], **config}))
    deadline = time.time() + HANG_GUARD
    while time.time() < deadline:
        served = state.dataplane.table.entries.get("credit-risk")
        if served and served.primary.config.to_dict() == DeploymentConfig.from_dict(
                {"callers": ["scoring-app"], **config}).to_dict():
            return served
        time.sleep(0.05)
    raise AssertionError("table did not reload")


class _Hang:
    def __init__(self, seconds):
        self.seconds = seconds

    def predict(self, X):
        time.sleep(self.seconds)
        raise AssertionError("unreachable")


class _Boom:
    def predict(self, X):
        raise RuntimeError("model exploded")


@pytest.mark.parametrize("bad,reason", [(_Hang(3.0), "model-timeout"), (_Boom(), "model-error")])
def test_fallback_to_constant(gateway, bad, reason) -> None:
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "constant", "constant": "review"},
                          timeout=0.3)
    original = served.primary.runtime
    served.primary.runtime = bad
    try:
        r = _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
    finally:
        served.primary.runtime = original
    assert r.status_code == 200, r.text
    assert r.json()["fallback"] == {"used": True, "reason": reason}
    assert r.json()["predictions"] == [{"label": "review"}]


def test_no_fallback_means_503(gateway) -> None:
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "none"})
    original, served.primary.runtime = served.primary.runtime, _Boom()
    try:
        r = _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
    finally:
        served.primary.runtime = original
    assert r.status_code == 503 and r.json()["error"]["code"] == "model-unavailable"


def test_circuit_breaker_opens_and_closes(gateway) -> None:
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "constant", "constant": 0},
                          breaker_failures=3, breaker_cooldown=0.5)
    original, served.primary.runtime = served.primary.runtime, _Boom()
    reasons = [_predict(client, demo.keys["scoring-app"], [_row(demo.X)]).json()
               ["fallback"]["reason"] for _ in range(5)]
    assert reasons[:3] == ["model-error"] * 3 and reasons[3:] == ["circuit-open"] * 2
    served.primary.runtime = original
    time.sleep(0.6)
    r = _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
    assert "fallback" not in r.json()  # half-open trial succeeded: closed again
    assert served.primary.breaker.state.value == "closed"


@pytest.mark.parametrize("mode,check", [
    ("label", lambda p: set(p) == {"label"}),
    ("rounded", lambda p: all(round(v, 2) == v for v in p["scores"].values())),
    ("top_k", lambda p: len(p["top"]) == 1),
])
def test_output_hardening(gateway, mode, check) -> None:
    client, state, demo, services = gateway
    _reconfigure(state, services, output={"mode": mode, "decimals": 2, "k": 1})
    preds = _predict(client, demo.keys["scoring-app"], [_row(demo.X, i) for i in range(3)]
                     ).json()["predictions"]
    assert all(check(p) for p in preds)


def test_explanations_sum_to_the_decision_function(gateway) -> None:
    client, state, demo, _ = gateway
    r = _predict(client, demo.keys["scoring-app"], [_row(demo.X, 3)], explain="true")
    exp = r.json()["explanations"][0]
    total = exp["base_value"] + sum(exp["contributions"].values())
    assert total == pytest.approx(demo.estimator.decision_function(demo.X[3:4])[0], abs=1e-9)


def test_decision_records_written_and_fetchable_by_auditors(gateway) -> None:
    client, state, demo, services = gateway
    rid = _predict(client, demo.keys["scoring-app"], [_row(demo.X)]).json()["request_id"]
    state.background[0].flush()
    r = client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["carol"]))
    assert r.status_code == 200 and r.json()["caller"] == "scoring-app"
    assert r.json()["inputs"] is None  # the default privacy policy keeps no inputs
    assert r.json()["integrity"]["verified"] is True
    from sqlalchemy import update

    from garrison.storage.tables import decisions
    with services.store.write() as tx:  # A database administrator rewrites the answer.
        tx.conn.execute(update(decisions).where(decisions.c.request_id == rid).values(
            outputs='["approved"]'))
    tampered = client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["carol"])).json()
    assert tampered["outputs"] == ["approved"]
    assert tampered["integrity"] == {"verified": False, "reason": "batch-mismatch",
                                     "anchor_seq": r.json()["integrity"]["anchor_seq"]}
    assert client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["scoring-app"])
                      ).status_code == 403
    batches = services.store.query(AuditQuery(action="invoke-model", actor="system"))
    assert batches and json.loads(batches[-1].payload)["decisions"] >= 1


def test_metrics_and_openapi(gateway) -> None:
    client, state, demo, _ = gateway
    _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
    assert client.get("/metrics", headers=auth(demo.keys["scoring-app"])).status_code == 403
    text = client.get("/metrics", headers=auth(demo.keys["carol"])).text
    assert 'garrison_requests_total{model="credit-risk",outcome="ok",version="1"}' in text
    assert 'garrison_background_dropped{queue="watch"} 0.0' in text
    watch = next(b for b in state.background if type(b).__name__ == "Watch")
    watch.writer.dropped += 3  # What a full queue would count.
    text = client.get("/metrics", headers=auth(demo.keys["carol"])).text
    assert 'garrison_background_dropped{queue="watch"} 3.0' in text
    assert 'garrison_background_dropped{queue="shadow"} 0.0' in text
    doc = client.get("/openapi.json", headers=auth(demo.keys["carol"])).json()
    assert "/v1/models/{name}/predict" in doc["paths"]


def test_rollback_is_picked_up(gateway) -> None:
    client, state, demo, services = gateway
    reg, people = services.registry, demo.extra["people"]
    import pickle
    import tempfile
    from pathlib import Path

    v1 = reg.get("credit-risk", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.pkl"
        path.write_bytes(pickle.dumps(demo.estimator))
        reg.register(people["alice"], "credit-risk", path, v1.metadata)
    reg.approve(people["bob"], "credit-risk", 2)
    reg.promote(people["bob"], "credit-risk", 2)
    deadline = time.time() + HANG_GUARD
    while state.dataplane.table.entries["credit-risk"].primary.version.version != 2:
        assert time.time() < deadline
        time.sleep(0.05)
    assert _predict(client, demo.keys["scoring-app"], [_row(demo.X)]).json()[
        "model_version"] == 2
    reg.rollback(people["bob"], "credit-risk")
    while state.dataplane.table.entries["credit-risk"].primary.version.version != 1:
        assert time.time() < deadline
        time.sleep(0.05)


def test_linear_fast_path_equals_sklearn(gateway) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from garrison.serving.runtime import LinearRuntime, runtime_for

    client, state, demo, _ = gateway
    served = state.dataplane.table.entries["credit-risk"].primary.runtime
    assert isinstance(served, LinearRuntime)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    y3 = rng.integers(0, 3, size=300)
    for model, y in ((LogisticRegression().fit(X, y3 % 2), y3 % 2),
                     (make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y3), y3)):
        fast = runtime_for(model, "pickle", [f"x{i}" for i in range(6)])
        assert isinstance(fast, LinearRuntime)
        out = fast.predict(X)
        assert np.allclose(out.scores, model.predict_proba(X), rtol=0, atol=1e-12)
        assert (out.labels == model.predict(X)).all()
    liblinear = LogisticRegression(solver="liblinear").fit(X, y3 % 2)
    assert not isinstance(runtime_for(liblinear, "pickle", ["a"] * 6), LinearRuntime)


def test_revocations_reach_the_key_cache_within_the_refresh(gateway) -> None:
    """A verified key is cached for 30 s, but revoking it (or a role, or disabling its
    principal) is audited and the refresh loop drops the cache: refused within ~0.2 s."""
    client, state, demo, services = gateway
    # Cache entries outlive the wait below: only the refresh can make the key fail in time.
    state.authenticator._ttl = 10 * HANG_GUARD
    admin = services.accounts.authenticate(demo.keys["root"], audit=False)
    extra = services.accounts.create_key(admin, "scoring-app", name="second")
    assert _predict(client, extra.secret, [_row(demo.X)]).status_code == 200  # now cached
    services.accounts.revoke_key(admin, extra.record.prefix)
    deadline = time.time() + HANG_GUARD
    while _predict(client, extra.secret, [_row(demo.X)]).status_code == 200:
        assert time.time() < deadline, "the revoked key still works from the cache"
        time.sleep(0.05)
    assert _predict(client, extra.secret, [_row(demo.X)]).status_code == 401
    assert _predict(client, demo.keys["scoring-app"], [_row(demo.X)]).status_code == 200
    services.accounts.set_disabled(admin, "scoring-app", True)
    deadline = time.time() + HANG_GUARD
    while _predict(client, demo.keys["scoring-app"], [_row(demo.X)]).status_code == 200:
        assert time.time() < deadline, "a disabled principal still works from the cache"
        time.sleep(0.05)


def test_a_cached_key_is_not_served_past_its_expiry(gateway) -> None:
    client, state, demo, services = gateway
    from sqlalchemy import update

    from garrison.storage.tables import api_keys
    from garrison.types import utc_iso

    admin = services.accounts.authenticate(demo.keys["root"], audit=False)
    extra = services.accounts.create_key(admin, "scoring-app", name="short-lived")
    soon = utc_iso(services.clock.now() + datetime.timedelta(seconds=1))
    with services.store.write() as tx:  # Expires in 1 s (the CLI's minimum is a day).
        tx.conn.execute(update(api_keys).where(api_keys.c.prefix == extra.record.prefix)
                        .values(expires=soon))
    reseal_api_key(services, extra.record.id)  # Else refused as changed outside Garrison.
    assert _predict(client, extra.secret, [_row(demo.X)]).status_code == 200  # now cached
    time.sleep(1.3)
    assert _predict(client, extra.secret, [_row(demo.X)]).status_code == 401


@pytest.mark.parametrize("policy", ["none", "pseudonymized", "full"])
def test_decision_inputs_follow_the_privacy_policy(gateway, policy) -> None:
    """Inputs are stored as the deployment allows: nothing, a keyed digest per row (equal
    rows give equal digests, no value is readable), or the rows themselves."""
    client, state, demo, services = gateway
    _reconfigure(state, services, record_inputs=policy)
    rows = [_row(demo.X, 7), _row(demo.X, 8), _row(demo.X, 7)]
    rid = _predict(client, demo.keys["scoring-app"], rows).json()["request_id"]
    assert state.background[0].flush()
    stored = client.get(f"/v1/decisions/{rid}", headers=auth(demo.keys["carol"])).json()
    assert stored["input_policy"] == policy and len(stored["outputs"]) == 3
    if policy == "none":
        assert stored["inputs"] is None
    elif policy == "full":
        assert stored["inputs"] == [[r[n] for n in FEATURES] for r in rows]
    else:
        digests = stored["inputs"]
        assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)
        assert digests[0] == digests[2] != digests[1]
        assert str(rows[0]["f00"]) not in json.dumps(stored)
    assert stored["integrity"]["verified"] is True


def test_a_config_edit_does_not_refill_the_callers_buckets(gateway) -> None:
    """Changing anything but the limits (here the output mode) rebuilds the deployment,
    but the caller's spent bucket carries over: a refill would be a free reset."""
    client, state, demo, services = gateway
    _reconfigure(state, services, rate_limit=0.001, rate_burst=3)
    codes = [_predict(client, demo.keys["scoring-app"], [_row(demo.X)]).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    _reconfigure(state, services, rate_limit=0.001, rate_burst=3,
                 output={"mode": "label", "decimals": 2, "k": 1})
    assert _predict(client, demo.keys["scoring-app"], [_row(demo.X)]).status_code == 429


def test_the_table_builder_forgets_what_it_no_longer_serves(gateway) -> None:
    client, state, demo, services = gateway
    builder = next(b for b in state.background if type(b).__name__ == "TableBuilder")
    for mode in ("label", "rounded", "full"):
        _reconfigure(state, services, output={"mode": mode, "decimals": 2, "k": 1})
    assert len(builder._cache) == 1  # only the deployment being served


@pytest.mark.parametrize("mode", ["label", "rounded", "top_k"])
def test_hardened_output_is_never_undone_by_an_explanation(gateway, mode) -> None:
    """An explanation holds the exact score and, for a linear model, its weights: with a
    hardened output, ?explain=true returns none."""
    client, state, demo, services = gateway
    _reconfigure(state, services, output={"mode": mode, "decimals": 2, "k": 1})
    body = _predict(client, demo.keys["scoring-app"], [_row(demo.X, 3)], explain="true").json()
    assert "explanations" not in body and body["predictions"]
    assert repr(demo.estimator.decision_function(demo.X[3:4])[0])[:8] not in json.dumps(body)


def _metric(client, demo, line_start: str) -> float:
    text = client.get("/metrics", headers=auth(demo.keys["carol"])).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(line_start))


def test_no_fallback_is_not_counted_as_one_and_keeps_retry_after(gateway) -> None:
    """Without a fallback nothing answered in its place: garrison_fallbacks_total stays,
    and once the breaker is open the 503 says when to come back."""
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "none"}, breaker_failures=2,
                          breaker_cooldown=30)
    before = _metric(client, demo, "garrison_fallbacks_total{")
    original, served.primary.runtime = served.primary.runtime, _Boom()
    try:
        answers = [_predict(client, demo.keys["scoring-app"], [_row(demo.X)])
                   for _ in range(3)]
    finally:
        served.primary.runtime = original
    assert [r.status_code for r in answers] == [503, 503, 503]
    assert "retry-after" not in answers[0].headers  # a plain model error: no estimate
    assert 25 <= int(answers[2].headers["retry-after"]) <= 30  # breaker open: cooldown
    assert answers[2].json()["error"]["code"] == "model-unavailable"
    assert _metric(client, demo, "garrison_fallbacks_total{") == before


def test_oip_labels_without_scores_have_their_own_datatype(gateway) -> None:
    """A constant fallback's labels go out as OIP label tensors with the datatype of
    their values (INT64 here), not BYTES."""
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "constant", "constant": 0})
    original, served.primary.runtime = served.primary.runtime, _Boom()
    tensor = {"name": "x", "shape": [1, 20], "datatype": "FP64",
              "data": demo.X[0].tolist()}
    try:
        r = client.post("/v2/models/credit-risk/infer", json={"inputs": [tensor]},
                        headers=auth(demo.keys["scoring-app"]))
    finally:
        served.primary.runtime = original
    [out] = r.json()["outputs"]
    assert (out["name"], out["datatype"], out["data"]) == ("label", "INT64", [0])


class _RefusesInput:
    inline = True  # The on-loop path of a bounded-cost runtime.
    kind = "test"
    model = None

    def predict(self, X):
        from garrison.errors import InvalidInput

        raise InvalidInput("not this input")


def test_a_refused_input_on_the_inline_path_is_not_a_model_failure(gateway) -> None:
    """Bad input is the caller's fault on every path: it must not open the breaker."""
    client, state, demo, services = gateway
    served = _reconfigure(state, services, fallback={"kind": "constant", "constant": 0},
                          breaker_failures=2)
    original, served.primary.runtime = served.primary.runtime, _RefusesInput()
    try:
        for _ in range(3):
            _predict(client, demo.keys["scoring-app"], [_row(demo.X)])
    finally:
        served.primary.runtime = original
    assert served.primary.breaker.state.value == "closed"
