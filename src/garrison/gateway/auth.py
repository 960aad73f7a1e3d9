"""Bearer authentication for the gateway: Garrison API keys and, if configured, OIDC JWTs.

An OIDC token's principal lives in its own namespace: its name is always
``oidc:<subject>``, which no API-key principal can have (their names have no ``:``),
so a token with ``sub=scoring-app`` is never the ``scoring-app`` service account: it
is not on that account's caller lists and does not share its limits. Its roles are
those the configured ``role_map`` gives (none by default, see ``gateway/oidc.py``).

Verified API keys are cached for ``ttl`` seconds under the SHA-256 of the key (the
secret itself is never kept). The server's refresh loop calls :meth:`forget` when an
account change is audited (a revoked key or role, a disabled principal), so those take
effect within the refresh interval; ``ttl`` bounds the rest. Failures are audited
through the rate-limited denial auditor.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

from starlette.concurrency import run_in_threadpool

from garrison.errors import AuthenticationFailed
from garrison.identity import Principal

__all__ = ["CREDENTIAL_ACTIONS", "OIDC_PREFIX", "Authenticator"]

#: Every OIDC principal's name starts with it; API-key principals' names never do.
OIDC_PREFIX = "oidc:"

#: Audited actions after which a cached verification may be wrong.
CREDENTIAL_ACTIONS = ("revoke-api-key", "disable-principal", "enable-principal",
                      "revoke-role", "grant-role")


class Authenticator:
    def __init__(self, accounts: Any, denials: Any, *, oidc: Any = None, ttl: float = 30.0,
                 max_entries: int = 10_000, on_failure: Any = None) -> None:
        self._on_failure = on_failure
        self._accounts = accounts
        self._denials = denials
        self._oidc = oidc
        self._ttl = ttl
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def forget(self) -> None:
        """Drop every cached verification (an account changed)."""
        self._cache.clear()

    async def authenticate(self, header: str | None, request_id: str,
                           client: str = "") -> Principal:
        try:
            return await self._authenticate(header)
        except AuthenticationFailed as exc:
            why = str(exc.detail.get("why") or exc.detail.get("reason") or "invalid")
            self._denials.deny("anonymous", "authenticate", "", why, request_id)
            if self._on_failure is not None and why != "missing-credentials":
                self._on_failure(client)
            raise

    async def _authenticate(self, header: str | None) -> Principal:
        if not header:
            raise AuthenticationFailed("authentication failed", why="missing-credentials")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 8192:
            raise AuthenticationFailed("authentication failed", why="malformed-authorization")
        if token.startswith("gk_"):
            return await self._api_key(token)
        if self._oidc is None:
            raise AuthenticationFailed("authentication failed", why="unknown-token-type")
        identity = await self._oidc.verify(token)
        name = identity.name if identity.name.startswith(OIDC_PREFIX) \
            else OIDC_PREFIX + identity.name
        return Principal(id=f"oidc:{identity.subject}", name=name[:128], kind="human",
                         created="", roles=frozenset(identity.roles))

    async def _api_key(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            self._cache.move_to_end(digest)
            return hit[0]
        principal, left = await run_in_threadpool(self._accounts.authenticate_key, token,
                                                  audit=False)
        # Never cache a verification past the key's own expiry.
        self._cache[digest] = (principal, now + min(self._ttl, left if left is not None
                                                    else self._ttl))
        if len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return principal
