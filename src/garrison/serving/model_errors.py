"""Every failure of a model to answer is visible: logged, counted, and recorded.

The caller still gets the fallback or an opaque 503 (``gateway/errors.py``); the
operator gets, for each failure, a log line with the request id, the model, the
version, the kind and the exception's type and message (its traceback too at debug
level, at most five a minute per model, version and kind, so a model failing on every
request cannot flood the log), and a count in
``garrison_model_errors_total{model,version,kind}``. The decision record names the
kind too (``DecisionRecord.fallback``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from garrison.errors import CircuitOpen, GarrisonError, ModelTimeout, Overloaded
from garrison.types import Clock

__all__ = ["KINDS", "ModelErrorLog", "error_kind"]

log = logging.getLogger("garrison.models")

#: The kinds of model failure, as counted.
KINDS = ("exception", "timeout", "circuit-open", "bad-output")

#: Full tracebacks per (model, version, kind) and minute; the rest are one line each.
_TRACEBACKS_PER_MINUTE = 5


class _Counts(Protocol):
    def model_error(self, model: str, version: int, kind: str) -> None: ...


def error_kind(exc: BaseException) -> str | None:
    """The kind of model failure ``exc`` is, or ``None`` when the model is not to blame
    (the gateway shed the load)."""
    if isinstance(exc, Overloaded):
        return None
    if isinstance(exc, ModelTimeout):
        return "timeout"
    if isinstance(exc, CircuitOpen):
        return "circuit-open"
    if isinstance(exc, GarrisonError):
        return "bad-output"  # The model answered something the gateway cannot serve.
    return "exception"


class ModelErrorLog:
    """Logs and counts model failures; see the module docstring."""

    def __init__(self, counts: _Counts, clock: Clock) -> None:
        self._counts = counts
        self._clock = clock
        self._window: dict[tuple[str, int, str], list[float]] = {}

    def report(self, model: str, version: int, exc: BaseException, request_id: str,
               ) -> str | None:
        """Count and log one failure; returns its kind (``None``: not the model's)."""
        kind = error_kind(exc)
        if kind is None:
            return None
        self._counts.model_error(model, version, kind)
        now = self._clock.now().timestamp()
        key = (model, version, kind)
        entry = self._window.get(key)
        if entry is None or now - entry[0] >= 60:
            if len(self._window) > 10_000:
                self._window.clear()
            entry = self._window[key] = [now, 0.0]
        entry[1] += 1
        detail: dict[str, Any] = {
            "request_id": request_id, "model": model, "version": version, "kind": kind,
            "error": type(exc).__name__, "detail": str(exc)[:300]}
        traceback = kind == "exception" and entry[1] <= _TRACEBACKS_PER_MINUTE \
            and log.isEnabledFor(logging.DEBUG)
        log.error("model error: %s:%s %s (%s: %s) request %s", model, version, kind,
                  type(exc).__name__, str(exc)[:300], request_id, extra=detail,
                  exc_info=exc if traceback else None)
        return kind
