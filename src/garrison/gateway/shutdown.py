"""Graceful scaling of a gateway worker: in-flight accounting and an orderly SIGTERM.

Scale-in (Kubernetes scale-down, rolling update, node drain) sends SIGTERM. Stopping
at once would drop requests: endpoints, kube-proxy rules and load balancers take a
few seconds to stop routing to the pod, and a closed listener turns every request
still on its way into a connection error. So on SIGTERM a worker:

1. fails readiness (``/v2/health/ready`` answers 503) at once;
2. keeps serving for ``delay`` seconds, while the routing catches up;
3. then hands over to uvicorn, which stops accepting, closes idle keep-alive
   connections and waits up to ``drain_timeout`` for the requests in flight;
4. then the lifespan's shutdown flushes decision records, audit events and alerts;
5. and the process exits.

Repeated SIGTERMs change nothing (a process-group kill and uvicorn's supervisor
both send one to each worker). SIGINT (Ctrl-C) keeps uvicorn's immediate graceful
stop, and a second SIGINT forces the exit. Scale-out needs nothing here: uvicorn runs the lifespan's
startup (every served model loaded and verified) before it opens its listener, and
readiness stays 503 until then.

:class:`GracefulShutdown` also counts the requests in flight (health checks and
metric scrapes excluded), exported as the ``garrison_inflight_requests`` gauge that
the chart's autoscaler can scale on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

__all__ = ["GracefulShutdown", "InFlightCounter"]

log = logging.getLogger("garrison.gateway")

#: Paths that are not work: probes and scrapes never count as requests in flight.
_NOT_WORK = ("/v2/health/", "/metrics")


class InFlightCounter:
    """ASGI middleware: counts the HTTP requests in progress on this worker."""

    def __init__(self, app: Any, shutdown: GracefulShutdown) -> None:
        self.app = app
        self._shutdown = shutdown

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NOT_WORK):
            await self.app(scope, receive, send)
            return
        self._shutdown.in_flight += 1  # One event loop per worker: no lock needed.
        try:
            await self.app(scope, receive, send)
        finally:
            self._shutdown.in_flight -= 1


class GracefulShutdown:
    """Takes SIGTERM over from the server for one worker; see the module docstring.

    ``state`` is the gateway's state (its ``draining`` flag fails readiness).
    :meth:`install` runs in the lifespan's startup, :meth:`uninstall` in its shutdown.
    """

    def __init__(self, state: Any, *, delay: float) -> None:
        if delay < 0:
            raise ValueError("the shutdown delay cannot be negative")
        self.state = state
        self.delay = delay
        self.in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._terminating = False
        self._handed_over = False

    def install(self) -> bool:
        """Route SIGTERM here; True when installed.

        Nothing to do without a delay, off the main thread (signals reach the main
        thread only), or when no server handler is there to hand over to.
        """
        if self.delay <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False
        self._loop = asyncio.get_running_loop()
        self._previous = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)
        return True

    def uninstall(self) -> None:
        """Give SIGTERM back to the server (only if this object still holds it)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._previous is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        # A signal handler: set a flag and wake the loop, nothing more.
        assert self._loop is not None
        if self._terminating:
            return
        self._terminating = True
        self.state.draining = True
        self._loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        assert self._loop is not None
        log.warning("SIGTERM: not ready any more; serving %.1f s longer before draining",
                    self.delay)
        self._timer = self._loop.call_later(self.delay, self._hand_over)

    def _hand_over(self) -> None:
        if self._handed_over:
            return
        self._handed_over = True
        if self._timer is not None:
            self._timer.cancel()
        log.warning("draining %d request(s) in flight", self.in_flight)
        self._previous(signal.SIGTERM, None)  # uvicorn: stop accepting, drain, shut down.
