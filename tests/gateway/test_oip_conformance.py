"""The Open Inference Protocol v2, rule by rule, on REST and gRPC (in process).

Walks the protocol's request and response rules field by field: names, shapes,
datatypes, ``id``, ``parameters``, ``outputs``, the binary tensor data extension,
per-version routes, the error shape; then the same through
``inference.GRPCInferenceService``. Answers are compared with the model's own.
"""

from __future__ import annotations

import json
import math
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

URL = "/v2/models/credit-risk"
DTYPES = {"INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1",
          "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4",
          "FP64": "<f8"}
SCALARS = (str, int, float, bool)


@pytest.fixture(scope="module")
def gw(tmp_path_factory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("conformance") / "home"
    port = free_port()
    settings = load_settings(home=home, database_url=None, rate_limit=1e6, rate_burst=10**6,
                             grpc_port=port, max_body_bytes=262_144)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off"})
    services.accounts.create_principal(admin, "other-app", kind="service", roles=["client"])
    outsider = services.accounts.create_key(admin, "other-app", name="t", days=1).secret
    app, _ = build_gateway(services, settings, refresh_interval=30.0)
    with TestClient(app) as client, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield client, pb_grpc.GRPCInferenceServiceStub(channel), demo, outsider
    services.close()


def _auth(gw: Any, key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key or gw[2].keys['scoring-app']}"}


def _md(gw: Any, key: str | None = None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key or gw[2].keys['scoring-app']}"),)


def _tensor(X: np.ndarray, datatype: str = "FP64") -> dict[str, Any]:
    return {"name": "input", "shape": list(X.shape), "datatype": datatype,
            "data": X.ravel().tolist()}


def _infer(gw: Any, body: dict[str, Any], path: str = URL + "/infer", **kw: Any) -> Any:
    return gw[0].post(path, content=json.dumps(body), headers={**_auth(gw),
                                                              **kw.pop("headers", {})}, **kw)


def _binary(gw: Any, header: dict[str, Any], raw: bytes, length: str | None = None,
            key: str | None = None) -> Any:
    text = json.dumps(header).encode()
    return gw[0].post(URL + "/infer", content=text + raw, headers={
        **_auth(gw, key), "Inference-Header-Content-Length": length or str(len(text)),
        "Content-Type": "application/octet-stream"})


def _oip_error(r: Any, status: int, code: str, problem: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["error"], str) and body["code"] == code
    assert body["request_id"] == r.headers["x-request-id"]
    if problem is not None:
        assert body["problem"] == problem, body
    return body


# -- health and metadata -------------------------------------------------------------

def test_server_metadata_and_health(gw) -> None:
    client = gw[0]
    meta = client.get("/v2", headers=_auth(gw)).json()
    assert set(meta) == {"name", "version", "extensions"}
    assert meta["name"] == "garrison" and meta["extensions"] == ["binary_tensor_data"]
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    _oip_error(client.get("/v2"), 401, "unauthenticated")


def test_model_metadata_describes_exactly_what_infer_returns(gw) -> None:
    client, _, demo, _ = gw
    meta = client.get(URL, headers=_auth(gw)).json()
    assert set(meta) == {"name", "versions", "platform", "inputs", "outputs"}
    assert (meta["name"], meta["versions"], meta["platform"]) == (
        "credit-risk", ["1"], "scikit-learn")
    assert meta["inputs"] == [{"name": f, "datatype": "FP64", "shape": [-1]} for f in FEATURES]
    n = 3
    answer = _infer(gw, {"inputs": [_tensor(demo.X[:n])]}).json()
    assert [(o["name"], o["datatype"]) for o in answer["outputs"]] == [
        (o["name"], o["datatype"]) for o in meta["outputs"]]
    for spec, out in zip(meta["outputs"], answer["outputs"], strict=True):
        assert [n if s == -1 else s for s in spec["shape"]] == out["shape"]
        assert len(out["data"]) == math.prod(out["shape"])
    assert client.get(URL + "/versions/1", headers=_auth(gw)).json() == meta
    _oip_error(client.get(URL + "/versions/7", headers=_auth(gw)), 404,
               "model-version-not-found")
    _oip_error(client.get("/v2/models/nope", headers=_auth(gw)), 404, "model-not-found")
    # A caller without access cannot tell the model from an unknown one (issue 11).
    _oip_error(client.get(URL, headers=_auth(gw, gw[3])), 404, "model-not-found")


def test_model_readiness_per_model_and_version(gw) -> None:
    client = gw[0]
    for path in (URL + "/ready", URL + "/versions/1/ready", "/v1/models/credit-risk"):
        r = client.get(path, headers=_auth(gw))
        assert r.status_code == 200 and r.json() == {"name": "credit-risk", "ready": True}
    _oip_error(client.get(URL + "/versions/2/ready", headers=_auth(gw)), 404,
               "model-version-not-found")
    _oip_error(client.get(URL + "/ready", headers=_auth(gw, gw[3])), 404, "model-not-found")
    assert client.get("/").json() == {"status": "alive"}


# -- inference request and response --------------------------------------------------

def test_response_fields_id_and_version(gw) -> None:
    client, _, demo, _ = gw
    X = demo.X[:4]
    body = _infer(gw, {"id": "req-7", "model_name": "credit-risk", "model_version": "1",
                       "inputs": [_tensor(X)]}).json()
    assert set(body) == {"model_name", "model_version", "id", "parameters", "outputs"}
    assert (body["model_name"], body["model_version"], body["id"]) == ("credit-risk", "1",
                                                                       "req-7")
    assert all(isinstance(v, SCALARS) for v in body["parameters"].values())
    out = {o["name"]: o for o in body["outputs"]}
    assert out["label"]["data"] == demo.estimator.predict(X).tolist()
    assert np.allclose(np.reshape(out["probabilities"]["data"], (4, 2)),
                       demo.estimator.predict_proba(X))
    assert out["classes"] == {"name": "classes", "shape": [2], "datatype": "INT64",
                              "data": [0, 1]}
    versioned = _infer(gw, {"inputs": [_tensor(X)]}, URL + "/versions/1/infer").json()
    assert versioned["model_version"] == "1" and versioned["id"] == versioned["parameters"][
        "request_id"]


@pytest.mark.parametrize("change,field,problem", [
    ({"model_name": "other"}, "model_name", "model-name-mismatch"),
    ({"model_version": "2"}, "model_version", "model-version-mismatch"),
    ({"id": 5}, "id", "wrong-type"),
    ({"surprise": 1}, "surprise", "unknown-field"),
    ({"parameters": {"x": [1]}}, "parameters.x", "wrong-type"),
    ({"parameters": {"x": {"y": 1}}}, "parameters.x", "wrong-type"),
    ({"parameters": {f"p{i}": i for i in range(65)}}, "parameters", "too-many-parameters"),
    ({"parameters": {"classification": 2}}, "parameters.classification",
     "unsupported-parameter"),
    ({"parameters": {"binary_data_output": "yes"}}, "parameters.binary_data_output",
     "wrong-type"),
    ({"outputs": [{"name": "logits"}]}, "outputs[0].name", "unknown-output"),
    ({"outputs": [{"name": "label"}, {"name": "label"}]}, "outputs[1].name",
     "duplicate-output"),
    ({"outputs": [{"name": "label", "extra": 1}]}, "outputs[0].extra", "unknown-field"),
    ({"outputs": "label"}, "outputs", "not-a-list"),
    ({"outputs": [{"name": "label", "parameters": {"classification": 1}}]},
     "outputs[0].parameters.classification", "unsupported-parameter"),
])
def test_request_rules_refuse_with_the_field(gw, change, field, problem) -> None:
    body = {"inputs": [_tensor(gw[2].X[:2])], **change}
    error = _oip_error(_infer(gw, body), 422, "schema-violation", problem)
    assert error["field"] == field


def test_unknown_parameters_are_ignored_everywhere(gw) -> None:
    X = gw[2].X[:3]
    plain = _infer(gw, {"inputs": [_tensor(X)]}).json()["outputs"]
    tensor = {**_tensor(X), "parameters": {"content_type": "np", "anything": 1.5}}
    noisy = _infer(gw, {"inputs": [tensor], "parameters": {
        "sequence_id": 4, "priority": 1, "timeout": 100, "custom": "x", "flag": True},
        "outputs": [{"name": "label", "parameters": {"whatever": 1}}]}).json()
    assert noisy["outputs"] == [o for o in plain if o["name"] == "label"]
    assert set(noisy["parameters"]) == {"request_id"}  # Nothing of them is echoed.


def test_outputs_select_and_order(gw) -> None:
    X = gw[2].X[:2]
    body = _infer(gw, {"inputs": [_tensor(X)], "outputs": [
        {"name": "probabilities"}, {"name": "label"}]}).json()
    assert [o["name"] for o in body["outputs"]] == ["probabilities", "label"]
    every = _infer(gw, {"inputs": [_tensor(X)], "outputs": []}).json()
    assert [o["name"] for o in every["outputs"]] == ["label", "classes", "probabilities"]


@pytest.mark.parametrize("datatype", sorted(DTYPES))
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_every_numeric_datatype(gw, datatype, binary) -> None:
    """Each datatype, in JSON and as binary data, reaches the model with the values it
    holds (integers for the integer types, non-negative for the unsigned ones)."""
    demo = gw[2]
    X = demo.X[:5]
    if datatype.startswith(("INT", "UINT")):
        X = np.round(X * 3)
        X = np.abs(X) if datatype.startswith("U") else X
    values = X.astype(DTYPES[datatype])
    expected = demo.estimator.predict(values.astype(np.float64)).tolist()
    if binary:
        raw = values.tobytes()
        header = {"inputs": [{"name": "input", "shape": [5, 20], "datatype": datatype,
                              "parameters": {"binary_data_size": len(raw)}}]}
        r = _binary(gw, header, raw)
    else:
        r = _infer(gw, {"inputs": [_tensor(values, datatype)]})  # JSON ints for INT types.
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["label"]["data"] == expected


@pytest.mark.parametrize("datatype,data,problem", [
    ("BOOL", [True] * 20, "wrong-type"),
    ("BYTES", ["1.0"] * 20, "wrong-type"),
    ("UINT8", [-1] + [0] * 19, "out-of-datatype-range"),
    ("INT8", [200] + [0] * 19, "out-of-datatype-range"),
    ("FP16", [70000.0] + [0.0] * 19, "out-of-datatype-range"),
])
def test_values_outside_their_datatype_are_refused(gw, datatype, data, problem) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 20], "datatype": datatype,
                        "data": data}]}
    _oip_error(_infer(gw, body), 422, "schema-violation", problem)


