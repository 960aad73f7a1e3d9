"""The serving services every adapter goes through: deployments, shadow reports,
decision records, and the data plane's hardened output."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from garrison.audit import AuditQuery
from garrison.errors import Forbidden, InvalidInput, ModelNotFound
from garrison.serving.decision_service import DECISION_INPUTS_PURPOSE
from garrison.serving.decisions import DecisionRecord
from garrison.signing import KeyedHasher

from .conftest import auth

FEATURES = [f"f{i:02d}" for i in range(20)]


def _events(services, action):
    return services.store.query(AuditQuery(action=action))


def _people(demo):
    return demo.extra["people"]


def test_configure_merges_validates_and_audits(installation) -> None:
    _, services, demo = installation
    bob, alice = _people(demo)["bob"], _people(demo)["alice"]
    before = len(_events(services, "configure-deployment"))
    config = services.deployments.configure(bob, "credit-risk",
                                            {"output": {"mode": "rounded"}, "rate_limit": 5.0})
    assert config.output.mode == "rounded" and config.output.decimals == 2  # kept
    assert config.callers == ("scoring-app",) and config.rate_limit == 5.0
    assert services.deployments.get("credit-risk") == config
    event = _events(services, "configure-deployment")[-1]
    assert (event.actor, event.outcome, event.resource) == ("bob", "ok", "model:credit-risk")
    assert json.loads(event.payload)["changes"]["output"] == {"mode": "rounded", "decimals": 2,
                                                              "k": 1}
    # Invalid input is refused before anything is written or recorded.
    with pytest.raises(InvalidInput):
        services.deployments.configure(bob, "credit-risk", {"shadow_fraction": 2})
    with pytest.raises(InvalidInput):
        services.deployments.configure(bob, "credit-risk", {"no_such_setting": 1})
    assert len(_events(services, "configure-deployment")) == before + 1
    assert services.deployments.get("credit-risk") == config
    # A model that does not exist: nothing stored, the failure audited.
    with pytest.raises(ModelNotFound):
        services.deployments.configure(bob, "ghost", {"callers": ["*"]})
    failed = _events(services, "configure-deployment")[-1]
    assert (failed.outcome, failed.reason) == ("failed", "model-not-found")
    assert "ghost" not in services.deployments.all()
    # A data scientist may read the policy but not change it; the denial is recorded.
    assert services.deployments.show(alice, "credit-risk") == config
    with pytest.raises(Forbidden):
        services.deployments.configure(alice, "credit-risk", {"callers": ["*"]})
    denied = _events(services, "configure-deployment")[-1]
    assert (denied.actor, denied.outcome) == ("alice", "denied")
    assert services.deployments.get("credit-risk").callers == ("scoring-app",)


def test_shadow_report_needs_the_role_and_reports_nothing_without_traffic(installation) -> None:
    _, services, demo = installation
    people = _people(demo)
    report = services.shadows.report(people["carol"], "credit-risk")
    assert report.requests == 0 and report.agreement is None and report.model == "credit-risk"
    with pytest.raises(Forbidden):
        services.shadows.report(people["scoring-app"], "credit-risk")
    denied = _events(services, "view-shadow-report")[-1]
    assert (denied.actor, denied.outcome) == ("scoring-app", "denied")


def test_decision_verify_and_fetch(installation) -> None:
    _, services, demo = installation
    people = _people(demo)
    services.decisions.record_batch([DecisionRecord(
        request_id=f"r{i}", created="2026-01-01T00:00:00.000000Z", caller="scoring-app",
        model="credit-risk", version=1, rows=1, outputs=np.array([i]), input_policy="full",
        inputs=np.array([[float(i)]])) for i in range(3)])
    everything = services.decisions.verify(people["carol"])
    assert everything.ok and (everything.batches, everything.records) == (1, 3)
    one = services.decisions.verify(people["carol"], "r1")
    assert one.ok and one.anchor_seq is not None and one.to_dict()["anchor_seq"] == one.anchor_seq
    body = services.decisions.fetch(people["carol"], "r2")
    assert body["outputs"] == [2] and body["inputs"] == [[2.0]]
    assert body["integrity"] == {"verified": True, "anchor_seq": one.anchor_seq}
    with pytest.raises(Forbidden):
        services.decisions.fetch(people["scoring-app"], "r2")
    with pytest.raises(Forbidden):
        services.decisions.verify(people["scoring-app"])
    outcomes = [e.outcome for e in services.store.query(
        AuditQuery(action="verify-audit-log", resource="decisions"))]
    assert outcomes == ["ok", "ok", "denied"]


def test_pseudonymized_inputs_use_the_managed_key_and_no_gateway_key_file(gateway) -> None:
    """The digests are keyed by the installation's pseudonymization key, separated from
    pseudonym tokens by their purpose; the gateway writes no key file of its own."""
    client, state, demo, services = gateway
    services.deployments.configure(_people(demo)["bob"], "credit-risk",
                                   {"record_inputs": "pseudonymized"})
    row = {n: float(demo.X[3, j]) for j, n in enumerate(FEATURES)}
    for _ in range(100):  # The table reloads within its refresh interval.
        served = state.dataplane.table.entries["credit-risk"].primary.config
        if served.record_inputs == "pseudonymized":
            break
        time.sleep(0.05)
    r = client.post("/v1/models/credit-risk/predict", headers=auth(demo.keys["scoring-app"]),
                    content=json.dumps({"instances": [row]}))
    assert r.status_code == 200
    assert state.background[0].flush()
    stored = client.get(f"/v1/decisions/{r.json()['request_id']}",
                        headers=auth(demo.keys["carol"])).json()
    keys = services.settings.keys_dir
    hasher = KeyedHasher((keys / "pseudonym-hmac.key").read_bytes(), DECISION_INPUTS_PURPOSE)
    message = json.dumps([row[n] for n in FEATURES], separators=(",", ":")).encode()
    assert stored["inputs"] == [hasher.hexdigest(message)]
    assert not (keys / "decision-inputs.key").exists()


@pytest.mark.parametrize("mode,keys", [
    ("full", {"label", "scores"}), ("top_k", {"label", "top"}), ("label", {"label"}),
])
def test_the_data_plane_returns_the_hardened_output(gateway, mode, keys) -> None:
    """Hardening happens in the data plane: every adapter serializes the same object."""
    client, state, demo, services = gateway
    plane = state.dataplane
    deployed = plane.table.entries["credit-risk"].primary
    deployed.config = deployed.config.updated(output={"mode": mode, "decimals": 2, "k": 1})
    scoring = services.accounts.get("scoring-app")
    body = json.dumps({"instances": [{n: float(demo.X[0, j]) for j, n in enumerate(FEATURES)}]})
    result = client.portal.call(lambda: plane.infer(scoring, "credit-risk", body.encode()))
    assert result.hardened is not None and result.hardened.mode == mode
    (prediction,) = result.hardened.to_predictions()
    assert set(prediction) == keys
    assert prediction["label"] == demo.estimator.predict(demo.X[:1])[0]
    assert result.output.scores is not None  # The full answer stays inside the process.
