"""The supervisor of ``garrison serve --workers N``: uvicorn's, saying why a worker died.

uvicorn's supervisor pings each worker and replaces one that is dead or does not
answer within ``timeout_worker_healthcheck`` seconds, logging only "Child process
died". This one logs the reason (the exit code, the signal that killed it, or the
unanswered health check and the timeout), takes the dead worker's live gauges out of
the shared metrics, and gets its timeout from ``GARRISON_WORKER_HEALTHCHECK_TIMEOUT``
(a worker answers pings while it loads its models, but a slow start on a loaded
machine must not be mistaken for a hang: issue 11, finding 6).
"""

from __future__ import annotations

import logging
import pickle
import signal
import time

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from garrison.gateway.metrics import worker_exited

__all__ = ["GatewaySupervisor", "death_reason"]

log = logging.getLogger("garrison.gateway")


def death_reason(exitcode: int | None, timeout: float) -> str:
    """Why a worker is being replaced, in words."""
    if exitcode is None:
        return (f"it did not answer the health check within {timeout:g} s (hung, or "
                f"still starting: raise GARRISON_WORKER_HEALTHCHECK_TIMEOUT); killed")
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's OOM killer sends SIGKILL)" if -exitcode == signal.SIGKILL else ""
        return f"it was killed by {name}{hint}"
    if exitcode == STARTUP_FAILURE:
        return f"it failed to start (exit code {exitcode}; its error is logged above)"
    return f"it exited with code {exitcode}"


def _answers(process: Process, timeout: float) -> bool:
    """Ping the worker; stop waiting as soon as it is dead. (uvicorn waits the whole
    timeout for a worker killed mid-ping: the parent holds both ends of the pipe, so the
    death never reads as end-of-file.)"""
    conn = process.parent_conn
    try:
        conn.send(b"ping")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if conn.poll(0.5):
                conn.recv()
                return True
            if not process.process.is_alive():
                return False
    except (OSError, EOFError, pickle.UnpicklingError):
        return False
    return False


class GatewaySupervisor(Multiprocess):
    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        timeout = self.config.timeout_worker_healthcheck
        for idx, process in enumerate(self.processes):
            if process.process.is_alive() and _answers(process, timeout):
                continue
            pid = process.pid
            # Dead (perhaps during the ping): its exit code; alive: it did not answer.
            exitcode = None if process.process.is_alive() else process.exitcode
            process.kill()
            process.join()
            log.error("gateway worker %s stopped: %s", pid,
                      death_reason(exitcode, timeout))
            if pid is not None:
                worker_exited(pid)
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving: the app, TLS or socket is broken and would
                # fail the same way on every restart (uvicorn's own rule).
                log.error("gateway worker %s failed to start; stopping the gateway", pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement
            log.warning("gateway worker %s replaced by %s", pid, replacement.pid)
