"""The inference SDK: the requests it builds, answers it reads, refusals it retries."""

from __future__ import annotations

import asyncio
import json
import struct

import httpx
import numpy as np
import pytest

from garrison.client import (
    AsyncInferenceClient,
    InferenceClient,
    RetryPolicy,
    Tensor,
)
from garrison.errors import (
    AuthenticationFailed,
    GarrisonError,
    InvalidInput,
    ModelUnavailable,
    QuotaExceeded,
    RateLimited,
    SchemaViolation,
)

KEY = "gk_0123456789ab_" + "s" * 43
PREDICT = {"predictions": [{"label": 1, "scores": {"0": 0.2, "1": 0.8}}], "model_version": 3,
           "request_id": "rid-9"}


def _client(handler, **kwargs) -> tuple[InferenceClient, list[float]]:
    waits: list[float] = []
    client = InferenceClient("http://gw.test", KEY, transport=httpx.MockTransport(handler),
                             sleep=waits.append, rand=lambda: 0.5, **kwargs)
    return client, waits


def _refusal(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers, json={"error": {
        "code": code, "message": "m", "request_id": "r"}})


def test_predict_sends_instances_and_reads_the_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PREDICT)

    client, _ = _client(handler)
    with client:
        result = client.predict("credit-risk", [{"f00": np.float64(0.5), "flag": True}],
                                explain=True)
    assert result.labels == [1] and result.model_version == 3 and result.request_id == "rid-9"
    [request] = seen
    assert request.url.path == "/v1/models/credit-risk/predict"
    assert request.url.params["explain"] == "true"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {"instances": [{"f00": 0.5, "flag": True}]}


def test_predict_accepts_a_dataframe_without_importing_pandas_itself() -> None:
    import pandas as pd

    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=PREDICT)

    client, _ = _client(handler)
    with client:
        client.predict("m", pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]}))
    assert bodies == [{"instances": [{"a": 1.5, "b": "x"}, {"a": 2.5, "b": "y"}]}]


@pytest.mark.parametrize("rows", [[{"a": float("nan")}], [{"a": object()}], "text", [1, 2]])
def test_bad_rows_are_refused_before_sending(rows) -> None:
    client, _ = _client(lambda r: pytest.fail("sent"))
    with client, pytest.raises(InvalidInput):
        client.predict("m", rows)


