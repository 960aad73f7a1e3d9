"""`garrison audit decisions`: intact batches exit 0, tampering exits 1 naming it,
only principals allowed to verify the audit log may run it, and each run is audited."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from garrison.app import initialize
from garrison.audit import AuditQuery
from garrison.cli._common import CLIState
from garrison.cli.audit import audit_group
from garrison.config import load_settings
from garrison.serving.decisions import DecisionRecord
from garrison.storage.decisions_repo import SQLDecisionStore
from garrison.storage.tables import decisions


@pytest.fixture
def env(tmp_path, clock, monkeypatch):
    monkeypatch.delenv("GARRISON_API_KEY", raising=False)
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, admin, admin_key = initialize(settings, "root", clock=clock)
    keys = {"root": admin_key.secret}
    for name, role in [("dan", "auditor"), ("svc", "client")]:
        services.accounts.create_principal(admin, name, roles=[role])
        keys[name] = services.accounts.create_key(admin, name).secret
    repo = SQLDecisionStore(services.store)
    for batch in (["a1", "a2"], ["b1"]):
        repo.add_many([DecisionRecord(request_id=r, created="2026-01-01T00:00:00.000000Z",
                                      caller="svc", model="m", version=1, rows=1,
                                      outputs=[0]) for r in batch])
    yield services, keys
    services.close()


def run(services, key: str, *args: str, code: int = 0):
    root = click.Group("garrison")
    root.add_command(audit_group)
    result = CliRunner().invoke(root, ["audit", "decisions", *args],
                                obj=CLIState(api_key=key, _services=services),
                                catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_intact_then_tampered(env) -> None:
    services, keys = env
    out = run(services, keys["dan"])
    assert "3 records in 2 anchored batches" in out.stdout
    assert json.loads(run(services, keys["dan"], "--json").stdout)["ok"] is True
    assert "matches audit event" in run(services, keys["dan"], "--request-id", "b1").stdout
    with services.store.write() as tx:
        tx.conn.execute(update(decisions).where(decisions.c.request_id == "a2").values(
            outputs="[1]"))
    failed = run(services, keys["dan"], code=1)
    assert "batch-mismatch" in failed.stderr
    report = json.loads(run(services, keys["dan"], "--json", code=1).stdout)
    assert [p["reason"] for p in report["problems"]] == ["batch-mismatch"]
    run(services, keys["dan"], "--request-id", "b1")  # The other batch is intact.
    run(services, keys["dan"], "--request-id", "a1", code=1)
    events = services.store.query(AuditQuery(action="verify-audit-log", resource="decisions"))
    assert {e.outcome for e in events} == {"ok", "failed"}
    assert all(json.loads(e.payload)["records"] >= 1 for e in events)


def test_clients_may_not_verify(env) -> None:
    services, keys = env
    result = run(services, keys["svc"], code=1)
    assert "forbidden" in (result.stdout + result.stderr).lower()
    denied = services.store.query(AuditQuery(action="verify-audit-log", outcome="denied"))
    assert denied and denied[-1].actor == "svc"
