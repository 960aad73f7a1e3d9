"""Installations on both backends for the attacks found from outside (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.web.helpers import Installation, make_installation


@pytest.fixture
def inst(db_url, tmp_path, clock) -> Iterator[Installation]:
    """An initialized installation (root admin plus alice, bob, carol, dan) on each backend."""
    installation = make_installation(tmp_path / "home", db_url, clock)
    yield installation
    installation.services.close()


def sql(inst: Installation, statement: str, **params: object) -> list[tuple]:
    """Run SQL as an attacker with database access only would."""
    with inst.services.store.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []
