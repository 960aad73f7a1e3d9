"""Protocol buffers <-> the protocol-neutral request and answer of the OIP v2 gRPC service.

A ``ModelInferRequest`` becomes the same JSON-shaped request the REST routes read
(:class:`GRPCInput`), so one set of rules checks both; ``raw_input_contents`` go
through the same decoder as the REST binary extension. Answers carry every output
as ``raw_output_contents``, as Triton does and as both tritonclient and KServe read.
"""

from __future__ import annotations

from typing import Any

import orjson

from garrison.errors import MalformedRequest
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2 as pb
from garrison.serving._checks import ValidationLimits, violation
from garrison.serving.deployed import InferenceResult
from garrison.serving.oip import OIPInput
from garrison.serving.oip_outputs import select_outputs

__all__ = ["GRPCInput", "infer_response", "metadata_response", "parameters"]

#: Datatype -> the ``InferTensorContents`` field that may carry it (FP16: raw only).
_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
_FIELDS = frozenset(_CONTENTS.values())


def parameters(entries: Any) -> dict[str, Any]:
    """An ``InferParameter`` map as plain scalars; a value of a kind this definition of
    the protocol does not know (Triton's ``double_param``) is dropped, like any
    parameter Garrison does not use."""
    out: dict[str, Any] = {}
    for key, value in entries.items():
        kind = value.WhichOneof("parameter_choice")
        if kind is not None:
            out[key] = getattr(value, kind)
    return out


def _contents(tensor: Any, fld: str, limits: ValidationLimits) -> list[Any] | None:
    """The typed contents of an input, or ``None`` when it has none (raw contents)."""
    if not tensor.HasField("contents"):
        return None
    contents = tensor.contents
    allowed = _CONTENTS.get(tensor.datatype)
    for name in _FIELDS:
        if name != allowed and len(getattr(contents, name)):
            raise violation(f"{fld}.contents", None, "datatype-mismatch")
    if allowed is None:
        return []
    values = list(getattr(contents, allowed))
    if allowed != "bytes_contents":
        return values
    out = []
    for r, raw in enumerate(values):
        if len(raw) > limits.max_string_length * 4:
            raise violation(f"{fld}.contents", r, "string-too-long")
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise violation(f"{fld}.contents", r, "not-utf8") from None
    return out


class GRPCInput(OIPInput):
    """A ``ModelInferRequest``, converted only when the data plane validates it."""

    def __init__(self, request: Any) -> None:
        super().__init__(model=request.model_name)
        self._request = request

    def _framed(self, limits: ValidationLimits) -> tuple[Any, None]:
        request = self._request
        raw = list(request.raw_input_contents)
        inputs = []
        for i, tensor in enumerate(request.inputs):
            item: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype,
                                    "shape": list(tensor.shape)}
            params = parameters(tensor.parameters)
            if params:
                item["parameters"] = params
            data = _contents(tensor, f"inputs[{i}]", limits)
            if data is not None:
                if raw:
                    raise MalformedRequest("an input has both contents and raw contents",
                                           field=f"inputs[{i}].contents",
                                           problem="data-and-raw-contents")
                item["data"] = data
            elif not raw:
                item["data"] = []
            inputs.append(item)
        message: dict[str, Any] = {"inputs": inputs}
        if request.id:
            message["id"] = request.id
        params = parameters(request.parameters)
        if params:
            message["parameters"] = params
        if len(request.outputs):
            message["outputs"] = [{"name": o.name, "parameters": parameters(o.parameters)}
                                  for o in request.outputs]
        self._raw = raw or None
        return message, None


def _parameter(value: Any) -> Any:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    return pb.InferParameter(string_param=str(value))


def infer_response(name: str, result: InferenceResult, request: OIPInput) -> Any:
    """The ``ModelInferResponse``: the requested outputs (all when none is named), raw."""
    assert result.hardened is not None  # The data plane hardens every answer.
    selected = select_outputs(result.hardened, request.outputs, True)
    params: dict[str, Any] = {"request_id": result.request_id}
    if result.client_request_id is not None:
        params["client_request_id"] = result.client_request_id
    if result.fallback_reason:
        params["fallback"] = result.fallback_reason
    if result.explanations is not None:
        params["explanations"] = orjson.dumps(result.explanations).decode()
    response = pb.ModelInferResponse(
        model_name=name, model_version=str(result.served_by),
        id=result.batch.request_id or result.request_id)
    for key, value in params.items():
        response.parameters[key].CopyFrom(_parameter(value))
    for item in selected:
        response.outputs.add(name=item.tensor.name, datatype=item.tensor.datatype,
                             shape=item.tensor.shape)
        response.raw_output_contents.append(item.raw or b"")
    return response


def metadata_response(meta: dict[str, Any]) -> Any:
    """A ``ModelMetadataResponse`` from the REST model metadata of the same version."""
    response = pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                        platform=meta["platform"])
    for spec in meta["inputs"]:
        response.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
    for spec in meta["outputs"]:
        response.outputs.add(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
    return response