# -- the binary tensor data extension ------------------------------------------------

def _raw_request(X: np.ndarray, **params: Any) -> tuple[dict[str, Any], bytes]:
    raw = X.astype("<f8").tobytes()
    return {"inputs": [{"name": "input", "shape": list(X.shape), "datatype": "FP64",
                        "parameters": {"binary_data_size": len(raw), **params}}]}, raw


def test_binary_answer_layout(gw) -> None:
    demo = gw[2]
    header, raw = _raw_request(demo.X[:3])
    r = _binary(gw, {**header, "parameters": {"binary_data_output": True}}, raw)
    cut = int(r.headers["inference-header-content-length"])
    body = json.loads(r.content[:cut])
    sizes = [o["parameters"]["binary_data_size"] for o in body["outputs"]]
    assert all("data" not in o for o in body["outputs"])
    assert sum(sizes) == len(r.content) - cut
    label = np.frombuffer(r.content[cut:cut + sizes[0]], "<i8")
    assert label.tolist() == demo.estimator.predict(demo.X[:3]).tolist()
    mixed = _binary(gw, {**header, "outputs": [{"name": "label"}, {
        "name": "probabilities", "parameters": {"binary_data": True}}]}, raw)
    cut = int(mixed.headers["inference-header-content-length"])
    outs = json.loads(mixed.content[:cut])["outputs"]
    assert "data" in outs[0] and outs[1]["parameters"]["binary_data_size"] == 3 * 2 * 8
    plain = _infer(gw, {"inputs": [_tensor(demo.X[:3])]})
    assert "inference-header-content-length" not in plain.headers
    assert plain.headers["content-type"] == "application/json"


