"""The admin API's one error table and one error shape.

Every error answer is ``{"error": {"code", "message", "request_id"}}`` with the
request id also in the ``X-Request-ID`` header. ``STATUS`` maps error classes to HTTP
statuses; a class without an entry takes its nearest ancestor's. What the client sees:

- 401: always the same opaque message; the audit trail records why.
- other 4xx: the error's ``message`` (written to be safe for operators), never ``detail``.
- 5xx: the class's generic description only; the real message is logged.
- anything that is not a :class:`GarrisonError`: a bare 500 ``internal-error``, logged
  with its traceback, never sent.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from garrison.errors import (
    ArtifactRefused,
    AuditChainBroken,
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    Forbidden,
    GarrisonError,
    IntegrityFailure,
    InvalidInput,
    LimitExceeded,
    ModelTimeout,
    ModelUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    StorageError,
    UnsupportedMediaType,
)

__all__ = [
    "HTTP_ONLY_CODES",
    "STATUS",
    "WWW_AUTHENTICATE",
    "error_response",
    "garrison_error_handler",
    "http_exception_handler",
    "internal_error_response",
    "log",
    "render",
    "request_id_of",
    "status_for",
]

#: Error class -> HTTP status. Subclasses inherit their nearest ancestor's entry.
STATUS: dict[type[GarrisonError], int] = {
    GarrisonError: 500,
    ConfigurationError: 500,
    StorageError: 503,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 400,
    AuthenticationFailed: 401,
    Forbidden: 403,
    IntegrityFailure: 409,
    ArtifactRefused: 422,
    LimitExceeded: 429,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Overloaded: 503,
    ModelUnavailable: 503,
    ModelTimeout: 504,
}

#: Codes the HTTP layer itself produces (they are not GarrisonError classes).
HTTP_ONLY_CODES: dict[str, int] = {"method-not-allowed": 405, "internal-error": 500}

WWW_AUTHENTICATE = 'Bearer realm="garrison-admin"'
_OPAQUE_401 = "authentication required"

#: The admin API's logger: access lines, 5xx errors (never secrets, never bodies).
log = structlog.get_logger("garrison.web")


def status_for(exc: GarrisonError | type[GarrisonError]) -> int:
    """The HTTP status of an error (or error class): its nearest ancestor's entry."""
    for cls in (exc if isinstance(exc, type) else type(exc)).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _generic_message(cls: type[GarrisonError]) -> str:
    return (cls.__doc__ or cls.code).strip().splitlines()[0]


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(
    status: int, code: str, message: str, request_id: str,
    *, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The canonical error answer (also used by the middleware before routing)."""
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    body.update(extra or {})
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def internal_error_response(request_id: str) -> JSONResponse:
    return error_response(500, "internal-error", "internal server error", request_id)


def render(exc: GarrisonError, request_id: str) -> JSONResponse:
    status = status_for(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    message = exc.message
    if isinstance(exc, AuthenticationFailed):
        message = _OPAQUE_401
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    elif status >= 500:
        message = _generic_message(type(exc))
    if isinstance(exc, AuditChainBroken):
        extra = {"position": exc.position, "reason": exc.reason}
    if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return error_response(status, exc.code, message, request_id, headers=headers, extra=extra)


async def garrison_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GarrisonError)
    response = render(exc, request_id_of(request))
    if response.status_code >= 500:
        log.error("garrison-error", code=exc.code, error=exc.message,
                  request_id=request_id_of(request))
    return response


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method) in the canonical shape."""
    assert isinstance(exc, HTTPException)
    rid = request_id_of(request)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return error_response(404, NotFound.code, "no such endpoint", rid, headers=headers)
    if exc.status_code == 405:
        return error_response(405, "method-not-allowed", "method not allowed", rid,
                              headers=headers)
    code = "internal-error" if exc.status_code >= 500 else "invalid-input"
    return error_response(exc.status_code, code, str(exc.detail)[:200], rid, headers=headers)
