"""Start and stop a real gateway process for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.waiting import HANG_GUARD

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment for a gateway on ``home``: JSON logs at info,
    SQLite (no inherited database or Redis URL unless given in ``extra``)."""
    env = {**os.environ, "GARRISON_HOME": str(home), "GARRISON_LOG_FORMAT": "json",
           "GARRISON_LOG_LEVEL": "info", "PYTHONPATH": str(ROOT)}
    for name in ("GARRISON_DATABASE_URL", "GARRISON_REDIS_URL"):
        env.pop(name, None)
    env.update(extra)
    return env


def start(argv: list[str], env: dict[str, str], port: int, log: Path, *,
          workers: int = 1, timeout: float = 3 * HANG_GUARD,
          tls_ca: Path | None = None,
          health: str = "/v2/health/ready") -> subprocess.Popen[bytes]:
    """Run ``python argv`` in its own process group, output to ``log``; return once the
    gateway is ready and all ``workers`` have started (over HTTPS trusting ``tls_ca``
    when given). ``timeout`` is a hang guard: workers load and verify every model first,
    which takes what it takes on a loaded machine."""
    scheme, verify = ("https", ssl.create_default_context(cafile=str(tls_ca))) if tls_ca \
        else ("http", True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while True:
        try:
            ready = httpx.get(f"{scheme}://127.0.0.1:{port}{health}",
                              timeout=1, verify=verify).status_code == 200
        except httpx.HTTPError:
            ready = False
        # Ready means one worker answered; every worker logs its own startup.
        if ready and log.read_text().count("Application startup complete") >= workers:
            return proc
        if proc.poll() is not None or time.time() > deadline:
            stop(proc)
            raise AssertionError(f"gateway did not become ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen[bytes], timeout: float = 40) -> None:
    """SIGTERM the process group (graceful drain), SIGKILL if it outlives ``timeout``."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