@pytest.mark.parametrize("attack,problem", [
    ("length-not-a-number", "not-a-length"),
    ("length-beyond-body", "beyond-the-body"),
    ("length-zero", "beyond-the-body"),
    ("size-too-large", "binary-truncated"),
    ("size-too-small", "binary-size-mismatch"),
    ("trailing-bytes", "unused-binary-data"),
    ("size-negative", "not-a-length"),
    ("size-without-header", "no-binary-header"),
    ("data-and-size", "data-and-binary-data"),
])
def test_binary_framing_errors_are_400(gw, attack, problem) -> None:
    X = gw[2].X[:2]
    header, raw = _raw_request(X)
    params = header["inputs"][0]["parameters"]
    length = None
    if attack == "length-not-a-number":
        length = "12x"
    elif attack == "length-beyond-body":
        length = str(10**6)
    elif attack == "length-zero":
        length = "0"
    elif attack == "size-too-large":
        params["binary_data_size"] = len(raw) + 8
    elif attack == "size-too-small":
        params["binary_data_size"] = len(raw) - 8
        raw = raw[:-8]
    elif attack == "trailing-bytes":
        raw += b"\x00" * 8
    elif attack == "size-negative":
        params["binary_data_size"] = -8
    elif attack == "data-and-size":
        header["inputs"][0]["data"] = X.ravel().tolist()
    without = attack == "size-without-header"
    r = _infer(gw, header) if without else _binary(gw, header, raw, length)
    _oip_error(r, 400, "malformed-request", problem)


