"""The gateway's OpenAPI 3.1 document (the contract schemathesis fuzzes)."""

from __future__ import annotations

from typing import Any

from garrison import __version__
from garrison.types import MODEL_NAME_PATTERN

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_SCALAR = {"type": ["number", "string", "boolean", "null"]}


_OIP_ERROR = {"$ref": "#/components/schemas/OIPError"}
_TEXT = {400: "Malformed binary framing (names the field)",
         401: "Missing or invalid credentials", 403: "Not allowed",
         404: "Unknown model (the same answer for a model the caller may not use)",
         413: "Body or batch too large",
         415: "Body declared as another media type than JSON (or the binary extension's)",
         422: "Invalid input (names the field)",
         429: "Rate limit or quota exceeded (Retry-After)",
         503: "Overloaded or model unavailable (Retry-After)"}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": _TEXT[c], "content": {"application/json": {"schema": _ERROR}}}
            for c in codes}


def _oip_errors(*codes: int) -> dict[str, Any]:
    """Error answers of the Open Inference Protocol routes: the protocol's shape."""
    return {str(c): {"description": _TEXT[c],
                     "content": {"application/json": {"schema": _OIP_ERROR}}} for c in codes}


_NAME = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": MODEL_NAME_PATTERN}}
_EXPLAIN = {"name": "explain", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
            "description": "Return per-feature contributions."}
_INFER_ERRORS = _errors(401, 404, 413, 415, 422, 429, 503)
_OIP_INFER_ERRORS = _oip_errors(400, 401, 404, 413, 415, 422, 429, 503)
_NOT_READY = {"503": {"description": "Not ready: its production version cannot serve (the "
                      "reason's code in `reason`)", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/ModelReady"}}}}}
_VERSION = {"name": "version", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 0}}
_DATATYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
              "FP16", "FP32", "FP64", "BYTES"]
_PARAMETERS = {"type": "object", "maxProperties": 64,
               "additionalProperties": {"type": ["string", "number", "boolean"]}}
_BINARY_INFER = {"application/octet-stream": {"schema": {
    "type": "string", "contentMediaType": "application/octet-stream",
    "description": "Binary tensor data extension: the first Inference-Header-Content-Length "
    "bytes are the JSON request, then each input's binary_data_size bytes."}}}
_HEADER_LENGTH = {"name": "Inference-Header-Content-Length", "in": "header", "required": False,
                  "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
                  "description": "Length of the JSON part of a binary-extension body."}


def _infer_body() -> dict[str, Any]:
    return {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InferRequest"}},
        **_BINARY_INFER}}


def _infer_ok() -> dict[str, Any]:
    return {"200": {"description": "Outputs (binary ones after the JSON header)", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/InferResponse"}},
        **_BINARY_INFER}}}


