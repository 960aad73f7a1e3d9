"""Overload: a real gateway offered 3x what it can serve sheds (503 + Retry-After) instead
of queueing. Every request is answered, 200 or 503, within the deadline; none hangs; the
200s' p99 latency stays under the configured deadline. Bounded: ~2 s to measure the
capacity, 10 s at 3x, on loopback. The assertions are on the deadline (a behaviour),
never on how fast this machine is."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import time

import numpy as np
import pytest

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import setup_demo

from .serving import free_port, gateway_env, start, stop

DEADLINE = 1.0  # GARRISON_REQUEST_TIMEOUT: the configured deadline of one model call.
HANG = DEADLINE + 10.0  # Anything unanswered this long after it was sent is hanging.
ROWS = 500  # Rows per request: a few milliseconds of work, so 3x stays within the client.


def _request(port: int, key: str, model: str, X: np.ndarray, rows: int = ROWS) -> bytes:
    """One OIP v2 request with the binary tensor extension (cheap for the client)."""
    raw = np.resize(X, (rows, X.shape[1])).astype(np.float64).tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": [rows, X.shape[1]],
                                     "datatype": "FP64",
                                     "parameters": {"binary_data_size": len(raw)}}]}).encode()
    body = header + raw
    head = (f"POST /v2/models/{model}/infer HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"authorization: Bearer {key}\r\nconnection: close\r\n"
            f"content-type: application/octet-stream\r\n"
            f"inference-header-content-length: {len(header)}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode()
    return head + body


async def _one(port: int, wire: bytes) -> tuple[int, float, bool]:
    """(status, seconds, has Retry-After); status 0 when the connection failed."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0, time.perf_counter() - started, False
    try:
        writer.write(wire)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        retry = b"\r\nretry-after:" in head.lower()
        await reader.read()  # connection: close - the body ends with the connection.
        return status, time.perf_counter() - started, retry
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return 0, time.perf_counter() - started, False
    finally:
        writer.close()


async def _capacity(port: int, wire: bytes, seconds: float = 2.0) -> float:
    """Requests per second the gateway answers with 200 to 4 callers in a closed loop."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            status, _, _ = await _one(port, wire)
            done += status == 200

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(4)))
    return done / (time.perf_counter() - started)


async def _offer(port: int, wire: bytes, rate: float, seconds: float) -> list[tuple]:
    """Open loop: a request every 1/rate seconds whether or not earlier ones returned."""
    tasks = []
    started = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(asyncio.wait_for(_one(port, wire), HANG)))
    results = []
    for task in tasks:
        try:
            results.append(await task)
        except TimeoutError:
            results.append((-1, HANG, False))  # Hanging.
    return results


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason=(
    "issue 18: the gateway now sheds at accept (tests below and in test_live_http check "
    "it deterministically) and this passed 9 of 11 runs on the shared 2-core machine; the "
    "2 failures came when the measured capacity was high (240-257 requests/s): the "
    "server-side p99 of the 200s was 46 ms but the client-measured p99 1.25-1.45 s, the "
    "one-process client's own lag at ~770 requests/s; see docs/limits.md, Overload"))
def test_three_times_capacity_is_shed_not_queued(tmp_path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"rate_limit": 1e6, "rate_burst": 1_000_000,
                                               "daily_quota": 1_000_000_000})
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    env = gateway_env(home, GARRISON_MAX_CONCURRENCY="4",
                      GARRISON_REQUEST_TIMEOUT=str(DEADLINE),
                      GARRISON_MAX_QUEUE_WAIT=str(DEADLINE / 4))
    proc = start(["-m", "garrison", "serve", "--port", str(port)], env, port, log)
    try:
        wire = _request(port, demo.keys["scoring-app"], demo.model, demo.X)
        capacity = asyncio.run(_capacity(port, wire))
        assert capacity > 0, log.read_text()[-2000:]
        results = asyncio.run(_offer(port, wire, 3 * capacity, 10.0))
    finally:
        stop(proc)
    statuses = [r[0] for r in results]
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert -1 not in counts, f"requests hung: {counts}"
    assert set(counts) <= {200, 503}, counts  # No 500, no dropped connection.
    assert counts.get(200, 0) > 0, counts
    shed = [r for r in results if r[0] == 503]
    assert all(retry for _, _, retry in shed), "every 503 says when to come back"
    latencies = sorted(seconds for status, seconds, _ in results if status == 200)
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98] \
        if len(latencies) > 1 else latencies[0]
    assert p99 < DEADLINE, (p99, counts, capacity)
    assert max(seconds for _, seconds, _ in results) < HANG


@pytest.mark.slow
def test_a_request_that_waited_in_the_kernel_is_shed_not_served_late(tmp_path) -> None:
    """A worker that falls behind (here: stopped) sheds what waited past max_queue_wait
    at once, with Retry-After, and serves what arrives after it caught up."""
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin)
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    env = gateway_env(home, GARRISON_MAX_QUEUE_WAIT="0.2")
    proc = start(["-m", "garrison", "serve", "--port", str(port)], env, port, log)
    wire = _request(port, demo.keys["scoring-app"], demo.model, demo.X, rows=1)

    async def waited() -> tuple[int, float, bool]:
        os.killpg(proc.pid, signal.SIGSTOP)  # The worker falls behind: it runs no code.
        try:
            call = asyncio.create_task(_one(port, wire))  # The kernel accepts and queues it.
            await asyncio.sleep(1.0)
        finally:
            os.killpg(proc.pid, signal.SIGCONT)
        return await asyncio.wait_for(call, HANG)

    try:
        status, _, retry = asyncio.run(waited())
        fresh = asyncio.run(_one(port, wire))
    finally:
        stop(proc)
    assert (status, retry) == (503, True), log.read_text()[-2000:]
    assert fresh[0] == 200, log.read_text()[-2000:]
