"""`garrison alerts`: list by default, filters, JSON, acknowledgement, authorization."""

from __future__ import annotations

import json
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from garrison.app import initialize
from garrison.audit import AuditQuery
from garrison.cli._common import CLIState
from garrison.cli.alerts import alerts_group
from garrison.config import load_settings
from garrison.detection.access import Alert, AlertKind, Severity
from garrison.serving.alerts import AlertService
from garrison.storage.alerts_repo import SQLAlertStore


@pytest.fixture
def env(tmp_path, db_url, clock, monkeypatch):
    """An installation with alerts wired as app.py would, plus keys per role."""
    monkeypatch.delenv("GARRISON_API_KEY", raising=False)
    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    services, admin, admin_key = initialize(settings, "root", clock=clock)
    keys = {"root": admin_key.secret}
    for name, role in [("dan", "auditor"), ("alice", "data-scientist")]:
        services.accounts.create_principal(admin, name, roles=[role])
        keys[name] = services.accounts.create_key(admin, name).secret
    alerts = AlertService(SQLAlertStore(services.store), clock=clock)
    wired = SimpleNamespace(guard=services.guard, accounts=services.accounts,
                            clock=services.clock, store=services.store, alerts=alerts,
                            close=lambda: None)
    yield wired, keys, clock
    services.close()


def run(wired, key: str, *args: str, code: int = 0):
    root = click.Group("garrison")
    root.add_command(alerts_group)
    state = CLIState(api_key=key, _services=wired)
    result = CliRunner().invoke(root, list(args), obj=state, catch_exceptions=False)
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def _raise(wired, clock, kind: AlertKind, caller: str, advance: float = 1.0) -> None:
    clock.advance(advance)
    assert wired.alerts.raise_alert(Alert(kind, caller, Severity.HIGH, {"n": 1}, clock.now()))


def test_alerts_lists_by_default_with_filters(env) -> None:
    wired, keys, clock = env
    _raise(wired, clock, AlertKind.AUTH, "10.0.0.7")
    _raise(wired, clock, AlertKind.EXTRACTION, "svc-a")
    _raise(wired, clock, AlertKind.QUOTA, "svc-a", advance=7200)
    out = json.loads(run(wired, keys["dan"], "alerts", "--json").stdout)
    assert [a["kind"] for a in out] == ["quota-exceeded", "extraction-pattern", "auth-failures"]
    same = json.loads(run(wired, keys["dan"], "alerts", "list", "--json").stdout)
    assert same == out
    by_caller = json.loads(run(wired, keys["dan"], "alerts", "--caller", "svc-a", "--kind",
                               "extraction-pattern", "--json").stdout)
    assert [a["caller"] for a in by_caller] == ["svc-a"]
    recent = json.loads(run(wired, keys["dan"], "alerts", "--since", "1h", "--json").stdout)
    assert [a["kind"] for a in recent] == ["quota-exceeded"]
    limited = json.loads(run(wired, keys["dan"], "alerts", "list", "--limit", "2",
                             "--json").stdout)
    assert len(limited) == 2
    text = run(wired, keys["dan"], "alerts").stdout
    assert "10.0.0.7" in text and "svc-a" in text and alert_id(out[0]) in text


def alert_id(record: dict) -> str:
    return record["id"][:8]


def test_bad_since_is_a_usage_error(env) -> None:
    wired, keys, _ = env
    r = run(wired, keys["dan"], "alerts", "--since", "last week", code=2)
    assert "invalid-input" in r.stderr


def test_ack_marks_the_alert_and_is_audited(env) -> None:
    wired, keys, clock = env
    _raise(wired, clock, AlertKind.AUTH, "10.0.0.7")
    [alert] = json.loads(run(wired, keys["root"], "alerts", "--json").stdout)
    done = json.loads(run(wired, keys["root"], "alerts", "ack", alert["id"], "--json").stdout)
    assert done["acknowledged_by"] == "root" and done["acknowledged"]
    assert json.loads(run(wired, keys["root"], "alerts", "--open", "--json").stdout) == []
    r = run(wired, keys["root"], "alerts", "ack", alert["id"], code=2)
    assert "conflict" in r.stderr
    r = run(wired, keys["root"], "alerts", "ack", "no-such-id", code=2)
    assert "not-found" in r.stderr
    [event] = wired.store.query(AuditQuery(action="acknowledge-alert"))
    assert event.actor == "root" and event.resource == f"alert:{alert['id']}"


def test_without_view_alerts_it_is_refused_and_the_denial_audited(env) -> None:
    wired, keys, clock = env
    _raise(wired, clock, AlertKind.AUTH, "10.0.0.7")
    r = run(wired, keys["alice"], "alerts", code=1)
    assert "forbidden" in r.stderr and "10.0.0.7" not in r.stdout
    alert_id = wired.alerts.list()[0].id
    run(wired, keys["alice"], "alerts", "ack", alert_id, code=1)
    assert wired.alerts.list()[0].acknowledged is None
    denied = wired.store.query(AuditQuery(actor="alice", outcome="denied"))
    assert [e.action for e in denied] == ["view-alerts", "acknowledge-alert"]
    r = run(wired, "", "alerts", code=1)
    assert "GARRISON_API_KEY" in r.stderr
