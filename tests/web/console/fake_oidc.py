"""A small OpenID Connect provider for the tests: discovery, an authorization page, a
token endpoint that enforces PKCE (S256) and single-use codes, and RS256 ID tokens
signed with a real key published in its JWKS.

``mode`` makes it misbehave the way a compromised or misconfigured provider (or an
attacker between it and Garrison) would: a wrong nonce, audience or issuer, an expired
token, a token signed by a key it does not publish.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "garrison-console"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    username: str
    used: bool = False


class FakeProvider:
    def __init__(self, redirect_uri: str, *, client_secret: str | None = None) -> None:
        self.issuer = ""  # Set once the server knows its address.
        self.redirect_uri = redirect_uri
        self.client_secret = client_secret
        self.mode = ""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, _Grant] = {}
        self.token_requests: list[dict[str, str]] = []
        self.app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize, methods=["GET", "POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks),
        ])

    # -- endpoints ----------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def jwks(self, request: Request) -> Response:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params = {k: str(v) for k, v in form.items()}
        if (params.get("client_id") != CLIENT_ID or params.get("redirect_uri")
                != self.redirect_uri or params.get("code_challenge_method") != "S256"
                or params.get("response_type") != "code" or not params.get("code_challenge")):
            return HTMLResponse("invalid authorization request", 400)
        username = params.get("username") or params.get("login_hint")
        if not username:
            fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                             for k, v in params.items())
            return HTMLResponse(
                "<!doctype html><title>Fake identity provider</title><h1>Sign in</h1>"
                f'<form method="post" action="/authorize">{fields}'
                '<label>Username <input name="username" id="username"></label>'
                '<button type="submit">Sign in</button></form>')
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Grant(CLIENT_ID, params["redirect_uri"], params["code_challenge"],
                                  params.get("nonce", ""), username)
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        if self.client_secret is not None:
            expected = base64.b64encode(f"{CLIENT_ID}:{self.client_secret}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant.used or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, 400)
        grant.used = True
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
            .rstrip(b"=").decode()
        if challenge != grant.challenge or form.get("redirect_uri") != grant.redirect_uri \
                or form.get("client_id") != grant.client_id:
            return JSONResponse({"error": "invalid_grant"}, 400)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                             "expires_in": 300, "id_token": self.id_token(grant)})

    # -- tokens -------------------------------------------------------------------------
    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": f"sub-{grant.username}", "aud": CLIENT_ID,
            "iat": now, "exp": now + 300, "nonce": grant.nonce,
            "preferred_username": grant.username, "email": f"{grant.username}@example.com",
        }
        key = self.key
        if self.mode == "wrong-nonce":
            claims["nonce"] = "not-the-one"
        elif self.mode == "wrong-audience":
            claims["aud"] = "someone-else"
        elif self.mode == "wrong-issuer":
            claims["iss"] = "https://evil.example"
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.mode == "rogue-key":
            key = self.rogue
        elif self.mode == "other-party":
            claims["aud"], claims["azp"] = [CLIENT_ID, "other"], "other"
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
