"""Verify OIDC bearer tokens (JWTs) issued by an identity provider.

The verifier is deliberately narrow. Only RS256 and ES256 are accepted (never
``none``, never an HMAC algorithm, so a public key can't be used as an HMAC secret).
The header may name only ``alg``, ``kid``, ``typ``, ``cty`` and ``x5t``; ``jku``,
``x5u``, ``jwk``, ``x5c``, ``crit`` and ``b64`` are refused, so a token can never pick
its own key. The ``kid`` must be in the provider's JWKS, for a key of the header's
algorithm. Issuer, audience, ``exp`` (always required), ``nbf`` and ``iat`` are
checked with a small leeway against an injectable clock.

The JWKS is fetched through an injectable async fetcher (httpx by default), cached
for ``jwks_max_age`` and refetched on an unknown ``kid`` (key rotation). Every fetch
attempt, whatever its cause, is at most one per ``jwks_refetch_cooldown``, so
tokens with made-up ``kid`` values cannot make the gateway hammer the provider; if
a refresh fails, the previous keys stay usable for ``jwks_max_stale``.

Every failure raises ``AuthenticationFailed`` with the same opaque message and the
precise ``reason`` in ``detail`` for the audit trail.

Roles are never taken from a token as written: only the provider roles named in
``role_map`` count, each as the Garrison role it maps to. With no ``role_map`` (the
default) a token carries no role at all, whatever its claims say (issue 11).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.types import Options

from garrison.errors import AuthenticationFailed, ConfigurationError

__all__ = ["JWKSCache", "OIDCConfig", "OIDCIdentity", "OIDCVerifier", "httpx_fetcher"]

Fetcher = Callable[[str], Awaitable[Any]]

_SUPPORTED = {"RS256": "RSA", "ES256": "EC"}
_ALLOWED_HEADERS = frozenset({"alg", "kid", "typ", "cty", "x5t", "x5t#S256"})
_MAX_JWKS_KEYS = 100
_MIN_RSA_BITS = 2048


def _fail(reason: str, **detail: Any) -> AuthenticationFailed:
    return AuthenticationFailed("authentication failed", reason=reason, **detail)


def _clip(value: object) -> str:
    return str(value)[:64]


@dataclass(frozen=True)
class OIDCConfig:
    """How to trust one identity provider; see ``docs/limits.md`` (OIDC section)."""

    issuer: str
    audience: str | tuple[str, ...]
    jwks_url: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway: float = 30.0
    required_claims: tuple[str, ...] = ("exp", "iat", "sub")
    principal_claim: str = "sub"
    principal_prefix: str = ""
    roles_claims: tuple[str, ...] = ("roles",)
    role_map: Mapping[str, str] | None = None
    allowed_types: tuple[str, ...] = ("jwt", "at+jwt", "application/at+jwt")
    max_token_bytes: int = 8_192
    max_token_age: float | None = None
    jwks_max_age: float = 3_600.0
    jwks_refetch_cooldown: float = 60.0
    jwks_max_stale: float = 86_400.0
    allow_insecure_jwks_url: bool = False

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ConfigurationError("OIDC issuer and audience are required")
        if not self.algorithms or set(self.algorithms) - set(_SUPPORTED):
            raise ConfigurationError("OIDC algorithms must be a non-empty subset of RS256, ES256")
        if not self.jwks_url.startswith("https://") and not self.allow_insecure_jwks_url:
            raise ConfigurationError("the JWKS URL must use https")
        if not 0 <= self.leeway <= 300:
            raise ConfigurationError("OIDC leeway must be between 0 and 300 seconds")
        if self.jwks_refetch_cooldown <= 0 or self.jwks_max_age <= 0:
            raise ConfigurationError("JWKS max age and refetch cooldown must be positive")


@dataclass(frozen=True)
class OIDCIdentity:
    """A verified caller: principal ``name`` and ``roles`` (mapped), plus provenance."""

    name: str
    roles: frozenset[str]
    subject: str
    issuer: str
    expires_at: float
    key_id: str
    claims: Mapping[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": sorted(self.roles),
            "subject": self.subject,
            "issuer": self.issuer,
            "expires_at": self.expires_at,
            "key_id": self.key_id,
        }


async def httpx_fetcher(
    url: str,
    *,
    timeout: float = 5.0,
    max_bytes: int = 1_000_000,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Any:
    """GET a JWKS document: no redirects, bounded time and size, JSON only.

    Bind options with ``functools.partial`` to pass it as an ``OIDCVerifier`` fetcher.
    """
    headers = {"Accept": "application/json"}
    async with (
        httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=transport) as client,
        client.stream("GET", url, headers=headers) as resp,
    ):
        resp.raise_for_status()
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body.extend(chunk)
            if len(body) > max_bytes:
                raise ValueError("JWKS document too large")
    return json.loads(bytes(body))


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, decoded strictly but NOT verified: only for choosing checks."""
    segment = token.split(".", 1)[0]
    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        header = json.loads(raw)
    except (ValueError, binascii.Error) as exc:
        raise _fail("malformed") from exc
    if not isinstance(header, dict):
        raise _fail("malformed")
    return header


