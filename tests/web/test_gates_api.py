"""The release-gate endpoints: the policy (approver role), runs, reports, overrides (two
admins) and the refusal of an approval without a passing report, as HTTP answers."""

from __future__ import annotations

from tests.gates.flow_helpers import FakeRunner, register_holdout, verdict
from tests.web.helpers import SCHEMA, model_bytes

_V = "/admin/models/fraud/versions/1"


def test_gate_endpoints(inst, http, tmp_path) -> None:
    services, people = inst.services, inst.people
    runner = FakeRunner(answer=verdict(False))
    services.gates.runner = runner
    people["root2"] = services.accounts.create_principal(people["root"], "root2",
                                                         roles=["admin"])
    inst.keys["root2"] = services.accounts.create_key(people["root"], "root2").secret
    register_holdout(services, people["alice"], tmp_path)
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(model_bytes())
    services.registry.register(people["alice"], "fraud", artifact, {"input_schema": SCHEMA})

    policy = {"policy": {"holdout_dataset": "holdout:1"}}
    assert http.put("/admin/models/fraud/gate-policy", json=policy,
                    headers=inst.auth("alice")).status_code == 403
    bad = http.put("/admin/models/fraud/gate-policy", json={"policy": {
        "holdout_dataset": "holdout:1", "treshold": 1}}, headers=inst.auth("bob"))
    assert bad.status_code == 400 and "treshold" in bad.json()["error"]["message"]
    put = http.put("/admin/models/fraud/gate-policy", json=policy, headers=inst.auth("bob"))
    assert put.status_code == 200 and put.json()["revision"] == 1
    got = http.get("/admin/models/fraud/gate-policy", headers=inst.auth("dan")).json()
    assert got["digest"] == put.json()["digest"] and got["policy"]["label"] == "label"

    assert http.get(_V + "/gate-report", headers=inst.auth("bob")).status_code == 404
    refused = http.post(_V + "/approve", json={}, headers=inst.auth("bob"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "gate-failed"

    run = http.post(_V + "/gate-runs", headers=inst.auth("alice"))
    assert run.status_code == 201, run.text
    assert run.json()["passed"] is False and run.json()["current_policy"] is True
    report = http.get(_V + "/gate-report?envelope=1", headers=inst.auth("dan")).json()
    assert report["report_sha256"] == run.json()["report_sha256"]
    assert report["envelope"]["payloadType"] == "application/vnd.in-toto+json"

    asked = http.post(_V + "/gate-overrides", json={"reason": "too short"},
                      headers=inst.auth("root"))
    assert asked.status_code == 400
    asked = http.post(_V + "/gate-overrides", headers=inst.auth("root"),
                      json={"reason": "accepted by the fraud risk board, ticket RISK-1234"})
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    override = asked.json()["id"]
    own = http.post(f"/admin/gate-overrides/{override}/approve", headers=inst.auth("root"))
    assert own.status_code == 403 and own.json()["error"]["code"] == "four-eyes-violation"
    assert http.post(f"/admin/gate-overrides/{override}/approve",
                     headers=inst.auth("bob")).status_code == 403
    granted = http.post(f"/admin/gate-overrides/{override}/approve", headers=inst.auth("root2"))
    assert granted.status_code == 200 and granted.json()["approved_by"] == "root2"
    listed = http.get("/admin/models/fraud/gate-overrides", headers=inst.auth("dan")).json()
    assert [o["status"] for o in listed["overrides"]] == ["approved"]
    assert http.post(_V + "/approve", json={}, headers=inst.auth("bob")).status_code == 200
    assert http.post("/admin/gate-overrides/not-an-id/approve",
                     headers=inst.auth("root2")).status_code in (400, 404)
