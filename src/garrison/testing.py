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
from typing import Any

from garrison.signing import Keyring
from garrison.storage import Store
from garrison.types import FixedClock

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "FixedClock",
    "fixed_clock",
    "free_port",
    "postgres_schema_url",
    "postgres_url",
    "s3_test_server",
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def s3_test_server(bucket: str = "garrison-test") -> Iterator[dict[str, str]]:
    """moto's S3-compatible server in its own process on 127.0.0.1, with one bucket.

    Yields the endpoint URL, bucket and credentials (moto accepts any); the server is
    stopped on exit. Needs the ``moto[server]`` package (a dev dependency).
    """
    import shutil
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],  # noqa: S603
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        httpx.put(f"{endpoint}/{bucket}", timeout=5).raise_for_status()
        yield {"endpoint_url": endpoint, "bucket": bucket, "access_key": "testing",
               "secret_key": "testing"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def configure_deployment(services: Any, name: str, config: Any, *, actor: str = "root") -> Any:
    """Replace ``name``'s whole deployment policy (a ``DeploymentConfig``) the way an admin
    does: through the audited service, so it is sealed and the gateway honours it (a row
    written straight into the table is refused as state changed outside Garrison)."""
    admin = services.accounts.get(actor)
    return services.deployments.configure(admin, name, config.to_dict())


def reseal_api_key(services: Any, key_id: str) -> None:
    """Sign an API key's row again as it now stands, keeping its audit seq: what only the
    holder of the signing key can do. For tests that edit a key in SQL (an expiry of
    seconds, which the CLI does not allow) and need Garrison to honour it."""
    from garrison.governance.seals import key_state

    with services.store.write() as tx:
        seal = tx.seals.get("api-key", key_id)
        services.guard.seals.seal(tx.seals, [key_state(tx.api_keys.get(key_id))], seal.seq)
