"""OIDC bearer-token verification, tested by attacking it.

Keys are generated here with ``cryptography``; tokens are signed with PyJWT or, for
the forgeries PyJWT refuses to make, assembled by hand.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from garrison.errors import AuthenticationFailed, ConfigurationError
from garrison.gateway.oidc import OIDCConfig, OIDCVerifier, httpx_fetcher

NOW = 1_700_000_000.0
ISSUER = "https://idp.example"
AUDIENCE = "garrison-gateway"


def _rsa(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


KEYS: dict[str, Any] = {
    "k1": _rsa(),
    "k2": _rsa(),
    "ec1": ec.generate_private_key(ec.SECP256R1()),
    "weak": _rsa(1024),
}


def jwk(kid: str, **extra: Any) -> dict[str, Any]:
    key = KEYS[kid].public_key()
    algo = jwt.algorithms.RSAAlgorithm if kid != "ec1" else jwt.algorithms.ECAlgorithm
    data = algo.to_jwk(key, as_dict=True)
    data.update(kid=kid, use="sig", **extra)
    return data


class FakeIdP:
    """Serves a JWKS that tests can rotate or break, counting fetches."""

    def __init__(self, *kids: str) -> None:
        self.keys = [jwk(k) for k in kids]
        self.fetches = 0
        self.down = False

    async def fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        await asyncio.sleep(0)
        if self.down:
            raise httpx.ConnectError("down")
        return {"keys": list(self.keys)}


class ManualTime:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 300,
        "roles": ["data-scientist", "viewer"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def token(
    kid: str = "k1",
    alg: str = "RS256",
    headers: dict[str, Any] | None = None,
    signer: str | None = None,
    **changes: Any,
) -> str:
    hdr = {"kid": kid, **(headers or {})}
    return jwt.encode(claims(**changes), KEYS[signer or kid], algorithm=alg, headers=hdr)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rs256_raw(header: dict[str, Any], kid: str = "k1") -> str:
    """An RS256 token with a header PyJWT would not write (e.g. ``crit``)."""
    signing_input = f"{b64(json.dumps({'alg': 'RS256', 'kid': kid, **header}).encode())}"
    signing_input += f".{b64(json.dumps(claims()).encode())}"
    sig = KEYS[kid].sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(sig)}"


def forged(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = (
        b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{b64(sig)}"


CONFIG = OIDCConfig(issuer=ISSUER, audience=AUDIENCE, jwks_url="https://idp.example/jwks")


def setup(*kids: str, **config: Any) -> tuple[OIDCVerifier, FakeIdP, ManualTime]:
    idp = FakeIdP(*(kids or ("k1", "ec1")))
    clock = ManualTime()
    cfg = OIDCConfig(**{**CONFIG.__dict__, **config})
    return OIDCVerifier(cfg, fetcher=idp.fetch, clock=clock), idp, clock


def verify(verifier: OIDCVerifier, tok: str) -> Any:
    return asyncio.run(verifier.verify(tok))


def reason(verifier: OIDCVerifier, tok: str) -> str:
    with pytest.raises(AuthenticationFailed) as info:
        verify(verifier, tok)
    assert str(info.value) == "authentication failed"  # opaque to the client
    return info.value.detail["reason"]


# ----- accepted ---------------------------------------------------------------------


def test_valid_rs256_and_es256_tokens_map_to_an_identity() -> None:
    verifier, idp, _ = setup()
    identity = verify(verifier, token("k1"))
    # Without a role map the token's roles claim counts for nothing (issue 11).
    assert identity.name == "alice" and identity.roles == set()
    assert identity.to_dict() == {
        "name": "alice",
        "roles": [],
        "subject": "alice",
        "issuer": ISSUER,
        "expires_at": NOW + 300,
        "key_id": "k1",
    }
    assert verify(verifier, token("ec1", alg="ES256")).key_id == "ec1"
    assert idp.fetches == 1  # cached


def test_leeway_and_audience_lists() -> None:
    verifier, _, _ = setup()
    assert verify(verifier, token(exp=int(NOW) - 29)).name == "alice"
    assert verify(verifier, token(aud=["other", AUDIENCE])).name == "alice"
    assert verify(verifier, token(headers={"typ": "at+jwt"})).name == "alice"


def test_claim_mapping_nested_roles_role_map_and_prefix() -> None:
    verifier, _, _ = setup(
        principal_claim="email",
        principal_prefix="oidc:",
        roles_claims=("realm_access.roles", "scope"),
        role_map={"ml-admins": "admin", "read": "viewer"},
    )
    identity = verify(
        verifier,
        token(email="a@x.org", realm_access={"roles": ["ml-admins", "other"]}, scope="read write"),
    )
    assert identity.name == "oidc:a@x.org" and identity.roles == {"admin", "viewer"}


def test_authorization_header_parsing() -> None:
    verifier, _, _ = setup()
    ok = asyncio.run(verifier.verify_authorization(f"bearer {token()}"))
    assert ok.name == "alice"
    for header in (None, "", "Bearer", "Bearer   ", f"Basic {token()}", token()):
        with pytest.raises(AuthenticationFailed) as info:
            asyncio.run(verifier.verify_authorization(header))
        assert info.value.detail["reason"] in ("missing-token",)


# ----- attacks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exp": int(NOW) - 31}, "expired"),
        ({"nbf": int(NOW) + 31}, "not-yet-valid"),
        ({"iat": int(NOW) + 31}, "issued-in-future"),
        ({"iss": "https://evil.example"}, "wrong-issuer"),
        ({"aud": "another-service"}, "wrong-audience"),
        ({"exp": ...}, "missing-claim"),
        ({"sub": ...}, "missing-claim"),
        ({"iat": ...}, "missing-claim"),
        ({"aud": ...}, "missing-claim"),
        ({"exp": "tomorrow"}, "invalid-claim"),
        ({"roles": "admin" * 0 or {"admin": True}}, "invalid-claim"),
        ({"roles": ["x" * 200]}, "invalid-claim"),
    ],
)
def test_claim_attacks(changes: dict[str, Any], expected: str) -> None:
    verifier, _, _ = setup()
    assert reason(verifier, token(**changes)) == expected


def test_alg_none_is_refused() -> None:
    verifier, _, _ = setup()
    tok = forged({"alg": "none", "kid": "k1", "typ": "JWT"}, claims(sub="admin"), None)
    assert reason(verifier, tok) == "alg-not-allowed"


def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    verifier, _, _ = setup()
    pem = (
        KEYS["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    tok = forged({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims(sub="admin"), pem)
    assert reason(verifier, tok) == "alg-not-allowed"
    with pytest.raises(ConfigurationError):
        OIDCConfig(ISSUER, AUDIENCE, "https://idp.example/jwks", algorithms=("RS256", "HS256"))


def test_other_asymmetric_algorithms_are_refused() -> None:
    verifier, _, _ = setup()
    assert reason(verifier, token(alg="RS384")) == "alg-not-allowed"
    assert reason(verifier, token(alg="PS256")) == "alg-not-allowed"


def test_tampered_payload_and_foreign_signer_are_refused() -> None:
    verifier, _, _ = setup()
    header, _, signature = token().split(".")
    evil = b64(json.dumps(claims(sub="admin", roles=["admin"])).encode())
    assert reason(verifier, f"{header}.{evil}.{signature}") == "bad-signature"
    assert reason(verifier, token("k1", signer="k2")) == "bad-signature"


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"b64": False},
    ],
)
def test_key_selecting_and_unknown_headers_are_refused(header: dict[str, Any]) -> None:
    verifier, idp, _ = setup()
    assert reason(verifier, rs256_raw(header)) == "forbidden-header"
    assert idp.fetches == 0  # refused before any key lookup, let alone a URL fetch


def test_kid_problems() -> None:
    verifier, _, _ = setup("k1", "ec1", "weak")
    no_kid = jwt.encode(claims(), KEYS["k1"], algorithm="RS256")
    assert reason(verifier, no_kid) == "missing-kid"
    # RS256 claimed for the EC key's kid: the key type must match the algorithm.
    assert reason(verifier, token("ec1", alg="RS256", signer="k1")) == "key-mismatch"
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        weak = token("weak")
    assert reason(verifier, weak) == "unknown-kid"  # 1024-bit keys are ignored
    assert reason(verifier, token(headers={"typ": "logout+jwt"})) == "wrong-type"


def test_malformed_and_oversized_tokens() -> None:
    verifier, idp, _ = setup()
    for tok in ("", "abc", "a.b", "a.b.c.d", "!!!.###.$$$", token() + "x" * 9_000):
        expected = "token-too-large" if len(tok) > 8_192 else "malformed"
        if not tok:
            expected = "missing-token"
        assert reason(verifier, tok) == expected
    assert idp.fetches == 0  # refused before any key lookup


# ----- JWKS: rotation, refetch rate limiting, max age, outages ------------------------


def test_rotation_unknown_kid_refetches_at_most_once_per_cooldown() -> None:
    verifier, idp, clock = setup("k1")
    assert verify(verifier, token("k1")).name == "alice"
    idp.keys = [jwk("k2")]  # the IdP rotates: k2 in, k1 out
    assert reason(verifier, token("k2")) == "unknown-kid"  # within the cooldown: no refetch
    assert idp.fetches == 1
    clock.now += 61
    assert verify(verifier, token("k2")).key_id == "k2"
    assert idp.fetches == 2
    assert reason(verifier, token("k1")) == "unknown-kid"  # the retired key is gone


def test_made_up_kids_cannot_hammer_the_idp() -> None:
    verifier, idp, clock = setup("k1")
    verify(verifier, token("k1"))
    clock.now += 61

    async def flood() -> list[BaseException | Any]:
        toks = [token("k1", headers={"kid": f"made-up-{i}"}) for i in range(50)]
        return await asyncio.gather(*(verifier.verify(t) for t in toks), return_exceptions=True)

    results = asyncio.run(flood())
    assert all(isinstance(r, AuthenticationFailed) for r in results)
    assert {r.detail["reason"] for r in results} == {"unknown-kid"}  # type: ignore[union-attr]
    assert idp.fetches == 2  # one refetch for the whole flood
    for i in range(50):
        reason(verifier, token("k1", headers={"kid": f"again-{i}"}))
    assert idp.fetches == 2


def test_max_age_refreshes_and_stale_keys_survive_an_idp_outage() -> None:
    verifier, idp, clock = setup("k1", jwks_max_age=600, jwks_max_stale=3_600)
    verify(verifier, token("k1"))
    clock.now += 601
    verify(verifier, token("k1", iat=int(clock.now), exp=int(clock.now) + 300))
    assert idp.fetches == 2
    idp.down = True
    clock.now += 601
    fresh = {"iat": int(clock.now), "exp": int(clock.now) + 300}
    assert verify(verifier, token("k1", **fresh)).name == "alice"  # stale but usable
    assert verifier.jwks.fetch_failures == 1
    clock.now += 3_601
    fresh = {"iat": int(clock.now), "exp": int(clock.now) + 300}
    assert reason(verifier, token("k1", **fresh)) == "jwks-unavailable"


def test_idp_down_from_the_start() -> None:
    verifier, idp, _ = setup("k1")
    idp.down = True
    assert reason(verifier, token("k1")) == "jwks-unavailable"
    assert reason(verifier, token("k1")) == "jwks-unavailable"
    assert idp.fetches == 1  # the cooldown applies to failed attempts too


def test_config_requires_https_and_known_algorithms() -> None:
    with pytest.raises(ConfigurationError):
        OIDCConfig(ISSUER, AUDIENCE, "http://idp.example/jwks")
    OIDCConfig(ISSUER, AUDIENCE, "http://localhost/jwks", allow_insecure_jwks_url=True)
    with pytest.raises(ConfigurationError):
        OIDCConfig(ISSUER, AUDIENCE, "https://idp.example/jwks", algorithms=("none",))


# ----- the default httpx fetcher ----------------------------------------------------


def test_httpx_fetcher_bounds_size_and_refuses_redirects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [jwk("k1")]})
        if request.url.path == "/big":
            return httpx.Response(200, content=b" " * 2_000_000)
        return httpx.Response(302, headers={"Location": "https://evil.example/jwks"})

    transport = httpx.MockTransport(handler)
    fetch = functools.partial(httpx_fetcher, transport=transport)
    doc = asyncio.run(fetch("https://idp.example/jwks"))
    assert doc["keys"][0]["kid"] == "k1"
    with pytest.raises(ValueError):
        asyncio.run(fetch("https://idp.example/big"))
    with pytest.raises(httpx.HTTPStatusError):
        asyncio.run(fetch("https://idp.example/moved"))
    verifier = OIDCVerifier(CONFIG, fetcher=fetch, clock=ManualTime())
    assert verify(verifier, token("k1")).name == "alice"
