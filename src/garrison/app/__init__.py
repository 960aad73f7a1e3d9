"""The composition root: the only place that names concrete classes.

``build_services(settings)`` wires storage, keys and workflows for an initialized
home into one :class:`Services`; the CLI, the admin API and the gateway all go
through it. ``build_gateway`` and ``serve_admin`` wire the two servers over those
services. Modules:

* ``services``: :class:`Services` and ``build_services``;
* ``home``: ``initialize`` (``garrison init``) and the ``garrison db`` helpers;
* ``keys``: the key material of a home and the sealed artifact store;
* ``process``: logging and native thread pools;
* ``secrets``: the key directory a deployment mounts from a Secret;
* ``gateway``: the gateway's object graph, its uvicorn factory and runner;
* ``admin``: the admin API's runner.

The servers' modules load on first use, so a CLI command that serves nothing does
not import the web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from garrison.app.home import database_revisions, initialize, upgrade_database
from garrison.app.keys import artifact_store
from garrison.app.process import configure_logging, limit_native_threads
from garrison.app.services import Services, build_services
from garrison.storage.audit_log import read_witness

if TYPE_CHECKING:
    from garrison.app.admin import build_console_oidc, serve_admin, tls_options
    from garrison.app.gateway import build_gateway, gateway_app, gateway_openapi, serve_gateway
    from garrison.app.secrets import check_key_set, create_key_set

__all__ = [
    "Services",
    "artifact_store",
    "build_console_oidc",
    "build_gateway",
    "build_services",
    "check_key_set",
    "configure_logging",
    "create_key_set",
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
_SECRETS = ("check_key_set", "create_key_set")
_ADMIN = ("build_console_oidc", "serve_admin", "tls_options")


def __getattr__(name: str) -> Any:
    if name in _GATEWAY:
        from garrison.app import gateway

        return getattr(gateway, name)
    if name in _ADMIN:
        from garrison.app import admin

        return getattr(admin, name)
    if name in _SECRETS:
        from garrison.app import secrets

        return getattr(secrets, name)
    raise AttributeError(f"module 'garrison.app' has no attribute {name!r}")
