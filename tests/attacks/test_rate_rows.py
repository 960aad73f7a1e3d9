"""Issue 11, finding 7: the rate limit is costed in rows, like the daily quota.

The attack: under ``0.2/s, burst 10`` a caller scored 10,000 rows in half a second,
because each request cost one token whatever it carried. Now a row costs a token: the
rows scored in any window are bounded by ``burst + rate * seconds``, a request larger
than the burst is refused with a clear 429 and ``Retry-After``, on every protocol.
"""

from __future__ import annotations

import json
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
from tests.gateway.serving import free_port

RATE, BURST = 0.2, 10


@pytest.fixture
def gw(tmp_path) -> Iterator[Any]:
    port = free_port()
    settings = load_settings(home=tmp_path / "home", database_url=None, grpc_port=port,
                             max_batch_rows=10_000, max_body_bytes=16 * 1_048_576)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off", "rate_limit": RATE,
                                                "rate_burst": BURST, "daily_quota": 10**6})
    app, state = build_gateway(services, settings, refresh_interval=30.0)
    with TestClient(app) as client, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield client, pb_grpc.GRPCInferenceServiceStub(channel), demo
    services.close()


def _rows(demo: Any, n: int) -> np.ndarray:
    return np.resize(demo.X, (n, demo.X.shape[1]))


def _friendly(client: TestClient, demo: Any, n: int) -> Any:
    rows = [dict(zip(FEATURES, map(float, r), strict=True)) for r in _rows(demo, n)]
    return client.post("/v1/models/credit-risk/predict",
                       headers={"Authorization": f"Bearer {demo.keys['scoring-app']}"},
                       content=json.dumps({"instances": rows}))


def _oip(client: TestClient, demo: Any, n: int) -> Any:
    X = _rows(demo, n)
    return client.post("/v2/models/credit-risk/infer",
                       headers={"Authorization": f"Bearer {demo.keys['scoring-app']}"},
                       content=json.dumps({"inputs": [{"name": "input", "shape": list(X.shape),
                                                       "datatype": "FP64",
                                                       "data": X.ravel().tolist()}]}))


def test_a_10000_row_request_is_refused_with_429_and_retry_after(gw) -> None:
    client, _, demo = gw
    for send in (_friendly, _oip):
        r = send(client, demo, 10_000)
        assert r.status_code == 429, r.text
        body = r.json()
        code = body["error"]["code"] if isinstance(body["error"], dict) else body["code"]
        message = body["error"]["message"] if isinstance(body["error"], dict) else body["error"]
        assert code == "rate-limited" and f"at most {BURST} rows" in message
        assert int(r.headers["retry-after"]) >= BURST / RATE


def test_the_rows_scored_are_bounded_by_the_bucket(gw) -> None:
    client, _, demo = gw
    scored = 0
    # Requests of 4 rows: two fit in the burst (8 rows), the third (12 > 10) does not.
    codes = []
    for _ in range(5):
        r = _friendly(client, demo, 4)
        codes.append(r.status_code)
        scored += 4 if r.status_code == 200 else 0
    assert codes[:2] == [200, 200] and 429 in codes[2:]
    # Many single rows: the bucket's remainder and nothing more (one per 5 s refills).
    for _ in range(20):
        if _friendly(client, demo, 1).status_code == 200:
            scored += 1
    assert scored <= BURST + 1  # The test runs for well under 5 seconds.
    refused = _friendly(client, demo, 1)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_grpc_is_costed_in_rows_too(gw) -> None:
    _, stub, demo = gw
    X = _rows(demo, BURST + 1)
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64",
                                                   shape=list(X.shape))
    tensor.contents.fp64_contents.extend(X.ravel().tolist())
    md = (("authorization", f"Bearer {demo.keys['scoring-app']}"),)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(pb.ModelInferRequest(model_name="credit-risk", inputs=[tensor]),
                        metadata=md)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
