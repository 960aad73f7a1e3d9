"""The SDK of the inference gateway: ``InferenceClient`` and ``AsyncInferenceClient``.

::

    with InferenceClient("https://gateway.internal:8080", os.environ["GARRISON_API_KEY"]) as c:
        result = c.predict("credit-risk", [{"income": 52000, "age": 41}])
        print(result.labels, result.request_id)
        answer = c.infer("credit-risk", {"income": [52000.0], "age": [41]})
        print(answer.output("label").data)

Refusals (``RateLimited``, ``QuotaExceeded``, ``Overloaded`` and a 503 from a model
that is unavailable) are retried with exponential backoff and jitter, waiting at
least what the server's ``Retry-After`` asks; anything else is raised at once as the
:mod:`garrison.errors` class named by its code. A request the server never received
(the connection was refused) is retried too; one that may have reached the model
(a timeout, a dropped connection) is not, because inference counts against quotas
and is recorded.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from garrison import __version__
from garrison.client._errors import error_from_response, retry_after_seconds
from garrison.client._oip import (
    InferResponse,
    PredictResult,
    Tensor,
    build_infer,
    build_predict,
    parse_infer,
    parse_predict,
)
from garrison.errors import GarrisonError, InvalidInput
from garrison.types import validate_model_name

__all__ = ["AsyncInferenceClient", "InferResponse", "InferenceClient", "PredictResult",
           "RetryPolicy", "Tensor"]

_RETRY_STATUS = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How refusals are retried: ``attempts`` in all, the n-th wait is
    ``min(max_backoff, backoff * 2**n)`` with full jitter, never less than the server's
    ``Retry-After``; a ``Retry-After`` beyond ``max_wait`` is raised at once."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < 0 or self.max_wait < 0:
            raise InvalidInput("retry attempts must be positive and waits not negative")

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
        jitter = rand() * min(self.max_backoff, self.backoff * (2 ** attempt))
        return max(jitter, retry_after or 0.0)


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None


def _model_path(name: str, version: int | None) -> str:
    base = f"/v2/models/{validate_model_name(name)}"
    if version is None:
        return base
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("the version must be a positive integer")
    return f"{base}/versions/{version}"


def _predict_request(name: str, rows: Any, explain: bool) -> _Request:
    return _Request("POST", f"/v1/models/{validate_model_name(name)}/predict",
                    build_predict(rows), {"content-type": "application/json"},
                    {"explain": "true"} if explain else None)


def _infer_request(name: str, inputs: Any, version: int | None, outputs: Sequence[str] | None,
                   parameters: Mapping[str, Any] | None, request_id: str | None,
                   binary: bool, explain: bool) -> _Request:
    body, headers = build_infer(inputs, outputs=outputs, parameters=parameters,
                                request_id=request_id, binary=binary)
    return _Request("POST", _model_path(name, version) + "/infer", body, headers,
                    {"explain": "true"} if explain else None)


def _http_kwargs(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    if not api_key or not api_key.strip():
        raise InvalidInput("an API key is required")
    return {"base_url": base_url.rstrip("/"), "timeout": timeout, "follow_redirects": False,
            "headers": {"Authorization": f"Bearer {api_key.strip()}",
                        "Accept": "application/json",
                        "User-Agent": f"garrison-client/{__version__}"}}


def _unreachable(exc: httpx.HTTPError) -> GarrisonError:
    if isinstance(exc, httpx.TimeoutException):
        return GarrisonError("the Garrison gateway did not answer in time")
    return GarrisonError(f"could not reach the Garrison gateway ({type(exc).__name__})")


class _Base:
    def __init__(self, retry: RetryPolicy | None, rand: Callable[[], float] | None) -> None:
        self.retry = retry or RetryPolicy()
        self._rand = rand or random.random

    def _next_wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before another attempt, or ``None`` to stop retrying."""
        if attempt + 1 >= self.retry.attempts:
            return None
        after = retry_after_seconds(response) if response is not None else None
        if after is not None and after > self.retry.max_wait:
            return None
        return self.retry.delay(attempt, after, self._rand)


