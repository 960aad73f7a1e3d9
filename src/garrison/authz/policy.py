"""Role -> action rules. Deny unless a rule allows.

``require`` raises :class:`~garrison.errors.Forbidden`; ``allowed`` returns a bool
and exists only to decide what a user interface shows, never to guard an action.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from garrison.authz.actions import ACTIONS, action
from garrison.errors import Forbidden

__all__ = ["ROLES", "ROLE_ACTIONS", "SYSTEM_ACTIONS", "Subject", "allowed", "require",
           "role_table"]

ROLES: dict[str, str] = {
    "admin": "Runs the installation: principals, keys, signing keys, every registry action.",
    "data-scientist": "Registers models and datasets and runs data checks.",
    "approver": "Deployment administrator: approves, promotes and rolls back versions.",
    "auditor": "Reads the audit trail, decisions, lineage and alerts; changes nothing.",
    "client": "Calls prediction endpoints; nothing else.",
}

_READ_REGISTRY = {"list-models", "view-model", "verify-model-version", "view-lineage",
                  "open-console-session", "view-gate"}

#: Actions only Garrison itself performs: recorded, never granted to any role.
SYSTEM_ACTIONS = frozenset({"authenticate", "load-model-version", "raise-alert",
                            "quarantine-audit-events", "open-decision-log",
                            "reserve-decision-records", "drop-decision-records",
                            "close-decision-log", "check-model-version",
                            "compile-model-version",
                            "seal-governance-state", "refuse-governance-state",
                            "serve-model-version"})

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS) - SYSTEM_ACTIONS - {"invoke-model", "reidentify-data"},
    "data-scientist": frozenset(
        _READ_REGISTRY
        | {
            "register-model-version",
            "run-gate",
            "download-artifact",
            "register-dataset",
            "scan-dataset",
            "pseudonymize-data",
            "view-shadow-report",
        }
    ),
    "approver": frozenset(
        _READ_REGISTRY
        | {
            "approve-model-version",
            "reject-model-version",
            "set-gate-policy",
            "run-gate",
            "promote-model-version",
            "rollback-model",
            "retire-model-version",
            "configure-deployment",
            "view-shadow-report",
            "view-alerts",
            "acknowledge-alert",
        }
    ),
    "auditor": frozenset(
        _READ_REGISTRY
        | {
            "view-audit-log",
            "verify-audit-log",
            "verify-governance-state",
            "export-audit-log",
            "list-principals",
            "view-decision",
            "view-shadow-report",
            "view-alerts",
            "view-metrics",
            "reidentify-data",
        }
    ),
    "client": frozenset({"invoke-model"}),
}


class Subject(Protocol):
    """What the policy needs to know about a principal."""

    @property
    def name(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def disabled(self) -> bool: ...


def _resource_is_self(subject: Subject, resource: str | None) -> bool:
    return resource is not None and resource == f"principal:{subject.name}"


def allowed(subject: Subject, action_name: str, resource: str | None = None) -> bool:
    """For user interfaces only: would :func:`require` pass?"""
    try:
        require(subject, action_name, resource)
    except Forbidden:
        return False
    return True


def require(subject: Subject, action_name: str, resource: str | None = None) -> None:
    """Raise :class:`Forbidden` unless ``subject`` may do ``action_name`` on ``resource``."""
    act = action(action_name)
    if subject.disabled:
        raise Forbidden("forbidden", action=act.name, resource=resource, why="principal-disabled")
    for role in subject.roles:
        if act.name in ROLE_ACTIONS.get(role, frozenset()):
            return
    if act.self_service and _resource_is_self(subject, resource):
        return
    raise Forbidden(
        "forbidden", action=act.name, resource=resource, why="no-role-grants-action"
    )


def role_table(roles: Iterable[str] = ROLES) -> list[tuple[str, dict[str, bool]]]:
    """Action -> {role: allowed} rows, for docs and the CLI."""
    return [
        (name, {role: name in ROLE_ACTIONS[role] for role in roles}) for name in sorted(ACTIONS)
    ]
