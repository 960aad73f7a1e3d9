"""The route table and the OpenAPI 3.1 document generated from it.

Each endpoint is declared once as an :class:`Operation`: the Starlette route and its
entry in ``GET /admin/openapi.json`` are both built from that declaration, and the
schemas come from the pydantic models in ``web.schemas`` (OpenAPI 3.1 uses JSON
Schema 2020-12, which is what pydantic emits).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from garrison import __version__
from garrison.types import MODEL_NAME_PATTERN
from garrison.web.schemas import ErrorBody, VersionMetadataIn

__all__ = ["Operation", "build_openapi"]

Endpoint = Callable[[Request], Awaitable[Response]]
_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{([a-z_]+)\}")
_PATH_PARAMS = {
    "name": ("Model name: 1-64 characters of a-z, 0-9, '_' and '-'.",
             {"type": "string", "pattern": MODEL_NAME_PATTERN}),
    "version": ("Version number (1, 2, ...).",
                {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}),
    "override": ("Gate override id (a UUID, as `request` answered it).",
                 {"type": "string", "pattern": "^[0-9a-f-]{36}$"}),
    "incident": ("Incident id as `verify` and the incident list name it (`quarantine:57`).",
                 {"type": "string", "pattern": "^[a-z-]{1,32}:[0-9A-Za-z:._-]{1,96}$"}),
}
_BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
_STATUS_TEXT = {
    400: "Malformed or invalid input", 401: "Missing or invalid API key",
    403: "Not allowed (audited)", 404: "No such object", 409: "Conflicts with the current state",
    413: "Body too large", 422: "Artifact refused by the scanner",
    500: "Internal error", 503: "Storage unavailable",
}


@dataclass(frozen=True)
class Operation:
    """One endpoint: where it lives, what it takes and what it answers."""

    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    binary_response: bool = False
    #: A document answered as is: its media type and JSON schema (a BOM, a PEM key).
    document: tuple[str, dict[str, Any]] | None = None
    upload: bool = False
    auth: bool = True
    errors: tuple[int, ...] = (400, 401, 403, 404)

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)


def _models(operations: Sequence[Operation]) -> list[tuple[type[BaseModel], Any]]:
    found: dict[tuple[type[BaseModel], str], None] = {(ErrorBody, "serialization"): None}
    for op in operations:
        if op.body is not None:
            found[(op.body, "validation")] = None
        if op.response is not None:
            found[(op.response, "serialization")] = None
        if op.upload:
            found[(VersionMetadataIn, "validation")] = None
    return list(found)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        out.append({"name": name, "in": "query", "required": name in required,
                    "description": description, "schema": prop})
    return out


def _upload_body(refs: dict[Any, Any]) -> dict[str, Any]:
    meta = refs[(VersionMetadataIn, "validation")]
    return {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": _BINARY},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": _BINARY,
                    "metadata": meta,
                    "reference": {**_BINARY, "description": "Reference (training) data, "
                                  "CSV or Parquet (by its file name's suffix)."},
                    "signature": {**_BINARY, "description": "An OpenSSF model-signing "
                                  "bundle by a trusted signer."},
                },
            }},
        },
    }


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "tags": [op.tag]}
    doc = inspect.cleandoc(op.endpoint.__doc__ or "")
    if doc:
        out["description"] = doc
    params = [
        {"name": p, "in": "path", "required": True, "description": _PATH_PARAMS[p][0],
         "schema": _PATH_PARAMS[p][1]}
        for p in op.path_params
    ]
    if op.query is not None:
        params.extend(_query_parameters(op.query))
    if params:
        out["parameters"] = params
    if op.body is not None:
        # A body is required when its model has a required field (an empty body is {}).
        required = bool(op.body.model_json_schema().get("required"))
        out["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": refs[(op.body, "validation")]}}}
    elif op.upload:
        out["requestBody"] = _upload_body(refs)
    if op.binary_response:
        content = {"application/octet-stream": {"schema": _BINARY}}
    elif op.document is not None:
        content = {op.document[0]: {"schema": op.document[1]}}
    elif op.response is None:
        content = {"application/json": {"schema": {"type": "object"}}}
    else:
        content = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.status): {"description": "Success", "content": content}}
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    for status in sorted(set(op.errors) | ({401} if op.auth else set()) | {500}):
        responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"),
                                  "content": error}
    out["responses"] = responses
    if not op.auth:
        out["security"] = []
    return out


def build_openapi(operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    refs, defs = models_json_schema(_models(operations), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Garrison admin API",
            "version": __version__,
            "description": "Model registry and audit trail over HTTP. Every endpoint except "
            "health and this document needs `Authorization: Bearer <API key>`.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "A Garrison API key (gk_...)."}},
        },
        "security": [{"apiKey": []}],
    }
