from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from garrison.client import GarrisonClient
from garrison.web import create_web_app
from tests.web.helpers import Installation, SyncASGITransport, make_installation


@pytest.fixture
def inst(tmp_path, db_url, clock) -> Iterator[Installation]:
    """An initialized installation on SQLite and on PostgreSQL."""
    installation = make_installation(tmp_path / "home", db_url, clock)
    yield installation
    installation.services.close()


@pytest.fixture
def sdk(inst) -> Iterator[Callable[[str], GarrisonClient]]:
    """``sdk("alice")``: an SDK client acting as alice against the in-process app."""
    transport = SyncASGITransport(create_web_app(inst.services))
    clients: list[GarrisonClient] = []

    def make(who: str) -> GarrisonClient:
        client = GarrisonClient("http://testserver", inst.keys[who], transport=transport)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    transport.close()
