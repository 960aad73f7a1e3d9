"""Every role against every action: the documented table, enforced and audited."""

from __future__ import annotations

import pytest

from garrison.audit import AuditQuery
from garrison.authz import ACTIONS, ROLE_ACTIONS, ROLES, allowed, require
from garrison.errors import Forbidden
from garrison.governance import Guard
from garrison.identity import Principal

# The expected table, written out independently of policy.py so a change to either fails.
EXPECTED = {
    "data-scientist": {
        "list-models", "view-model", "verify-model-version", "view-lineage",
        "register-model-version", "download-artifact", "register-dataset", "scan-dataset",
        "pseudonymize-data", "view-shadow-report", "open-console-session", "view-gate",
        "run-gate",
    },
    "approver": {
        "list-models", "view-model", "verify-model-version", "view-lineage",
        "approve-model-version", "reject-model-version", "promote-model-version",
        "rollback-model", "retire-model-version", "configure-deployment", "view-shadow-report",
        "view-alerts", "acknowledge-alert", "open-console-session", "view-gate",
        "set-gate-policy", "run-gate",
    },
    "auditor": {
        "list-models", "view-model", "verify-model-version", "view-lineage", "view-audit-log",
        "verify-audit-log", "verify-governance-state", "export-audit-log",
        "list-principals", "view-decision",
        "view-shadow-report", "view-alerts", "view-metrics", "reidentify-data",
        "open-console-session", "view-gate",
    },
    "client": {"invoke-model"},
    "admin": set(ACTIONS) - {"authenticate", "load-model-version", "raise-alert", "invoke-model",
                             "quarantine-audit-events", "open-decision-log",
                             "reserve-decision-records", "drop-decision-records",
                             "close-decision-log", "check-model-version", "compile-model-version",
                             "seal-governance-state", "refuse-governance-state",
                             "serve-model-version",
                             "reidentify-data"},
}


def _p(role: str, disabled: bool = False) -> Principal:
    return Principal(id=role, name=f"user-{role}", kind="human", created="t",
                     roles=frozenset({role}), disabled=disabled)


def test_table_matches_expectation() -> None:
    assert set(ROLES) == set(EXPECTED)
    for role in ROLES:
        assert ROLE_ACTIONS[role] == EXPECTED[role], role


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_role_against_every_action(role: str, action: str) -> None:
    subject = _p(role)
    if action in EXPECTED[role]:
        require(subject, action, "model:x")
        assert allowed(subject, action, "model:x")
    else:
        with pytest.raises(Forbidden) as info:
            require(subject, action, "model:x")
        assert info.value.detail["why"] == "no-role-grants-action"
        assert not allowed(subject, action, "model:x")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_disabled_principal_is_denied_everything(role: str) -> None:
    for action in EXPECTED[role]:
        with pytest.raises(Forbidden):
            require(_p(role, disabled=True), action)


def test_no_roles_means_no_actions() -> None:
    nobody = Principal(id="n", name="nobody", kind="human", created="t")
    assert not any(allowed(nobody, a) for a in ACTIONS)


def test_self_service_only_on_self() -> None:
    client = _p("client")
    require(client, "create-api-key", "principal:user-client")
    require(client, "list-api-keys", "principal:user-client")
    with pytest.raises(Forbidden):
        require(client, "create-api-key", "principal:someone-else")
    with pytest.raises(Forbidden):
        require(client, "create-api-key")


def test_unknown_action_is_an_error_not_an_allow() -> None:
    with pytest.raises(KeyError):
        require(_p("admin"), "launch-missiles")


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_denials_are_audited(store, role: str) -> None:
    guard = Guard(store)
    denied = sorted(set(ACTIONS) - EXPECTED[role] - {"authenticate", "raise-alert"})
    for action in denied:
        with pytest.raises(Forbidden):
            guard.require(_p(role), action, "model:x", request_id="req-1")
    events = store.query(AuditQuery(outcome="denied", limit=None))
    assert [(e.actor, e.action, e.reason, e.request_id) for e in events] == [
        (f"user-{role}", a, "no-role-grants-action", "req-1") for a in denied
    ]
