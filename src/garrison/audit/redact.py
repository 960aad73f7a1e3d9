"""Redaction of audit payloads: secrets never reach the audit trail.

A value is replaced by ``"[redacted]"`` when its key looks like a secret
(``password``, ``secret``, ``token``, ``api_key``, ``authorization``, ...) or when
the value itself looks like a Garrison API key or a bearer token.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "redact"]

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|authorization|private[_-]?key|"
    r"credential|cookie|session|signature_key|master[_-]?key)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(gk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}|Bearer\s+\S+|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.)"
)
_MAX_DEPTH = 8
_MAX_STRING = 2000


def _value(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return "[truncated]"
    if isinstance(value, dict):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) else _value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_value(v, depth + 1) for v in value]
    if isinstance(value, str):
        text = _SECRET_VALUE.sub(REDACTED, value)
        return text if len(text) <= _MAX_STRING else text[:_MAX_STRING] + "...[truncated]"
    return value


def redact(payload: dict[str, Any]) -> dict[str, Any]:
    """Return a redacted deep copy of ``payload``."""
    result = _value(payload, 0)
    assert isinstance(result, dict)
    return result
