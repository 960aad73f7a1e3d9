"""Identities: principals, roles and API keys."""

from garrison.identity.keys import (
    APIKey,
    IssuedKey,
    hash_key,
    issue_key,
    parse_key,
    verify_key_hash,
)
from garrison.identity.ports import APIKeyRepository, PrincipalRepository
from garrison.identity.principals import (
    KINDS,
    KNOWN_ROLES,
    Principal,
    PrincipalKind,
    validate_name,
    validate_roles,
)

__all__ = [
    "KINDS",
    "KNOWN_ROLES",
    "APIKey",
    "APIKeyRepository",
    "IssuedKey",
    "Principal",
    "PrincipalKind",
    "PrincipalRepository",
    "hash_key",
    "issue_key",
    "parse_key",
    "validate_name",
    "validate_roles",
    "verify_key_hash",
]
