"""Runs inside the clients' venv (tritonclient and kserve from PyPI; no Garrison).

``python oip_clients.py CLIENT`` reads a JSON job on stdin: the gateway's HTTP and gRPC
addresses, the model, the caller's key, an outsider's key and the rows; it prints one
JSON object with what the client saw: health, metadata, every output it received, and
the status of the refused calls (no credentials, a caller not on the list).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def _refusal(call: Any) -> str:
    """What a refused call raised, as a status string (``401``, ``UNAUTHENTICATED``)."""
    try:
        call()
    except Exception as exc:  # Each client raises its own exception type.
        status = getattr(exc, "status", None)
        status = status() if callable(status) else status
        code = getattr(exc, "code", None)
        code = code() if callable(code) else code
        response = getattr(exc, "response", None)
        if response is not None and getattr(response, "status_code", None):
            return str(response.status_code)
        text = str(getattr(code, "name", None) or status or type(exc).__name__)
        return text.removeprefix("StatusCode.")
    return "accepted"


async def _arefusal(coro_factory: Any) -> str:
    try:
        await coro_factory()
    except Exception as exc:
        response = getattr(exc, "response", None)
        if response is not None:
            return str(response.status_code)
        code = getattr(exc, "code", None)
        code = code() if callable(code) else code
        return str(getattr(code, "name", None) or type(exc).__name__)
    return "accepted"


def triton_http(job: dict[str, Any]) -> dict[str, Any]:
    import tritonclient.http as client

    X = np.asarray(job["X"], dtype=np.float64)
    auth = {"Authorization": f"Bearer {job['key']}"}
    c = client.InferenceServerClient(url=job["http"])
    out: dict[str, Any] = {"live": c.is_server_live(), "ready": c.is_server_ready(),
                           "model_ready": c.is_model_ready(job["model"], headers=auth),
                           "server": c.get_server_metadata(headers=auth),
                           "metadata": c.get_model_metadata(job["model"], headers=auth),
                           "version_metadata": c.get_model_metadata(
                               job["model"], model_version="1", headers=auth)}

    def matrix(binary: bool, datatype: str = "FP64") -> Any:
        tensor = client.InferInput("input", list(X.shape), datatype)
        tensor.set_data_from_numpy(X.astype(np.float32 if datatype == "FP32" else np.float64),
                                   binary_data=binary)
        return tensor

    # The client's default: JSON inputs, every output back as binary data.
    default = c.infer(job["model"], [matrix(False)], headers=auth, request_id="triton-json")
    out["json"] = {"label": default.as_numpy("label").tolist(),
                   "probabilities": default.as_numpy("probabilities").tolist(),
                   "id": default.get_response()["id"]}
    outputs = [client.InferRequestedOutput("probabilities", binary_data=False),
               client.InferRequestedOutput("label", binary_data=True)]
    chosen = c.infer(job["model"], [matrix(True)], outputs=outputs, headers=auth,
                     parameters={"priority_hint": 2})
    out["binary"] = {"names": [o["name"] for o in chosen.get_response()["outputs"]],
                     "label": chosen.as_numpy("label").tolist(),
                     "probabilities": chosen.as_numpy("probabilities").tolist()}
    fp32 = c.infer(job["model"], [matrix(True, "FP32")], headers=auth)
    out["fp32_label"] = fp32.as_numpy("label").tolist()
    per_feature = []
    for spec in out["metadata"]["inputs"]:
        j = job["features"].index(spec["name"])
        tensor = client.InferInput(spec["name"], [len(X)], spec["datatype"])
        tensor.set_data_from_numpy(X[:, j].astype(np.float64), binary_data=True)
        per_feature.append(tensor)
    out["per_feature_label"] = c.infer(job["model"], per_feature,
                                       headers=auth).as_numpy("label").tolist()
    out["no_credentials"] = _refusal(lambda: c.infer(job["model"], [matrix(False)]))
    out["outsider"] = _refusal(lambda: c.infer(
        job["model"], [matrix(False)], headers={"Authorization": f"Bearer {job['outsider']}"}))
    out["outsider_metadata"] = _refusal(lambda: c.get_model_metadata(
        job["model"], headers={"Authorization": f"Bearer {job['outsider']}"}))
    return out


def triton_grpc(job: dict[str, Any]) -> dict[str, Any]:
    import tritonclient.grpc as client

    X = np.asarray(job["X"], dtype=np.float64)
    auth = {"authorization": f"Bearer {job['key']}"}
    c = client.InferenceServerClient(url=job["grpc"])
    out: dict[str, Any] = {"live": c.is_server_live(), "ready": c.is_server_ready(),
                           "model_ready": c.is_model_ready(job["model"], headers=auth),
                           "server": c.get_server_metadata(headers=auth, as_json=True),
                           "metadata": c.get_model_metadata(job["model"], headers=auth,
                                                            as_json=True)}
    tensor = client.InferInput("input", list(X.shape), "FP64")
    tensor.set_data_from_numpy(X)
    result = c.infer(job["model"], [tensor], headers=auth, request_id="triton-grpc")
    out["infer"] = {"label": result.as_numpy("label").tolist(),
                    "probabilities": result.as_numpy("probabilities").tolist(),
                    "id": result.get_response(as_json=True)["id"]}
    only = c.infer(job["model"], [tensor], headers=auth,
                   outputs=[client.InferRequestedOutput("label")])
    out["only_label"] = [o.name for o in only.get_response().outputs]
    out["no_credentials"] = _refusal(lambda: c.infer(job["model"], [tensor]))
    out["outsider"] = _refusal(lambda: c.infer(
        job["model"], [tensor], headers={"authorization": f"Bearer {job['outsider']}"}))
    return out


async def _kserve_rest(job: dict[str, Any], protocol: str) -> dict[str, Any]:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    X = np.asarray(job["X"], dtype=np.float64)
    base = f"http://{job['http']}"
    auth = {"Authorization": f"Bearer {job['key']}"}
    c = InferenceRESTClient(RESTConfig(protocol=protocol, retries=0, timeout=30))
    out: dict[str, Any] = {"live": await c.is_server_live(base, headers=auth),
                           "model_ready": await c.is_model_ready(base, job["model"],
                                                                 headers=auth)}
    outsider = {"Authorization": f"Bearer {job['outsider']}"}
    if protocol == "v1":
        body = {"instances": X.tolist()}
        answer = await c.infer(base, body, model_name=job["model"], headers=auth)
        out["predictions"] = answer["predictions"]
        named = {"instances": [dict(zip(job["features"], map(float, row), strict=True))
                               for row in X]}
        out["named_predictions"] = (await c.infer(base, named, model_name=job["model"],
                                                  headers=auth))["predictions"]
        out["no_credentials"] = await _arefusal(
            lambda: c.infer(base, body, model_name=job["model"]))
        out["outsider"] = await _arefusal(
            lambda: c.infer(base, body, model_name=job["model"], headers=outsider))
        await c.close()
        return out
    out["ready"] = await c.is_server_ready(base, headers=auth)
    tensor = InferInput(name="input", shape=list(X.shape), datatype="FP64")
    tensor.set_data_from_numpy(X, binary_data=False)
    request = InferRequest(model_name=job["model"], infer_inputs=[tensor], request_id="ks-1")
    answer = await c.infer(base, request, model_name=job["model"], headers=auth)
    outs = {o.name: o.as_numpy().tolist() for o in answer.outputs}
    out["infer"] = {"label": outs["label"], "probabilities": outs["probabilities"],
                    "id": answer.id, "model_name": answer.model_name}
    binary = InferInput(name="input", shape=list(X.shape), datatype="FP64")
    binary.set_data_from_numpy(X, binary_data=True)
    request = InferRequest(model_name=job["model"], infer_inputs=[binary])
    answer = await c.infer(base, request, model_name=job["model"], headers=auth)
    out["binary_label"] = next(o for o in answer.outputs if o.name == "label").as_numpy().tolist()
    out["no_credentials"] = await _arefusal(
        lambda: c.infer(base, request, model_name=job["model"]))
    out["outsider"] = await _arefusal(
        lambda: c.infer(base, request, model_name=job["model"], headers=outsider))
    await c.close()
    return out


async def _kserve_grpc(job: dict[str, Any]) -> dict[str, Any]:
    from kserve import InferenceGRPCClient, InferInput, InferRequest
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    X = np.asarray(job["X"], dtype=np.float64)
    auth = (("authorization", f"Bearer {job['key']}"),)
    c = InferenceGRPCClient(job["grpc"], retries=0, timeout=30)
    out: dict[str, Any] = {"live": await c.is_server_live(),
                           "ready": await c.is_server_ready(),
                           "model_ready": await c.is_model_ready(job["model"], headers=auth)}
    meta = await c._client_stub.ModelMetadata(pb.ModelMetadataRequest(name=job["model"]),
                                              metadata=auth)
    out["metadata"] = {"name": meta.name, "outputs": [
        {"name": o.name, "datatype": o.datatype, "shape": list(o.shape)} for o in meta.outputs]}
    tensor = InferInput(name="input", shape=list(X.shape), datatype="FP64")
    tensor.set_data_from_numpy(X)
    request = InferRequest(model_name=job["model"], infer_inputs=[tensor], request_id="ksg")
    answer = await c.infer(request, headers=auth)
    outs = {o.name: o.as_numpy().tolist() for o in answer.outputs}
    out["infer"] = {"label": outs["label"], "probabilities": outs["probabilities"],
                    "id": answer.id}
    out["no_credentials"] = await _arefusal(lambda: c.infer(request))
    out["outsider"] = await _arefusal(lambda: c.infer(
        request, headers=(("authorization", f"Bearer {job['outsider']}"),)))
    await c.close()
    return out


def main() -> None:
    job = json.loads(sys.stdin.read())
    which = sys.argv[1]
    if which == "triton-http":
        result = triton_http(job)
    elif which == "triton-grpc":
        result = triton_grpc(job)
    elif which in ("kserve-v1", "kserve-v2"):
        result = asyncio.run(_kserve_rest(job, which.split("-")[1]))
    elif which == "kserve-grpc":
        result = asyncio.run(_kserve_grpc(job))
    else:
        raise SystemExit(f"unknown client {which}")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
