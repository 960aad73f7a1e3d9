from __future__ import annotations

from collections.abc import Iterator

import pytest

from garrison.testing import sqlite_url
from garrison.web import create_web_app
from tests.web.console.helpers import Console
from tests.web.helpers import Installation, make_installation


@pytest.fixture
def inst(tmp_path, clock) -> Iterator[Installation]:
    """An installation with one person per role, and eve, who may only call models."""
    installation = make_installation(tmp_path / "home", sqlite_url(tmp_path), clock)
    services, root = installation.services, installation.people["root"]
    installation.people["eve"] = services.accounts.create_principal(root, "eve",
                                                                    roles=["client"])
    installation.keys["eve"] = services.accounts.create_key(root, "eve").secret
    yield installation
    installation.services.close()


@pytest.fixture
def app(inst):
    return create_web_app(inst.services)


@pytest.fixture
def browser(app) -> Iterator[Console]:
    console = Console(app)
    yield console
    console.close()


@pytest.fixture
def open_browser(app):
    """Open more browsers (each with its own cookies); all are closed afterwards."""
    made: list[Console] = []

    def make(base_url: str = "http://testserver") -> Console:
        console = Console(app, base_url)
        made.append(console)
        return console

    yield make
    for console in made:
        console.close()
