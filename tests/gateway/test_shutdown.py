"""Graceful scaling: SIGTERM fails readiness, keeps serving, drains, flushes; in-flight gauge."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import time
from dataclasses import dataclass

import httpx
import pytest

from garrison.gateway.shutdown import GracefulShutdown, InFlightCounter

from .conftest import auth
from .serving import free_port, gateway_env, start, stop

FEATURES = [f"f{i:02d}" for i in range(20)]


@dataclass
class _State:
    draining: bool = False


# -- the pieces, in-process ----------------------------------------------------------------
def test_in_flight_counts_work_but_not_probes_or_scrapes() -> None:
    shutdown = GracefulShutdown(_State(), delay=0)
    gate = asyncio.Event()
    seen: list[int] = []

    async def app(scope, receive, send):
        seen.append(shutdown.in_flight)
        if scope["path"] == "/slow":
            await gate.wait()

    counter = InFlightCounter(app, shutdown)

    async def main() -> None:
        slow = [asyncio.create_task(counter({"type": "http", "path": "/slow"}, None, None))
                for _ in range(3)]
        await asyncio.sleep(0)
        assert shutdown.in_flight == 3
        for path in ("/v2/health/ready", "/v2/health/live", "/metrics"):
            await counter({"type": "http", "path": path}, None, None)
        assert shutdown.in_flight == 3 and seen[-3:] == [3, 3, 3]
        await counter({"type": "lifespan", "path": ""}, None, None)
        gate.set()
        await asyncio.gather(*slow)
        assert shutdown.in_flight == 0

    asyncio.run(main())


def test_sigterm_fails_readiness_first_and_hands_over_once_after_the_delay() -> None:
    state = _State()
    events: list[str] = []
    original = signal.getsignal(signal.SIGTERM)

    def server_handler(signum, frame) -> None:  # Plays uvicorn's handle_exit.
        events.append(f"server:draining={state.draining}")

    async def main() -> None:
        shutdown = GracefulShutdown(state, delay=0.3)
        assert shutdown.install()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        events.append(f"after-signal:draining={state.draining}")
        os.kill(os.getpid(), signal.SIGTERM)  # Repeated: changes nothing.
        while not any(e.startswith("server") for e in events):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.4)
        shutdown.uninstall()
        assert signal.getsignal(signal.SIGTERM) is server_handler

    signal.signal(signal.SIGTERM, server_handler)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, original)
    assert events == ["after-signal:draining=True", "server:draining=True"]


def test_nothing_is_taken_over_without_a_delay_or_a_server_handler() -> None:
    original = signal.getsignal(signal.SIGTERM)

    async def main() -> None:
        assert GracefulShutdown(_State(), delay=0).install() is False
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert GracefulShutdown(_State(), delay=5).install() is False
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, original)
    with pytest.raises(ValueError):
        GracefulShutdown(_State(), delay=-1)


def test_readiness_fails_while_draining_and_liveness_holds(gateway) -> None:
    client, state, demo, _ = gateway
    assert client.get("/v2/health/ready").status_code == 200
    state.draining = True
    assert client.get("/v2/health/ready").json() == {"ready": False}
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/health/live").status_code == 200
    row = {n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}
    r = client.post("/v1/models/credit-risk/predict", headers=auth(demo.keys["scoring-app"]),
                    content=json.dumps({"instances": [row]}))
    assert r.status_code == 200  # Still serving: the routing has not caught up yet.


# -- the real server -------------------------------------------------------------------
def _partial_request(port: int, body: bytes, key: str, rid: str) -> socket.socket:
    head = (f"POST /v1/models/credit-risk/predict HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
            f"x-request-id: {rid}\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + body[:40])
    return sock


def _finish(sock: socket.socket, body: bytes) -> bytes:
    sock.sendall(body[40:])
    answer = b""
    while not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    sock.close()
    return answer


def _inflight(base: str, key: str) -> float:
    text = httpx.get(f"{base}/metrics", headers=auth(key), timeout=10).text
    return float(re.search(r"(?m)^garrison_inflight_requests (\S+)$", text).group(1))


@pytest.mark.slow
def test_sigterm_keeps_serving_for_the_delay_then_drains_and_flushes(tmp_path) -> None:
    from garrison.app import build_services, initialize
    from garrison.config import load_settings
    from garrison.demo import setup_demo

    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin)
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    proc = start(["-m", "garrison", "serve", "--port", str(port)],
                 gateway_env(tmp_path / "home", GARRISON_SHUTDOWN_DELAY="4",
                             GARRISON_DRAIN_TIMEOUT="20"), port, log)
    key, auditor = demo.keys["scoring-app"], demo.keys["carol"]
    body = json.dumps({"instances": [{n: float(demo.X[0, j])
                                      for j, n in enumerate(FEATURES)}]}).encode()
    served: list[str] = []
    try:
        held = _partial_request(port, body, key, "held-1")  # In flight across the SIGTERM.
        deadline = time.monotonic() + 10
        while _inflight(base, auditor) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _inflight(base, auditor) == 1.0
        os.kill(proc.pid, signal.SIGTERM)
        ready = 200
        deadline = time.monotonic() + 10
        while ready == 200 and time.monotonic() < deadline:
            ready = httpx.get(f"{base}/v2/health/ready", timeout=5).status_code
        assert ready == 503  # Readiness fails first ...
        with httpx.Client(base_url=base, timeout=10) as client:  # ... new connections still
            for i in range(3):                                   # get served meanwhile.
                r = client.post("/v1/models/credit-risk/predict", headers={
                    **auth(key), "x-request-id": f"late-{i}"}, content=body)
                assert r.status_code == 200, r.text
                served.append(r.json()["request_id"])  # The gateway's own id: the key.
            assert client.get("/v2/health/live").status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # After the delay the listener closes ...
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the gateway still accepted connections long after the delay")
        assert proc.poll() is None  # ... while the held request keeps the worker up.
        answer = _finish(held, body)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        held_body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert held_body["client_request_id"] == "held-1"
        served.append(held_body["request_id"])
        proc.wait(40)
        out = log.read_text()
        assert proc.returncode in (0, -signal.SIGTERM), out[-2000:]
        assert "Traceback" not in out
    finally:
        stop(proc)
    services = build_services(settings)
    try:
        for rid in served:  # Every answered request left its decision record.
            record = services.decisions.fetch(demo.extra["people"]["carol"], rid)
            assert record["caller"] == "scoring-app" and record["integrity"]["verified"]
    finally:
        services.close()
