"""The composition root: the only place that names concrete classes.

``build_services(settings)`` wires storage, keys and workflows for an initialized
home into one :class:`Services`; the CLI, the admin API and the gateway all go
through it. ``build_gateway`` and ``serve_admin`` wire the two servers over those
services. Modules:

* ``services``: :class:`Services`, ``build_services``, ``initialize``, ``db`` helpers;
* ``process``: logging and native thread pools;
* ``gateway``: the gateway's object graph, its uvicorn factory and runner;
* ``admin``: the admin API's runner.

The servers' modules load on first use, so a CLI command that serves nothing does
not import the web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from garrison.app.process import configure_logging, limit_native_threads
from garrison.app.services import (
    Services,
    build_services,
    database_revisions,
    initialize,
    read_witness,
    upgrade_database,
)

if TYPE_CHECKING:
    from garrison.app.admin import build_console_oidc, serve_admin, tls_options
    from garrison.app.gateway import build_gateway, gateway_app, gateway_openapi, serve_gateway

__all__ = [
    "Services",
    "build_console_oidc",
    "build_gateway",
    "build_services",
    "configure_logging",
    "database_revisions",
    "gateway_app",
    "gateway_openapi",
    "initialize",
    "limit_native_threads",
    "read_witness",
    "serve_admin",
    "serve_gateway",
    "tls_options",
    "upgrade_database",
]

_GATEWAY = ("build_gateway", "gateway_app", "gateway_openapi", "serve_gateway")
_ADMIN = ("build_console_oidc", "serve_admin", "tls_options")


def __getattr__(name: str) -> Any:
    if name in _GATEWAY:
        from garrison.app import gateway

        return getattr(gateway, name)
    if name in _ADMIN:
        from garrison.app import admin

        return getattr(admin, name)
    raise AttributeError(f"module 'garrison.app' has no attribute {name!r}")
