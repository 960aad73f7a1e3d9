"""OpenTelemetry tracing for the gateway, when ``GARRISON_OTEL_ENDPOINT`` is set.

One server span per request (``garrison.request``) with the route, status, request id
and model; never the body, the credential or any feature value. Spans go to an OTLP/HTTP
collector through a batch processor, off the request path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["Tracer", "make_tracer"]


class Tracer:
    """A thin wrapper so the app does not depend on OpenTelemetry being installed."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        from opentelemetry.trace import SpanKind

        with self._tracer.start_as_current_span(name, kind=SpanKind.SERVER,
                                                attributes=attributes) as span:
            yield span


def make_tracer(endpoint: str | None, *, exporter: Any = None,
                service_name: str = "garrison-gateway") -> Tracer | None:
    """A tracer exporting to ``endpoint`` (or to ``exporter``, for tests); ``None`` if
    neither, so that a request without tracing pays nothing for it."""
    if endpoint is None and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracer(provider.get_tracer("garrison.gateway"))
