"""OpenTelemetry: one span per request, with no body, credential or feature value in it."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from garrison.app import build_gateway

from .conftest import auth


def test_spans_carry_route_status_and_request_id_only(installation) -> None:
    settings, services, demo = installation
    exporter = InMemorySpanExporter()
    app, _ = build_gateway(services, settings, span_exporter=exporter)
    row = {f"f{i:02d}": 0.5 for i in range(20)}
    with TestClient(app) as client:
        r = client.post("/v1/models/credit-risk/predict", headers=auth(demo.keys["scoring-app"]),
                        content=json.dumps({"instances": [row]}))
    [span] = [s for s in exporter.get_finished_spans() if s.name == "garrison.request"]
    attrs = dict(span.attributes)
    assert attrs["http.status_code"] == 200 and attrs["garrison.model"] == "credit-risk"
    assert attrs["garrison.request_id"] == r.headers["x-request-id"]
    assert attrs["http.route"] == "/v1/models/{name}/predict"  # the template, not the path
    dumped = json.dumps(attrs)
    assert demo.keys["scoring-app"] not in dumped and "0.5" not in dumped


def test_no_endpoint_means_no_tracer() -> None:
    from garrison.gateway.tracing import make_tracer

    assert make_tracer(None) is None  # requests skip tracing entirely
