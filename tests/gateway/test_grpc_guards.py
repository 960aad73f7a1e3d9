"""gRPC goes through the same guards and telemetry as REST: TLS with the gateway's pair,
decision records an auditor can fetch, the shared metrics, rate limits with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2 as pb
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc

from .serving import free_port
from .test_tls import _pair


def _request(X: np.ndarray) -> Any:
    request = pb.ModelInferRequest(model_name="credit-risk")
    request.inputs.add(name="input", datatype="FP64", shape=list(X.shape))
    request.raw_input_contents.append(X.astype("<f8").tobytes())
    return request


@pytest.fixture
def tls_gateway(tmp_path) -> Iterator[Any]:
    cert, key = _pair(tmp_path)
    port = free_port()
    settings = load_settings(home=tmp_path / "home", database_url=None, grpc_port=port,
                             tls_cert_file=cert, tls_key_file=key)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off", "rate_limit": 0.001,
                                               "rate_burst": 3})
    app, _ = build_gateway(services, settings, refresh_interval=30.0)
    with TestClient(app) as client:
        yield client, port, cert, demo
    services.close()


def test_grpc_serves_tls_only_with_the_gateway_pair(tls_gateway) -> None:
    client, port, cert, demo = tls_gateway
    auth = (("authorization", f"Bearer {demo.keys['scoring-app']}"),)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        answer, call = stub.ModelInfer.with_call(_request(demo.X[:2]), metadata=auth)
        assert np.frombuffer(answer.raw_output_contents[0], "<i8").tolist() == \
            demo.estimator.predict(demo.X[:2]).tolist()
        rid = dict(call.trailing_metadata())["x-request-id"]
        # The burst of 3 rows is one bucket for REST and gRPC alike: 2 rows by gRPC and 1
        # by REST use it up, and the next call is refused.
        row = dict(zip(FEATURES, map(float, demo.X[0]), strict=True))
        rest = client.post("/v1/models/credit-risk/predict", json={"instances": [row]},
                           headers={"Authorization": f"Bearer {demo.keys['scoring-app']}"})
        assert rest.status_code == 200
        with pytest.raises(grpc.RpcError) as raised:
            stub.ModelInfer(_request(demo.X[:1]), metadata=auth)
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(raised.value.trailing_metadata())
        assert trailers["garrison-code"] == "rate-limited" and int(trailers["retry-after"]) >= 1
    with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.GRPCInferenceServiceStub(plain).ServerLive(pb.ServerLiveRequest(),
                                                              timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    # The gRPC request has its decision record, fetched by an auditor over REST.
    headers = {"Authorization": f"Bearer {demo.keys['carol']}"}
    deadline = time.time() + 10
    while True:
        r = client.get(f"/v1/decisions/{rid}", headers=headers)
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["caller"] == "scoring-app" and record["rows"] == 2
    assert record["integrity"]["verified"] is True
    metrics = client.get("/metrics", headers=headers).text
    assert 'garrison_grpc_responses_total{code="OK"}' in metrics
    assert 'garrison_grpc_responses_total{code="RESOURCE_EXHAUSTED"}' in metrics
    assert 'garrison_rejections_total{reason="rate"}' in metrics