def test_binary_bytes_and_bool_elements_are_checked(gw) -> None:
    """Element values inside binary data get the JSON checks (422), framing aside."""
    X = gw[2].X[:1]
    header = {"inputs": [{"name": "input", "shape": [1, 20], "datatype": "BOOL",
                          "parameters": {"binary_data_size": 20}}]}
    _oip_error(_binary(gw, header, b"\x02" * 20), 422, "schema-violation", "datatype-mismatch")
    one = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [float(X[0, j])]}
                      for j, f in enumerate(FEATURES)]}
    one["inputs"][0] = {"name": FEATURES[0], "shape": [1], "datatype": "BYTES",
                        "parameters": {"binary_data_size": 6}}
    _oip_error(_binary(gw, one, b"\x02\x00\x00\x00\xff\xfe"), 422, "schema-violation",
               "not-utf8")


def test_the_binary_body_has_the_json_size_limit(gw) -> None:
    header, raw = _raw_request(np.zeros((1600, 20)))  # 256 KB of binary data.
    r = _binary(gw, header, raw)
    _oip_error(r, 413, "payload-too-large")


# -- KServe v1 -----------------------------------------------------------------------

def test_kserve_v1_predict(gw) -> None:
    client, _, demo, _ = gw
    X = demo.X[:3]
    r = client.post("/v1/models/credit-risk:predict", headers=_auth(gw),
                    json={"instances": X.tolist()})
    assert r.json() == {"predictions": demo.estimator.predict(X).tolist()}
    named = [dict(zip(FEATURES, row.tolist(), strict=True)) for row in X]
    assert client.post("/v1/models/credit-risk:predict", headers=_auth(gw),
                       json={"instances": named}).json() == r.json()
    for body, problem in (({"instances": [X[0].tolist()[:5]]}, "shape-mismatch"),
                          ({"instances": X.tolist(), "signature_name": "x"}, "unknown-field"),
                          ({"inputs": X.tolist()}, "unknown-field")):
        _oip_error(client.post("/v1/models/credit-risk:predict", headers=_auth(gw),
                               json=body), 422, "schema-violation", problem)
    _oip_error(client.post("/v1/models/credit-risk:predict", json={"instances": []}), 401,
               "unauthenticated")


# -- gRPC ------------------------------------------------------------------------------

def _grpc_request(X: np.ndarray, *, raw: bool = True, **fields: Any) -> Any:
    request = pb.ModelInferRequest(model_name="credit-risk", **fields)
    tensor = request.inputs.add(name="input", datatype="FP64", shape=list(X.shape))
    if raw:
        request.raw_input_contents.append(X.astype("<f8").tobytes())
    else:
        tensor.contents.fp64_contents.extend(X.ravel().tolist())
    return request


def _grpc_error(call: Any, code: grpc.StatusCode, garrison_code: str) -> dict[str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() == code, raised.value.details()
    trailers = dict(raised.value.trailing_metadata() or ())
    assert trailers["garrison-code"] == garrison_code and trailers["x-request-id"]
    return trailers


def test_grpc_health_and_metadata_match_rest(gw) -> None:
    client, stub, _, _ = gw
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    meta = stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=_md(gw))
    assert (meta.name, list(meta.extensions)) == ("garrison", ["binary_tensor_data"])
    rest = client.get(URL, headers=_auth(gw)).json()
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="credit-risk"), metadata=_md(gw))
    assert (model.name, list(model.versions), model.platform) == (
        rest["name"], rest["versions"], rest["platform"])
    for specs, ours in ((rest["inputs"], model.inputs), (rest["outputs"], model.outputs)):
        assert [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}
                for t in ours] == specs
    assert stub.ModelReady(pb.ModelReadyRequest(name="credit-risk", version="1"),
                           metadata=_md(gw)).ready
    _grpc_error(lambda: stub.ModelReady(pb.ModelReadyRequest(name="credit-risk", version="5"),
                                        metadata=_md(gw)),
                grpc.StatusCode.NOT_FOUND, "model-version-not-found")
    _grpc_error(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="credit-risk")),
                grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "contents"])
