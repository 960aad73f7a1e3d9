"""Audit endpoints: an intact chain verifies, a tampered one answers 409 with the position."""

from __future__ import annotations

from sqlalchemy import text

from garrison.audit import AuditQuery
from garrison.web.middleware import SECURITY_HEADERS


def test_intact_chain_verifies(inst, http) -> None:
    response = http.post("/admin/audit/verify", headers=inst.auth("dan"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["events"] == body["head_seq"] > 0


def test_tampered_chain_answers_409_with_position_and_reason(inst, http) -> None:
    with inst.services.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    response = http.post("/admin/audit/verify", headers=inst.auth("dan"))
    assert response.status_code == 409
    error = response.json()["error"]
    assert set(error) == {"code", "message", "request_id", "position", "reason"}
    assert (error["code"], error["position"], error["reason"]) == (
        "audit-chain-broken", 3, "modified")
    assert error["request_id"] == response.headers["x-request-id"]
    assert all(response.headers[k] == v for k, v in SECURITY_HEADERS.items())
    [event] = inst.services.store.query(AuditQuery(action="verify-audit-log", limit=None))
    assert (event.actor, event.outcome, event.reason, event.request_id) == (
        "dan", "failed", "modified", error["request_id"])


def test_events_are_filtered_and_read_only(inst, http) -> None:
    http.get("/admin/models", headers={"Authorization": "Bearer nope"})
    page = http.get("/admin/audit/events", params={"action": "authenticate",
                                                   "outcome": "denied"},
                    headers=inst.auth("dan")).json()
    assert [(e["actor"], e["reason"]) for e in page["events"]] == [("anonymous",
                                                                   "malformed-key")]
    assert "nope" not in str(page)
    for method in ("PUT", "DELETE", "PATCH"):
        assert http.request(method, "/admin/audit/events",
                            headers=inst.auth("root")).status_code == 405
