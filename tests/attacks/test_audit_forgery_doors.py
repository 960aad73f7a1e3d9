"""Issue 11, finding 3 at every door: the CLI (human and --json) and the admin API report
each tamper kind with its reason and position, never a traceback or a 500."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from garrison.audit import record_hash
from garrison.cli.main import cli
from garrison.web import create_web_app
from tests.attacks.conftest import sql
from tests.web.helpers import SyncASGITransport


def _plant_past_head(inst) -> int:
    head = inst.services.store.head().seq
    [(prev,)] = sql(inst, "SELECT hash FROM audit_events WHERE seq = :s", s=head)
    fields = dict(seq=head + 1, event_id="00000000-0000-4000-8000-00000000beef",
                  created="2026-01-01T00:00:00.000000Z", actor="root", action="grant-role",
                  resource="principal:alice", outcome="ok", reason="", request_id="",
                  payload='{"role":"admin"}', prev_hash=prev)
    sql(inst, "INSERT INTO audit_events (seq, event_id, created, actor, action, resource, "
              "outcome, reason, request_id, payload, prev_hash, hash) VALUES (:seq, "
              ":event_id, :created, :actor, :action, :resource, :outcome, :reason, "
              ":request_id, :payload, :prev_hash, :hash)",
        **fields, hash=record_hash(**fields))  # type: ignore[arg-type]
    return head + 1


TAMPERS = {
    "modified": ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3", 3),
    "deleted": ("DELETE FROM audit_events WHERE seq = 3", 3),
    "truncated": ("DELETE FROM audit_events WHERE seq > 3", 4),
}


@pytest.fixture
def api(inst):
    transport = SyncASGITransport(create_web_app(inst.services))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        yield client
    transport.close()


def _api_verify(api, inst) -> httpx.Response:
    return api.post("/admin/audit/verify", headers=inst.auth("root"))


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_the_api_reports_each_tamper_kind(inst, api, kind) -> None:
    statement, position = TAMPERS[kind]
    sql(inst, statement)
    response = _api_verify(api, inst)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["code"], error["reason"], error["position"]) == (
        "audit-chain-broken", kind, position)


def test_the_api_reports_a_forgery_past_the_head_then_the_incident(inst, api) -> None:
    position = _plant_past_head(inst)
    first = _api_verify(api, inst)
    assert first.status_code == 409
    assert (first.json()["error"]["reason"], first.json()["error"]["position"]) == (
        "inserted", position)
    second = _api_verify(api, inst)
    assert second.status_code == 409
    assert second.json()["error"]["reason"] == "quarantined"
    listed = api.get("/admin/audit/incidents", headers=inst.auth("dan"))
    assert listed.status_code == 200
    [incident] = listed.json()["incidents"]
    assert incident["position"] == position and not incident["acknowledged"]
    refused = api.post(f"/admin/audit/incidents/{incident['id']}/acknowledge",
                       json={"reason": "seen"}, headers=inst.auth("dan"))
    assert refused.status_code == 403  # Auditors read; only admins acknowledge.
    done = api.post(f"/admin/audit/incidents/{incident['id']}/acknowledge",
                    json={"reason": "planted row examined"}, headers=inst.auth("root"))
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "root"
    intact = _api_verify(api, inst)
    assert intact.status_code == 200
    assert intact.json()["incidents"][0]["acknowledged"] is True


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("GARRISON_HOME", str(h))
    monkeypatch.delenv("GARRISON_API_KEY", raising=False)
    monkeypatch.delenv("GARRISON_DATABASE_URL", raising=False)
    return h


def _cli(*args: str, key: str = ""):
    return CliRunner().invoke(cli, list(args), env={"GARRISON_API_KEY": key},
                              catch_exceptions=False)


@pytest.mark.parametrize("kind", [*sorted(TAMPERS), "inserted"])
def test_the_cli_reports_each_tamper_kind(home, kind) -> None:
    import sqlite3

    key = json.loads(_cli("init", "--json").stdout)["api_key"]
    for name in ("bob", "carol", "dave", "erin"):
        _cli("user", "add", name, key=key)
    with sqlite3.connect(home / "garrison.db") as conn:
        if kind == "inserted":  # Past the signed head, correctly linked.
            seq, prev = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
            fields = dict(seq=seq + 1, event_id="e", created="c", actor="root",
                          action="grant-role", resource="principal:bob", outcome="ok",
                          reason="", request_id="", payload="{}", prev_hash=prev)
            conn.execute("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                         (*fields.values(), record_hash(**fields)))  # type: ignore[arg-type]
            position = seq + 1
        else:
            statement, position = TAMPERS[kind]
            conn.execute(statement)
    human = _cli("audit", "verify", key=key)
    assert human.exit_code == 1
    assert f"reason: {kind}, position: {position}" in human.stderr
    assert "Traceback" not in human.output + human.stderr
    as_json = _cli("audit", "verify", "--json", key=key)
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    # The first run's own event changed the picture, and the second run says how: the
    # forged record was moved to quarantine; the appended event sits past a gap.
    expected = {"inserted": "quarantined", "truncated": "deleted"}.get(kind, kind)
    assert (body["ok"], body["reason"], body["position"]) == (False, expected, position)