def _parse_jwks(doc: Any) -> dict[tuple[str, str], Any]:
    """Usable signing keys by ``(kid, alg)``; unusable or weak entries are skipped."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWKS document")
    keys: dict[tuple[str, str], Any] = {}
    for jwk in doc["keys"][:_MAX_JWKS_KEYS]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        kty, crv = jwk.get("kty"), jwk.get("crv")
        alg = "RS256" if kty == "RSA" else "ES256" if (kty == "EC" and crv == "P-256") else None
        if alg is None or jwk.get("alg", alg) != alg:
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm=alg).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if alg == "RS256" and key.key_size < _MIN_RSA_BITS:
            continue
        keys.setdefault((jwk["kid"], alg), key)
    return keys


class JWKSCache:
    """The provider's signing keys, fetched lazily with max age and refetch cooldown."""

    def __init__(
        self,
        url: str,
        fetcher: Fetcher,
        *,
        max_age: float = 3_600.0,
        refetch_cooldown: float = 60.0,
        max_stale: float = 86_400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.refetch_cooldown = refetch_cooldown
        self.max_stale = max_stale
        self.fetches = 0
        self.fetch_failures = 0
        self._fetcher = fetcher
        self._clock = clock
        self._keys: dict[tuple[str, str], Any] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock: asyncio.Lock | None = None

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.refetch_cooldown

    async def _refresh(self) -> None:
        """Fetch once unless an attempt was made within the cooldown (checked locked)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self._clock()
            if not self._may_fetch(now):
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                keys = _parse_jwks(await self._fetcher(self.url))
            except Exception:  # Any fetch or parse failure keeps the old keys.
                self.fetch_failures += 1
                return
            self._keys = keys
            self._fetched_at = now

    async def key_for(self, kid: str, alg: str) -> Any:
        """The public key for ``kid`` and ``alg``, or raise ``AuthenticationFailed``."""
        now = self._clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self.max_age
        if expired and self._may_fetch(now):
            await self._refresh()
        if self._fetched_at is None or now - self._fetched_at >= self.max_age + self.max_stale:
            raise _fail("jwks-unavailable")
        key = self._lookup(kid, alg)
        if key is None and self._may_fetch(now):
            await self._refresh()  # Maybe the provider rotated its keys.
            key = self._lookup(kid, alg)
        if key is None:
            raise _fail("unknown-kid", kid=_clip(kid))
        return key

    def _lookup(self, kid: str, alg: str) -> Any:
        key = self._keys.get((kid, alg))
        if key is None and any(k == kid for k, _ in self._keys):
            raise _fail("key-mismatch", kid=_clip(kid), alg=alg)
        return key


class OIDCVerifier:
    """Turns ``Authorization: Bearer <jwt>`` into an :class:`OIDCIdentity` or refuses."""

    def __init__(
        self,
        config: OIDCConfig,
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self.jwks = JWKSCache(
            config.jwks_url,
            fetcher or httpx_fetcher,
            max_age=config.jwks_max_age,
            refetch_cooldown=config.jwks_refetch_cooldown,
            max_stale=config.jwks_max_stale,
            clock=clock,
        )

    async def verify_authorization(self, header: str | None) -> OIDCIdentity:
        """Verify an ``Authorization`` header value (``Bearer`` scheme only)."""
        if not header:
            raise _fail("missing-token")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _fail("missing-token")
        return await self.verify(token.strip())

    async def verify(self, token: str) -> OIDCIdentity:
        """Verify a compact JWT and map its claims to an identity."""
        cfg = self.config
        if not isinstance(token, str) or not token:
            raise _fail("missing-token")
        if len(token) > cfg.max_token_bytes:
            raise _fail("token-too-large")
        if token.count(".") != 2:
            raise _fail("malformed")
        header = _unverified_header(token)
        for name in header:
            if name not in _ALLOWED_HEADERS:
                raise _fail("forbidden-header", header=_clip(name))
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in cfg.algorithms:
            raise _fail("alg-not-allowed", alg=_clip(alg))
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in cfg.allowed_types):
            raise _fail("wrong-type", typ=_clip(typ))
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise _fail("missing-kid")
        key = await self.jwks.key_for(kid, alg)
        claims = self._decode(token, key, alg, kid)
        self._check_times(claims)
        return self._identity(claims, kid)

    def _decode(self, token: str, key: Any, alg: str, kid: str) -> dict[str, Any]:
        cfg = self.config
        audience = [cfg.audience] if isinstance(cfg.audience, str) else list(cfg.audience)
        required = sorted({"iss", "aud", "exp", *cfg.required_claims})
        options: Options = {"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                            "require": required}
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=cfg.issuer,
                options=options,
            )
        except jwt.InvalidSignatureError as exc:
            raise _fail("bad-signature", kid=_clip(kid)) from exc
        except jwt.InvalidIssuerError as exc:
            raise _fail("wrong-issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise _fail("wrong-audience") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _fail("missing-claim", claim=_clip(exc.claim)) from exc
        except jwt.InvalidAlgorithmError as exc:
            raise _fail("alg-not-allowed", alg=alg) from exc
        except jwt.DecodeError as exc:
            raise _fail("malformed") from exc
        except jwt.PyJWTError as exc:
            raise _fail("invalid-claim", error=type(exc).__name__) from exc

    def _check_times(self, claims: dict[str, Any]) -> None:
        cfg = self.config
        now = self._clock()
        leeway = cfg.leeway
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is None and name != "exp":
                continue
            if value is None or type(value) not in (int, float) or not math.isfinite(value):
                raise _fail("invalid-claim", claim=name)
        if now > claims["exp"] + leeway:
            raise _fail("expired")
        if "nbf" in claims and now + leeway < claims["nbf"]:
            raise _fail("not-yet-valid")
        if "iat" in claims and now + leeway < claims["iat"]:
            raise _fail("issued-in-future")
        if cfg.max_token_age is not None:
            if "iat" not in claims:
                raise _fail("missing-claim", claim="iat")
            if now - claims["iat"] > cfg.max_token_age + leeway:
                raise _fail("too-old")

    def _identity(self, claims: dict[str, Any], kid: str) -> OIDCIdentity:
        cfg = self.config
        subject = claims.get(cfg.principal_claim)
        if not isinstance(subject, str) or not subject or len(subject) > 256:
            raise _fail("invalid-claim", claim=cfg.principal_claim)
        roles: set[str] = set()
        for path in cfg.roles_claims:
            roles.update(self._roles_at(claims, path))
        # Only an explicit mapping gives a role: a claim is the provider's word, and the
        # provider's role names are not Garrison's.
        roles = {cfg.role_map[r] for r in roles if r in cfg.role_map} if cfg.role_map else set()
        return OIDCIdentity(
            name=cfg.principal_prefix + subject,
            roles=frozenset(roles),
            subject=str(claims.get("sub", subject)),
            issuer=claims["iss"],
            expires_at=float(claims["exp"]),
            key_id=kid,
            claims=claims,
        )

    @staticmethod
    def _roles_at(claims: dict[str, Any], path: str) -> list[str]:
        """Roles at a dotted claim path: a list of strings or a space-separated string."""
        value: Any = claims
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return []
            value = value[part]
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or len(value) > 256:
            raise _fail("invalid-claim", claim=_clip(path))
        if not all(isinstance(r, str) and 0 < len(r) <= 128 for r in value):
            raise _fail("invalid-claim", claim=_clip(path))
        return value
