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


def configure_logging(settings: Settings, *, stdlib: bool = False) -> None:
    """structlog to stderr, JSON or console, with secrets redacted from every event.

    With ``stdlib`` (the gateway's workers), the standard-library loggers under
    ``garrison`` (model errors, models that cannot serve, table reloads, worker
    start-up) go the same way at the same level, their ``extra`` fields included.
    """
    level = getattr(logging, settings.log_level.upper())
    json_logs = settings.log_format == "json"
    renderer = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    if stdlib:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name,
                               structlog.stdlib.ExtraAdder(),
                               structlog.processors.add_log_level,
                               structlog.processors.TimeStamper(fmt="iso", utc=True)],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        *([structlog.processors.format_exc_info] if json_logs else []),
                        _mask_secrets, renderer]))
        package = logging.getLogger("garrison")
        package.handlers = [handler]
        package.setLevel(level)
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
