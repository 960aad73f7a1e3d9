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

from garrison.errors import AuthenticationFailed, Forbidden, LimitExceeded
from garrison.governance import OpenedSession, SessionService
from garrison.web.console.context import (
    call,
    checked_form,
    config_of,
    cookie_name,
    cookie_path,
    is_secure,
    render,
    viewer,
)
from garrison.web.errors import request_id_of

__all__ = ["ROUTES", "client_of", "set_session_cookie"]

_LOGIN_COOKIE = "garrison-login"
_FAILED = "Sign-in failed. Check the key and try again."
_NOT_STAFF = "This account may not use the console."


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
    if not cookie or not isinstance(presented, str) or not hmac.compare_digest(
            presented.encode(), cookie.encode()):
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


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
