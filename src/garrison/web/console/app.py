"""``create_console(services)``: the web console as a Starlette app mounted at ``/console``.

Server-rendered HTML (Jinja2, autoescaped), one stylesheet, no script at all: the
Content-Security-Policy allows no script source, so even markup that slipped past the
escaping could not run. Every page is a view over the same services as the CLI and
the admin API, which authorize and audit each call.
"""

from __future__ import annotations

from importlib import resources

import structlog
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from garrison.errors import Forbidden, GarrisonError, LimitExceeded
from garrison.web.console import (
    accounts,
    approvals,
    audit,
    auth,
    decisions,
    lineage,
    models,
    monitoring,
)
from garrison.web.console.context import (
    ConsoleConfig,
    ConsoleServices,
    LoginRequired,
    render,
    to_login,
    viewer,
)
from garrison.web.console.oidc import OIDCClient
from garrison.web.console.render import Renderer
from garrison.web.errors import status_for

__all__ = ["CONSOLE_HEADERS", "create_console"]

log = structlog.get_logger("garrison.web")

#: Sent with every console answer (they replace the admin API's defaults).
CONSOLE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class ConsoleHeaders:
    """Pure ASGI middleware: the console's security headers on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in CONSOLE_HEADERS.items():
                    headers[name] = value
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CSS = resources.files("garrison.web.console").joinpath("static/console.css")


async def stylesheet(request: Request) -> Response:
    return Response(_CSS.read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "private, max-age=300"})


async def home(request: Request) -> Response:
    """The first page the signed-in person may open."""
    who = await viewer(request)
    pages = who.nav()
    if not pages:
        raise Forbidden("your roles open no page of the console", why="no-console-page")
    return RedirectResponse(pages[0][0], status_code=303)


async def _login_required(request: Request, exc: Exception) -> Response:
    return to_login(request)


async def _garrison_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GarrisonError)
    status = status_for(exc)
    message = exc.message if status < 500 else "The server could not complete this request."
    if status >= 500:
        log.error("console-error", code=exc.code, error=exc.message)
    headers = {}
    if isinstance(exc, LimitExceeded) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    response = render(request, "error.html", None, status=status, code=exc.code,
                      message=message)
    response.headers.update(headers)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "invalid-input")
    message = {404: "There is no such page.", 405: "This page does not accept that method."}
    return render(request, "error.html", None, status=exc.status_code, code=code,
                  message=message.get(exc.status_code, "The request was not understood."))


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("console-unhandled-exception", path=request.url.path, exc_info=exc)
    return render(request, "error.html", None, status=500, code="internal-error",
                  message="The server could not complete this request.")


def create_console(services: ConsoleServices, *, oidc: OIDCClient | None = None
                   ) -> Starlette:
    """The console over ``services``; ``oidc`` is a :class:`~garrison.web.console.oidc.
    OIDCClient` when sign-in with an identity provider is configured."""
    routes = [
        Route("/", home, methods=["GET"]),
        Route("/static/console.css", stylesheet, methods=["GET"]),
        *auth.ROUTES, *approvals.ROUTES, *models.ROUTES, *audit.ROUTES, *decisions.ROUTES,
        *monitoring.ROUTES, *lineage.ROUTES, *accounts.ROUTES,
    ]
    app = Starlette(routes=routes, exception_handlers={
        LoginRequired: _login_required,
        GarrisonError: _garrison_error,
        HTTPException: _http_error,
        Exception: _internal_error,
    })
    app.router.redirect_slashes = False  # Its redirects are built from the Host header.
    app.add_middleware(ConsoleHeaders)
    app.state.console = ConsoleConfig(services=services, renderer=Renderer(services.clock),
                                      oidc=oidc)
    return app
