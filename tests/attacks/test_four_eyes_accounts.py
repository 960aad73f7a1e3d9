"""Issue 11, finding 7: one admin cannot defeat four eyes with accounts of their making.

The attack: an admin registers a model, creates an approver account (or a key for an
existing approver, or grants an account the approver role), and approves the model
with it. The rule (``registry/review.py``): an approval counts only if the registrant
did not create the approver's account, grant it a role that approves, or create one of
its keys, directly or through accounts they made. Read from the signed audit trail; on
both backends; through the registry, so the CLI, the admin API and the console all
enforce it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from garrison.audit import AuditQuery
from garrison.errors import FourEyesViolation
from garrison.web import create_web_app
from tests.web.helpers import SCHEMA, SyncASGITransport, model_bytes


def _register(inst, who: str, name: str, tmp_path: Path, schema: bool = False) -> None:
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(model_bytes())
    inst.services.registry.register(inst.people[who], name, path,
                                    {"input_schema": SCHEMA} if schema else None)


def _refused(inst, approver, name: str) -> FourEyesViolation:
    with pytest.raises(FourEyesViolation) as refused:
        inst.services.registry.approve(approver, name, 1)
    assert inst.services.registry.get(name, 1).stage == "registered"
    return refused.value


def test_a_rogue_admin_cannot_approve_through_accounts_of_their_making(inst, tmp_path) -> None:
    accounts, root = inst.services.accounts, inst.people["root"]
    eve = accounts.create_principal(root, "eve", roles=["admin"])
    inst.people["eve"] = eve
    _register(inst, "eve", "fraud", tmp_path)
    # 1. A fresh approver account.
    sock = accounts.create_principal(eve, "sock", roles=["approver"])
    assert _refused(inst, sock, "fraud").detail["why"] == "approver-vouched-by-registrant"
    # 2. An existing account given the approver role.
    accounts.grant_role(eve, "dan", "approver")
    _refused(inst, accounts.get("dan"), "fraud")
    # 3. A key of an existing approver (the admin holds its secret).
    accounts.create_key(eve, "bob", name="borrowed")
    _refused(inst, accounts.get("bob"), "fraud")
    # 4. Through a second admin of their own making.
    eve2 = accounts.create_principal(eve, "eve2", roles=["admin"])
    sock2 = accounts.create_principal(eve2, "sock2", roles=["approver"])
    _refused(inst, sock2, "fraud")
    refusals = [e for e in inst.services.store.query(AuditQuery(
        action="approve-model-version", limit=None)) if e.outcome != "ok"]
    assert len(refusals) == 4 and all("four-eyes" in e.reason for e in refusals), refusals


def test_an_approver_the_registrant_could_not_act_as_still_approves(inst, tmp_path) -> None:
    _register(inst, "alice", "fraud", tmp_path, schema=True)
    # bob was made by root, not by alice: four eyes holds.
    approved = inst.services.registry.approve(inst.people["bob"], "fraud", 1)
    assert approved.stage == "approved"


def test_the_admin_api_and_the_approvers_desk_refuse_it_too(inst, tmp_path) -> None:
    accounts, root = inst.services.accounts, inst.people["root"]
    eve = accounts.create_principal(root, "eve", roles=["admin"])
    inst.people["eve"] = eve
    _register(inst, "eve", "fraud", tmp_path)
    accounts.create_principal(eve, "sock", roles=["approver"])
    key = accounts.create_key(eve, "sock").secret
    sock = accounts.get("sock")
    review = inst.services.approvals.review(sock, "fraud", 1)
    assert review.blocker is not None and "created your account" in review.blocker
    transport = SyncASGITransport(create_web_app(inst.services))
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        r = client.post("/admin/models/fraud/versions/1/approve",
                        headers={"Authorization": f"Bearer {key}"}, json={"reason": "lgtm"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "four-eyes-violation"
    transport.close()
    assert inst.services.registry.get("fraud", 1).stage == "registered"
