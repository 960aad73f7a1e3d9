"""Signing in and out: an API key exchanged once for a session, or OIDC (code + PKCE).

The sign-in form is protected against login CSRF by a double-submit token: a random
value in a short-lived ``SameSite=Strict`` cookie that the form must repeat. A
successful sign-in always issues a new session token (the one presented, if any, is
revoked) and sets it as an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` over
TLS. Failures show one message whatever went wrong; the audit trail has the reason.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from garrison.errors import AuthenticationFailed, Forbidden, LimitExceeded, NotFound
from garrison.governance import OpenedSession, SessionService
from garrison.web.console.context import (
    call,
    checked_form,
    config_of,
    cookie_name,
    cookie_path,
    cross_site,
    is_secure,
    render,
    viewer,
)
from garrison.web.console.oidc import OIDCClient
from garrison.web.errors import request_id_of

__all__ = ["ROUTES", "client_of", "set_session_cookie"]

_LOGIN_COOKIE = "garrison-login"
_FAILED = "Sign-in failed. Check the key and try again."
_NOT_STAFF = "This account may not use the console."
_OIDC_FAILED = ("Sign-in with the identity provider failed, or your account is not known to "
                "Garrison. Ask an admin to add you.")


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def set_session_cookie(request: Request, response: Response, opened: OpenedSession) -> None:
    response.set_cookie(cookie_name(request), opened.token, path=cookie_path(request),
                        secure=is_secure(request), httponly=True, samesite="strict")


def _login_page(request: Request, *, status: int = 200, error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status=status, login_token=token,
                      error=error)
    response.set_cookie(_LOGIN_COOKIE, token, max_age=900, path="/console",
                        secure=is_secure(request), httponly=True, samesite="strict")
    return response


async def login_form(request: Request) -> Response:
    return _login_page(request)


async def login(request: Request) -> Response:
    """Exchange the API key for a session; the key is never stored or sent again."""
    form = await request.form(max_files=0, max_fields=10)
    cookie = request.cookies.get(_LOGIN_COOKIE, "")
    presented = form.get("login_token")
    if cross_site(request) or not cookie or not isinstance(presented, str) or \
            not hmac.compare_digest(presented.encode(), cookie.encode()):
        return _login_page(request, status=400,
                           error="The sign-in form expired. Please try again.")
    key = form.get("api_key")
    sessions: SessionService = config_of(request).services.sessions
    try:
        opened = await call(sessions.open_with_key, key if isinstance(key, str) else "",
                            client=client_of(request),
                            replaces=request.cookies.get(cookie_name(request)),
                            request_id=request_id_of(request))
    except AuthenticationFailed:
        return _login_page(request, status=401, error=_FAILED)
    except LimitExceeded as exc:
        response = _login_page(request, status=429, error=exc.message)
        response.headers["Retry-After"] = str(max(1, int((exc.retry_after or 1) + 0.999)))
        return response
    except Forbidden:
        return _login_page(request, status=403, error=_NOT_STAFF)
    response = RedirectResponse("/console/", status_code=303)
    response.delete_cookie(_LOGIN_COOKIE, path="/console")
    set_session_cookie(request, response, opened)
    return response


async def logout(request: Request) -> Response:
    """Revoke the session; its cookie is worthless from now on, wherever it was copied."""
    who = await viewer(request)
    await checked_form(request, who)
    sessions: SessionService = config_of(request).services.sessions
    await call(sessions.close, who.token, request_id=who.request_id)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(cookie_name(request), path=cookie_path(request),
                           secure=is_secure(request), httponly=True, samesite="strict")
    return response


_OIDC_COOKIE = "garrison-oidc"


async def oidc_start(request: Request) -> Response:
    """Send the browser to the identity provider (a link, not a form: the CSP's
    ``form-action 'self'`` would refuse a form redirected to another origin)."""
    client: OIDCClient | None = config_of(request).oidc
    if client is None:
        raise NotFound("sign-in with an identity provider is not configured")
    try:
        url, binding = await client.begin()
    except AuthenticationFailed as exc:
        await _record_oidc_failure(request, client, exc)
        return _login_page(request, status=502,
                           error="The identity provider cannot be reached. Try again later.")
    response = RedirectResponse(url, status_code=303)
    # Lax, not Strict: the provider sends the browser back with a cross-site redirect,
    # and this cookie must come along to prove the flow started in this browser.
    response.set_cookie(_OIDC_COOKIE, binding, max_age=600, path="/console",
                        secure=is_secure(request), httponly=True, samesite="lax")
    return response


async def _record_oidc_failure(request: Request, client: OIDCClient,
                               exc: AuthenticationFailed) -> None:
    sessions: SessionService = config_of(request).services.sessions
    # Our own checks say ``why``; the ID token verifier says ``reason``.
    reason = exc.detail.get("why") or exc.detail.get("reason") or "oidc-failed"
    await call(sessions.record_failed_identity, str(reason),
               client=client_of(request), issuer=client.issuer,
               request_id=request_id_of(request))


async def oidc_callback(request: Request) -> Response:
    """The provider's answer: verify it, then open a session for the principal it names."""
    client: OIDCClient | None = config_of(request).oidc
    if client is None:
        raise NotFound("sign-in with an identity provider is not configured")
    params = request.query_params
    binding = request.cookies.get(_OIDC_COOKIE, "")
    sessions: SessionService = config_of(request).services.sessions
    try:
        if params.get("error"):
            raise AuthenticationFailed("authentication failed", why="provider-refused")
        claims = await client.finish(state=params.get("state", ""),
                                     code=params.get("code", ""), binding=binding)
        name = client.principal_name(claims)
    except AuthenticationFailed as exc:
        await _record_oidc_failure(request, client, exc)
        return _login_page(request, status=401, error=_OIDC_FAILED)
    try:
        opened = await call(sessions.open_for_verified_identity, name, issuer=client.issuer,
                            client=client_of(request),
                            replaces=request.cookies.get(cookie_name(request)),
                            request_id=request_id_of(request))
    except AuthenticationFailed:
        return _login_page(request, status=401, error=_OIDC_FAILED)
    except LimitExceeded as exc:
        return _login_page(request, status=429, error=exc.message)
    except Forbidden:
        return _login_page(request, status=403, error=_NOT_STAFF)
    # A page, not a redirect: the browser arrived here through the provider's cross-site
    # redirect, and would not send the new SameSite=Strict cookie on a redirect that
    # continues that chain. The refresh below starts a same-site navigation.
    response = render(request, "signed_in.html", None, name=opened.principal.name)
    response.delete_cookie(_OIDC_COOKIE, path="/console", secure=is_secure(request),
                           httponly=True, samesite="lax")
    set_session_cookie(request, response, opened)
    return response


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/login/oidc", oidc_start, methods=["GET"]),
    Route("/oidc/callback", oidc_callback, methods=["GET"]),
]
