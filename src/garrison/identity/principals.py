"""Principals: the people and service accounts that act in Garrison."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from garrison.errors import InvalidInput

__all__ = ["KINDS", "KNOWN_ROLES", "Principal", "PrincipalKind", "validate_name", "validate_roles"]

PrincipalKind = Literal["human", "service"]
KINDS: tuple[str, ...] = ("human", "service")
KNOWN_ROLES: tuple[str, ...] = ("admin", "data-scientist", "approver", "auditor", "client")

_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


def validate_name(name: str) -> str:
    """Principal names: lowercase, 1-64 characters of ``a-z 0-9 . _ @ -``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "principal names are 1-64 characters of a-z, 0-9, '.', '_', '@', '-'",
            name=str(name)[:80],
        )
    return name


def validate_roles(roles: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    unknown = sorted(set(roles) - set(KNOWN_ROLES))
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(unknown)}", known=list(KNOWN_ROLES))
    return frozenset(roles)


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    kind: PrincipalKind
    created: str
    roles: frozenset[str] = field(default_factory=frozenset)
    disabled: bool = False

    @property
    def resource(self) -> str:
        """The resource string that names this principal in policy checks and audit."""
        return f"principal:{self.name}"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "roles": sorted(self.roles),
            "disabled": self.disabled,
            "created": self.created,
        }
