"""Issue 11, finding 7: the gateway's low findings, attacked from outside.

* A caller without access must not tell a forbidden model from an unknown one (REST,
  OIP v2, KServe v1 and gRPC answer both alike), while the denial is still audited.
* A pre-auth request with a stray slash gets no redirect built from its ``Host``
  header (gateway and admin API).
* Prediction endpoints refuse a body declared as anything but JSON (or the binary
  extension's octet stream) with 415, before reading it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.audit import AuditQuery
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2 as pb
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc
from garrison.testing import sqlite_url
from garrison.web import create_web_app
from tests.gateway.serving import free_port
from tests.web.helpers import SyncASGITransport


@pytest.fixture(scope="module")
def gw(tmp_path_factory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("doors") / "home"
    port = free_port()
    settings = load_settings(home=home, database_url=None, rate_limit=1e6, rate_burst=10**6,
                             grpc_port=port)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off"})
    services.accounts.create_principal(admin, "other-app", kind="service", roles=["client"])
    outsider = services.accounts.create_key(admin, "other-app", name="t", days=1).secret
    app, state = build_gateway(services, settings, refresh_interval=30.0)
    with TestClient(app) as client, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield client, pb_grpc.GRPCInferenceServiceStub(channel), demo, outsider, services, state
    services.close()


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _oip_body(X: np.ndarray) -> bytes:
    return json.dumps({"inputs": [{"name": "input", "shape": list(X[:2].shape),
                                   "datatype": "FP64", "data": X[:2].ravel().tolist()}]}).encode()


def _friendly(X: np.ndarray) -> bytes:
    return json.dumps({"instances": [dict(zip(FEATURES, map(float, X[0]), strict=True))]}).encode()


def _rest_answers(client: TestClient, key: str, name: str, X: np.ndarray) -> list[Any]:
    calls = [
        ("POST", f"/v1/models/{name}/predict", _friendly(X)),
        ("POST", f"/v2/models/{name}/infer", _oip_body(X)),
        ("POST", f"/v2/models/{name}/versions/1/infer", _oip_body(X)),
        ("POST", f"/v2/models/{name}/versions/99/infer", _oip_body(X)),
        ("POST", f"/v1/models/{name}:predict",
         json.dumps({"instances": [X[0].tolist()]}).encode()),
        ("GET", f"/v2/models/{name}", None),
        ("GET", f"/v2/models/{name}/ready", None),
        ("GET", f"/v2/models/{name}/versions/1", None),
        ("GET", f"/v2/models/{name}/versions/7/ready", None),
        ("GET", f"/v1/models/{name}", None),
        ("GET", f"/v1/models/{name}/he-params", None),
    ]
    out = []
    for method, path, body in calls:
        r = client.request(method, path, headers=_h(key), content=body)
        payload = r.json()
        # The request id differs per request; everything else must not.
        text = json.dumps(payload, sort_keys=True).replace(name, "<name>")
        for rid in (payload.get("request_id"), (payload.get("error") or {}).get("request_id")
                    if isinstance(payload.get("error"), dict) else None):
            if rid:
                text = text.replace(rid, "<rid>")
        out.append((path.replace(name, "<name>"), r.status_code, text))
    return out


def test_a_forbidden_model_answers_like_an_unknown_one_on_rest(gw) -> None:
    client, _, demo, outsider, services, state = gw
    X = demo.X
    for key in (outsider, demo.keys["alice"]):  # a client not listed; no invoke-model role
        forbidden = _rest_answers(client, key, "credit-risk", X)
        unknown = _rest_answers(client, key, "no-such-model", X)
        assert forbidden == unknown
        assert {status for _, status, _ in forbidden} == {404}
    # The caller sees nothing, the audit trail sees the real reason.
    assert state.background[4].flush()
    denied = services.store.query(AuditQuery(action="invoke-model", outcome="denied",
                                             limit=None))
    assert {e.reason for e in denied} >= {"no-role-grants-action", "not-in-deployment-callers"}


def test_a_forbidden_model_answers_like_an_unknown_one_on_grpc(gw) -> None:
    _, stub, demo, outsider, _, _ = gw
    md = (("authorization", f"Bearer {outsider}"),)
    X = demo.X[:2]

    def infer(name: str) -> pb.ModelInferRequest:
        tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64",
                                                       shape=list(X.shape))
        tensor.contents.fp64_contents.extend(X.ravel().tolist())
        return pb.ModelInferRequest(model_name=name, inputs=[tensor])

    def outcome(call: Any) -> tuple[Any, str]:
        with pytest.raises(grpc.RpcError) as info:
            call()
        return info.value.code(), info.value.details()

    for make in (lambda n: lambda: stub.ModelInfer(infer(n), metadata=md),
                 lambda n: lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name=n),
                                                      metadata=md),
                 lambda n: lambda: stub.ModelReady(pb.ModelReadyRequest(name=n, version="3"),
                                                   metadata=md)):
        forbidden, unknown = outcome(make("credit-risk")), outcome(make("no-such-model"))
        assert forbidden == unknown and forbidden[0] == grpc.StatusCode.NOT_FOUND


def test_the_allowed_caller_still_tells_an_unknown_version(gw) -> None:
    client, _, demo, _, _, _ = gw
    r = client.post("/v2/models/credit-risk/versions/99/infer", headers=_h(
        demo.keys["scoring-app"]), content=_oip_body(demo.X))
    assert r.status_code == 404 and r.json()["code"] == "model-version-not-found"


@pytest.mark.parametrize("path", ["/v2/models/credit-risk/infer/", "/v2/health/live/",
                                  "/v1/models/credit-risk/predict/", "/metrics/"])
def test_a_stray_slash_gets_no_redirect_built_from_the_host_header(gw, path) -> None:
    client = gw[0]
    r = client.request("POST" if "infer" in path or "predict" in path else "GET", path,
                       headers={"Host": "attacker.example"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert "attacker.example" not in r.text


def test_the_admin_api_builds_no_redirect_from_the_host_header(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=sqlite_url(tmp_path))
    services, _, _ = initialize(settings, "root")
    try:
        transport = SyncASGITransport(create_web_app(services))
        with httpx.Client(transport=transport, base_url="http://testserver") as client:
            for path in ("/admin/models/", "/admin/health/", "/console/login/"):
                r = client.get(path, headers={"Host": "attacker.example"})
                assert r.status_code in (401, 404), (path, r.status_code)
                assert "location" not in r.headers, path
            bare = client.get("/console", headers={"Host": "attacker.example"})
            assert bare.status_code == 307 and bare.headers["location"] == "/console/"
        transport.close()
    finally:
        services.close()


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "", "application/json-seq"])
def test_prediction_endpoints_refuse_other_media_types(gw, content_type) -> None:
    client, _, demo, _, _, _ = gw
    key = _h(demo.keys["scoring-app"])
    for path, body in (("/v1/models/credit-risk/predict", _friendly(demo.X)),
                       ("/v2/models/credit-risk/infer", _oip_body(demo.X)),
                       ("/v1/models/credit-risk:predict",
                        json.dumps({"instances": [demo.X[0].tolist()]}).encode()),
                       ("/v1/models/credit-risk/he-contexts", b"{}"),
                       ("/v1/models/credit-risk/infer-encrypted", b"{}")):
        r = client.post(path, headers={**key, "Content-Type": content_type}, content=body)
        assert r.status_code == 415, (path, r.status_code, r.text)
        text = r.text
        assert "unsupported-media-type" in text


def test_json_and_the_binary_extension_are_still_read(gw) -> None:
    client, _, demo, _, _, _ = gw
    key = _h(demo.keys["scoring-app"])
    for ct in ("application/json", "application/json; charset=utf-8", None):
        headers = {**key, **({"Content-Type": ct} if ct else {})}
        assert client.post("/v1/models/credit-risk/predict", headers=headers,
                           content=_friendly(demo.X)).status_code == 200
        assert client.post("/v2/models/credit-risk/infer", headers=headers,
                           content=_oip_body(demo.X)).status_code == 200
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 20], "datatype": "FP64",
                                     "parameters": {"binary_data_size": 160}}]}).encode()
    raw = demo.X[:1].astype("<f8").tobytes()
    binary = {**key, "Content-Type": "application/octet-stream",
              "Inference-Header-Content-Length": str(len(header))}
    assert client.post("/v2/models/credit-risk/infer", headers=binary,
                       content=header + raw).status_code == 200
    # The octet stream only with the extension's header.
    plain = {**key, "Content-Type": "application/octet-stream"}
    assert client.post("/v2/models/credit-risk/infer", headers=plain,
                       content=_oip_body(demo.X)).status_code == 415
