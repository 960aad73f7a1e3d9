"""The admin HTTP API: the registry and the audit trail over JSON, for scripts and the
dashboard. ``create_web_app(services)`` builds it; ``garrison admin-serve`` runs it."""

from garrison.web.app import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    OPENAPI_PATH,
    create_web_app,
    operations,
)
from garrison.web.errors import HTTP_ONLY_CODES, STATUS, status_for
from garrison.web.openapi import Operation, build_openapi

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "HTTP_ONLY_CODES",
    "OPENAPI_PATH",
    "STATUS",
    "Operation",
    "build_openapi",
    "create_web_app",
    "operations",
    "status_for",
]
