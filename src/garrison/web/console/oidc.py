"""Sign-in with an identity provider: the OIDC authorization code flow with PKCE.

``begin`` creates a flow (``state``, ``nonce``, a PKCE verifier and a browser binding)
and returns the provider's authorization URL; ``finish`` takes the provider's answer,
checks that it belongs to a flow this browser started (single use, at most ten
minutes old), exchanges the code with the PKCE verifier (and the client secret, for a
confidential client) and verifies the ID token: signature against the provider's
published keys, issuer, audience, expiry and the flow's nonce. What the provider's
answer proves is one claim, the principal name; Garrison's role table decides the rest.

Discovery (``/.well-known/openid-configuration``) is fetched once; its issuer must be
exactly the configured one and every endpoint must use HTTPS. Pending flows live in
this process: with several console replicas, keep the sign-in round trip on one
(sticky sessions) or use API-key sign-in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from garrison.errors import AuthenticationFailed

__all__ = ["IdTokenVerifier", "OIDCClient", "OIDCSettings"]

_FLOW_TTL = 600.0
_MAX_FLOWS = 10_000
_MAX_BODY = 256 * 1024
_TIMEOUT = 10.0


class IdTokenVerifier(Protocol):
    """Verifies a compact JWT's signature, issuer, audience and times (the gateway's
    ``OIDCVerifier`` fits); returns an object with the verified ``claims``."""

    async def verify(self, token: str) -> Any: ...


@dataclass(frozen=True)
class OIDCSettings:
    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = None
    scopes: str = "openid profile email"
    principal_claim: str = "preferred_username"


@dataclass(frozen=True)
class _Discovery:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class _Flow:
    nonce: str
    verifier: str
    binding: str
    started: float


def _fail(reason: str) -> AuthenticationFailed:
    return AuthenticationFailed("authentication failed", why=reason)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OIDCClient:
    def __init__(self, settings: OIDCSettings, *,
                 verifier_factory: Callable[[str], IdTokenVerifier],
                 verify: ssl.SSLContext | bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        if not settings.redirect_uri.startswith(("https://", "http://")):
            raise ValueError("the redirect URI must be absolute")
        self.settings = settings
        self._verifier_factory = verifier_factory
        self._verify = verify
        self._clock = clock
        self._discovery: _Discovery | None = None
        self._verifier: IdTokenVerifier | None = None
        self._flows: OrderedDict[str, _Flow] = OrderedDict()
        self._lock = asyncio.Lock()

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    # -- talking to the provider ----------------------------------------------------
    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(verify=self._verify, timeout=_TIMEOUT,
                                     follow_redirects=False) as client:
            try:
                async with client.stream(method, url, **kwargs) as response:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > _MAX_BODY:
                            raise _fail("provider-answer-too-large")
                    status = response.status_code
            except httpx.HTTPError as exc:
                raise _fail("provider-unreachable") from exc
        if status != 200:
            raise _fail(f"provider-status-{status}")
        try:
            doc = json.loads(bytes(body))
        except ValueError as exc:
            raise _fail("provider-answer-malformed") from exc
        if not isinstance(doc, dict):
            raise _fail("provider-answer-malformed")
        return doc

    async def _discover(self) -> _Discovery:
        async with self._lock:
            if self._discovery is not None:
                return self._discovery
            url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._json("GET", url, headers={"Accept": "application/json"})
            if doc.get("issuer") != self.settings.issuer:
                raise _fail("discovery-issuer-mismatch")
            found = {}
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                value = doc.get(name)
                if not isinstance(value, str) or not value.startswith("https://"):
                    raise _fail("discovery-endpoint-not-https")
                found[name] = value
            methods = doc.get("code_challenge_methods_supported")
            if isinstance(methods, list) and "S256" not in methods:
                raise _fail("provider-lacks-pkce-s256")
            self._discovery = _Discovery(**found)
            self._verifier = self._verifier_factory(found["jwks_uri"])
            return self._discovery

    # -- the flow -----------------------------------------------------------------------
    def _prune(self, now: float) -> None:
        while self._flows:
            oldest = next(iter(self._flows.values()))
            if now - oldest.started < _FLOW_TTL and len(self._flows) <= _MAX_FLOWS:
                break
            self._flows.popitem(last=False)

    async def begin(self) -> tuple[str, str]:
        """The authorization URL to send the browser to, and the value of the cookie that
        binds the flow to this browser."""
        discovery = await self._discover()
        now = self._clock()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, binding = secrets.token_urlsafe(64), secrets.token_urlsafe(32)
        self._flows[state] = _Flow(nonce, verifier, binding, now)
        self._prune(now)
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        query = urlencode({
            "response_type": "code", "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri, "scope": self.settings.scopes,
            "state": state, "nonce": nonce, "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        sep = "&" if "?" in discovery.authorization_endpoint else "?"
        return f"{discovery.authorization_endpoint}{sep}{query}", binding

    async def finish(self, *, state: str, code: str, binding: str) -> dict[str, Any]:
        """The verified ID token claims of the flow ``state``; ``AuthenticationFailed``
        (with the reason in ``detail``) for anything that does not check out."""
        flow = self._flows.pop(state, None) if state else None  # Single use, always.
        if flow is None:
            raise _fail("unknown-state")
        if self._clock() - flow.started >= _FLOW_TTL:
            raise _fail("flow-expired")
        if not binding or not hmac.compare_digest(binding.encode(), flow.binding.encode()):
            raise _fail("flow-not-bound-to-browser")
        if not code or len(code) > 2048:
            raise _fail("missing-code")
        discovery = await self._discover()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.settings.redirect_uri, "code_verifier": flow.verifier,
                "client_id": self.settings.client_id}
        auth = None
        if self.settings.client_secret is not None:
            auth = httpx.BasicAuth(self.settings.client_id, self.settings.client_secret)
        answer = await self._json("POST", discovery.token_endpoint, data=form, auth=auth,
                                  headers={"Accept": "application/json"})
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise _fail("no-id-token")
        assert self._verifier is not None
        identity = await self._verifier.verify(id_token)
        claims: dict[str, Any] = dict(identity.claims)
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(),
                                                                 flow.nonce.encode()):
            raise _fail("nonce-mismatch")
        audience = claims.get("aud")
        azp = claims.get("azp")
        if (isinstance(audience, list) and len(audience) > 1 and azp is None) or (
                azp is not None and azp != self.settings.client_id):
            raise _fail("wrong-authorized-party")
        return claims

    def principal_name(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.settings.principal_claim)
        if not isinstance(value, str) or not value:
            raise _fail("missing-principal-claim")
        return value
