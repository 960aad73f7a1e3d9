"""``create_web_app(services)``: the admin JSON API as a Starlette application.

The app only adapts HTTP to the services built by ``garrison.app.build_services``;
it holds no state of its own beyond its limits. Layers, outermost first:
request id + security headers + last-resort 500 -> body-size cap -> Starlette's
exception middleware (the error table) -> router.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from garrison.errors import GarrisonError
from garrison.web._http import AdminConfig, AdminServices, reply
from garrison.web.errors import garrison_error_handler, http_exception_handler
from garrison.web.middleware import BodyLimitMiddleware, PathRedirect, RequestContextMiddleware
from garrison.web.openapi import Operation, build_openapi
from garrison.web.routes import audit, gates, models
from garrison.web.schemas import HealthOut

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "OPENAPI_PATH",
    "create_web_app",
    "operations",
]

#: Largest artifact upload (request body) accepted by default: 2 GiB.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
#: Largest body of any other request (JSON): 1 MiB. Also caps upload metadata.
DEFAULT_MAX_BODY_BYTES = 1024**2
OPENAPI_PATH = "/admin/openapi.json"


async def health(request: Request) -> Response:
    """Liveness: answers without credentials and without touching the database."""
    return reply(HealthOut(status="ok"))


async def openapi(request: Request) -> Response:
    """This document."""
    body: bytes = request.app.state.openapi
    return Response(body, media_type="application/json")


def operations() -> list[Operation]:
    """Every endpoint of the admin API, in documentation order."""
    return [
        Operation("GET", "/admin/health", health, "health", "Liveness", "meta",
                  response=HealthOut, auth=False, errors=()),
        Operation("GET", OPENAPI_PATH, openapi, "openapi", "OpenAPI document", "meta",
                  auth=False, errors=()),
        *models.OPERATIONS,
        *gates.OPERATIONS,
        *audit.OPERATIONS,
    ]


def create_web_app(
    services: AdminServices,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    upload_dir: Path | None = None,
    console: bool = True,
    oidc: Any = None,
) -> Starlette:
    """The admin API over ``services``; the caller owns (and closes) the services.

    ``upload_dir`` holds uploads while they are scanned (default ``HOME/uploads``,
    mode 0700); each upload is deleted when its request ends, accepted or not.
    With ``console`` (the default) the web console is served under ``/console/``;
    ``oidc`` is its OIDC client when sign-in with an identity provider is configured.
    """
    if max_upload_bytes < 1 or max_body_bytes < 1:
        raise ValueError("body limits must be positive")
    ops = operations()
    routes: list[Any] = [Route(op.path, op.endpoint, methods=[op.method],
                               name=op.operation_id) for op in ops]
    if console:
        from garrison.web.console import ConsoleServices, create_console

        # ``garrison.app.Services`` is both AdminServices and ConsoleServices. ``/console``
        # itself is redirected to ``/console/`` by ``PathRedirect`` (a path, not a URL
        # built from the Host header, which is why the router's slash redirects are off).
        console_app = create_console(cast(ConsoleServices, services), oidc=oidc)
        routes.append(Mount("/console", app=console_app))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestContextMiddleware),
            *([Middleware(PathRedirect, targets={"/console": "/console/"})] if console
              else []),
            Middleware(BodyLimitMiddleware, max_bytes=max_body_bytes),
        ],
        exception_handlers={
            GarrisonError: garrison_error_handler,
            HTTPException: http_exception_handler,
        },
    )
    app.router.redirect_slashes = False
    app.state.garrison = AdminConfig(
        services=services, max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes,
        upload_dir=upload_dir or services.settings.home / "uploads",
    )
    app.state.openapi = json.dumps(build_openapi(ops), sort_keys=True).encode()
    return app
