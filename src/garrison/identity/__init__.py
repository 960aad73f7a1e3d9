"""Identities: principals, roles and API keys."""

from garrison.identity.keys import (
    MAX_KEY_DAYS,
    APIKey,
    IssuedKey,
    check_key_lifetime,
    hash_key,
    issue_key,
    parse_key,
    verify_key_hash,
)
from garrison.identity.ports import APIKeyRepository, PrincipalRepository, SessionRepository
from garrison.identity.principals import (
    KINDS,
    KNOWN_ROLES,
    Principal,
    PrincipalKind,
    validate_name,
    validate_roles,
)
from garrison.identity.sessions import (
    SESSION_METHODS,
    ConsoleSession,
    IssuedSession,
    SessionMethod,
    issue_session,
    session_id_of,
)

__all__ = [
    "KINDS",
    "KNOWN_ROLES",
    "MAX_KEY_DAYS",
    "SESSION_METHODS",
    "APIKey",
    "APIKeyRepository",
    "ConsoleSession",
    "IssuedKey",
    "IssuedSession",
    "Principal",
    "PrincipalKind",
    "PrincipalRepository",
    "SessionMethod",
    "SessionRepository",
    "check_key_lifetime",
    "hash_key",
    "issue_key",
    "issue_session",
    "parse_key",
    "session_id_of",
    "validate_name",
    "validate_roles",
    "verify_key_hash",
]
