from __future__ import annotations

import pytest

from garrison.app import initialize
from garrison.config import load_settings
from tests.gates.flow_helpers import FakeRunner


@pytest.fixture
def gated(tmp_path, clock, db_url, request):
    """An initialized installation with one principal per role, two admins, and the gate
    runner replaced by a :class:`FakeRunner` (on each backend ``db_url`` gives)."""
    extra = getattr(request, "param", {}) or {}
    settings = load_settings(home=tmp_path / "home", database_url=db_url, **extra)
    services, admin, _ = initialize(settings, "root", clock=clock)
    acc = services.accounts
    people = {"root": admin}
    for name, roles in [("root2", ["admin"]), ("alice", ["data-scientist"]),
                        ("bob", ["approver"]), ("carol", ["approver"]), ("dan", ["auditor"])]:
        people[name] = acc.create_principal(admin, name, roles=roles)
    runner = FakeRunner()
    services.gates.runner = runner
    yield services, people, runner
    services.close()