def openapi_document() -> dict[str, Any]:
    json_body = lambda ref: {  # noqa: E731
        "required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}
    ok = lambda ref, text: {  # noqa: E731
        "200": {"description": text, "content": {"application/json": {"schema": {"$ref": ref}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Garrison inference gateway", "version": __version__,
                 "description": "Open Inference Protocol v2 and a friendly JSON form. Every "
                 "endpoint except /v2/health/* requires `Authorization: Bearer`."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                    "type": "object", "required": ["code", "message", "request_id"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "request_id": {"type": "string"},
                                   "field": {"type": "string"}, "row": {"type": "integer"},
                                   "problem": {"type": "string"}}}}},
                "OIPError": {
                    "type": "object", "required": ["error", "code", "request_id"],
                    "description": "The Open Inference Protocol's error shape, with Garrison's "
                    "code and request id beside the message.",
                    "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                                   "request_id": {"type": "string"},
                                   "field": {"type": "string"}, "row": {"type": "integer"},
                                   "problem": {"type": "string"}}},
                "TensorMetadata": {
                    "type": "object", "required": ["name", "datatype", "shape"],
                    "properties": {"name": {"type": "string"},
                                   "datatype": {"type": "string", "enum": _DATATYPES},
                                   "shape": {"type": "array", "items": {"type": "integer"}}}},
                "ModelMetadata": {
                    "type": "object", "required": ["name", "platform", "inputs", "outputs"],
                    "properties": {
                        "name": {"type": "string"},
                        "versions": {"type": "array", "items": {"type": "string"}},
                        "platform": {"type": "string"},
                        "inputs": {"type": "array", "items": {
                            "$ref": "#/components/schemas/TensorMetadata"}},
                        "outputs": {"type": "array", "items": {
                            "$ref": "#/components/schemas/TensorMetadata"}}}},
                "ServerMetadata": {
                    "type": "object", "required": ["name", "version", "extensions"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                                   "extensions": {"type": "array",
                                                  "items": {"type": "string"}}}},
                "ModelReady": {"type": "object", "required": ["name", "ready"],
                               "properties": {"name": {"type": "string"},
                                              "ready": {"type": "boolean"},
                                              "reason": {
                                                  "type": "string",
                                                  "description": "Why not (an error code; "
                                                  "the detail is in the log)."}}},
                "KServeV1Request": {
                    "type": "object", "required": ["instances"], "additionalProperties": False,
                    "properties": {"instances": {"type": "array", "minItems": 1, "items": {
                        "type": ["object", "array"]}}}},
                "KServeV1Response": {
                    "type": "object", "required": ["predictions"],
                    "properties": {"predictions": {"type": "array"}}},
                "Decision": {
                    "type": "object",
                    "required": ["request_id", "created", "caller", "model", "version", "rows",
                                 "outputs", "input_policy", "fallback", "flags", "latency_ms",
                                 "integrity"],
                    "properties": {
                        "request_id": {"type": "string"}, "created": {"type": "string"},
                        "caller": {"type": "string"}, "model": {"type": "string"},
                        "version": {"type": "integer"}, "rows": {"type": "integer"},
                        "outputs": {"type": "array"}, "inputs": {"type": ["array", "null"]},
                        "input_policy": {"type": "string",
                                         "enum": ["none", "pseudonymized", "full"]},
                        "fallback": {"type": "string"}, "flags": {"type": "array"},
                        "explanation": {"type": ["array", "null"]},
                        "latency_ms": {"type": "integer"},
                        "integrity": {
                            "type": "object", "required": ["verified"],
                            "description": "The record's batch checked against the audit "
                            "event that anchors it (reason: unanchored, not-an-anchor, "
                            "batch-mismatch).",
                            "properties": {"verified": {"type": "boolean"},
                                           "anchor_seq": {"type": ["integer", "null"]},
                                           "reason": {"type": "string"}}}}},
                "PredictRequest": {
                    "type": "object", "required": ["instances"], "additionalProperties": False,
                    "properties": {"instances": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "additionalProperties": _SCALAR}}}},
                "PredictResponse": {
                    "type": "object", "required": ["predictions", "model_version", "request_id"],
                    "properties": {"predictions": {"type": "array", "items": {"type": "object"}},
                                   "model_version": {"type": "integer"},
                                   "request_id": {"type": "string"},
                                   "fallback": {"type": "object"},
                                   "explanations": {"type": "array"}}},
                "Tensor": {"type": "object", "required": ["name", "shape", "datatype"],
                           "description": "`data` holds the values row-major, unless "
                           "`parameters.binary_data_size` says they follow as binary data.",
                           "properties": {"name": {"type": "string"},
                                          "shape": {"type": "array",
                                                    "items": {"type": "integer"}},
                                          "datatype": {"type": "string", "enum": _DATATYPES},
                                          "parameters": _PARAMETERS,
                                          "data": {"type": "array"}}},
                "RequestedOutput": {"type": "object", "required": ["name"],
                                    "properties": {"name": {"type": "string"},
                                                   "parameters": _PARAMETERS}},
                "InferRequest": {"type": "object", "required": ["inputs"],
                                 "properties": {"id": {"type": "string"},
                                                "model_name": {"type": "string"},
                                                "model_version": {"type": "string"},
                                                "inputs": {"type": "array", "items": {
                                                    "$ref": "#/components/schemas/Tensor"}},
                                                "outputs": {"type": "array", "items": {
                                                    "$ref":
                                                    "#/components/schemas/RequestedOutput"}},
                                                "parameters": _PARAMETERS}},
                "InferResponse": {"type": "object",
                                  "required": ["model_name", "outputs"],
                                  "properties": {"model_name": {"type": "string"},
                                                 "model_version": {"type": "string"},
                                                 "id": {"type": "string"},
                                                 "outputs": {"type": "array", "items": {
                                                     "$ref": "#/components/schemas/Tensor"}},
                                                 "parameters": {"type": "object"}}},
                "Object": {"type": "object"},
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v2/health/live": {"get": {"summary": "Liveness", "security": [],
                                        "responses": ok("#/components/schemas/Object", "Alive")}},
            "/v2/health/ready": {"get": {
                "summary": "Readiness of the gateway: its model table built, not draining (a "
                "model that cannot serve does not count; see its own readiness)",
                "security": [],
                "responses": {**ok("#/components/schemas/Object", "Ready"),
                              "503": {"description": "Not ready"}}}},
            "/v2": {"get": {"summary": "Server metadata", "responses": {
                **ok("#/components/schemas/ServerMetadata", "Metadata"), **_oip_errors(401)}}},
            "/v2/models/{name}": {"get": {
                "summary": "Model metadata (the production version)", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/ModelMetadata", "Metadata"),
                              **_oip_errors(401, 404, 503)}}},
            "/v2/models/{name}/versions/{version}": {"get": {
                "summary": "Model metadata of a served version",
                "parameters": [_NAME, _VERSION],
                "responses": {**ok("#/components/schemas/ModelMetadata", "Metadata"),
                              **_oip_errors(401, 404, 503)}}},
            "/v2/models/{name}/ready": {"get": {
                "summary": "Model readiness", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/ModelReady", "Ready"),
                              **_oip_errors(401, 404), **_NOT_READY}}},
            "/v2/models/{name}/versions/{version}/ready": {"get": {
                "summary": "Readiness of a served version", "parameters": [_NAME, _VERSION],
                "responses": {**ok("#/components/schemas/ModelReady", "Ready"),
                              **_oip_errors(401, 404), **_NOT_READY}}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "OIP v2 inference on the production version",
                "parameters": [_NAME, _EXPLAIN, _HEADER_LENGTH],
                "requestBody": _infer_body(),
                "responses": {**_infer_ok(), **_OIP_INFER_ERRORS}}},
            "/v2/models/{name}/versions/{version}/infer": {"post": {
                "summary": "OIP v2 inference on a served version",
                "parameters": [_NAME, _VERSION, _EXPLAIN, _HEADER_LENGTH],
                "requestBody": _infer_body(),
                "responses": {**_infer_ok(), **_OIP_INFER_ERRORS}}},
            "/v1/models/{name}:predict": {"post": {
                "summary": "KServe v1 prediction: labels (or values), one per instance",
                "parameters": [_NAME],
                "requestBody": json_body("#/components/schemas/KServeV1Request"),
                "responses": {**ok("#/components/schemas/KServeV1Response", "Predictions"),
                              **_oip_errors(401, 404, 413, 415, 422, 429, 503)}}},
            "/v1/models/{name}": {"get": {
                "summary": "KServe v1 model readiness", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/ModelReady", "Ready"),
                              **_oip_errors(401, 404), **_NOT_READY}}},
            "/": {"get": {"summary": "KServe v1 liveness", "security": [],
                          "responses": ok("#/components/schemas/Object", "Alive")}},
            "/v1/models/{name}/predict": {"post": {
                "summary": "Friendly JSON prediction", "parameters": [_NAME, _EXPLAIN],
                "requestBody": json_body("#/components/schemas/PredictRequest"),
                "responses": {**ok("#/components/schemas/PredictResponse", "Predictions"),
                              **_INFER_ERRORS}}},
            "/v1/models/{name}/he-params": {"get": {
                "summary": "CKKS parameters for encrypted inference", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/Object", "Parameters"),
                              **_errors(401, 404, 422, 429)}}},
            "/v1/models/{name}/he-contexts": {"post": {
                "summary": "Register a public evaluation context (no secret key)",
                "parameters": [_NAME],
                "requestBody": json_body("#/components/schemas/Object"),
                "responses": {"201": {"description": "Registered", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Object"}}}},
                    **_errors(401, 404, 413, 415, 422, 429)}}},
            "/v1/models/{name}/infer-encrypted": {"post": {
                "summary": "Score CKKS ciphertexts; the server never sees plaintext",
                "parameters": [_NAME],
                "requestBody": json_body("#/components/schemas/Object"),
                "responses": {**ok("#/components/schemas/Object", "Encrypted scores"),
                              **_errors(401, 404, 413, 415, 422, 429, 503)}}},
            "/v1/decisions/{request_id}": {"get": {
                "summary": "A decision record by request id (auditors)",
                "parameters": [{"name": "request_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {**ok("#/components/schemas/Decision",
                                   "The decision record and its integrity check"),
                              **_errors(401, 403, 404)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401, 403)}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {
                **ok("#/components/schemas/Object", "OpenAPI 3.1"), **_errors(401)}}},
        },
    }
