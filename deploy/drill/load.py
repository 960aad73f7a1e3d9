"""Constant, bounded load from 127.0.0.1: a fixed request rate per caller, capped in flight.

Runs its own event loop in a thread while the drill's main thread scales, kills and
rolls back. Every request is recorded with the phase it started in, its answer (or
the transport error), the replica that served it (HAProxy's ``X-Garrison-Replica``
header) and the model version that answered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import httpx
import orjson

__all__ = ["Load", "Outcome"]


@dataclass(slots=True)
class Outcome:
    caller: str
    phase: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection reset, timeout, ...).
    error: str
    replica: str
    version: int | None
    request_id: str


@dataclass
class _Stream:
    caller: str
    key: str
    model: str
    rate: float


class Load:
    """Open-loop load: requests leave on a fixed schedule whatever the answers do."""

    def __init__(self, base_url: str, body: bytes, *, bound: int = 16,
                 timeout: float = 20.0) -> None:
        self.base_url = base_url
        self.body = body
        self.bound = bound
        self.timeout = timeout
        self.phase = "start"
        self.streams: dict[str, _Stream] = {}
        self.outcomes: list[Outcome] = []
        self.skipped = 0  # Not sent: the client's bound was reached.
        self.in_flight = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_stream(self, caller: str, key: str, model: str, rate: float) -> None:
        self.streams[caller] = _Stream(caller, key, model, rate)

    def set_rate(self, caller: str, rate: float) -> None:
        self.streams[caller].rate = rate

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="drill-load", daemon=True)
        self._thread.start()

    def stop(self) -> list[Outcome]:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(self.timeout + 10)
        return self.outcomes

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.bound, max_keepalive_connections=self.bound)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits,
                                     timeout=self.timeout) as client:
            pending: set[asyncio.Task[None]] = set()
            streams = [asyncio.create_task(self._stream(client, s, pending))
                       for s in self.streams.values()]
            await asyncio.gather(*streams)
            if pending:
                await asyncio.wait(pending)

    async def _stream(self, client: httpx.AsyncClient, stream: _Stream,
                      pending: set[asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self._stop.is_set():
            if stream.rate <= 0:
                await asyncio.sleep(0.02)
                due = loop.time()
                continue
            due += 1.0 / stream.rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            if self.in_flight >= self.bound:
                self.skipped += 1
                continue
            task = asyncio.create_task(self._one(client, stream))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _one(self, client: httpx.AsyncClient, stream: _Stream) -> None:
        self.in_flight += 1
        phase, started = self.phase, time.monotonic()
        status, error, replica, version, rid = 0, "", "", None, ""
        try:
            response = await client.post(
                f"/v1/models/{stream.model}/predict", content=self.body,
                headers={"authorization": f"Bearer {stream.key}",
                         "content-type": "application/json"})
            status = response.status_code
            replica = response.headers.get("x-garrison-replica", "")
            rid = response.headers.get("x-request-id", "")
            if status == 200:
                version = int(orjson.loads(response.content)["model_version"])
            elif status != 429:
                try:
                    error = str(orjson.loads(response.content)["error"]["code"])
                except (ValueError, KeyError, TypeError):
                    error = response.content[:80].decode("utf-8", "replace")
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        finally:
            self.in_flight -= 1
        self.outcomes.append(Outcome(stream.caller, phase, started, time.monotonic(), status,
                                     error, replica, version, rid))
