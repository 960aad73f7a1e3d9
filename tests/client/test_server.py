"""One real server: `admin-serve` in its own process (uvicorn on a free loopback port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from garrison.app import initialize
from garrison.client import GarrisonClient
from garrison.config import load_settings
from tests.web.helpers import model_bytes

SERVE = "from garrison.cli.web import admin_serve_command as c; c(prog_name='admin-serve')"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path):
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, _, key = initialize(settings, "root")
    services.close()
    return settings.home, key.secret


#: How long a test waits for the server before calling it hung: it catches a server that
#: never starts or never answers, never a slow machine (start-up speed lives in bench/).
HANG_GUARD = 120


def _wait_for_health(proc: subprocess.Popen[str], base: str) -> None:
    """Return once ``base`` answers its health check; fail if the process exits first."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        try:
            if httpx.get(base + "/admin/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never answered in {HANG_GUARD} s (hung?)")
        time.sleep(0.1)


def test_admin_serve_answers_the_sdk_and_stops(home) -> None:
    path, secret = home
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GARRISON_")}
    env.update(GARRISON_HOME=str(path), GARRISON_LOG_FORMAT="json")
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(proc, base)
        with GarrisonClient(base, secret, timeout=10) as client:
            assert client.health()
            v = client.register("fraud", model_bytes(), filename="model.pkl")
            assert (v.ref, v.registrant) == ("fraud:1", "root")
            assert [x.ref for x in client.list_versions()] == ["fraud:1"]
        answer = httpx.get(base + "/admin/models", headers={"X-Request-ID": "probe-1"})
        assert answer.status_code == 401 and answer.headers["x-request-id"] == "probe-1"
        assert "server" not in answer.headers
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Finished server process" in err
    assert secret not in out + err
    assert '"request_id": "probe-1"' in err and "Traceback" not in err


def test_admin_serve_has_the_gateway_guards(home, tmp_path) -> None:
    """The admin API is served like the gateway: a connection that never finishes its
    headers is closed with 408, and a TLS key others can read is refused up front."""
    path, secret = home
    env = {k: v for k, v in os.environ.items() if not k.startswith("GARRISON_")}
    env.update(GARRISON_HOME=str(path), GARRISON_HEADER_TIMEOUT="1")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_text("not really a key"), cert.write_text("not really a cert")
    key.chmod(0o644)
    refused = subprocess.run([sys.executable, "-c", SERVE, "--ssl-certfile", str(cert),
                              "--ssl-keyfile", str(key)], env=env, capture_output=True,
                             text=True, timeout=3 * HANG_GUARD)
    assert refused.returncode == 2 and "0600" in refused.stderr
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_health(proc, f"http://127.0.0.1:{port}")
        # The socket's timeout is a hang guard: the server's own 1 s deadline answers.
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as sock:
            sock.sendall(b"GET /admin/models HTTP/1.1\r\nhost: x\r\n")  # ... and stop.
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408")
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
