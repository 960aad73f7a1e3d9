"""The Open Inference Protocol v2 over gRPC: ``inference.GRPCInferenceService``.

It runs on its own port in every gateway worker, on the worker's event loop, over the
same data plane as the REST routes: the same authentication (``authorization:
Bearer`` metadata), caller lists, limits, quotas, validation, detection, decision
records, output hardening and metrics. Errors are gRPC status codes with the same
opaque messages as REST; Garrison's error code and request id travel in the trailing
metadata (``garrison-code``, ``x-request-id``, and ``garrison-field``/``-row``/``-problem``
for a refused input), and ``retry-after`` for a refusal that says when to come back.
As on REST, the decision record is keyed by the gateway's own request id (the answer's
``parameters.request_id``); a client's ``x-request-id`` is echoed and recorded.

Limits: messages over ``max_body_bytes`` are refused by gRPC itself
(``RESOURCE_EXHAUSTED``); a request whose deadline has passed is not started, and one
still running at its deadline is abandoned (``DEADLINE_EXCEEDED``), on top of the
model-call deadline every request has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import structlog

from garrison import __version__
from garrison.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    GarrisonError,
    InvalidInput,
    LimitExceeded,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
)
from garrison.gateway._http import valid_client_id
from garrison.gateway.errors import error_body
from garrison.gateway.grpc_codec import GRPCInput, infer_response, metadata_response, parameters
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2 as pb
from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc
from garrison.gateway.oip import OIP_EXTENSIONS
from garrison.serving.oip_outputs import model_metadata

__all__ = ["GRPC_STATUS", "GRPCInferenceService", "start_grpc_server", "status_code_for"]

log = logging.getLogger("garrison.gateway")
access = structlog.get_logger("garrison.access")
_PID = os.getpid()
_SERVICE = "/inference.GRPCInferenceService/"

#: Most specific class first; anything else is INTERNAL with an opaque message.
GRPC_STATUS: list[tuple[type[GarrisonError], grpc.StatusCode, int]] = [
    (AuthenticationFailed, grpc.StatusCode.UNAUTHENTICATED, 401),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED, 403),
    (NotFound, grpc.StatusCode.NOT_FOUND, 404),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT, 422),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (ModelUnavailable, grpc.StatusCode.UNAVAILABLE, 503),
    (Conflict, grpc.StatusCode.FAILED_PRECONDITION, 409),
]


def status_code_for(exc: GarrisonError) -> tuple[grpc.StatusCode, int]:
    """The gRPC status of an error, and the HTTP status its REST twin would get."""
    for cls, code, http in GRPC_STATUS:
        if isinstance(exc, cls):
            return code, (400 if exc.code == "malformed-request" else http)
    return grpc.StatusCode.INTERNAL, 500


def _version(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput("the model version must be a positive integer",
                           field="model_version", problem="wrong-type")
    return int(value)


class GRPCInferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, state: Any) -> None:
        self._state = state

    async def _call(self, method: str, context: Any,
                    handler: Callable[[Any, str, str | None], Awaitable[Any]], *,
                    auth: bool = True) -> Any:
        state = self._state
        started = time.perf_counter()
        metadata = dict(context.invocation_metadata() or ())
        # The gateway's own id keys the decision record; the client's is echoed and recorded.
        client_id = valid_client_id(str(metadata.get("x-request-id", "")))
        rid = os.urandom(16).hex()
        echo = client_id or rid
        code, http = grpc.StatusCode.OK, 200
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                code, http = grpc.StatusCode.DEADLINE_EXCEEDED, 504
                context.set_trailing_metadata((("x-request-id", echo),))
                await context.abort(code, "deadline exceeded")
            principal = None
            if auth:
                peer = context.peer() or ""
                principal = await state.authenticator.authenticate(
                    metadata.get("authorization"), rid, peer.rsplit(":", 1)[0])
            try:
                async with asyncio.timeout(remaining):
                    answer = await handler(principal, rid, client_id)
                context.set_trailing_metadata((("x-request-id", echo),))
                return answer
            except TimeoutError:
                code, http = grpc.StatusCode.DEADLINE_EXCEEDED, 504
                context.set_trailing_metadata((("x-request-id", echo),))
                await context.abort(code, "deadline exceeded")
        except GarrisonError as exc:
            code, http = status_code_for(exc)
            body = error_body(exc, 500 if code is grpc.StatusCode.INTERNAL else http, rid)
            trailers = [("x-request-id", echo), ("garrison-code", body["error"]["code"])]
            for key in ("field", "row", "problem"):
                if key in body["error"]:
                    trailers.append((f"garrison-{key}", str(body["error"][key])))
            retry = getattr(exc, "retry_after", None)
            if retry is not None:
                trailers.append(("retry-after", str(max(1, int(retry + 0.999)))))
            context.set_trailing_metadata(tuple(trailers))
            await context.abort(code, body["error"]["message"])
        except asyncio.CancelledError:
            code, http = grpc.StatusCode.CANCELLED, 499
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):  # Raised by abort() itself.
                raise
            code, http = grpc.StatusCode.INTERNAL, 500
            log.exception("unhandled gRPC error", extra={"request_id": rid})
            context.set_trailing_metadata((("x-request-id", echo),
                                           ("garrison-code", "internal-error")))
            await context.abort(code, "internal error")
        finally:
            state.telemetry.grpc_response(code.name)
            if state.access_log:
                access.info("request", request_id=rid, method="grpc", path=_SERVICE + method,
                            status=http, grpc_code=code.name, pid=_PID,
                            ms=round((time.perf_counter() - started) * 1000, 2))
        return None  # Unreachable: abort() raises.

    # -- health -----------------------------------------------------------------------
    async def ServerLive(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            return pb.ServerLiveResponse(live=True)
        return await self._call("ServerLive", context, handle, auth=False)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            return pb.ServerReadyResponse(ready=self._state.ready and not self._state.draining)
        return await self._call("ServerReady", context, handle, auth=False)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            ready, _ = self._state.dataplane.readiness(principal, request.name,
                                                       _version(request.version), rid)
            return pb.ModelReadyResponse(ready=ready)
        return await self._call("ModelReady", context, handle)

    # -- metadata ---------------------------------------------------------------------
    async def ServerMetadata(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            return pb.ServerMetadataResponse(name="garrison", version=__version__,
                                             extensions=OIP_EXTENSIONS)
        return await self._call("ServerMetadata", context, handle)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            plane = self._state.dataplane
            serving, deployed = plane.resolve(principal, request.name,
                                              _version(request.version), rid)
            return metadata_response(model_metadata(request.name, list(serving.versions),
                                                    deployed))
        return await self._call("ModelMetadata", context, handle)

    # -- inference --------------------------------------------------------------------
    async def ModelInfer(self, request: Any, context: Any) -> Any:
        async def handle(principal: Any, rid: str, client_id: str | None) -> Any:
            explain = parameters(request.parameters).get("explain") is True
            infer_input = GRPCInput(request)
            result = await self._state.dataplane.infer(
                principal, request.model_name, infer_input,
                version=_version(request.model_version), explain=explain, request_id=rid,
                client_request_id=client_id)
            return infer_response(request.model_name, result, infer_input)
        return await self._call("ModelInfer", context, handle)


async def start_grpc_server(state: Any, *, host: str, port: int, max_message_bytes: int,
                            tls: tuple[Path, Path] | None = None) -> grpc.aio.Server:
    """Serve ``inference.GRPCInferenceService`` on ``host:port`` (TLS when ``tls`` holds a
    certificate chain and key); every worker binds the port (SO_REUSEPORT)."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.so_reuseport", 1),
        ("grpc.max_concurrent_streams", 256),
    ])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(GRPCInferenceService(state), server)
    address = f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        cert, key = tls
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise OSError(f"cannot bind the gRPC port {address}")
    await server.start()
    log.info("gRPC inference service listening on %s", address)
    return server
