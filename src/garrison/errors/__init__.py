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

The classes live in one private module per family, each with one reason to change:
``_base`` (the root, configuration, storage), ``_state`` (not found, conflict),
``_access`` (authentication, forbidden), ``_integrity`` (integrity failure, artifact
refused) and ``_requests`` (invalid input, limits, model unavailable). Import them from
here. This drawing is the one place the tree is written down: ``all_error_classes``
orders the classes by it, and ``tests/test_errors.py`` checks it against the classes.
"""

from __future__ import annotations

import re

from garrison.errors._access import (
    ApprovalRequired,
    AuthenticationFailed,
    Forbidden,
    FourEyesViolation,
    GateFailed,
)
from garrison.errors._base import ConfigurationError, GarrisonError, SchemaOutOfDate, StorageError
from garrison.errors._integrity import (
    ArtifactRefused,
    ArtifactUnscannable,
    AuditChainBroken,
    DecryptionFailed,
    DigestMismatch,
    IntegrityFailure,
    InvalidSignature,
    ModelNotServable,
    StateUnverified,
)
from garrison.errors._requests import (
    CircuitOpen,
    InvalidCiphertext,
    InvalidHEContext,
    InvalidInput,
    LimitExceeded,
    MalformedRequest,
    ModelTimeout,
    ModelUnavailable,
    Overloaded,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SchemaViolation,
    UnsupportedMediaType,
    UnsupportedModel,
)
from garrison.errors._state import (
    AlreadyExists,
    AlreadyInitialized,
    APIKeyNotFound,
    Conflict,
    DatasetNotFound,
    DecisionNotFound,
    HEContextNotFound,
    InvalidTransition,
    ModelNotFound,
    ModelVersionNotFound,
    NotFound,
    PrincipalNotFound,
)

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
    "drawn_tree",
]

_TREE_LINE = re.compile(r"^    (?P<indent>[│├└─ ]*)(?P<name>[A-Za-z]+) +(?P<code>[a-z][a-z-]*)$")


def drawn_tree() -> list[tuple[int, str, str]]:
    """The tree as drawn in this module's docstring: ``(depth, class name, code)`` in drawing
    order. Empty when docstrings are stripped (``python -OO``)."""
    rows = []
    for line in (__doc__ or "").splitlines():
        match = _TREE_LINE.match(line)
        if match:
            rows.append((len(match["indent"]) // 4, match["name"], match["code"]))
    return rows


def all_error_classes() -> list[type[GarrisonError]]:
    """Every class of the tree, base first, level by level (used by docs and adapter-table
    tests). Siblings come in the order of the drawing, whichever family module defines them."""
    position = {name: i for i, (_, name, _) in enumerate(drawn_tree())}
    seen: list[type[GarrisonError]] = []
    stack: list[type[GarrisonError]] = [GarrisonError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        children = cls.__subclasses__()
        stack.extend(sorted(children, key=lambda sub: position.get(sub.__name__, len(position))))
    return seen
