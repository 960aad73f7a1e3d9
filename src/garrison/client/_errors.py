"""Error answers of the admin API and the gateway, raised again as Garrison errors.

Both servers answer errors as ``{"error": {"code", "message", "request_id", ...}}``,
or on the Open Inference Protocol routes as the protocol's ``{"error": message}`` with
``code`` and ``request_id`` beside it; the code names a class of :mod:`garrison.errors`.
A code this release does not know, and an answer that is not a Garrison error at all
(a proxy's HTML page), become the base :class:`~garrison.errors.GarrisonError`, with
the HTTP status in ``detail``.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx

from garrison.errors import (
    AuditChainBroken,
    GarrisonError,
    LimitExceeded,
    ModelUnavailable,
    all_error_classes,
)

__all__ = ["error_from_response", "retry_after_seconds"]

_BY_CODE: dict[str, type[GarrisonError]] = {cls.code: cls for cls in all_error_classes()}
#: Fields of a gateway validation error that name where the problem is (never a value).
_WHERE = ("field", "row", "problem")


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The ``Retry-After`` header as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN.
        return None
    return max(0.0, seconds)


def error_from_response(response: httpx.Response) -> GarrisonError:
    """The Garrison error an error answer stands for."""
    status = response.status_code
    rid = response.headers.get("x-request-id", "")
    try:
        body = response.json()
        info = body["error"]
        if isinstance(info, str):  # The OIP v2 shape: the message, Garrison's fields beside.
            info = {**body, "message": info}
        code, message = str(info["code"]), str(info["message"])
        rid = str(info.get("request_id") or rid)
    except (ValueError, KeyError, TypeError):
        return GarrisonError(f"the server answered HTTP {status} without a Garrison error",
                             status=status, request_id=rid)
    cls = _BY_CODE.get(code, GarrisonError)
    extra: dict[str, Any] = {"status": status, "request_id": rid}
    for key in _WHERE:
        if isinstance(info, dict) and info.get(key) is not None:
            extra[key] = info[key]
    if cls is GarrisonError:
        extra["server_code"] = code
    if issubclass(cls, AuditChainBroken):
        return cls(message, position=int(info.get("position") or 0),
                   reason=str(info.get("reason") or ""), **extra)
    if issubclass(cls, LimitExceeded | ModelUnavailable):
        return cls(message, retry_after=retry_after_seconds(response), **extra)
    return cls(message, **extra)
