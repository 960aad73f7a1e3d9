"""The inference gateway's ASGI app: Open Inference Protocol v2 and a friendly JSON form.

Every endpoint except ``/v2/health/*`` needs ``Authorization: Bearer``. Handlers
parse, call the data plane, and render; all decisions live in the data plane.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from garrison.authz import require
from garrison.errors import GarrisonError
from garrison.gateway._http import HEADERS as _HEADERS
from garrison.gateway._http import client_request_id, read_body, request_id, require_media_type
from garrison.gateway._http import flag as _flag
from garrison.gateway._http import json_response as _json
from garrison.gateway.access_log import access_log
from garrison.gateway.errors import error_body, oip_error_body, status_for
from garrison.gateway.oip import oip_routes
from garrison.gateway.openapi import openapi_document
from garrison.serving.dataplane import DataPlane, InferenceResult

__all__ = ["GatewayState", "create_gateway_app"]

log = logging.getLogger("garrison.gateway")


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
    #: Where access lines go (``gateway/access_log.py``); the process's log by default.
    access: Any = field(default_factory=lambda: access_log)
    encrypted: Any = None
    tracer: Any = None
    he_max_body_bytes: int = 64 * 1_048_576
    background: list[Any] = field(default_factory=list)
    #: The process terminates TLS itself: every answer carries Strict-Transport-Security.
    hsts: bool = False


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


def create_gateway_app(state: GatewayState) -> Starlette:
    async def _body(request: Request, limit: int | None = None, *accepted: str) -> bytes:
        require_media_type(request, *accepted)  # 415 before a byte of the body is read.
        return await read_body(request, limit or state.max_body_bytes, state.body_timeout)

    async def guarded(request: Request, handler: Any, *, auth: bool = True,
                      oip: bool = False) -> Response:
        rid = request_id(request)
        if state.tracer is not None:
            with state.tracer.span("garrison.request", **{
                    "http.method": request.method,
                    "http.route": getattr(request.scope.get("route"), "path", ""),
                    "garrison.request_id": rid,
                    "garrison.model": request.path_params.get("name", "")}) as span:
                response = await _guarded(request, handler, rid, auth=auth, oip=oip)
                if span is not None:
                    span.set_attribute("http.status_code", response.status_code)
                return response
        return await _guarded(request, handler, rid, auth=auth, oip=oip)

    async def _guarded(request: Request, handler: Any, rid: str, *, auth: bool,
                       oip: bool) -> Response:
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
            body = (oip_error_body if oip else error_body)(exc, status, rid)
            response = _json(body, status, headers)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid})
            body = (oip_error_body if oip else error_body)(None, 500, rid)
            response = _json(body, 500, {"x-request-id": rid})
        response.headers["x-request-id"] = client_request_id(request) or rid
        state.telemetry.response(status)
        if state.access_log:  # An append: rendered and written off the request path.
            state.access.record(rid, request.method, request.scope["path"], status,
                                (time.perf_counter() - started) * 1000)
        return response

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        # The server's readiness is the gateway's own: its model table is built and it
        # is not draining. A model that cannot serve is not ready on its own
        # (/v2/models/{name}/ready); it never takes the others out of the load balancer.
        ok = state.ready and not state.draining
        return _json({"ready": ok}, 200 if ok else 503)

    async def predict(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            name = req.path_params["name"]
            body = await _body(req)
            result = await state.dataplane.infer(principal, name, body,
                                                 explain=_flag(req, "explain"), request_id=rid,
                                                 client_request_id=client_request_id(req))
            return _json(_render_friendly(result))
        return await guarded(request, handle)

    async def he_params(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            return _json(await state.encrypted.params(principal, req.path_params["name"], rid))
        return await guarded(request, handle)

    async def he_context(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            body = await _body(req, state.he_max_body_bytes)
            cid = await state.encrypted.register(principal, req.path_params["name"], body, rid)
            return _json({"context_id": cid}, 201)
        return await guarded(request, handle)

    async def he_infer(request: Request) -> Response:
        async def handle(req: Request, principal: Any, rid: str) -> Response:
            body = await _body(req, state.he_max_body_bytes)
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

    oip = oip_routes(state, guarded, _body, _json, _flag)
    routes = [  # Most frequent first: Starlette tries the routes in order.
        Route("/v1/models/{name}/predict", predict, methods=["POST"]),
        *oip[:3],
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        *oip[3:],
        Route("/v1/models/{name}/he-params", he_params, methods=["GET"]),
        Route("/v1/models/{name}/he-contexts", he_context, methods=["POST"]),
        Route("/v1/models/{name}/infer-encrypted", he_infer, methods=["POST"]),
        Route("/v1/decisions/{request_id}", decision, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        rid = request_id(request)
        code = getattr(exc, "status_code", 404)
        error = {"code": "not-found" if code == 404 else "method-not-allowed",
                 "message": "not found" if code == 404 else "method not allowed",
                 "request_id": rid}
        path = request.scope["path"]
        body: dict[str, Any] = (
            {"error": error} if not path.startswith("/v2") and ":" not in path
            else {"error": error["message"], "code": error["code"], "request_id": rid})
        # A 405 carries the route's Allow header (RFC 9110); keep it.
        allow = (getattr(exc, "headers", None) or {}).get("Allow")
        return _json(body, code, {"x-request-id": rid, **({"allow": allow} if allow else {})})

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found},
                    middleware=[Middleware(StrictTransport)] if state.hsts else [])
    # No slash redirects: Starlette builds their Location from the client's Host header,
    # before any authentication. A path with a stray slash is a 404 like any other.
    app.router.redirect_slashes = False
    return app


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
