from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from garrison.testing import fixed_clock, sqlite_url
from garrison.web import create_web_app
from tests.web.helpers import Installation, SyncASGITransport, make_installation, model_bytes


@pytest.fixture
def inst(tmp_path, clock) -> Iterator[Installation]:
    """A fresh SQLite installation with one principal (and key) per role."""
    installation = make_installation(tmp_path / "home", sqlite_url(tmp_path), clock)
    yield installation
    installation.services.close()


@pytest.fixture
def http(inst) -> Iterator[httpx.Client]:
    transport = SyncASGITransport(create_web_app(inst.services))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        yield client
    transport.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[tuple[Installation, httpx.Client]]:
    """One installation per module holding fraud:1 (registered by alice), for read-mostly
    tests: error paths change nothing but the audit trail."""
    tmp = tmp_path_factory.mktemp("seeded")
    installation = make_installation(tmp / "home", sqlite_url(tmp), fixed_clock())
    transport = SyncASGITransport(create_web_app(installation.services))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        response = client.post(
            "/admin/models/fraud/versions", content=model_bytes(),
            headers={**installation.auth("alice"), "Content-Type": "application/octet-stream"},
        )
        assert response.status_code == 201, response.text
        yield installation, client
    transport.close()
    installation.services.close()
