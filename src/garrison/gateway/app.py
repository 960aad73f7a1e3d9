"""The inference gateway's ASGI app: Open Inference Protocol v2 and a friendly JSON form.

Every endpoint except ``/v2/health/*`` needs ``Authorization: Bearer``. Handlers
parse, call the data plane, and render; all decisions live in the data plane.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from garrison import __version__
from garrison.authz import require
from garrison.errors import GarrisonError, InvalidInput, PayloadTooLarge
from garrison.gateway.errors import error_body, status_for
from garrison.gateway.openapi import openapi_document
from garrison.serving.dataplane import DataPlane, InferenceResult

__all__ = ["GatewayState", "create_gateway_app"]

log = logging.getLogger("garrison.gateway")
access = structlog.get_logger("garrison.access")
_PID = os.getpid()
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass
class GatewayState:
    dataplane: DataPlane
    authenticator: Any
    telemetry: Any
    decisions: Any
    max_body_bytes: int = 1_048_576
    body_timeout: float = 10.0
    ready: bool = False
    #: Set on SIGTERM: readiness fails while the worker keeps serving (gateway/shutdown.py).
    draining: bool = False
    access_log: bool = True
    encrypted: Any = None
    tracer: Any = None
    he_max_body_bytes: int = 64 * 1_048_576
    problems: dict[str, str] = field(default_factory=dict)
    background: list[Any] = field(default_factory=list)
    #: The process terminates TLS itself: every answer carries Strict-Transport-Security.
    hsts: bool = False


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status,
                    {**_HEADERS, **(headers or {})}, media_type="application/json")


def _request_id(request: Request) -> str:
    """The gateway's own id of this request: the key of its decision record. A client's
    X-Request-ID is never used as a key (one client could otherwise make another's
    records collide); it is echoed and recorded as ``client_request_id``."""
    return os.urandom(16).hex()


def _client_request_id(request: Request) -> str | None:
    supplied = request.headers.get("x-request-id", "")
    return supplied if _RID.fullmatch(supplied) else None


async def _body(request: Request, state: GatewayState, limit: int | None = None) -> bytes:
    cap = limit or state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise PayloadTooLarge("request body too large", problem="body-too-large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(state.body_timeout):  # No task per request, unlike wait_for.
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge("request body too large", problem="body-too-large")
                chunks.append(chunk)
    except TimeoutError:
        raise InvalidInput("the request body arrived too slowly", problem="slow-body") from None
    return b"".join(chunks)


def _flag(request: Request, name: str) -> bool:
    if not request.scope.get("query_string"):
        return False  # The usual case: no need to parse a query string.
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidInput(f"query parameter {name} must be true or false")
    return value in ("true", "1")


def _render_friendly(result: InferenceResult) -> dict[str, Any]:
    assert result.hardened is not None  # The data plane hardens every answer.
    body: dict[str, Any] = {"predictions": result.hardened.to_predictions(),
                            "model_version": result.served_by,
                            "request_id": result.request_id}
    if result.client_request_id is not None:
        body["client_request_id"] = result.client_request_id
    if result.fallback_reason:
        body["fallback"] = {"used": True, "reason": result.fallback_reason}
    if result.explanations is not None:
        body["explanations"] = result.explanations
    if result.flags and result.deployed.config.detection in ("flag", "fallback"):
        body["flags"] = result.flags
    return body


def _render_oip(name: str, result: InferenceResult) -> dict[str, Any]:
    assert result.hardened is not None  # The data plane hardens every answer.
    body: dict[str, Any] = {"model_name": name, "model_version": str(result.served_by),
                            "id": result.batch.request_id or result.request_id,
                            "outputs": result.hardened.to_oip_outputs(),
                            "parameters": {"request_id": result.request_id}}
    if result.client_request_id is not None:
        body["parameters"]["client_request_id"] = result.client_request_id
    if result.fallback_reason:
        body["parameters"]["fallback"] = result.fallback_reason
    if result.explanations is not None:
        body["parameters"]["explanations"] = result.explanations
    return body


def create_gateway_app(state: GatewayState) -> Starlette:
    async def guarded(request: Request, handler: Any, *, auth: bool = True) -> Response:
        rid = _request_id(request)
        if state.tracer is not None:
            with state.tracer.span("garrison.request", **{
                    "http.method": request.method,
                    "http.route": getattr(request.scope.get("route"), "path", ""),
                    "garrison.request_id": rid,
                    "garrison.model": request.path_params.get("name", "")}) as span:
                response = await _guarded(request, handler, rid, auth=auth)
                if span is not None:
                    span.set_attribute("http.status_code", response.status_code)
                return response
        return await _guarded(request, handler, rid, auth=auth)

    async def _guarded(request: Request, handler: Any, rid: str, *, auth: bool) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            principal = None
            if auth:
                principal = await state.authenticator.authenticate(
                    request.headers.get("authorization"), rid,
                    request.client.host if request.client else "")
            response = await handler(request, principal, rid)
            status = response.status_code
        except GarrisonError as exc:
            status = status_for(exc)
            headers = {"x-request-id": rid}
            retry = getattr(exc, "retry_after", None)
            if retry is not None:
                headers["retry-after"] = str(max(1, int(retry + 0.999)))
            if status == 401:
                headers["www-authenticate"] = 'Bearer realm="garrison"'
            response = _json(error_body(exc, status, rid), status, headers)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid})
            response = _json(error_body(None, 500, rid), 500, {"x-request-id": rid})
        response.headers["x-request-id"] = _client_request_id(request) or rid
        state.telemetry.response(status)
        if state.access_log:
            access.info("request", request_id=rid, method=request.method,
                        path=request.scope["path"], status=status, pid=_PID,
                        ms=round((time.perf_counter() - started) * 1000, 2))
        return response

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        ok = state.ready and not state.problems and not state.draining
        return _json({"ready": ok}, 200 if ok else 503)

    async def server_meta(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            return _json({"name": "garrison", "version": __version__, "extensions": []})
        return await guarded(request, handle)

    async def model_meta(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            name = req.path_params["name"]
            serving, deployed = state.dataplane.table.get(name, None)
            state.dataplane.authorize(principal, name, deployed, rid)
            schema = deployed.version.metadata.input_schema
            assert schema is not None
            return _json({
                "name": name, "versions": [str(v) for v in sorted(serving.versions)],
                "platform": deployed.version.framework or deployed.runtime.kind,
                "inputs": [{"name": f.name, "datatype": "FP64" if f.type in ("float", "int")
                            else ("BOOL" if f.type == "bool" else "BYTES"), "shape": [-1]}
                           for f in schema.features],
                "outputs": [{"name": "label", "datatype": "BYTES", "shape": [-1]}],
            })
        return await guarded(request, handle)

    async def model_ready(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            name = req.path_params["name"]
            _, deployed = state.dataplane.table.get(name, None)
            state.dataplane.authorize(principal, name, deployed, rid)
            return _json({"name": name, "ready": True})
        return await guarded(request, handle)

    async def infer(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            name = req.path_params["name"]
            version = req.path_params.get("version")
            body = await _body(req, state)
            result = await state.dataplane.infer(
                principal, name, body, version=int(version) if version is not None else None,
                explain=_flag(req, "explain"), request_id=rid)
            return _json(_render_oip(name, result))
        return await guarded(request, handle)

    async def predict(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            name = req.path_params["name"]
            body = await _body(req, state)
            result = await state.dataplane.infer(principal, name, body,
                                                 explain=_flag(req, "explain"), request_id=rid,
                                                 client_request_id=_client_request_id(req))
            return _json(_render_friendly(result))
        return await guarded(request, handle)

    async def he_params(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            return _json(await state.encrypted.params(principal, req.path_params["name"], rid))
        return await guarded(request, handle)

    async def he_context(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            body = await _body(req, state, state.he_max_body_bytes)
            cid = await state.encrypted.register(principal, req.path_params["name"], body, rid)
            return _json({"context_id": cid}, 201)
        return await guarded(request, handle)

    async def he_infer(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            body = await _body(req, state, state.he_max_body_bytes)
            out = await state.encrypted.infer(principal, req.path_params["name"], body, rid)
            return Response(out, 200, _HEADERS, media_type="application/json")
        return await guarded(request, handle)

    async def decision(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            wanted = req.path_params["request_id"]
            return _json(await run_in_threadpool(state.decisions.fetch, principal, wanted))
        return await guarded(request, handle)

    async def metrics(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            require(principal, "view-metrics", "metrics")
            return Response(state.telemetry.render(), 200, _HEADERS,
                            media_type="text/plain; version=0.0.4")
        return await guarded(request, handle)

    async def openapi(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            return _json(openapi_document())
        return await guarded(request, handle)

    routes = [  # Most frequent first: Starlette tries the routes in order.
        Route("/v1/models/{name}/predict", predict, methods=["POST"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version:int}/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_meta, methods=["GET"]),
        Route("/v2/models/{name}", model_meta, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v1/models/{name}/he-params", he_params, methods=["GET"]),
        Route("/v1/models/{name}/he-contexts", he_context, methods=["POST"]),
        Route("/v1/models/{name}/infer-encrypted", he_infer, methods=["POST"]),
        Route("/v1/decisions/{request_id}", decision, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        rid = _request_id(request)
        code = getattr(exc, "status_code", 404)
        body = {"error": {"code": "not-found" if code == 404 else "method-not-allowed",
                          "message": "not found" if code == 404 else "method not allowed",
                          "request_id": rid}}
        # A 405 carries the route's Allow header (RFC 9110); keep it.
        allow = (getattr(exc, "headers", None) or {}).get("Allow")
        return _json(body, code, {"x-request-id": rid, **({"allow": allow} if allow else {})})

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found},
                     middleware=[Middleware(StrictTransport)] if state.hsts else [])


class StrictTransport:
    """Adds Strict-Transport-Security to every response, errors and 404s included (only
    when this process terminates TLS itself)."""

    header = (b"strict-transport-security", b"max-age=31536000")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        return await self.app(scope, receive, send_with_header)
