"""Shared test helpers: an initialized installation with keys, an in-process transport."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

from garrison.app import Services, initialize
from garrison.config import load_settings
from garrison.identity import Principal
from garrison.types import FixedClock

ROLES = {"alice": ["data-scientist"], "bob": ["approver"], "carol": ["data-scientist", "approver"],
         "dan": ["auditor"]}


@dataclass
class Installation:
    services: Services
    people: dict[str, Principal]
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def make_installation(home: Path, db_url: str, clock: FixedClock) -> Installation:
    settings = load_settings(home=home, database_url=db_url)
    services, admin, admin_key = initialize(settings, "root", clock=clock)
    people, keys = {"root": admin}, {"root": admin_key.secret}
    for name, roles in ROLES.items():
        people[name] = services.accounts.create_principal(admin, name, roles=roles)
        keys[name] = services.accounts.create_key(admin, name).secret
    return Installation(services, people, keys)


#: The input schema of ``model_bytes``' models (3 numeric features): with it a version
#: registered over the admin API (which takes no reference data) can be approved.
SCHEMA = {"features": [{"name": f"x{i}"} for i in range(3)]}


def model_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    return pickle.dumps(LogisticRegression().fit(X, y), protocol=5)


def evil_pickle(marker: Path) -> bytes:
    class Payload:
        def __reduce__(self) -> Any:
            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Payload())


class SyncASGITransport(httpx.BaseTransport):
    """Drive an ASGI app from a synchronous httpx client (the SDK) inside the test process."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)

        async def call() -> httpx.Response:
            response = await self._inner.handle_async_request(copy)
            content = b"".join([chunk async for chunk in response.stream])
            return httpx.Response(response.status_code, headers=response.headers,
                                  content=content)

        return self._portal.call(call)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
