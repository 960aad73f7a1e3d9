"""API keys: high-entropy bearer secrets, shown once, stored only as a hash.

Format: ``gk_<prefix>_<secret>`` where ``prefix`` is 12 lowercase hex digits used to
find the record and ``secret`` is 43 URL-safe base64 characters (256 bits). Only the
SHA-256 of the whole key is stored: with 256 bits of entropy a fast hash is the
right tool (a slow password hash protects low-entropy secrets, which these are not).
Comparison is constant-time.

Every key expires, after at most :data:`MAX_KEY_DAYS` days (:func:`check_key_lifetime`).
A key that never expires exists only where the installation's policy allows it
(``allow_never_expiring_keys``), and then only an admin may create one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from garrison.errors import AuthenticationFailed, Forbidden, InvalidInput

__all__ = ["MAX_KEY_DAYS", "APIKey", "IssuedKey", "check_key_lifetime", "hash_key", "issue_key",
           "parse_key", "verify_key_hash"]

#: The longest lifetime of a key, in days (ten years).
MAX_KEY_DAYS = 3650

_KEY = re.compile(r"^gk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    """A freshly generated key. ``secret`` is the only copy: print it once."""

    prefix: str
    secret: str
    key_hash: str


@dataclass(frozen=True)
class APIKey:
    """The stored record of a key; it never holds the secret."""

    id: str
    prefix: str
    principal_id: str
    name: str
    key_hash: str
    created: str
    expires: str | None = None
    revoked: str | None = None
    last_used: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "principal_id": self.principal_id,
            "name": self.name,
            "created": self.created,
            "expires": self.expires,
            "revoked": self.revoked,
            "last_used": self.last_used,
        }


def check_key_lifetime(days: int | None, *, by_admin: bool, never_expiring_allowed: bool,
                       ) -> None:
    """Refuse a lifetime outside ``1..MAX_KEY_DAYS`` days; ``None`` (never expires) only
    when the policy allows never-expiring keys and an admin asks for it."""
    if days is None:
        if not never_expiring_allowed:
            raise InvalidInput(f"keys expire after at most {MAX_KEY_DAYS} days; this "
                               "installation does not allow keys that never expire",
                               problem="never-expiring-key")
        if not by_admin:
            raise Forbidden("only an admin may create a key that never expires",
                            why="never-expiring-key-needs-admin")
        return
    if type(days) is not int or not 1 <= days <= MAX_KEY_DAYS:
        raise InvalidInput(f"key lifetime must be 1-{MAX_KEY_DAYS} days")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key() -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = f"gk_{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedKey(prefix=prefix, secret=secret, key_hash=hash_key(secret))


def parse_key(presented: str) -> str:
    """Return the lookup prefix of a well-formed key; raise on anything else."""
    match = _KEY.fullmatch(presented or "")
    if match is None:
        raise AuthenticationFailed("authentication failed", why="malformed-key")
    return match.group(1)


def verify_key_hash(presented: str, stored_hash: str) -> None:
    if not hmac.compare_digest(hash_key(presented), stored_hash):
        raise AuthenticationFailed("authentication failed", why="wrong-secret")
