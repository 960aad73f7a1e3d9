"""The gateway as a real server: `garrison serve` with 2 workers sharing limits in Redis."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import httpx
import pytest

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import setup_demo
from tests.waiting import HANG_GUARD

from .serving import free_port, gateway_env, start, stop

FEATURES = [f"f{i:02d}" for i in range(20)]
SERVE = ["-m", "garrison", "serve", "--port"]


@pytest.fixture
def server(tmp_path, redis_url):
    import redis

    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    # A model name of its own: Redis is shared, and the limiter keys carry the name.
    demo = setup_demo(services, admin, model=f"credit-risk-{os.urandom(4).hex()}",
                      config={"rate_limit": 0.001, "rate_burst": 6})
    services.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"garrison:limits:{demo.model}*"):
        client.delete(key)
    port, log = free_port(), tmp_path / "server.log"
    proc = start([*SERVE, str(port), "--workers", "2"],
                 gateway_env(home, GARRISON_REDIS_URL=redis_url), port, log, workers=2)
    try:
        yield f"http://127.0.0.1:{port}", demo, proc, log
    finally:
        stop(proc)
        for key in client.scan_iter(f"garrison:limits:{demo.model}*"):
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
            codes.append(c.post(f"/v1/models/{demo.model}/predict", headers=headers,
                                content=body).status_code)
    assert codes.count(200) == 6 and codes.count(429) == 14, codes
    with httpx.Client(base_url=base, timeout=10) as c:
        assert c.post(f"/v1/models/{demo.model}/predict", content=body).status_code == 401
        r = c.post(f"/v1/models/{demo.model}/predict", headers=headers, content=b"{")
        assert r.status_code in (422, 429)
        assert c.get("/v2/health/live").status_code == 200
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)
    out = log.read_text()
    pids = {json.loads(line).get("pid") for line in out.splitlines()
            if line.startswith("{") and '"request"' in line}
    assert len(pids - {None}) == 2, "both workers should have served requests"
    assert demo.keys["scoring-app"] not in out  # secrets never reach the logs


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
    port, log = free_port(), tmp_path / "server.log"
    proc = start([*SERVE, str(port)], gateway_env(home), port, log)
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
            deadline = time.time() + HANG_GUARD
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
        # The client's id is echoed; the record is keyed by the gateway's own id.
        assert payload["client_request_id"] == "drain-1" and len(payload["predictions"]) == 1
        assert payload["request_id"] != "drain-1"
        proc.wait(40)
        out = log.read_text()
        assert proc.returncode in (0, -signal.SIGTERM), out[-2000:]
        assert "Traceback" not in out
    finally:
        stop(proc)
    services = build_services(settings)
    try:
        record = SQLDecisionStore(services.store).get(payload["request_id"])
    finally:
        services.close()
    assert record.caller == "scoring-app" and record.model == "credit-risk"
    assert record.client_request_id == "drain-1"