def test_infer_builds_oip_tensors_from_columns_and_matrices() -> None:
    bodies = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={
            "model_name": "m", "model_version": "2", "id": "x", "parameters": {
                "request_id": "rid"},
            "outputs": [{"name": "label", "shape": [2], "datatype": "INT64", "data": [0, 1]}]})

    client, _ = _client(handler)
    with client:
        answer = client.infer("m", {"age": np.array([41, 52]), "income": [1.5, 2.0],
                                    "city": ["a", "b"], "ok": [True, False]},
                              request_id="x", outputs=["label"], version=2,
                              parameters={"priority": 1})
        client.infer("m", np.arange(6, dtype=float).reshape(2, 3))
    assert answer.output("label").data == [0, 1] and answer.request_id == "rid"
    assert answer.output("label").as_numpy().dtype == np.int64
    path, body = bodies[0]
    assert path == "/v2/models/m/versions/2/infer"
    assert body["id"] == "x" and body["outputs"] == [{"name": "label"}]
    assert body["parameters"] == {"priority": 1}
    types = {t["name"]: (t["datatype"], t["shape"]) for t in body["inputs"]}
    assert types == {"age": ("INT64", [2]), "income": ("FP64", [2]), "city": ("BYTES", [2]),
                     "ok": ("BOOL", [2])}
    assert bodies[1][1]["inputs"] == [{"name": "input", "shape": [2, 3], "datatype": "FP64",
                                       "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}]


def test_infer_binary_round_trip() -> None:
    """The binary extension both ways: the body is the JSON header then the raw tensors,
    and a binary answer is split at Inference-Header-Content-Length."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        header = json.dumps({"model_name": "m", "outputs": [
            {"name": "label", "shape": [2], "datatype": "INT64",
             "parameters": {"binary_data_size": 16}},
            {"name": "name", "shape": [1], "datatype": "BYTES",
             "parameters": {"binary_data_size": 6}}]}).encode()
        raw = np.array([3, 4], dtype="<i8").tobytes() + struct.pack("<I", 2) + b"ok"
        return httpx.Response(200, content=header + raw, headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream"})

    client, _ = _client(handler)
    with client:
        answer = client.infer("m", [Tensor("input", (2, 2), "FP32", [1.0, 2.0, 3.0, 4.0])],
                              binary=True)
    assert answer.output("label").data == [3, 4] and answer.output("name").data == ["ok"]
    request = seen[0]
    cut = int(request.headers["inference-header-content-length"])
    header = json.loads(request.content[:cut])
    assert header["parameters"] == {"binary_data_output": True}
    assert header["inputs"][0]["parameters"] == {"binary_data_size": 16}
    assert "data" not in header["inputs"][0]
    assert np.frombuffer(request.content[cut:], dtype="<f4").tolist() == [1.0, 2.0, 3.0, 4.0]


def test_nulls_cannot_travel_as_binary() -> None:
    client, _ = _client(lambda r: pytest.fail("sent"))
    with client, pytest.raises(InvalidInput, match="null"):
        client.infer("m", {"a": [1.0, None]}, binary=True)


@pytest.mark.parametrize("status,code,cls", [(429, "rate-limited", RateLimited),
                                             (429, "quota-exceeded", QuotaExceeded),
                                             (503, "model-unavailable", ModelUnavailable)])
def test_refusals_are_retried_honouring_retry_after(status, code, cls) -> None:
    answers = [_refusal(status, code, "2"), _refusal(status, code, "0"),
               httpx.Response(200, json=PREDICT)]
    client, waits = _client(lambda r: answers.pop(0))
    with client:
        assert client.predict("m", [{"a": 1}]).labels == [1]
    # Backoff with full jitter (rand=0.5): 0.125 then 0.25, never under Retry-After.
    assert waits == [2.0, 0.25]
    answers = [_refusal(status, code, "1")] * 4
    client, waits = _client(lambda r: answers.pop(0))
    with client, pytest.raises(cls) as raised:
        client.predict("m", [{"a": 1}])
    assert len(waits) == 3 and raised.value.retry_after == 1.0


def test_a_retry_after_beyond_the_limit_is_raised_at_once() -> None:
    client, waits = _client(lambda r: _refusal(429, "quota-exceeded", "86400"))
    with client, pytest.raises(QuotaExceeded):
        client.predict("m", [{"a": 1}])
    assert waits == []


def test_http_date_retry_after_is_understood() -> None:
    answers = [_refusal(503, "overloaded", "Wed, 21 Oct 2015 07:28:00 GMT"),
               httpx.Response(200, json=PREDICT)]
    client, waits = _client(lambda r: answers.pop(0))
    with client:
        client.predict("m", [{"a": 1}])
    assert waits == [0.125]  # A date in the past: no floor beyond the backoff.


def test_other_errors_are_raised_at_once_with_their_class_and_fields() -> None:
    body = {"error": "row 0, field 'age': below-minimum", "code": "schema-violation",
            "request_id": "r1", "field": "age", "row": 0, "problem": "below-minimum"}
    client, waits = _client(lambda r: httpx.Response(422, json=body))
    with client, pytest.raises(SchemaViolation) as raised:
        client.infer("m", {"age": [-1]})
    assert waits == []
    detail = raised.value.detail
    assert (detail["field"], detail["row"], detail["problem"], detail["request_id"]) == (
        "age", 0, "below-minimum", "r1")
    client, _ = _client(lambda r: _refusal(401, "unauthenticated"))
    with client, pytest.raises(AuthenticationFailed):
        client.model_metadata("m")


def test_connection_refused_is_retried_but_a_timeout_is_not() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client, waits = _client(refuse, retry=RetryPolicy(attempts=3))
    with client, pytest.raises(GarrisonError) as raised:
        client.predict("m", [{"a": 1}])
    assert len(calls) == 3 and len(waits) == 2 and KEY not in str(raised.value)

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    calls.clear()
    client, waits = _client(slow)
    with client, pytest.raises(GarrisonError, match="in time"):
        client.predict("m", [{"a": 1}])
    assert len(calls) == 1 and waits == []


def test_health_and_metadata() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/health/ready":
            return httpx.Response(503, json={"ready": False})
        if request.url.path.endswith("/ready"):
            return httpx.Response(200, json={"name": "m", "ready": True})
        return httpx.Response(200, json={"name": "m", "inputs": [], "outputs": []})

    client, waits = _client(handler)
    with client:
        assert client.live() and not client.ready() and waits == []
        assert client.model_ready("m", 2)
        assert client.model_metadata("m", version=1)["name"] == "m"
        with pytest.raises(InvalidInput):
            client.model_metadata("Bad Name")
        with pytest.raises(InvalidInput):
            client.model_ready("m", 0)


def test_async_client_has_the_same_behaviour() -> None:
    answers = [_refusal(429, "rate-limited", "1"), httpx.Response(200, json=PREDICT)]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> list[int]:
        async with AsyncInferenceClient(
                "http://gw.test", KEY, transport=httpx.MockTransport(lambda r: answers.pop(0)),
                sleep=sleep, rand=lambda: 0.0) as client:
            result = await client.predict("m", [{"a": 1}])
            return result.labels

    assert asyncio.run(main()) == [1] and waits == [1.0]


def test_a_key_is_required() -> None:
    with pytest.raises(InvalidInput):
        InferenceClient("http://gw.test", " ")
    with pytest.raises(InvalidInput):
        RetryPolicy(attempts=0)


def test_a_model_that_cannot_serve_is_not_ready_rather_than_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/models/broken/ready":
            return httpx.Response(503, json={"name": "broken", "ready": False,
                                             "reason": "decryption-failed"})
        return httpx.Response(200, json={"name": "good", "ready": True})

    client, waits = _client(handler)
    assert client.model_ready("broken") is False and waits == []
    assert client.model_ready("good") is True