def test_grpc_infer_answers_like_rest(gw, raw) -> None:
    client, stub, demo, _ = gw
    X = demo.X[:4]
    answer, call = stub.ModelInfer.with_call(_grpc_request(X, raw=raw, id="g-1"),
                                             metadata=_md(gw))
    assert (answer.model_name, answer.model_version, answer.id) == ("credit-risk", "1", "g-1")
    assert answer.parameters["request_id"].string_param == dict(
        call.trailing_metadata())["x-request-id"]
    assert len(answer.raw_output_contents) == len(answer.outputs) == 3
    rest = _infer(gw, {"inputs": [_tensor(X)]}).json()["outputs"]
    for out, raw_bytes, expected in zip(answer.outputs, answer.raw_output_contents, rest,
                                        strict=True):
        assert (out.name, out.datatype, list(out.shape)) == (
            expected["name"], expected["datatype"], expected["shape"])
        dtype = "<i8" if out.datatype == "INT64" else "<f8"
        assert np.allclose(np.frombuffer(raw_bytes, dtype), expected["data"])


def test_grpc_request_rules(gw) -> None:
    _, stub, demo, outsider = gw
    X = demo.X[:2]
    only = stub.ModelInfer(_grpc_request(X, outputs=[
        pb.ModelInferRequest.InferRequestedOutputTensor(name="probabilities")]),
        metadata=_md(gw))
    assert [o.name for o in only.outputs] == ["probabilities"]
    versioned = stub.ModelInfer(_grpc_request(X, model_version="1"), metadata=_md(gw))
    assert versioned.model_version == "1"
    fp16 = pb.ModelInferRequest(model_name="credit-risk")
    fp16.inputs.add(name="input", datatype="FP16", shape=[2, 20])
    fp16.raw_input_contents.append(X.astype("<f2").tobytes())
    assert stub.ModelInfer(fp16, metadata=_md(gw)).outputs[0].name == "label"
    mixed = _grpc_request(X, raw=False)
    mixed.raw_input_contents.append(X.astype("<f8").tobytes())
    _grpc_error(lambda: stub.ModelInfer(mixed, metadata=_md(gw)),
                grpc.StatusCode.INVALID_ARGUMENT, "malformed-request")
    wrong = pb.ModelInferRequest(model_name="credit-risk")
    tensor = wrong.inputs.add(name="input", datatype="FP64", shape=[2, 20])
    tensor.contents.fp32_contents.extend(X.ravel().tolist())
    trailers = _grpc_error(lambda: stub.ModelInfer(wrong, metadata=_md(gw)),
                           grpc.StatusCode.INVALID_ARGUMENT, "schema-violation")
    assert trailers["garrison-problem"] == "datatype-mismatch"
    unknown = _grpc_request(X, outputs=[
        pb.ModelInferRequest.InferRequestedOutputTensor(name="logits")])
    _grpc_error(lambda: stub.ModelInfer(unknown, metadata=_md(gw)),
                grpc.StatusCode.INVALID_ARGUMENT, "schema-violation")
    _grpc_error(lambda: stub.ModelInfer(_grpc_request(X, model_version="x"), metadata=_md(gw)),
                grpc.StatusCode.INVALID_ARGUMENT, "invalid-input")
    _grpc_error(lambda: stub.ModelInfer(_grpc_request(X), metadata=_md(gw, outsider)),
                grpc.StatusCode.NOT_FOUND, "model-not-found")
    _grpc_error(lambda: stub.ModelInfer(_grpc_request(X)), grpc.StatusCode.UNAUTHENTICATED,
                "unauthenticated")


def test_grpc_limits(gw) -> None:
    _, stub, demo, _ = gw
    big = _grpc_request(np.zeros((2000, 20)))  # 320 KB, over the 256 KB limit.
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(big, metadata=_md(gw))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    too_many = _grpc_request(np.zeros((1001, 20)))
    with pytest.raises(grpc.RpcError) as raised:
        stub.ModelInfer(too_many, metadata=_md(gw))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(raised.value.trailing_metadata())["garrison-code"] == "payload-too-large"
