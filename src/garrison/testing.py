"""Fakes and helpers for tests (never imported by production code).

``FixedClock`` lives in :mod:`garrison.types`; it is re-exported here with helpers
that build real stores and services on a throwaway database.
"""

from __future__ import annotations

import datetime as _dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from garrison.signing import Keyring
from garrison.storage import Store
from garrison.types import FixedClock

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "FixedClock",
    "fixed_clock",
    "postgres_schema_url",
    "postgres_url",
    "temporary_postgres_schema",
]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fixed_clock(start: str = "2026-01-01T00:00:00+00:00") -> FixedClock:
    return FixedClock(_dt.datetime.fromisoformat(start))


def postgres_url() -> str:
    return os.environ.get("GARRISON_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@contextmanager
def temporary_postgres_schema(base: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; yields a URL bound to it, drops it after."""
    from sqlalchemy import create_engine, text

    base = base or postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'garrison.db'}"


def make_store(url: str, keyring: Keyring | None = None, **kwargs: object) -> Store:
    store = Store(url, signer=keyring or Keyring.generate(), **kwargs)  # type: ignore[arg-type]
    store.upgrade()
    return store
