"""Process set-up shared by every entry point: logging and native thread pools."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from garrison.audit import redact
from garrison.config import Settings
from garrison.gateway.access_log import configure_access_log

__all__ = ["configure_logging", "limit_native_threads"]


def _mask_secrets(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return redact(dict(event))


def configure_logging(settings: Settings) -> None:
    """structlog to stderr, JSON or console, with secrets redacted from every event."""
    level = getattr(logging, settings.log_level.upper())
    renderer = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # The gateway's per-request lines skip structlog: rendered in batches off the
    # request path, in the same format, and off entirely below info.
    configure_access_log(fmt=settings.log_format, level=settings.log_level)


def limit_native_threads(threads: int) -> None:
    """Cap the threads of BLAS / OpenMP pools (numpy, scipy, scikit-learn) in this process.

    A BLAS pool sized to every core spins after each matrix product: with one worker
    per core that is CPU burnt for nothing (measured: ~25% of the gateway's CPU).
    """
    import scipy.linalg  # noqa: F401 - scipy and scikit-learn bring their own pools:
    import sklearn.utils  # noqa: F401 - load them so that the limit reaches them too.
    from threadpoolctl import threadpool_limits

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)  # Pools that load later read these.
    threadpool_limits(threads)
