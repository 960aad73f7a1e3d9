"""Errors about a caller's request: input that cannot be read or used, a limit it hit, and a
model that could not answer it. ``LimitExceeded`` and ``ModelUnavailable`` carry ``retry_after``.

The tree is drawn in :mod:`garrison.errors`; import every class from there.
"""

from __future__ import annotations

from typing import Any

from garrison.errors._base import GarrisonError

__all__ = [
    "CircuitOpen",
    "InvalidCiphertext",
    "InvalidHEContext",
    "InvalidInput",
    "LimitExceeded",
    "MalformedRequest",
    "ModelTimeout",
    "ModelUnavailable",
    "Overloaded",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "SchemaViolation",
    "UnsupportedMediaType",
    "UnsupportedModel",
]


class InvalidInput(GarrisonError):
    """The input is malformed or out of range."""

    code = "invalid-input"


class SchemaViolation(InvalidInput):
    """The input does not match the model's input schema."""

    code = "schema-violation"


class MalformedRequest(InvalidInput):
    """The request's framing cannot be read (the binary tensor data extension's header
    length or tensor sizes); nothing of it was interpreted."""

    code = "malformed-request"


class UnsupportedMediaType(MalformedRequest):
    """The request body declares a media type the endpoint does not read (a prediction
    takes ``application/json``, or the binary tensor extension's octet stream)."""

    code = "unsupported-media-type"


class UnsupportedModel(InvalidInput):
    """That kind of model is not supported for this operation."""

    code = "unsupported-model"


class InvalidHEContext(InvalidInput):
    """The encryption context is malformed, holds a secret key or does not match the deployment."""

    code = "invalid-he-context"


class InvalidCiphertext(InvalidInput):
    """The ciphertext is malformed, truncated, tampered with or made for other parameters."""

    code = "invalid-ciphertext"


class LimitExceeded(GarrisonError):
    """A configured limit was exceeded."""

    code = "limit-exceeded"

    def __init__(self, message: str = "", *, retry_after: float | None = None, **detail: Any):
        super().__init__(message, **detail)
        self.retry_after = retry_after


class PayloadTooLarge(LimitExceeded):
    """The request body or batch is larger than allowed."""

    code = "payload-too-large"


class RateLimited(LimitExceeded):
    """Too many requests; slow down."""

    code = "rate-limited"


class QuotaExceeded(LimitExceeded):
    """The query quota for this period is used up."""

    code = "quota-exceeded"


class Overloaded(LimitExceeded):
    """The server is at capacity; retry later."""

    code = "overloaded"


class ModelUnavailable(GarrisonError):
    """The model could not produce an answer."""

    code = "model-unavailable"

    def __init__(self, message: str = "", *, retry_after: float | None = None, **detail: Any):
        super().__init__(message, **detail)
        self.retry_after = retry_after


class ModelTimeout(ModelUnavailable):
    """The model did not answer before the deadline."""

    code = "model-timeout"


class CircuitOpen(ModelUnavailable):
    """The model's circuit breaker is open."""

    code = "circuit-open"
