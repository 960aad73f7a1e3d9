"""Errors about the objects Garrison keeps: one that does not exist, or a change its current
state refuses.

The tree is drawn in :mod:`garrison.errors`; import every class from there.
"""

from __future__ import annotations

from garrison.errors._base import GarrisonError

__all__ = [
    "APIKeyNotFound",
    "AlreadyExists",
    "AlreadyInitialized",
    "Conflict",
    "DatasetNotFound",
    "DecisionNotFound",
    "HEContextNotFound",
    "InvalidTransition",
    "ModelNotFound",
    "ModelVersionNotFound",
    "NotFound",
    "PrincipalNotFound",
]


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
