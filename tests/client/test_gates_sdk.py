"""The SDK's release-gate methods against the in-process admin API."""

from __future__ import annotations

import pytest

from garrison.errors import FourEyesViolation, GateFailed, NotFound
from tests.gates.flow_helpers import FakeRunner, register_holdout, verdict
from tests.web.helpers import SCHEMA, model_bytes


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_sdk_sets_runs_reads_and_overrides_a_gate(inst, sdk, tmp_path) -> None:
    services, people = inst.services, inst.people
    services.gates.runner = FakeRunner(answer=verdict(False))
    people["root2"] = services.accounts.create_principal(people["root"], "root2",
                                                         roles=["admin"])
    inst.keys["root2"] = services.accounts.create_key(people["root"], "root2").secret
    register_holdout(services, people["alice"], tmp_path)
    (tmp_path / "m.pkl").write_bytes(model_bytes())
    services.registry.register(people["alice"], "fraud", tmp_path / "m.pkl",
                               {"input_schema": SCHEMA})
    bob, root, root2 = sdk("bob"), sdk("root"), sdk("root2")
    with pytest.raises(NotFound):
        bob.gate_policy("fraud")
    assert bob.set_gate_policy("fraud", {"holdout_dataset": "holdout:1"})["revision"] == 1
    assert bob.gate_policy("fraud")["policy"]["label"] == "label"
    report = sdk("alice").run_gate("fraud", 1)
    assert report["passed"] is False
    assert bob.gate_report("fraud", 1, envelope=True)["envelope"]["payloadType"]
    with pytest.raises(GateFailed):
        bob.approve("fraud", 1)
    asked = root.request_gate_override("fraud", 1, "kept for the champion/challenger test")
    with pytest.raises(FourEyesViolation):
        root.approve_gate_override(asked["id"])
    assert root2.approve_gate_override(asked["id"])["status"] == "approved"
    assert [o["id"] for o in bob.gate_overrides("fraud")] == [asked["id"]]
    assert bob.approve("fraud", 1).stage == "approved"
