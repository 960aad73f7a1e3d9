"""Principals and API keys through the audited account service."""

from __future__ import annotations

import pytest

from garrison.audit import AuditQuery
from garrison.errors import (
    AlreadyExists,
    AlreadyInitialized,
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
)
from garrison.governance import AccountService, Guard
from garrison.identity import hash_key


@pytest.fixture
def accounts(store, clock) -> AccountService:
    return AccountService(store, Guard(store), clock)


@pytest.fixture
def admin(accounts):
    principal, key = accounts.bootstrap_admin("root")
    return principal, key


def test_bootstrap_only_once(accounts, admin) -> None:
    with pytest.raises(AlreadyInitialized):
        accounts.bootstrap_admin("second")


def test_key_is_shown_once_and_stored_only_as_hash(accounts, admin, store) -> None:
    principal, key = admin
    assert key.secret.startswith(f"gk_{key.record.prefix}_") and len(key.secret) == 59
    assert key.record.key_hash == hash_key(key.secret)
    with store.engine.connect() as conn:
        dump = "\n".join(str(row) for table in ("api_keys", "audit_events", "principals")
                         for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))
    assert key.secret not in dump
    assert key.secret.split("_")[-1] not in dump
    assert accounts.authenticate(key.secret) == principal


@pytest.mark.parametrize("presented,why", [
    ("", "malformed-key"),
    ("gk_zzzz", "malformed-key"),
    ("gk_000000000000_" + "A" * 43, "unknown-key"),
])
def test_bad_keys_fail_with_reason_in_audit(accounts, admin, store, presented, why) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate(presented, request_id="r9")
    assert str(info.value) == "authentication failed"  # opaque
    [event] = store.query(AuditQuery(action="authenticate"))
    assert (event.outcome, event.reason, event.request_id) == ("denied", why, "r9")


def test_wrong_secret_with_right_prefix(accounts, admin) -> None:
    _, key = admin
    forged = key.secret[:-4] + ("AAAA" if not key.secret.endswith("AAAA") else "BBBB")
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate(forged)
    assert info.value.detail["why"] == "wrong-secret"


def test_expiry_revocation_disable_and_last_used(accounts, admin, clock, store) -> None:
    root, _ = admin
    accounts.create_principal(root, "app", kind="service", roles=["client"])
    key = accounts.create_key(root, "app", days=1)
    assert accounts.authenticate(key.secret).name == "app"
    with store.read() as tx:
        assert tx.api_keys.get(key.record.id).last_used is not None
    clock.advance(2 * 86400)
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate(key.secret)
    assert info.value.detail["why"] == "expired-key"
    key2 = accounts.create_key(root, "app", days=30)
    accounts.set_disabled(root, "app", True)
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate(key2.secret)
    assert info.value.detail["why"] == "disabled-principal"
    accounts.set_disabled(root, "app", False)
    accounts.revoke_key(root, key2.record.prefix)
    with pytest.raises(AuthenticationFailed) as info:
        accounts.authenticate(key2.secret)
    assert info.value.detail["why"] == "revoked-key"


def test_changes_are_audited_with_actor(accounts, admin, store) -> None:
    root, _ = admin
    accounts.create_principal(root, "alice", roles=["data-scientist"])
    accounts.grant_role(root, "alice", "auditor")
    accounts.revoke_role(root, "alice", "auditor")
    actions = [(e.actor, e.action, e.resource, e.outcome) for e in store.query(AuditQuery())]
    assert actions[-3:] == [
        ("root", "create-principal", "principal:alice", "ok"),
        ("root", "grant-role", "principal:alice", "ok"),
        ("root", "revoke-role", "principal:alice", "ok"),
    ]


def test_non_admin_cannot_escalate(accounts, admin, store) -> None:
    root, _ = admin
    alice = accounts.create_principal(root, "alice", roles=["data-scientist"])
    with pytest.raises(Forbidden):
        accounts.grant_role(alice, "alice", "admin")
    with pytest.raises(Forbidden):
        accounts.create_key(alice, "root")
    own = accounts.create_key(alice, "alice")  # self-service is allowed
    assert own.record.principal_id == alice.id
    denied = store.query(AuditQuery(outcome="denied"))
    assert [(e.actor, e.action) for e in denied] == [("alice", "grant-role"),
                                                      ("alice", "create-api-key")]


def test_last_admin_cannot_be_removed(accounts, admin) -> None:
    root, _ = admin
    with pytest.raises(Conflict):
        accounts.revoke_role(root, "root", "admin")
    with pytest.raises(Conflict):
        accounts.set_disabled(root, "root", True)
    accounts.create_principal(root, "root2", roles=["admin"])
    accounts.revoke_role(root, "root", "admin")  # now allowed


def test_failures_are_audited(accounts, admin, store) -> None:
    root, _ = admin
    accounts.create_principal(root, "bob")
    with pytest.raises(AlreadyExists):
        accounts.create_principal(root, "bob")
    [failed] = store.query(AuditQuery(outcome="failed"))
    assert (failed.action, failed.reason) == ("create-principal", "already-exists")


@pytest.mark.parametrize("name", ["", "UPPER", "a" * 65, "semi;colon", "../x", "white space"])
def test_invalid_names_refused(accounts, admin, name) -> None:
    with pytest.raises(InvalidInput):
        accounts.create_principal(admin[0], name)


def test_unknown_role_refused(accounts, admin) -> None:
    with pytest.raises(InvalidInput):
        accounts.create_principal(admin[0], "eve", roles=["superuser"])
