"""The gateway's OpenAPI 3.1 document (the contract schemathesis fuzzes)."""

from __future__ import annotations

from typing import Any

from garrison import __version__
from garrison.types import MODEL_NAME_PATTERN

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_SCALAR = {"type": ["number", "string", "boolean", "null"]}


def _errors(*codes: int) -> dict[str, Any]:
    text = {401: "Missing or invalid credentials", 403: "Not allowed", 404: "Unknown model",
            413: "Body or batch too large", 422: "Invalid input (names the field)",
            429: "Rate limit or quota exceeded (Retry-After)",
            503: "Overloaded or model unavailable (Retry-After)"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
            for c in codes}


_NAME = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": MODEL_NAME_PATTERN}}
_EXPLAIN = {"name": "explain", "in": "query", "required": False,
            "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
            "description": "Return per-feature contributions."}
_INFER_ERRORS = _errors(401, 403, 404, 413, 422, 429, 503)


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
                "Tensor": {"type": "object", "required": ["name", "shape", "datatype", "data"],
                           "properties": {"name": {"type": "string"},
                                          "shape": {"type": "array",
                                                    "items": {"type": "integer"}},
                                          "datatype": {"type": "string", "enum": [
                                              "BOOL", "INT32", "INT64", "FP32", "FP64",
                                              "BYTES"]},
                                          "data": {"type": "array"}}},
                "InferRequest": {"type": "object", "required": ["inputs"],
                                 "properties": {"id": {"type": "string"},
                                                "inputs": {"type": "array", "items": {
                                                    "$ref": "#/components/schemas/Tensor"}},
                                                "parameters": {"type": "object"}}},
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
                "summary": "Readiness: models loaded and verified", "security": [],
                "responses": {**ok("#/components/schemas/Object", "Ready"),
                              "503": {"description": "Not ready"}}}},
            "/v2": {"get": {"summary": "Server metadata", "responses": {
                **ok("#/components/schemas/Object", "Metadata"), **_errors(401)}}},
            "/v2/models/{name}": {"get": {"summary": "Model metadata", "parameters": [_NAME],
                                          "responses": {**ok("#/components/schemas/Object",
                                                             "Metadata"),
                                                        **_errors(401, 403, 404)}}},
            "/v2/models/{name}/ready": {"get": {
                "summary": "Model readiness", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/Object", "Ready"),
                              **_errors(401, 403, 404)}}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "OIP v2 inference on the production version",
                "parameters": [_NAME, _EXPLAIN],
                "requestBody": json_body("#/components/schemas/InferRequest"),
                "responses": {**ok("#/components/schemas/InferResponse", "Outputs"),
                              **_INFER_ERRORS}}},
            "/v2/models/{name}/versions/{version}/infer": {"post": {
                "summary": "OIP v2 inference on a served version",
                "parameters": [_NAME, {"name": "version", "in": "path", "required": True,
                                       "schema": {"type": "integer", "minimum": 0}}, _EXPLAIN],
                "requestBody": json_body("#/components/schemas/InferRequest"),
                "responses": {**ok("#/components/schemas/InferResponse", "Outputs"),
                              **_INFER_ERRORS}}},
            "/v1/models/{name}/predict": {"post": {
                "summary": "Friendly JSON prediction", "parameters": [_NAME, _EXPLAIN],
                "requestBody": json_body("#/components/schemas/PredictRequest"),
                "responses": {**ok("#/components/schemas/PredictResponse", "Predictions"),
                              **_INFER_ERRORS}}},
            "/v1/models/{name}/he-params": {"get": {
                "summary": "CKKS parameters for encrypted inference", "parameters": [_NAME],
                "responses": {**ok("#/components/schemas/Object", "Parameters"),
                              **_errors(401, 403, 404, 422, 429)}}},
            "/v1/models/{name}/he-contexts": {"post": {
                "summary": "Register a public evaluation context (no secret key)",
                "parameters": [_NAME],
                "requestBody": json_body("#/components/schemas/Object"),
                "responses": {"201": {"description": "Registered", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Object"}}}},
                    **_errors(401, 403, 404, 413, 422, 429)}}},
            "/v1/models/{name}/infer-encrypted": {"post": {
                "summary": "Score CKKS ciphertexts; the server never sees plaintext",
                "parameters": [_NAME],
                "requestBody": json_body("#/components/schemas/Object"),
                "responses": {**ok("#/components/schemas/Object", "Encrypted scores"),
                              **_errors(401, 403, 404, 413, 422, 429, 503)}}},
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
