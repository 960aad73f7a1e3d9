"""The gateway as a real server: `garrison serve` with 2 workers sharing limits in Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import setup_demo

FEATURES = [f"f{i:02d}" for i in range(20)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, redis_url):
    import redis

    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"rate_limit": 0.001, "rate_burst": 6})
    services.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("garrison:limits:credit-risk*"):
        client.delete(key)
    port = _free_port()
    env = {**os.environ, "GARRISON_HOME": str(home), "GARRISON_REDIS_URL": redis_url,
           "GARRISON_LOG_FORMAT": "json", "GARRISON_LOG_LEVEL": "info"}
    env.pop("GARRISON_DATABASE_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "garrison", "serve", "--workers", "2", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:  # Ready means one worker answered; wait for both to have started.
            try:
                ready = httpx.get(f"{base}/v2/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready and log.read_text().count("Application startup complete") == 2:
                break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "gateway did not become ready"
            time.sleep(0.3)
        yield base, demo, proc, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for key in client.scan_iter("garrison:limits:credit-risk*"):
            client.delete(key)


@pytest.mark.slow
@pytest.mark.redis
def test_real_http_two_workers_share_the_rate_limit(server) -> None:
    base, demo, proc, log = server
    row = {n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}
    headers = {"Authorization": f"Bearer {demo.keys['scoring-app']}"}
    body = json.dumps({"instances": [row]})
    codes = []
    for _ in range(20):  # A new connection each time, so both workers take requests.
        with httpx.Client(base_url=base, timeout=10) as c:
            codes.append(c.post("/v1/models/credit-risk/predict", headers=headers,
                                content=body).status_code)
    assert codes.count(200) == 6 and codes.count(429) == 14, codes
    with httpx.Client(base_url=base, timeout=10) as c:
        assert c.post("/v1/models/credit-risk/predict", content=body).status_code == 401
        r = c.post("/v1/models/credit-risk/predict", headers=headers, content=b"{")
        assert r.status_code in (422, 429)
        assert c.get("/v2/health/live").status_code == 200
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    out = log.read_text()
    pids = {json.loads(line).get("pid") for line in out.splitlines()
            if line.startswith("{") and '"request"' in line}
    assert len(pids - {None}) == 2, "both workers should have served requests"
    assert demo.keys["scoring-app"] not in out  # secrets never reach the logs


def _start(home, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "GARRISON_HOME": str(home), "GARRISON_LOG_FORMAT": "json",
           "GARRISON_LOG_LEVEL": "info", **(extra_env or {})}
    for name in ("GARRISON_DATABASE_URL", "GARRISON_REDIS_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "garrison", "serve", "--workers", "1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code \
                    == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "gateway did not become ready"
        time.sleep(0.3)


@pytest.mark.slow
def test_sigterm_drains_the_request_in_flight_and_keeps_its_decision(tmp_path) -> None:
    """A request whose body is still arriving when SIGTERM lands is answered in full;
    new connections are refused meanwhile; its decision record is flushed on exit."""
    from garrison.app import build_services
    from garrison.storage.gateway_repo import SQLDecisionStore

    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin)
    services.close()
    port = _free_port()
    proc = _start(home, port)
    try:
        row = {n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}
        body = json.dumps({"instances": [row]}).encode()
        head = (f"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                f"authorization: Bearer {demo.keys['scoring-app']}\r\n"
                f"content-type: application/json\r\nx-request-id: drain-1\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(head + body[:40])
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.time() + 10
            while time.time() < deadline:  # The listener closes first ...
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the gateway still accepted connections after SIGTERM")
            time.sleep(1.5)  # A slow client: the drain must wait for it, not cut it off.
            assert proc.poll() is None  # ... while the request in flight holds the exit.
            sock.sendall(body[40:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 200"), answer[:500]
        payload = json.loads(rest.partition(b"\r\n\r\n")[2])
        assert payload["request_id"] == "drain-1" and len(payload["predictions"]) == 1
        out = proc.communicate(timeout=40)[0].decode()
        assert proc.returncode in (0, -signal.SIGTERM), out[-2000:]
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    services = build_services(settings)
    try:
        record = SQLDecisionStore(services.store).get("drain-1")
    finally:
        services.close()
    assert record.caller == "scoring-app" and record.model == "credit-risk"
