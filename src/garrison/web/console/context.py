"""Per-request plumbing of the console: who is looking, their CSRF token, rendering.

A page handler calls :func:`viewer` (which resumes the session from its cookie, or
sends the browser to the sign-in page), calls the services with ``viewer.principal``
in the thread pool, and renders a template with :func:`render`. A form handler also
calls :func:`checked_form`, which refuses any POST without the session's CSRF token.
Handlers hold no policy: the services authorize and audit every call.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from garrison.authz import allowed
from garrison.config import Settings
from garrison.errors import AuthenticationFailed, Forbidden
from garrison.governance import (
    AccountService,
    ActiveSession,
    AuditService,
    Guard,
    SessionService,
)
from garrison.identity import ConsoleSession, Principal
from garrison.registry import RegistryService
from garrison.serving.monitoring import MonitoringService
from garrison.web.console.render import Renderer
from garrison.web.errors import request_id_of

__all__ = [
    "NAV",
    "ConsoleConfig",
    "ConsoleServices",
    "LoginRequired",
    "Viewer",
    "call",
    "checked_form",
    "cookie_name",
    "cookie_path",
    "cross_site",
    "is_secure",
    "render",
    "to_login",
    "viewer",
]

T = TypeVar("T")

#: The pages, in menu order: (path, label, the action that opens it). The role table
#: decides who sees which; a page refuses (and the guard audits) anyone else.
NAV: tuple[tuple[str, str, str], ...] = (
    ("/console/approvals", "Approvals", "approve-model-version"),
    ("/console/models", "Models", "list-models"),
    ("/console/audit", "Audit trail", "view-audit-log"),
    ("/console/decisions", "Decisions", "view-decision"),
    ("/console/monitoring", "Alerts and monitoring", "view-alerts"),
    ("/console/lineage", "Lineage", "view-lineage"),
    ("/console/accounts", "Accounts and keys", "list-api-keys"),
)


class ConsoleServices(Protocol):
    """What the console needs from ``garrison.app.Services`` (it must not import it)."""

    settings: Settings
    guard: Guard
    accounts: AccountService
    audit: AuditService
    registry: RegistryService
    sessions: SessionService
    monitoring: MonitoringService


@dataclass
class ConsoleConfig:
    services: Any
    renderer: Renderer
    oidc: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


class LoginRequired(Exception):
    """No usable session: the browser goes to the sign-in page."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in person for one request."""

    principal: Principal
    session: ConsoleSession
    token: str
    request_id: str

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def may(self, action: str, resource: str | None = None) -> bool:
        """For deciding what to show only; the services decide what is allowed."""
        return allowed(self.principal, action, resource)

    def nav(self) -> list[tuple[str, str]]:
        return [(path, label) for path, label, action in NAV if self.may(action)]


def config_of(request: Request) -> ConsoleConfig:
    config: ConsoleConfig = request.app.state.console
    return config


def is_secure(request: Request) -> bool:
    """HTTPS here, or behind a TLS proxy declared by ``console_public_url``."""
    public = config_of(request).services.settings.console_public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def cookie_name(request: Request) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, has
    # Path=/ and no Domain: no sibling host or plain-HTTP page can plant or shadow it.
    return "__Host-garrison-session" if is_secure(request) else "garrison-session"


def cookie_path(request: Request) -> str:
    return "/" if is_secure(request) else "/console"


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (synchronous) service call in the thread pool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def viewer(request: Request) -> Viewer:
    """Resume the session of this request; :class:`LoginRequired` if there is none."""
    token = request.cookies.get(cookie_name(request))
    if not token:
        raise LoginRequired
    rid = request_id_of(request)
    sessions: SessionService = config_of(request).services.sessions
    try:
        active: ActiveSession = await call(sessions.resume, token, request_id=rid)
    except AuthenticationFailed as exc:
        raise LoginRequired from exc
    # Every event of this request carries the session's public ref: the audit trail
    # ties each action to the sign-in it was taken in.
    console_rid = f"{active.session.ref}.{rid}"[:64]
    request.scope["state"]["principal"] = active.principal.name
    return Viewer(active.principal, active.session, token, console_rid)


async def checked_form(request: Request, who: Viewer) -> FormData:
    """The POSTed form, if it carries this session's CSRF token; ``Forbidden`` if not.

    The refusal is recorded in the audit trail: a missing or wrong token on a signed-in
    session is what a cross-site request forgery looks like.
    """
    form = await request.form(max_files=0, max_fields=200)
    presented = form.get("csrf")
    if cross_site(request) or not isinstance(presented, str) or not hmac.compare_digest(
            presented.encode(), who.csrf.encode()):
        guard: Guard = config_of(request).services.guard
        await call(guard.record, who.principal, "authenticate", outcome="denied",
                   resource=str(request.url.path)[:200], reason="csrf-token-mismatch",
                   request_id=who.request_id, payload={"via": "console"})
        raise Forbidden("the form has expired or did not come from this console; reload "
                        "the page and try again", why="csrf-token-mismatch")
    return form


def cross_site(request: Request) -> bool:
    """Whether the browser says the request came from another site (Fetch Metadata).

    A second line behind the CSRF token and the ``SameSite=Strict`` cookie; browsers
    that send no ``Sec-Fetch-Site`` header are judged by the token alone.
    """
    site = request.headers.get("sec-fetch-site")
    return site is not None and site not in ("same-origin", "none")


def render(request: Request, template: str, who: Viewer | None, status: int = 200,
           **context: Any) -> Response:
    config = config_of(request)
    body = config.renderer.page(template, viewer=who, path=request.url.path,
                                oidc=config.oidc is not None, **context)
    return HTMLResponse(body, status_code=status)


def to_login(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(cookie_name(request), path=cookie_path(request),
                           secure=is_secure(request), httponly=True, samesite="strict")
    return response