class InferenceClient(_Base):
    """A synchronous client of one Garrison gateway, acting with one credential
    (a Garrison API key or an OIDC token). Redirects are never followed."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = 10.0,
        retry: RetryPolicy | None = None, transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(retry, rand)
        self._http = httpx.Client(transport=transport, **_http_kwargs(base_url, api_key,
                                                                       timeout))
        self._sleep = sleep
        self.base_url = str(self._http.base_url).rstrip("/")

    def __repr__(self) -> str:
        return f"InferenceClient({self.base_url!r})"

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, req: _Request, *, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(req.method, req.path, content=req.content,
                                              headers=req.headers, params=req.params)
            except httpx.ConnectError as exc:  # Never reached the server: safe to retry.
                wait = self._next_wait(attempt, None)
                if wait is None:
                    raise _unreachable(exc) from exc
            except httpx.HTTPError as exc:
                raise _unreachable(exc) from exc
            else:
                if response.status_code in ok:
                    return response
                wait = (self._next_wait(attempt, response)
                        if response.status_code in _RETRY_STATUS else None)
                if wait is None:
                    raise error_from_response(response)
            self._sleep(wait)
            attempt += 1

    # -- health and metadata ----------------------------------------------------------
    def live(self) -> bool:
        return self._send(_Request("GET", "/v2/health/live"), ok=(200, 503)).status_code == 200

    def ready(self) -> bool:
        return self._send(_Request("GET", "/v2/health/ready"), ok=(200, 503)).status_code == 200

    def server_metadata(self) -> dict[str, Any]:
        return dict(self._send(_Request("GET", "/v2")).json())

    def model_metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        return dict(self._send(_Request("GET", _model_path(name, version))).json())

    def model_ready(self, name: str, version: int | None = None) -> bool:
        """False (not an error) for a model whose production version cannot serve."""
        return bool(self._send(_Request("GET", _model_path(name, version) + "/ready"),
                               ok=(200, 503)).json().get("ready"))

    # -- inference --------------------------------------------------------------------
    def predict(self, name: str, rows: Any, *, explain: bool = False) -> PredictResult:
        """Score ``rows`` (``{feature: value}`` mappings, or a DataFrame) in the friendly form."""
        return parse_predict(self._send(_predict_request(name, rows, explain)).content)

    def infer(
        self, name: str, inputs: Any, *, version: int | None = None,
        outputs: Sequence[str] | None = None, parameters: Mapping[str, Any] | None = None,
        request_id: str | None = None, binary: bool = False, explain: bool = False,
    ) -> InferResponse:
        """Open Inference Protocol v2 inference. ``inputs`` are :class:`Tensor` objects, a
        ``{feature: values}`` mapping (one tensor per feature) or a 2-D matrix (one
        ``[n, d]`` FP64 tensor, columns in the input schema's order). ``binary`` uses the
        binary tensor data extension both ways."""
        req = _infer_request(name, inputs, version, outputs, parameters, request_id,
                             binary, explain)
        response = self._send(req)
        return parse_infer(response.content, response.headers)


class AsyncInferenceClient(_Base):
    """The asynchronous twin of :class:`InferenceClient` (same methods, awaited)."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = 10.0,
        retry: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep, rand: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(retry, rand)
        self._http = httpx.AsyncClient(transport=transport,
                                       **_http_kwargs(base_url, api_key, timeout))
        self._sleep = sleep
        self.base_url = str(self._http.base_url).rstrip("/")

    def __repr__(self) -> str:
        return f"AsyncInferenceClient({self.base_url!r})"

    async def __aenter__(self) -> AsyncInferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, req: _Request, *, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(req.method, req.path, content=req.content,
                                                    headers=req.headers, params=req.params)
            except httpx.ConnectError as exc:
                wait = self._next_wait(attempt, None)
                if wait is None:
                    raise _unreachable(exc) from exc
            except httpx.HTTPError as exc:
                raise _unreachable(exc) from exc
            else:
                if response.status_code in ok:
                    return response
                wait = (self._next_wait(attempt, response)
                        if response.status_code in _RETRY_STATUS else None)
                if wait is None:
                    raise error_from_response(response)
            await self._sleep(wait)
            attempt += 1

    async def live(self) -> bool:
        response = await self._send(_Request("GET", "/v2/health/live"), ok=(200, 503))
        return response.status_code == 200

    async def ready(self) -> bool:
        response = await self._send(_Request("GET", "/v2/health/ready"), ok=(200, 503))
        return response.status_code == 200

    async def server_metadata(self) -> dict[str, Any]:
        return dict((await self._send(_Request("GET", "/v2"))).json())

    async def model_metadata(self, name: str, version: int | None = None) -> dict[str, Any]:
        return dict((await self._send(_Request("GET", _model_path(name, version)))).json())

    async def model_ready(self, name: str, version: int | None = None) -> bool:
        response = await self._send(_Request("GET", _model_path(name, version) + "/ready"),
                                    ok=(200, 503))
        return bool(response.json().get("ready"))

    async def predict(self, name: str, rows: Any, *, explain: bool = False) -> PredictResult:
        return parse_predict((await self._send(_predict_request(name, rows, explain))).content)

    async def infer(
        self, name: str, inputs: Any, *, version: int | None = None,
        outputs: Sequence[str] | None = None, parameters: Mapping[str, Any] | None = None,
        request_id: str | None = None, binary: bool = False, explain: bool = False,
    ) -> InferResponse:
        req = _infer_request(name, inputs, version, outputs, parameters, request_id,
                             binary, explain)
        response = await self._send(req)
        return parse_infer(response.content, response.headers)
