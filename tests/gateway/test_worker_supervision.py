"""Worker start-up and death with `garrison serve --workers 2` (issue 11 finding 6, issue 12).

Each worker logs how long its start took and what it serves; a worker that dies is
replaced and the log says why (here: SIGKILL); the health-check timeout is the
setting's, not uvicorn's 5 s.
"""

from __future__ import annotations

import os
import re
import signal

import httpx
import pytest

from garrison.app import initialize
from garrison.app.workers import death_reason
from garrison.config import load_settings
from garrison.demo import setup_demo
from tests.waiting import HANG_GUARD, eventually

from .serving import free_port, gateway_env, start, stop


def test_death_reasons_are_words() -> None:
    assert death_reason(-signal.SIGKILL, 60).startswith("it was killed by SIGKILL")
    assert death_reason(-signal.SIGSEGV, 60) == "it was killed by SIGSEGV"
    assert death_reason(1, 60) == "it exited with code 1"
    assert "failed to start" in death_reason(3, 60)
    hung = death_reason(None, 90)
    assert "within 90 s" in hung and "GARRISON_WORKER_HEALTHCHECK_TIMEOUT" in hung


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_log_says_why(tmp_path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, root = initialize(settings, "root")
    setup_demo(services, admin)
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    proc = start(["-m", "garrison", "serve", "--port", str(port), "--workers", "2"],
                 gateway_env(home, GARRISON_WORKER_HEALTHCHECK_TIMEOUT="120"), port, log,
                 workers=2)
    try:
        started = re.findall(r"gateway worker (\d+) ready in [0-9.]+ s: 1 models serve, "
                             r"0 cannot", log.read_text())
        assert len(started) == 2, log.read_text()[-2000:]
        victim = int(started[0])
        os.kill(victim, signal.SIGKILL)
        # The supervisor looks every 0.5 s, pinging the live worker first: on a machine
        # loaded by other jobs that ping alone can take long, hence the wider guard.
        eventually(lambda: f"gateway worker {victim} stopped: it was killed by SIGKILL"
                   in log.read_text(), "the supervisor says why the worker died",
                   guard=3 * HANG_GUARD)
        eventually(lambda: len(re.findall(r"gateway worker \d+ ready in", log.read_text()))
                   == 3, "the replacement starts", guard=3 * HANG_GUARD)
        assert re.search(rf"gateway worker {victim} replaced by \d+", log.read_text())
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200
        # The dead worker left the live gauges: two workers, as before.
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics",
                            headers={"Authorization": f"Bearer {root.secret}"}).text
        assert re.search(r"^garrison_workers 2\.0$", metrics, re.M), metrics[-1500:]
        assert "Child process" not in log.read_text() or "died" not in log.read_text()
    finally:
        stop(proc)


def test_a_worker_that_dies_during_the_ping_is_seen_at_once() -> None:
    """uvicorn waits the whole health-check timeout for a worker killed mid-ping (the
    parent holds both ends of the pipe); the supervisor looks at the process instead."""
    from types import SimpleNamespace

    from garrison.app.workers import _answers

    class Silent:
        sent: list[bytes] = []
        polls = 0

        def send(self, data: bytes) -> None:
            self.sent.append(data)

        def poll(self, timeout: float) -> bool:
            Silent.polls += 1
            return False

    alive = {"now": True}
    process = SimpleNamespace(parent_conn=Silent(),
                              process=SimpleNamespace(is_alive=lambda: alive["now"]))
    alive["now"] = False  # Killed right after the ping went out.
    assert _answers(process, 600) is False  # type: ignore[arg-type]
    assert Silent.sent == [b"ping"] and Silent.polls == 1  # Not 1,200 half-second polls.
