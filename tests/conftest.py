"""Shared fixtures. Storage-backed fixtures run on SQLite and on the real PostgreSQL.

In CI (``CI=true``) an unreachable PostgreSQL or Redis server fails the run instead
of skipping: those backends must be tested, not silently passed over.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from garrison.signing import Keyring
from garrison.storage import Store
from garrison.testing import (
    fixed_clock,
    make_store,
    postgres_url,
    sqlite_url,
    temporary_postgres_schema,
)
from garrison.types import FixedClock

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_URL = os.environ.get("GARRISON_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", default=None, metavar="DIR",
                     help="Save the web console's browser-test screenshots (PNG) here.")


def _postgres_available() -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(postgres_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def require_backend(name: str) -> None:
    ok = _postgres_available() if name == "postgres" else _redis_available()
    if not ok:
        message = f"{name} server is not reachable"
        if IN_CI:
            pytest.fail(f"{message}; in CI it must run (see .ci/run)")
        pytest.skip(message)


@pytest.fixture
def clock() -> FixedClock:
    return fixed_clock()


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    require_backend("postgres")
    with temporary_postgres_schema() as url:
        yield url


@pytest.fixture
def store(db_url: str, keyring: Keyring, clock: FixedClock) -> Iterator[Store]:
    s = make_store(db_url, keyring, clock=clock, checkpoint_every=10)
    yield s
    s.dispose()


@pytest.fixture
def redis_url() -> str:
    require_backend("redis")
    return REDIS_URL
