"""Small HTTP helpers shared by the gateway's routes: headers, JSON answers, bodies."""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from garrison.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "BINARY_MEDIA_TYPE",
    "HEADERS",
    "JSON_MEDIA_TYPE",
    "client_request_id",
    "flag",
    "json_response",
    "read_body",
    "request_id",
    "require_media_type",
    "valid_client_id",
]

JSON_MEDIA_TYPE = "application/json"
#: The binary tensor data extension's body (JSON header, then raw tensors).
BINARY_MEDIA_TYPE = "application/octet-stream"

_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CLIENT_RID = "garrison.client_request_id"  # Its key in the ASGI scope.
#: On every answer.
HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


#: ``HEADERS`` as Starlette sends them, encoded once (it encodes every header of every
#: response otherwise: a measurable share of a single-row request's CPU).
_RAW_HEADERS = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]
_JSON_TYPE = (b"content-type", JSON_MEDIA_TYPE.encode("latin-1"))


class _JSONAnswer(Response):
    """A JSON body with the gateway's headers; the same bytes on the wire as
    ``Response(body, status, {**HEADERS, **headers}, media_type=JSON_MEDIA_TYPE)``."""

    media_type = JSON_MEDIA_TYPE

    def __init__(self, body: bytes, status: int, headers: dict[str, str] | None) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        raw = [*_RAW_HEADERS]
        if headers:
            raw.extend((k.lower().encode("latin-1"), v.encode("latin-1"))
                       for k, v in headers.items())
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
        raw.append(_JSON_TYPE)
        self.raw_headers = raw


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  ) -> Response:
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    if headers and not HEADERS.keys().isdisjoint(k.lower() for k in headers):
        # A security header replaced: Starlette's own path keeps one of each.
        return Response(body, status, {**HEADERS, **headers}, media_type=JSON_MEDIA_TYPE)
    return _JSONAnswer(body, status, headers)


def request_id(request: Request) -> str:
    """The gateway's own id of this request: the key of its decision record. A client's
    X-Request-ID is never used as a key (one client could otherwise make another's
    records collide); it is echoed and recorded as ``client_request_id``."""
    return os.urandom(16).hex()


def client_request_id(request: Request) -> str | None:
    """The client's X-Request-ID, when it is well formed (``[A-Za-z0-9._-]{1,64}``);
    read once per request (the handler and the answer's header both ask)."""
    scope = request.scope
    if _CLIENT_RID in scope:
        cached: str | None = scope[_CLIENT_RID]
        return cached
    supplied = request.headers.get("x-request-id", "")
    scope[_CLIENT_RID] = found = supplied if _RID.fullmatch(supplied) else None
    return found


def valid_client_id(value: str) -> str | None:
    """``value`` when it is a well-formed client request id (for gRPC metadata)."""
    return value if _RID.fullmatch(value) else None


def require_media_type(request: Request, *accepted: str) -> None:
    """Refuse (415) a body declared as anything but ``accepted`` (``application/json``
    when none is named); parameters such as ``charset`` are ignored.

    A request without ``Content-Type`` is read as the protocol's default (OIP clients
    such as tritonclient send none). A declared form, multipart or text body is never
    read as JSON: those are what a browser sends across sites without a preflight.
    """
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.partition(";")[0].strip().lower()
    if media not in (accepted or (JSON_MEDIA_TYPE,)):
        raise UnsupportedMediaType(
            f"the body must be {' or '.join(accepted or (JSON_MEDIA_TYPE,))}",
            media_type=media[:64])


async def read_body(request: Request, cap: int, timeout: float) -> bytes:
    """The whole body, refused (413) past ``cap`` bytes and (422) when it trickles in
    slower than ``timeout`` seconds in all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise PayloadTooLarge("request body too large", problem="body-too-large")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):  # No task per request, unlike wait_for.
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge("request body too large", problem="body-too-large")
                chunks.append(chunk)
    except TimeoutError:
        raise InvalidInput("the request body arrived too slowly", problem="slow-body") from None
    return b"".join(chunks)


def flag(request: Request, name: str) -> bool:
    if not request.scope.get("query_string"):
        return False  # The usual case: no need to parse a query string.
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidInput(f"query parameter {name} must be true or false")
    return value in ("true", "1")
