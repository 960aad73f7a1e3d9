"""Errors of governance: who the caller is, and what the roles and the four-eyes rule let them do.

The tree is drawn in :mod:`garrison.errors`; import every class from there.
"""

from __future__ import annotations

from garrison.errors._base import GarrisonError

__all__ = [
    "ApprovalRequired",
    "AuthenticationFailed",
    "Forbidden",
    "FourEyesViolation",
    "GateFailed",
]


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
