"""The gateway's Open Inference Protocol v2 REST routes and KServe's v1 routes.

Handlers parse the framing, call the data plane and render; the protocol's rules
live in :mod:`garrison.serving.oip`. Error answers take the protocol's shape,
``{"error": message}``, with Garrison's ``code``, ``request_id`` (and ``field``,
``row``, ``problem`` for a refused input) beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from garrison import __version__
from garrison.gateway._http import BINARY_MEDIA_TYPE, HEADERS, JSON_MEDIA_TYPE, client_request_id
from garrison.serving.deployed import InferenceResult
from garrison.serving.oip import HEADER_LENGTH, KServeV1Input, OIPInput
from garrison.serving.oip_outputs import model_metadata, select_outputs

__all__ = ["OIP_EXTENSIONS", "oip_routes", "render_infer"]

#: Server extensions advertised in the server metadata.
OIP_EXTENSIONS = ["binary_tensor_data"]

Guarded = Callable[..., Awaitable[Response]]
Handler = Callable[[Request, Any, str], Awaitable[Response]]


def render_infer(name: str, result: InferenceResult, request: OIPInput,
                 ) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an inference answer: JSON, or the JSON header followed by
    the raw outputs when any is sent with the binary extension."""
    assert result.hardened is not None  # The data plane hardens every answer.
    selected = select_outputs(result.hardened, request.outputs, request.binary_output)
    params: dict[str, Any] = {"request_id": result.request_id}
    if result.client_request_id is not None:
        params["client_request_id"] = result.client_request_id
    if result.fallback_reason:
        params["fallback"] = result.fallback_reason
    if result.explanations is not None:  # Parameters are scalars: the list as JSON text.
        params["explanations"] = orjson.dumps(result.explanations).decode()
    body = {"model_name": name, "model_version": str(result.served_by),
            "id": result.batch.request_id or result.request_id,
            "parameters": params, "outputs": [s.to_json() for s in selected]}
    header = orjson.dumps(body)
    raw = [s.raw for s in selected if s.raw is not None]
    if not raw:
        return header, {"content-type": "application/json"}
    return header + b"".join(raw), {"content-type": "application/octet-stream",
                                    HEADER_LENGTH: str(len(header))}


def _version(req: Request) -> int | None:
    value = req.path_params.get("version")
    return int(value) if value is not None else None


def oip_routes(state: Any, guarded: Guarded, read_body: Callable[..., Awaitable[bytes]],
               json: Callable[..., Response], flag: Callable[[Request, str], bool],
               ) -> list[Route]:
    """The routes, most frequent first; ``guarded`` authenticates and renders errors."""
    plane = state.dataplane

    def oip(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler, oip=True)
        return endpoint

    async def infer(req: Request, principal: Any, rid: str) -> Response:
        name = req.path_params["name"]
        binary = req.headers.get(HEADER_LENGTH) is not None
        body = await read_body(req, None, JSON_MEDIA_TYPE,
                               *((BINARY_MEDIA_TYPE,) if binary else ()))
        request = OIPInput(model=name, body=body, header_length=req.headers.get(HEADER_LENGTH))
        result = await plane.infer(principal, name, request, version=_version(req),
                                   explain=flag(req, "explain"), request_id=rid,
                                   client_request_id=client_request_id(req))
        content, headers = render_infer(name, result, request)
        return Response(content, 200, {**HEADERS, **headers})

    async def v1_predict(req: Request, principal: Any, rid: str) -> Response:
        name = req.path_params["name"]
        body = await read_body(req)
        result = await plane.infer(principal, name, KServeV1Input(body), request_id=rid,
                                   client_request_id=client_request_id(req))
        assert result.hardened is not None
        return json({"predictions": result.hardened.labels.tolist()})

    async def metadata(req: Request, principal: Any, rid: str) -> Response:
        name, version = req.path_params["name"], _version(req)
        serving, deployed = plane.resolve(principal, name, version, rid)
        return json(model_metadata(name, list(serving.versions), deployed))

    async def ready(req: Request, principal: Any, rid: str) -> Response:
        """200 and ``ready: true`` when it serves; 503, ``ready: false`` and the reason's
        code when its production version cannot (the detail is the operator's)."""
        name, version = req.path_params["name"], _version(req)
        ready, code = plane.readiness(principal, name, version, rid)
        if ready:
            return json({"name": name, "ready": True})
        return json({"name": name, "ready": False, "reason": code}, 503)

    async def server(req: Request, principal: Any, rid: str) -> Response:
        return json({"name": "garrison", "version": __version__,
                     "extensions": OIP_EXTENSIONS})

    async def v1_alive(request: Request) -> Response:
        return json({"status": "alive"})

    return [
        Route("/v2/models/{name}/infer", oip(infer), methods=["POST"]),
        Route("/v2/models/{name}/versions/{version:int}/infer", oip(infer), methods=["POST"]),
        Route("/v1/models/{name}:predict", oip(v1_predict), methods=["POST"]),
        Route("/v2", oip(server), methods=["GET"]),
        Route("/v2/models/{name}", oip(metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", oip(ready), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version:int}", oip(metadata), methods=["GET"]),
        Route("/v2/models/{name}/versions/{version:int}/ready", oip(ready), methods=["GET"]),
        Route("/v1/models/{name}", oip(ready), methods=["GET"]),
        Route("/", v1_alive, methods=["GET"]),
    ]
