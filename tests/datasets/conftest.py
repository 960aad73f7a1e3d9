from __future__ import annotations

from pathlib import Path

import pytest

from garrison.app import initialize
from garrison.config import load_settings

from .datagen import customers, write
from .wiring import wire


@pytest.fixture
def env(tmp_path, db_url, clock):
    """An initialized installation with one principal per role, wired with lineage."""
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    services, admin, _ = initialize(settings, "root", clock=clock)
    acc = services.accounts
    people = {"root": admin}
    for name, roles in [("alice", ["data-scientist"]), ("bob", ["approver"]),
                        ("dan", ["auditor"]), ("eve", ["client"])]:
        people[name] = acc.create_principal(admin, name, roles=roles)
    yield wire(services), people
    services.close()


@pytest.fixture(scope="session")
def frame():
    return customers()


@pytest.fixture
def csv_file(tmp_path, frame) -> Path:
    return write(frame, tmp_path / "customers.csv")


@pytest.fixture
def parquet_file(tmp_path, frame) -> Path:
    return write(frame, tmp_path / "customers.parquet")
