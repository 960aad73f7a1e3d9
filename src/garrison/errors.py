"""The one exception tree of Garrison.

Every error carries a stable, kebab-case ``code``. The core never knows about HTTP:
each adapter (CLI, admin API, gateway) owns exactly one table that maps codes to an
exit status or an HTTP status, and clients of untrusted paths get an opaque answer
while the audit trail receives ``detail``.

::

    GarrisonError                      garrison-error
    ├── ConfigurationError             configuration-invalid
    ├── StorageError                   storage-error
    │   └── SchemaOutOfDate            schema-out-of-date
    ├── NotFound                       not-found
    │   ├── PrincipalNotFound          principal-not-found
    │   ├── APIKeyNotFound             api-key-not-found
    │   ├── ModelNotFound              model-not-found
    │   ├── ModelVersionNotFound       model-version-not-found
    │   ├── DatasetNotFound            dataset-not-found
    │   ├── DecisionNotFound           decision-not-found
    │   └── HEContextNotFound          he-context-not-found
    ├── Conflict                       conflict
    │   ├── AlreadyExists              already-exists
    │   ├── AlreadyInitialized         already-initialized
    │   └── InvalidTransition          invalid-transition
    ├── InvalidInput                   invalid-input
    │   ├── SchemaViolation            schema-violation
    │   ├── MalformedRequest           malformed-request
    │   │   └── UnsupportedMediaType   unsupported-media-type
    │   ├── UnsupportedModel           unsupported-model
    │   ├── InvalidHEContext           invalid-he-context
    │   └── InvalidCiphertext          invalid-ciphertext
    ├── AuthenticationFailed           unauthenticated
    ├── Forbidden                      forbidden
    │   ├── FourEyesViolation          four-eyes-violation
    │   ├── ApprovalRequired           approval-required
    │   └── GateFailed                 gate-failed
    ├── IntegrityFailure               integrity-failure
    │   ├── InvalidSignature           invalid-signature
    │   ├── DigestMismatch             digest-mismatch
    │   ├── DecryptionFailed           decryption-failed
    │   ├── AuditChainBroken           audit-chain-broken
    │   └── StateUnverified            state-unverified
    ├── ArtifactRefused                artifact-refused
    │   ├── ArtifactUnscannable        artifact-unscannable
    │   └── ModelNotServable           model-not-servable
    ├── LimitExceeded                  limit-exceeded
    │   ├── PayloadTooLarge            payload-too-large
    │   ├── RateLimited                rate-limited
    │   ├── QuotaExceeded              quota-exceeded
    │   └── Overloaded                 overloaded
    └── ModelUnavailable               model-unavailable
        ├── ModelTimeout               model-timeout
        └── CircuitOpen                circuit-open

Foreign errors (SQLAlchemy, psycopg, zipfile, TenSEAL, ...) are translated at the
package edge with ``raise GarrisonSubclass(...) from exc``; none crosses a package
boundary.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIKeyNotFound",
    "AlreadyExists",
    "AlreadyInitialized",
    "ApprovalRequired",
    "ArtifactRefused",
    "ArtifactUnscannable",
    "AuditChainBroken",
    "AuthenticationFailed",
    "CircuitOpen",
    "ConfigurationError",
    "Conflict",
    "DatasetNotFound",
    "DecisionNotFound",
    "DecryptionFailed",
    "DigestMismatch",
    "Forbidden",
    "FourEyesViolation",
    "GarrisonError",
    "GateFailed",
    "HEContextNotFound",
    "IntegrityFailure",
    "InvalidCiphertext",
    "InvalidHEContext",
    "InvalidInput",
    "InvalidSignature",
    "InvalidTransition",
    "LimitExceeded",
    "MalformedRequest",
    "ModelNotFound",
    "ModelNotServable",
    "ModelTimeout",
    "ModelUnavailable",
    "ModelVersionNotFound",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "PrincipalNotFound",
    "QuotaExceeded",
    "RateLimited",
    "SchemaOutOfDate",
    "SchemaViolation",
    "StateUnverified",
    "StorageError",
    "UnsupportedMediaType",
    "UnsupportedModel",
    "all_error_classes",
]


class GarrisonError(Exception):
    """Base of every error Garrison raises on purpose.

    ``message`` is safe to show to the operator who caused it (CLI, admin API).
    ``detail`` holds structured context for the audit trail and logs; adapters on
    untrusted paths never echo it to the client.
    """

    code = "garrison-error"

    def __init__(self, message: str = "", **detail: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip().splitlines()[0]
        self.detail: dict[str, Any] = detail

    def __str__(self) -> str:
        return self.message


class ConfigurationError(GarrisonError):
    """The configuration is missing a required value or holds an invalid one."""

    code = "configuration-invalid"


class StorageError(GarrisonError):
    """The storage backend failed."""

    code = "storage-error"


class SchemaOutOfDate(StorageError):
    """The database schema is older than this release; run `garrison db upgrade`."""

    code = "schema-out-of-date"


class NotFound(GarrisonError):
    """The requested object does not exist."""

    code = "not-found"


class PrincipalNotFound(NotFound):
    """No such principal."""

    code = "principal-not-found"


class APIKeyNotFound(NotFound):
    """No such API key."""

    code = "api-key-not-found"


class ModelNotFound(NotFound):
    """No such model."""

    code = "model-not-found"


class ModelVersionNotFound(NotFound):
    """No such model version."""

    code = "model-version-not-found"


class DatasetNotFound(NotFound):
    """No such dataset version."""

    code = "dataset-not-found"


class DecisionNotFound(NotFound):
    """No decision record with that request id."""

    code = "decision-not-found"


class HEContextNotFound(NotFound):
    """No homomorphic-encryption context with that id is registered (or it was evicted)."""

    code = "he-context-not-found"


class Conflict(GarrisonError):
    """The request conflicts with the current state."""

    code = "conflict"


class AlreadyExists(Conflict):
    """An object with that identity already exists."""

    code = "already-exists"


class AlreadyInitialized(Conflict):
    """This Garrison home is already initialized."""

    code = "already-initialized"


class InvalidTransition(Conflict):
    """That lifecycle transition is not allowed from the current state."""

    code = "invalid-transition"


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


class AuthenticationFailed(GarrisonError):
    """Authentication failed."""

    code = "unauthenticated"


class Forbidden(GarrisonError):
    """The principal is not allowed to perform this action."""

    code = "forbidden"


class FourEyesViolation(Forbidden):
    """A second, different person must approve this."""

    code = "four-eyes-violation"


class ApprovalRequired(Forbidden):
    """The model version must be approved first."""

    code = "approval-required"


class GateFailed(Forbidden):
    """The version has no passing release-gate report (or approved override) under the
    model's current gate policy."""

    code = "gate-failed"


