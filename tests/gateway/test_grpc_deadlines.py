"""gRPC deadlines, decided by the server: a request whose deadline has passed is not
started, one still running at its deadline is abandoned. A fake call context (the
deadline is the context's, so a real client's timing would make the test flaky)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from garrison.gateway.grpc_server import GRPCInferenceService

AbortError = grpc.aio.AbortError  # What the real context's abort() raises.


class FakeContext:
    """The parts of ``grpc.aio.ServicerContext`` the service uses."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining
        self.trailers: tuple[tuple[str, str], ...] = ()
        self.aborted: tuple[grpc.StatusCode, str] | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", "client-7"),)

    def time_remaining(self) -> float | None:
        return self.remaining

    def peer(self) -> str:
        return "ipv4:127.0.0.1:5000"

    def set_trailing_metadata(self, trailers: Any) -> None:
        self.trailers = tuple(trailers)

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise AbortError


class Telemetry:
    def __init__(self) -> None:
        self.codes: list[str] = []

    def grpc_response(self, code: str) -> None:
        self.codes.append(code)


def _service() -> tuple[GRPCInferenceService, Telemetry]:
    telemetry = Telemetry()
    state = SimpleNamespace(telemetry=telemetry, access_log=False, authenticator=None)
    return GRPCInferenceService(state), telemetry


def test_a_request_past_its_deadline_is_not_started() -> None:
    service, telemetry = _service()
    started: list[bool] = []

    async def handler(principal: Any, rid: str, client: str | None) -> Any:
        started.append(True)

    context = FakeContext(remaining=0.0)
    with pytest.raises(AbortError):
        asyncio.run(service._call("ModelInfer", context, handler, auth=False))
    assert started == [] and context.aborted == (grpc.StatusCode.DEADLINE_EXCEEDED,
                                                 "deadline exceeded")
    assert context.trailers == (("x-request-id", "client-7"),)
    assert telemetry.codes == ["DEADLINE_EXCEEDED"]


def test_a_request_running_past_its_deadline_is_abandoned() -> None:
    service, telemetry = _service()
    finished: list[bool] = []

    async def handler(principal: Any, rid: str, client: str | None) -> Any:
        await asyncio.sleep(5)
        finished.append(True)

    context = FakeContext(remaining=0.05)
    with pytest.raises(AbortError):
        asyncio.run(service._call("ModelInfer", context, handler, auth=False))
    assert finished == [] and context.aborted is not None
    assert context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert telemetry.codes == ["DEADLINE_EXCEEDED"]


def test_without_a_deadline_the_answer_comes_back_with_the_ids() -> None:
    service, telemetry = _service()
    seen: list[tuple[str, str | None]] = []

    async def handler(principal: Any, rid: str, client: str | None) -> Any:
        seen.append((rid, client))
        return "answer"

    context = FakeContext(remaining=None)
    assert asyncio.run(service._call("ModelInfer", context, handler, auth=False)) == "answer"
    [(rid, client)] = seen
    assert client == "client-7" and rid != client and len(rid) == 32
    assert context.trailers == (("x-request-id", "client-7"),)
    assert telemetry.codes == ["OK"]
