"""Web console sessions: a random bearer token in a cookie, stored only as a hash.

Format: ``gs1_<secret>``, where ``gs1`` is the format version and purpose (a console
session, never an API key: ``parse_key`` refuses it) and ``secret`` is 43 URL-safe
base64 characters (256 bits). The server stores the SHA-256 of the whole token as the
session's id, so a copy of the database holds no usable cookie. Each session also has a
short public ``ref`` (for listings and the audit trail) and its own CSRF token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from garrison.errors import AuthenticationFailed

__all__ = [
    "SESSION_METHODS",
    "ConsoleSession",
    "IssuedSession",
    "SessionMethod",
    "issue_session",
    "session_id_of",
]

SessionMethod = Literal["api-key", "oidc"]
SESSION_METHODS: tuple[str, ...] = ("api-key", "oidc")
_TOKEN = re.compile(r"^gs1_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedSession:
    """A new session's secrets: ``token`` goes into the cookie once and is never stored."""

    token: str
    id: str
    ref: str
    csrf: str


@dataclass(frozen=True)
class ConsoleSession:
    """The stored record of a session (never the token itself)."""

    id: str
    ref: str
    principal_id: str
    method: str
    csrf: str
    created: str
    last_seen: str
    expires: str
    client: str = ""
    key_id: str | None = None
    revoked: str | None = None
    revoked_by: str | None = None
    opened_seq: int | None = None

    def to_dict(self) -> dict[str, object]:
        """Without the id (a hash of the cookie) and the CSRF token."""
        return {
            "ref": self.ref, "principal_id": self.principal_id, "method": self.method,
            "created": self.created, "last_seen": self.last_seen, "expires": self.expires,
            "client": self.client, "revoked": self.revoked, "revoked_by": self.revoked_by,
            "opened_seq": self.opened_seq,
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_session() -> IssuedSession:
    """A fresh token, its stored id, a public reference and a CSRF token."""
    token = "gs1_" + secrets.token_urlsafe(32)
    return IssuedSession(token=token, id=_digest(token), ref=secrets.token_hex(8),
                         csrf=secrets.token_urlsafe(32))


def session_id_of(token: str) -> str:
    """The stored id of a presented token; ``AuthenticationFailed`` if it is malformed."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise AuthenticationFailed("authentication failed", why="malformed-session")
    return _digest(token)
