"""The gateway's one error table: Garrison error -> HTTP status and an opaque body.

Clients get ``{"error": {"code", "message", "request_id"}}``. Authentication and
authorization failures always say the same thing; validation errors name the field
(never the submitted value); everything unexpected is a bare 500. The audit trail
and the logs get the detail.
"""

from __future__ import annotations

from typing import Any

from garrison.errors import (
    AuthenticationFailed,
    CircuitOpen,
    Conflict,
    Forbidden,
    GarrisonError,
    InvalidInput,
    LimitExceeded,
    MalformedRequest,
    ModelTimeout,
    ModelUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SchemaViolation,
    UnsupportedMediaType,
)

__all__ = ["STATUS", "error_body", "oip_error_body", "status_for"]

#: Most specific class first.
STATUS: list[tuple[type[GarrisonError], int]] = [
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (MalformedRequest, 400),
    (SchemaViolation, 422),
    (InvalidInput, 422),
    (RateLimited, 429),
    (QuotaExceeded, 429),
    (Overloaded, 503),
    (LimitExceeded, 429),
    (ModelTimeout, 503),
    (CircuitOpen, 503),
    (ModelUnavailable, 503),
    (Conflict, 409),
]

_OPAQUE = {401: "authentication failed", 403: "forbidden", 404: "not found"}


def status_for(exc: GarrisonError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: GarrisonError | None, status: int, request_id: str) -> dict[str, Any]:
    if exc is None or (status >= 500 and not isinstance(exc, ModelUnavailable | Overloaded)):
        return {"error": {"code": "internal-error", "message": "internal error",
                          "request_id": request_id}}
    message = _OPAQUE.get(status, exc.message)
    body: dict[str, Any] = {"code": exc.code, "message": message, "request_id": request_id}
    if isinstance(exc, SchemaViolation | InvalidInput) and status in (400, 422):
        for key in ("field", "row", "problem"):
            if exc.detail.get(key) is not None:  # "row" is None for whole-body problems.
                body[key] = exc.detail[key]
    return {"error": body}


def oip_error_body(exc: GarrisonError | None, status: int, request_id: str) -> dict[str, Any]:
    """The Open Inference Protocol's error shape, ``{"error": message}``, with the same
    ``code``, ``request_id`` (and ``field``, ``row``, ``problem``) beside it."""
    inner = error_body(exc, status, request_id)["error"]
    return {"error": inner["message"], **{k: v for k, v in inner.items() if k != "message"}}
