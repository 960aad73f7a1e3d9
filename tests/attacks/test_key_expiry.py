"""Issue 11, finding 7: no principal creates a key that never expires for itself.

Every key expires within ``MAX_KEY_DAYS`` (3,650) days. A never-expiring key exists
only where the installation allows it (``allow_never_expiring_keys``), and then only an
admin may create one; every refusal is audited.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from garrison.app import initialize
from garrison.audit import AuditQuery
from garrison.cli.main import cli
from garrison.config import load_settings
from garrison.errors import Forbidden, InvalidInput
from garrison.identity import MAX_KEY_DAYS, check_key_lifetime
from tests.web.helpers import make_installation


def test_nobody_creates_a_never_expiring_key_by_default(inst) -> None:
    accounts = inst.services.accounts
    for who in ("alice", "root"):
        with pytest.raises(InvalidInput) as refused:
            accounts.create_key(inst.people[who], who, days=None)
        assert refused.value.detail["problem"] == "never-expiring-key"
        with pytest.raises(InvalidInput):
            accounts.create_key(inst.people[who], who, days=MAX_KEY_DAYS + 1)
    assert accounts.create_key(inst.people["alice"], "alice", days=MAX_KEY_DAYS).record.expires
    failed = inst.services.store.query(AuditQuery(action="create-api-key", outcome="failed",
                                                  limit=None))
    assert len(failed) == 4
    assert all(k.expires is not None for k in accounts.list_keys(inst.people["root"]))


def test_only_admins_where_the_policy_allows_it(tmp_path, clock) -> None:
    home = tmp_path / "home"
    inst = make_installation(home, f"sqlite:///{tmp_path / 'g.db'}", clock)
    inst.services.close()
    from garrison.app import build_services

    settings = load_settings(home=home, database_url=f"sqlite:///{tmp_path / 'g.db'}",
                             allow_never_expiring_keys=True)
    services = build_services(settings, clock=clock)
    try:
        alice = services.accounts.get("alice")
        with pytest.raises(Forbidden):
            services.accounts.create_key(alice, "alice", days=None)
        root = services.accounts.get("root")
        assert services.accounts.create_key(root, "alice", days=None).record.expires is None
    finally:
        services.close()


def test_the_cli_refuses_no_expiry(tmp_path, monkeypatch) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, root, _ = initialize(settings, "root")
    services.accounts.create_principal(root, "alice", roles=["data-scientist"])
    key = services.accounts.create_key(root, "alice").secret
    services.close()
    monkeypatch.setenv("GARRISON_HOME", str(settings.home))
    monkeypatch.setenv("GARRISON_API_KEY", key)
    result = CliRunner().invoke(cli, ["key", "create", "--no-expiry"])
    assert result.exit_code == 2 and "never expire" in result.output, result.output
    assert "gk_" not in result.output


@pytest.mark.parametrize("days", [0, -1, MAX_KEY_DAYS + 1, True])
def test_lifetimes_outside_the_range_are_refused(days) -> None:
    with pytest.raises(InvalidInput):
        check_key_lifetime(days, by_admin=True, never_expiring_allowed=True)
