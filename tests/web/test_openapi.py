"""The OpenAPI document lists every route, and its references and examples hold."""

from __future__ import annotations

import re

from starlette.routing import Route

from garrison.gateway.openapi import openapi_document
from garrison.types import MODEL_NAME_PATTERN
from garrison.web import OPENAPI_PATH, create_web_app, operations
from garrison.web.schemas import ModelListQuery


def _refs(node, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def test_every_route_is_in_the_document(inst, http) -> None:
    doc = http.get(OPENAPI_PATH).json()
    assert doc["openapi"].startswith("3.1")
    app = create_web_app(inst.services, console=False)  # The console is not in the API.
    served = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route)
              for m in r.methods or () if m != "HEAD"}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert served == documented
    assert len(served) == len(operations()) == 28


def test_document_is_consistent(http) -> None:
    doc = http.get(OPENAPI_PATH).json()
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc, set()):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for path, item in doc["paths"].items():
        declared = set(re.findall(r"\{([a-z_]+)\}", path))
        for op in item.values():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (path, op["operationId"])
            assert "500" in op["responses"]
            open_endpoint = op.get("security") == []
            assert open_endpoint == (op["operationId"] in ("health", "openapi"))
            if not open_endpoint:
                assert "401" in op["responses"]


def test_error_and_upload_shapes_are_documented(http) -> None:
    doc = http.get(OPENAPI_PATH).json()
    error = doc["components"]["schemas"]["ErrorInfo"]
    assert {"code", "message", "request_id"} <= set(error["required"])
    upload = doc["paths"]["/admin/models/{name}/versions"]["post"]["requestBody"]["content"]
    assert set(upload) == {"application/octet-stream", "multipart/form-data"}
    download = doc["paths"]["/admin/models/{name}/versions/{version}/artifact"]["get"]
    assert set(download["responses"]["200"]["content"]) == {"application/octet-stream"}
    audit = doc["paths"]["/admin/audit/events"]["get"]
    limit = next(p for p in audit["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000


def test_model_name_rule_is_the_shared_constant(http) -> None:
    doc = http.get(OPENAPI_PATH).json()
    patterns = {p["schema"]["pattern"] for item in doc["paths"].values()
                for op in item.values() for p in op.get("parameters", [])
                if p["name"] == "name" and p["in"] == "path"}
    assert patterns == {MODEL_NAME_PATTERN}
    query = ModelListQuery.model_json_schema()["properties"]["name"]
    assert {s.get("pattern") for s in query["anyOf"]} - {None} == {MODEL_NAME_PATTERN}
    gateway = {p["schema"]["pattern"] for item in openapi_document()["paths"].values()
               for op in item.values() for p in op.get("parameters", [])
               if p.get("name") == "name" and p.get("in") == "path"}
    assert gateway == {MODEL_NAME_PATTERN}
