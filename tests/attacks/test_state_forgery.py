"""Issue 11, finding 4: governance state changed with SQL alone must not grant power.

Each test is an attack by someone who can run SQL against Garrison's database but
cannot read the key files, on SQLite and PostgreSQL. Before state seals, every one of
them worked: one ``UPDATE`` put a rejected version into production and the gateway
served it; an inserted ``api_keys`` row gave full admin; a role granted, a revocation
undone or a deployment policy edited in SQL was honoured. Now each is refused,
audited and alerted, ``garrison audit state`` names it, and other models keep serving.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from garrison.app.gateway import build_gateway
from garrison.errors import AuthenticationFailed, StateUnverified
from garrison.identity import hash_key
from garrison.serving.limits import LimitPolicy
from garrison.serving.table import TableBuilder
from tests.attacks.conftest import sql
from tests.registry.helpers import SERVABLE, servable_model_bytes

FORGED_KEY = "gk_0123456789ab_" + "A" * 43


def _register(inst, tmp_path, name: str, seed: int = 0):
    path = tmp_path / f"{name}-{seed}.pkl"
    path.write_bytes(servable_model_bytes(seed))
    return inst.services.registry.register(inst.people["alice"], name, path, SERVABLE)


def _in_production(inst, tmp_path, name: str, seed: int = 0):
    v = _register(inst, tmp_path, name, seed)
    inst.services.registry.approve(inst.people["bob"], name, v.version)
    return inst.services.registry.promote(inst.people["bob"], name, v.version)


def _table(inst):
    s = inst.services
    builder = TableBuilder(s.registry, s.loader, s.deployments, lambda name, policy: None,
                           max_body_bytes=1 << 20, max_rows=100, defaults=LimitPolicy())
    return builder, builder.build()


def _refusals(inst, resource: str) -> list:
    return [e for e in inst.services.store.query(__import__(
        "garrison.audit", fromlist=["AuditQuery"]).AuditQuery(
            action="refuse-governance-state", resource=resource, limit=None))]


def _alerts(inst) -> list:
    return inst.services.alerts.list(kind="state-unverified")


def _findings(inst) -> set[tuple[str, str, str]]:
    report = inst.services.state.reconcile(inst.people["dan"])
    return {(f.kind, f.key, f.reason) for f in report.findings}


# -- model stages ---------------------------------------------------------------------
def test_a_stage_set_by_sql_is_not_served_and_other_models_are(inst, tmp_path) -> None:
    _in_production(inst, tmp_path, "fraud", 0)
    _in_production(inst, tmp_path, "churn", 1)
    bad = _register(inst, tmp_path, "fraud", 2)
    inst.services.registry.reject(inst.people["bob"], "fraud", bad.version, "leaks labels")
    assert inst.services.state.reconcile(inst.people["dan"]).ok

    # The attack from the report: one UPDATE puts the rejected version into production.
    sql(inst, "UPDATE model_versions SET stage = 'approved' WHERE name = 'fraud' "
              "AND version = 1")
    sql(inst, "UPDATE model_versions SET stage = 'production' WHERE name = 'fraud' "
              "AND version = :v", v=bad.version)

    builder, table = _table(inst)
    assert "fraud" not in table.entries  # Refused: not served at all.
    assert "churn" in table.entries  # The other model is untouched.
    assert [s.code for s in table.problems()["fraud"]] == ["state-unverified"]
    [refusal] = _refusals(inst, f"model:fraud:{bad.version}")
    assert refusal.outcome == "failed" and refusal.reason == "bad-seal"
    assert any(a.caller == f"model:fraud:{bad.version}" for a in _alerts(inst))
    # `model verify` no longer passes it either, and `audit state` names both rows.
    with pytest.raises(StateUnverified):
        inst.services.registry.verify(inst.people["dan"], "fraud", bad.version)
    assert {("model-version", f"fraud:{bad.version}", "bad-seal"),
            ("model-version", "fraud:1", "bad-seal")} <= _findings(inst)


def test_a_replayed_production_row_with_its_old_seal_is_refused(inst, tmp_path) -> None:
    _in_production(inst, tmp_path, "fraud", 0)
    [old_row] = sql(inst, "SELECT stage, stage_changed FROM model_versions "
                          "WHERE name = 'fraud' AND version = 1")
    [old_seal] = sql(inst, "SELECT seq, key_id, signature FROM state_seals "
                           "WHERE kind = 'model-version' AND key = 'fraud:1'")
    _in_production(inst, tmp_path, "fraud", 1)  # Version 2 supersedes version 1 ...
    inst.services.registry.retire(inst.people["bob"], "fraud", 1, "vulnerable")  # ... retired.

    # Put version 1 back as it was, with its genuine (older) seal, and demote version 2.
    sql(inst, "UPDATE model_versions SET stage = :s, stage_changed = :c WHERE name = 'fraud' "
              "AND version = 1", s=old_row[0], c=old_row[1])
    sql(inst, "UPDATE model_versions SET stage = 'approved' WHERE name = 'fraud' "
              "AND version = 2")
    sql(inst, "UPDATE state_seals SET seq = :q, key_id = :k, signature = :g "
              "WHERE kind = 'model-version' AND key = 'fraud:1'",
        q=old_seal[0], k=old_seal[1], g=old_seal[2])

    builder, table = _table(inst)
    assert "fraud" not in table.entries
    [refusal] = _refusals(inst, "model:fraud:1")
    assert refusal.reason == "stale"
    assert ("model-version", "fraud:1", "stale") in _findings(inst)


def test_a_version_promoted_in_sql_with_no_approval_is_refused(inst, tmp_path) -> None:
    _in_production(inst, tmp_path, "fraud", 0)
    fresh = _register(inst, tmp_path, "fraud", 1)  # Registered, never approved.
    sql(inst, "UPDATE model_versions SET stage = 'approved' WHERE version = 1")
    sql(inst, "UPDATE model_versions SET stage = 'production' WHERE version = :v",
        v=fresh.version)
    _, table = _table(inst)
    assert "fraud" not in table.entries
    # Sealed as registered at registration: the stage no longer matches its seal.
    assert _refusals(inst, f"model:fraud:{fresh.version}")[0].reason == "bad-seal"


def test_a_stage_set_by_sql_is_not_laundered_by_a_genuine_promotion(inst, tmp_path) -> None:
    """The approver promotes what the console shows as approved: the promotion must not
    turn a stage written in SQL into a sealed one."""
    fresh = _register(inst, tmp_path, "fraud", 0)
    sql(inst, "UPDATE model_versions SET stage = 'approved' WHERE version = :v",
        v=fresh.version)
    with pytest.raises(StateUnverified):
        inst.services.registry.promote(inst.people["bob"], "fraud", fresh.version)
    assert inst.services.registry.get("fraud", fresh.version).stage == "approved"
    assert ("model-version", f"fraud:{fresh.version}", "bad-seal") in _findings(inst)


def test_the_gateway_refuses_a_sql_promotion_and_keeps_serving_the_rest(
        inst, tmp_path) -> None:
    from starlette.testclient import TestClient

    _in_production(inst, tmp_path, "fraud", 0)
    _in_production(inst, tmp_path, "churn", 1)
    root = inst.people["root"]
    inst.services.accounts.create_principal(root, "scoring-app", kind="service",
                                            roles=["client"])
    app_key = inst.services.accounts.create_key(root, "scoring-app").secret
    for name in ("fraud", "churn"):
        inst.services.deployments.configure(inst.people["bob"], name, {"callers": ["*"]})
    bad = _register(inst, tmp_path, "fraud", 2)
    inst.services.registry.reject(inst.people["bob"], "fraud", bad.version)
    sql(inst, "UPDATE model_versions SET stage = 'retired' WHERE name = 'fraud' "
              "AND version = 1")
    sql(inst, "UPDATE model_versions SET stage = 'production' WHERE name = 'fraud' "
              "AND version = :v", v=bad.version)
    # And a client role granted in SQL to the auditor: refused, whatever the role says.
    sql(inst, "INSERT INTO principal_roles (principal_id, role) VALUES (:p, 'client')",
        p=inst.people["dan"].id)
    app, state = build_gateway(inst.services, inst.services.settings)
    row = json.dumps({"instances": [{f"x{i}": 0.1 for i in range(4)}]})
    headers = {"Authorization": f"Bearer {app_key}", "Content-Type": "application/json"}
    with TestClient(app) as client:
        problems = state.dataplane.table.problems()
        assert "fraud" in problems and "churn" not in problems
        ok = client.post("/v1/models/churn/predict", content=row, headers=headers)
        refused = client.post("/v1/models/fraud/predict", content=row, headers=headers)
        forged = client.post("/v1/models/churn/predict", content=row, headers={
            **headers, "Authorization": f"Bearer {inst.keys['dan']}"})
    assert ok.status_code == 200, ok.text
    assert refused.status_code in (404, 503)
    assert forged.status_code == 401


# -- keys, roles ----------------------------------------------------------------------
def test_an_api_key_inserted_by_sql_is_refused(inst) -> None:
    sql(inst, "INSERT INTO api_keys (id, prefix, principal_id, name, key_hash, created) "
              "VALUES ('forged', '0123456789ab', :p, 'x', :h, '2026-01-01T00:00:00.000000Z')",
        p=inst.people["root"].id, h=hash_key(FORGED_KEY))
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.accounts.authenticate(FORGED_KEY)
    assert info.value.detail["why"] == "unverified-state"
    assert info.value.detail["state"] == "unsealed"
    assert any(a.caller == "principal:root" for a in _alerts(inst))
    assert ("api-key", "forged", "unsealed") in _findings(inst)
    # The real keys still work.
    assert inst.services.accounts.authenticate(inst.keys["root"]).name == "root"


def test_a_role_granted_by_sql_is_refused(inst) -> None:
    sql(inst, "INSERT INTO principal_roles (principal_id, role) VALUES (:p, 'admin')",
        p=inst.people["dan"].id)
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.accounts.authenticate(inst.keys["dan"])
    assert info.value.detail["state"] == "bad-seal"
    with pytest.raises(StateUnverified):
        inst.services.accounts.get("dan")  # The console's OIDC sign-in path.
    assert ("principal", inst.people["dan"].id, "bad-seal") in _findings(inst)
    # Granting it through Garrison is audited, sealed and honoured.
    inst.services.accounts.grant_role(inst.people["root"], "dan", "admin")
    assert "admin" in inst.services.accounts.authenticate(inst.keys["dan"]).roles


def test_an_open_console_session_ends_when_its_role_is_granted_by_sql(inst) -> None:
    opened = inst.services.sessions.open_with_key(inst.keys["dan"], client="127.0.0.1")
    assert inst.services.sessions.resume(opened.token).principal.name == "dan"
    sql(inst, "INSERT INTO principal_roles (principal_id, role) VALUES (:p, 'admin')",
        p=inst.people["dan"].id)
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.sessions.resume(opened.token)
    assert info.value.detail["why"] == "unverified-state"


def test_a_disabled_principal_enabled_by_sql_is_refused(inst) -> None:
    inst.services.accounts.set_disabled(inst.people["root"], "alice", True)
    sql(inst, "UPDATE principals SET disabled = :f WHERE name = 'alice'", f=False)
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.accounts.authenticate(inst.keys["alice"])
    assert info.value.detail["why"] == "unverified-state"


def test_an_unrevoked_key_is_refused_even_with_its_old_seal(inst) -> None:
    key = inst.services.accounts.create_key(inst.people["root"], "bob")
    [old] = sql(inst, "SELECT seq, key_id, signature FROM state_seals WHERE kind = 'api-key' "
                      "AND key = :k", k=key.record.id)
    inst.services.accounts.revoke_key(inst.people["root"], key.record.prefix)
    sql(inst, "UPDATE api_keys SET revoked = NULL WHERE id = :k", k=key.record.id)
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.accounts.authenticate(key.secret)
    assert info.value.detail["state"] == "bad-seal"
    sql(inst, "UPDATE state_seals SET seq = :q, key_id = :i, signature = :g "
              "WHERE kind = 'api-key' AND key = :k", q=old[0], i=old[1], g=old[2],
        k=key.record.id)
    with pytest.raises(AuthenticationFailed) as info:
        inst.services.accounts.authenticate(key.secret)
    assert info.value.detail["state"] == "stale"
    assert ("api-key", key.record.id, "stale") in _findings(inst)


def test_an_expiry_extended_by_sql_is_refused(inst) -> None:
    sql(inst, "UPDATE api_keys SET expires = NULL WHERE principal_id = :p",
        p=inst.people["bob"].id)
    with pytest.raises(AuthenticationFailed):
        inst.services.accounts.authenticate(inst.keys["bob"])


# -- deployment policies ---------------------------------------------------------------
def test_a_deployment_policy_edited_by_sql_is_refused(inst, tmp_path) -> None:
    _in_production(inst, tmp_path, "fraud", 0)
    _in_production(inst, tmp_path, "churn", 1)
    inst.services.deployments.configure(inst.people["bob"], "fraud",
                                        {"callers": ["scoring-app"], "detection": "reject"})
    [(config,)] = sql(inst, "SELECT config FROM deployments WHERE name = 'fraud'")
    opened = {**json.loads(config), "callers": ["*"], "detection": "off"}
    sql(inst, "UPDATE deployments SET config = :c WHERE name = 'fraud'",
        c=json.dumps(opened, sort_keys=True))
    builder, table = _table(inst)
    assert "fraud" not in table.entries and "churn" in table.entries
    assert _refusals(inst, "model:fraud")[0].reason == "bad-seal"
    assert ("deployment", "fraud", "bad-seal") in _findings(inst)


def test_a_deployment_policy_deleted_by_sql_is_refused(inst, tmp_path) -> None:
    _in_production(inst, tmp_path, "fraud", 0)
    inst.services.deployments.configure(inst.people["bob"], "fraud", {"detection": "reject"})
    sql(inst, "DELETE FROM deployments WHERE name = 'fraud'")  # Back to weaker defaults?
    _, table = _table(inst)
    assert "fraud" not in table.entries
    assert ("deployment", "fraud", "bad-seal") in _findings(inst)


# -- reporting ---------------------------------------------------------------------------
def test_audit_state_reports_on_the_cli(db_url, tmp_path, monkeypatch) -> None:
    from garrison.app import initialize
    from garrison.cli.main import cli
    from garrison.config import load_settings

    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=db_url)
    services, root, _ = initialize(settings, "root")
    services.accounts.create_principal(root, "alice", roles=["data-scientist"])
    services.accounts.create_principal(root, "dan", roles=["auditor"])
    dan_key = services.accounts.create_key(root, "dan").secret
    monkeypatch.setenv("GARRISON_HOME", str(home))
    monkeypatch.setenv("GARRISON_DATABASE_URL", db_url)
    env = {"GARRISON_API_KEY": dan_key}
    try:
        clean = CliRunner().invoke(cli, ["audit", "state", "--json"], env=env)
        assert clean.exit_code == 0, clean.output
        assert json.loads(clean.stdout)["ok"] is True
        with services.store.engine.begin() as conn:
            conn.execute(text("INSERT INTO principal_roles (principal_id, role) "
                              "VALUES (:p, 'admin')"),
                         {"p": services.accounts.get("alice").id})
        dirty = CliRunner().invoke(cli, ["audit", "state", "--json"], env=env)
        assert dirty.exit_code == 1, dirty.output
        [finding] = json.loads(dirty.stdout)["findings"]
        assert (finding["kind"], finding["reason"], finding["name"]) == (
            "principal", "bad-seal", "alice")
        human = CliRunner().invoke(cli, ["audit", "state"], env=env)
        assert human.exit_code == 1 and "bad-seal" in human.stderr
        assert "Traceback" not in human.output
    finally:
        services.close()


# -- existing installations --------------------------------------------------------------
def test_db_upgrade_seals_an_older_installation_once(db_url, tmp_path, monkeypatch) -> None:
    from garrison.app import initialize, upgrade_database
    from garrison.audit import AuditQuery
    from garrison.config import load_settings
    from garrison.governance.state import StateAudit

    settings = load_settings(home=tmp_path / "home", database_url=db_url)
    with monkeypatch.context() as m:  # An installation made before state seals existed:
        m.setattr(StateAudit, "adopt", lambda self, **kw: None)
        services, root, key = initialize(settings, "root")
    with services.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM state_seals"))  # ... has no seals at all.
    try:
        with pytest.raises(AuthenticationFailed) as info:
            services.accounts.authenticate(key.secret)
        assert info.value.detail["state"] == "unsealed"  # Refused until adopted.

        upgrade_database(settings)  # With the signing keys at hand: seals, once.
        assert services.accounts.authenticate(key.secret).name == "root"
        [adopted] = services.store.query(AuditQuery(action="seal-governance-state"))
        assert json.loads(adopted.payload)["sealed"] == 2  # root and its key.

        # A row inserted afterwards is never adopted by a later upgrade.
        with services.store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO api_keys (id, prefix, principal_id, name, key_hash, created) "
                "VALUES ('forged', '0123456789ab', :p, 'x', :h, "
                "'2026-01-01T00:00:00.000000Z')"), {"p": root.id, "h": hash_key(FORGED_KEY)})
        upgrade_database(settings)
        with pytest.raises(AuthenticationFailed):
            services.accounts.authenticate(FORGED_KEY)
        assert len(services.store.query(AuditQuery(action="seal-governance-state"))) == 1
    finally:
        services.close()


def test_a_new_installation_is_born_sealed(inst) -> None:
    from garrison.audit import AuditQuery

    [event] = inst.services.store.query(AuditQuery(action="seal-governance-state"))
    assert json.loads(event.payload) == {"new_installation": True, "sealed": 0}
    assert inst.services.state.reconcile(inst.people["root"]).ok


def test_whoever_holds_the_signing_key_can_seal_state(inst) -> None:
    """The limit of the defence (security-model.md, host attacker): seals are as strong
    as the signing key. With the key, a role granted in SQL can be sealed and is honoured;
    only an off-host witness or export of the trail shows the grant has no event."""
    from garrison.governance.seals import principal_state

    dan = inst.people["dan"]
    sql(inst, "INSERT INTO principal_roles (principal_id, role) VALUES (:p, 'admin')",
        p=dan.id)
    head = inst.services.store.head()
    assert head is not None
    forged = principal_state(dan.__class__(**{**dan.__dict__,
                                              "roles": dan.roles | {"admin"}}))
    key_id, signature = inst.services.keyring.sign(forged.message(head.seq))
    sql(inst, "UPDATE state_seals SET seq = :q, key_id = :k, signature = :g "
              "WHERE kind = 'principal' AND key = :p", q=head.seq, k=key_id, g=signature,
        p=dan.id)
    assert "admin" in inst.services.accounts.authenticate(inst.keys["dan"]).roles


def test_audit_state_reports_on_the_admin_api(inst) -> None:
    from starlette.testclient import TestClient

    from garrison.web import create_web_app

    with TestClient(create_web_app(inst.services)) as client:
        clean = client.post("/admin/audit/state", headers=inst.auth("dan"))
        assert clean.status_code == 200 and clean.json()["ok"] is True
        sql(inst, "UPDATE principals SET disabled = :f WHERE name = 'alice'", f=True)
        sql(inst, "INSERT INTO principal_roles (principal_id, role) VALUES (:p, 'admin')",
            p=inst.people["alice"].id)
        dirty = client.post("/admin/audit/state", headers=inst.auth("dan"))
        assert dirty.status_code == 200
        body = dirty.json()
        assert body["ok"] is False
        assert [(f["kind"], f["reason"], f["name"]) for f in body["findings"]] == [
            ("principal", "bad-seal", "alice")]
        denied = client.post("/admin/audit/state", headers=inst.auth("alice"))
        assert denied.status_code == 401  # Her own state is refused, so is her key.
