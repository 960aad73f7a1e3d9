"""Pure ASGI middleware of the admin API: request id, security headers, body-size cap.

``RequestContextMiddleware`` is the outermost layer: it gives every request an id
(``X-Request-ID``: the client's if it is a plain token of at most 64 characters,
otherwise a fresh UUID4), adds the security headers to every answer, writes one
access-log line, and turns any exception nobody handled into a bare 500 in the
canonical shape (the traceback goes to the log, never to the client).

``BodyLimitMiddleware`` caps request bodies. The cap starts at the small default
for JSON requests; an endpoint that accepts large bodies (the artifact upload) raises
it with :func:`set_body_limit` before reading. A declared ``Content-Length`` above the
cap is refused before a byte is read; a body that grows past it is refused mid-way.

``PathRedirect`` answers a few exact paths (``/console``) with a redirect whose
``Location`` is a path only. The router's own slash redirects are off: they build an
absolute URL from the ``Host`` header, which a client chooses (issue 11).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from garrison.errors import PayloadTooLarge
from garrison.web.errors import internal_error_response, log

__all__ = [
    "BODY_LIMIT_KEY",
    "SECURITY_HEADERS",
    "BodyBudget",
    "BodyLimitMiddleware",
    "PathRedirect",
    "RequestContextMiddleware",
    "accept_request_id",
    "set_body_limit",
]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BODY_LIMIT_KEY = "garrison.body_limit"

#: Sent with every answer (handlers may override any of them).
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_HSTS = "max-age=31536000"


def accept_request_id(presented: str | None) -> str:
    """The client's request id if it is a safe token, otherwise a fresh UUID4."""
    if presented is not None and _CLIENT_ID.fullmatch(presented):
        return presented
    return str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = None
        for key, value in scope.get("headers", []):
            if key == b"x-request-id":
                presented = value.decode("latin-1")
                break
        rid = accept_request_id(presented)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        https = scope.get("scheme") == "https"
        sent = {"status": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("Strict-Transport-Security", _HSTS)
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:
            log.info("client-disconnected", request_id=rid, path=scope.get("path"))
        except Exception:
            log.error("unhandled-exception", request_id=rid, path=scope.get("path"),
                      exc_info=True)
            if sent["status"]:
                raise
            await internal_error_response(rid)(scope, receive, send_with_headers)
        finally:
            log.info(
                "request", method=scope.get("method"), path=scope.get("path"),
                status=sent["status"], request_id=rid, principal=state.get("principal"),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


@dataclass
class BodyBudget:
    """The body cap of one request; endpoints may raise ``limit`` before reading."""

    limit: int
    received: int = 0


def set_body_limit(request: Request, limit: int) -> None:
    """Allow this request's body to be up to ``limit`` bytes (call before reading it)."""
    request.scope[BODY_LIMIT_KEY].limit = limit


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        budget = BodyBudget(self.max_bytes)
        scope[BODY_LIMIT_KEY] = budget
        declared = _declared_length(scope)

        def too_large() -> PayloadTooLarge:
            return PayloadTooLarge(f"the request body may be at most {budget.limit} bytes",
                                   limit=budget.limit)

        async def limited_receive() -> Message:
            if declared is not None and declared > budget.limit:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                budget.received += len(message.get("body", b""))
                if budget.received > budget.limit:
                    raise too_large()
            return message

        await self.app(scope, limited_receive, send)


class PathRedirect:
    """Redirects exact ``GET``/``HEAD`` paths to fixed local paths (``Location`` is a
    path, never built from the request's ``Host``); everything else passes through."""

    def __init__(self, app: ASGIApp, targets: dict[str, str]) -> None:
        self.app = app
        self.targets = dict(targets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.targets.get(scope.get("path", "")) if scope["type"] == "http" else None
        if target is None or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", target.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