class IntegrityFailure(GarrisonError):
    """An integrity check failed."""

    code = "integrity-failure"


class InvalidSignature(IntegrityFailure):
    """The signature is missing, malformed or does not verify."""

    code = "invalid-signature"


class DigestMismatch(IntegrityFailure):
    """The content digest does not match the signed digest."""

    code = "digest-mismatch"


class DecryptionFailed(IntegrityFailure):
    """The ciphertext could not be authenticated or decrypted."""

    code = "decryption-failed"


class AuditChainBroken(IntegrityFailure):
    """The audit chain does not verify.

    ``position`` is the sequence number of the first bad event (or of the missing
    tail), ``reason`` one of: ``modified``, ``deleted``, ``inserted``, ``reordered``,
    ``truncated``, ``rewritten``, ``bad-checkpoint``.
    """

    code = "audit-chain-broken"

    def __init__(self, message: str, *, position: int, reason: str, **detail: Any) -> None:
        super().__init__(message, position=position, reason=reason, **detail)
        self.position = position
        self.reason = reason


class StateUnverified(IntegrityFailure):
    """Governance state (a principal, an API key, a model version's stage, a deployment
    policy) is not backed by the signed audit trail: its seal is missing, does not
    verify, or is older than an audited change of the same state. ``reason`` is one of
    ``unsealed``, ``bad-seal``, ``stale``, ``no-approval``."""

    code = "state-unverified"

    def __init__(self, message: str, *, reason: str = "unsealed", **detail: Any) -> None:
        super().__init__(message, reason=reason, **detail)
        self.reason = reason


class ArtifactRefused(GarrisonError):
    """The artifact was refused by the scanner or the loader."""

    code = "artifact-refused"


class ArtifactUnscannable(ArtifactRefused):
    """The artifact could not be scanned, so it is refused."""

    code = "artifact-unscannable"


class ModelNotServable(ArtifactRefused):
    """The model cannot serve: it does not load, predict or match its input schema."""

    code = "model-not-servable"


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


def all_error_classes() -> list[type[GarrisonError]]:
    """Every class of the tree, base first (used by docs and adapter-table tests)."""
    seen: list[type[GarrisonError]] = []
    stack: list[type[GarrisonError]] = [GarrisonError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
