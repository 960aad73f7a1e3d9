from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.config import load_settings
from garrison.demo import setup_demo


@pytest.fixture
def installation(tmp_path):
    settings = load_settings(home=tmp_path / "home", database_url=None, rate_limit=1000.0,
                             rate_burst=1000, request_timeout=1.0)
    services, admin, admin_key = initialize(settings, "root")
    demo = setup_demo(services, admin)
    demo.keys["root"] = admin_key.secret
    yield settings, services, demo
    services.close()


@pytest.fixture
def gateway(installation):
    settings, services, demo = installation
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    with TestClient(app) as client:
        yield client, state, demo, services


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
