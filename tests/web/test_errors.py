"""Every error path answers in the one canonical shape, with the documented status."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from structlog.testing import capture_logs

from garrison.errors import GarrisonError, all_error_classes
from garrison.web import HTTP_ONLY_CODES, STATUS, create_web_app, status_for
from garrison.web.middleware import SECURITY_HEADERS
from tests.web.helpers import SyncASGITransport

V1 = "/admin/models/fraud/versions/1"
UPLOAD = "/admin/models/fraud/versions"
OCTET = {"Content-Type": "application/octet-stream"}
JSON = {"Content-Type": "application/json"}

# (id, method, path, who, request kwargs, status, code)
CASES = [
    ("no-credentials", "GET", "/admin/models", None, {}, 401, "unauthenticated"),
    ("garbage-key", "GET", "/admin/models", "garbage", {}, 401, "unauthenticated"),
    ("basic-auth", "GET", "/admin/models", "basic", {}, 401, "unauthenticated"),
    ("unknown-key", "GET", "/admin/models", "unknown", {}, 401, "unauthenticated"),
    ("auditor-approves", "POST", V1 + "/approve", "dan", {"json": {}}, 403, "forbidden"),
    ("auditor-downloads", "GET", V1 + "/artifact", "dan", {}, 403, "forbidden"),
    ("auditor-uploads", "POST", UPLOAD, "dan", {"content": b"x", "headers": OCTET}, 403,
     "forbidden"),
    ("scientist-verifies-audit", "POST", "/admin/audit/verify", "alice", {}, 403, "forbidden"),
    ("promote-unapproved", "POST", V1 + "/promote", "bob", {"json": {}}, 403,
     "approval-required"),
    ("unknown-version", "GET", "/admin/models/fraud/versions/99", "dan", {}, 404,
     "model-version-not-found"),
    ("unknown-route", "GET", "/admin/nothing-here", "dan", {}, 404, "not-found"),
    ("wrong-method", "DELETE", "/admin/models", "dan", {}, 405, "method-not-allowed"),
    ("bad-name", "GET", "/admin/models/Bad%20Name/versions/1", "dan", {}, 400, "invalid-input"),
    ("bad-version", "GET", "/admin/models/fraud/versions/one", "dan", {}, 400,
     "invalid-input"),
    ("version-zero", "GET", "/admin/models/fraud/versions/0", "dan", {}, 400, "invalid-input"),
    ("unknown-query", "GET", "/admin/models?limit=3", "dan", {}, 400, "invalid-input"),
    ("repeated-query", "GET", "/admin/models?name=a&name=b", "dan", {}, 400, "invalid-input"),
    ("bad-name-query", "GET", "/admin/models?name=../x", "dan", {}, 400, "invalid-input"),
    # The query schema alone enforces the model-name rule: no trailing-newline leniency.
    ("name-query-newline", "GET", "/admin/models?name=fraud%0A", "dan", {}, 400,
     "invalid-input"),
    ("name-query-upper", "GET", "/admin/models?name=Fraud", "dan", {}, 400, "invalid-input"),
    ("name-query-too-long", "GET", "/admin/models?name=" + "a" * 65, "dan", {}, 400,
     "invalid-input"),
    ("name-query-empty", "GET", "/admin/models?name=", "dan", {}, 400, "invalid-input"),
    ("limit-too-big", "GET", "/admin/audit/events?limit=5000", "dan", {}, 400, "invalid-input"),
    ("limit-not-int", "GET", "/admin/audit/events?limit=ten", "dan", {}, 400, "invalid-input"),
    ("bad-since", "GET", "/admin/audit/events?since=yesterday", "dan", {}, 400,
     "invalid-input"),
    ("bad-outcome", "GET", "/admin/audit/events?outcome=maybe", "dan", {}, 400,
     "invalid-input"),
    ("malformed-json", "POST", V1 + "/approve", "bob", {"content": b"{not json",
                                                          "headers": JSON}, 400, "invalid-input"),
    ("not-utf8-json", "POST", V1 + "/approve", "bob", {"content": b'{"reason": "\xff"}',
                                                         "headers": JSON}, 400, "invalid-input"),
    ("deep-json", "POST", V1 + "/approve", "bob", {"content": b"[" * 200_000,
                                                     "headers": JSON}, 400, "invalid-input"),
    ("json-array", "POST", V1 + "/approve", "bob", {"json": [1, 2]}, 400, "invalid-input"),
    ("wrong-type", "POST", V1 + "/approve", "bob", {"json": {"reason": 5}}, 400,
     "invalid-input"),
    ("unknown-field", "POST", V1 + "/approve", "bob", {"json": {"reason": "x", "by": "me"}},
     400, "invalid-input"),
    ("reason-too-long", "POST", V1 + "/reject", "bob", {"json": {"reason": "x" * 501}}, 400,
     "invalid-input"),
    ("not-json-type", "POST", V1 + "/approve", "bob",
     {"content": b"reason=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
     400, "invalid-input"),
    ("bad-stage", "POST", V1 + "/promote", "bob", {"json": {"stage": "staging"}}, 400,
     "invalid-input"),
    ("json-too-large", "POST", V1 + "/approve", "bob",
     {"content": b" " * (1024**2 + 1), "headers": JSON}, 413, "payload-too-large"),
    ("invalid-transition", "POST", V1 + "/retire", "bob", {"json": {}}, 409,
     "invalid-transition"),
    ("nothing-to-roll-back", "POST", "/admin/models/fraud/rollback", "bob", {"json": {}}, 409,
     "conflict"),
    ("unknown-format", "POST", UPLOAD, "alice", {"content": b"not a model", "headers": OCTET},
     422, "artifact-unscannable"),
    ("empty-artifact", "POST", UPLOAD, "alice", {"content": b"", "headers": OCTET}, 422,
     "artifact-unscannable"),
    ("upload-wrong-type", "POST", UPLOAD, "alice",
     {"content": b"x", "headers": {"Content-Type": "text/plain"}}, 400, "invalid-input"),
    ("upload-bad-metadata", "POST", UPLOAD, "alice",
     {"content": b"x", "headers": {**OCTET, "X-Garrison-Metadata": "{nope"}}, 400,
     "invalid-input"),
    ("upload-metadata-not-object", "POST", UPLOAD, "alice",
     {"content": b"x", "headers": {**OCTET, "X-Garrison-Metadata": "[1]"}}, 400,
     "invalid-input"),
    ("upload-unknown-metadata", "POST", UPLOAD, "alice",
     {"content": b"x", "headers": {**OCTET, "X-Garrison-Metadata": '{"owner": "me"}'}}, 400,
     "invalid-input"),
    ("upload-bad-name", "POST", "/admin/models/-x-/versions", "alice",
     {"content": b"x", "headers": OCTET}, 400, "invalid-input"),
]


def _auth(inst, who: str | None) -> dict[str, str]:
    if who is None:
        return {}
    if who == "garbage":
        return {"Authorization": "Bearer not-a-key"}
    if who == "basic":
        return {"Authorization": "Basic YWxpY2U6c2VjcmV0"}
    if who == "unknown":
        return {"Authorization": "Bearer gk_0123456789ab_" + "A" * 43}
    return inst.auth(who)


def assert_canonical(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    return error


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_error_shape(seeded, case) -> None:
    inst, http = seeded
    _, method, path, who, kwargs, status, code = case
    kwargs = dict(kwargs)
    headers = {**kwargs.pop("headers", {}), **_auth(inst, who)}
    response = http.request(method, path, headers=headers, **kwargs)
    error = assert_canonical(response, status, code)
    for secret in inst.keys.values():
        assert secret not in response.text
    if status == 401:
        assert error["message"] == "authentication required"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_unauthenticated_answers_are_identical(seeded) -> None:
    """Missing, malformed, unknown and revoked keys all get the same opaque answer."""
    inst, http = seeded
    revoked = inst.services.accounts.create_key(inst.people["root"], "dan")
    inst.services.accounts.revoke_key(inst.people["root"], revoked.record.prefix)
    wrong_secret = inst.keys["dan"][:-4] + "AAAA"
    bodies = set()
    for header in [None, "Bearer x", "Bearer " + wrong_secret, "Bearer " + revoked.secret]:
        response = http.get("/admin/models",
                            headers={"Authorization": header} if header else {})
        error = assert_canonical(response, 401, "unauthenticated")
        bodies.add((error["code"], error["message"]))
    assert bodies == {("unauthenticated", "authentication required")}
    from garrison.audit import AuditQuery

    reasons = [e.reason for e in inst.services.store.query(
        AuditQuery(action="authenticate", limit=None))]
    assert {"wrong-secret", "revoked-key", "malformed-key"} <= set(reasons)


def test_every_error_class_has_a_status() -> None:
    for cls in all_error_classes():
        assert 400 <= status_for(cls) <= 599, cls
    assert set(STATUS) <= set(all_error_classes())
    codes = {cls.code for cls in all_error_classes()}
    assert not codes & set(HTTP_ONLY_CODES)


class _Exploding:
    """A registry whose every call fails with a foreign exception carrying a secret."""

    def __getattr__(self, name: str):
        def fail(*args, **kwargs):
            raise RuntimeError("password=hunter2 at db.internal")

        return fail


def test_unexpected_exception_is_a_bare_logged_500(inst) -> None:
    services = dataclasses.replace(inst.services, registry=_Exploding())
    transport = SyncASGITransport(create_web_app(services))
    with capture_logs() as logs, httpx.Client(transport=transport,
                                               base_url="http://testserver") as http:
        response = http.get("/admin/models", headers=inst.auth("dan"))
    transport.close()
    error = assert_canonical(response, 500, "internal-error")
    assert error["message"] == "internal server error"
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    [logged] = [e for e in logs if e["event"] == "unhandled-exception"]
    assert logged["request_id"] == error["request_id"] and logged["exc_info"] is True


def test_server_side_garrison_errors_hide_their_message(inst) -> None:
    from garrison.errors import StorageError

    class Broken:
        def list_versions(self, *args, **kwargs):
            raise StorageError("connection to postgresql://admin:pw@db failed")

    services = dataclasses.replace(inst.services, registry=Broken())
    transport = SyncASGITransport(create_web_app(services))
    with httpx.Client(transport=transport, base_url="http://testserver") as http:
        response = http.get("/admin/models", headers=inst.auth("dan"))
    transport.close()
    error = assert_canonical(response, 503, "storage-error")
    assert "pw@db" not in response.text and error["message"] == "The storage backend failed."


def test_client_request_id_is_kept_only_when_safe(seeded) -> None:
    _, http = seeded
    good = http.get("/admin/health", headers={"X-Request-ID": "trace-42.a_b"})
    assert good.headers["x-request-id"] == "trace-42.a_b"
    for bad in ["has space", "x" * 65, "semi;colon", "<script>", ""]:
        response = http.get("/admin/health", headers={"X-Request-ID": bad})
        rid = response.headers["x-request-id"]
        assert rid != bad and len(rid) == 36 and rid.count("-") == 4


def test_request_id_reaches_the_audit_trail(seeded) -> None:
    inst, http = seeded
    response = http.post(V1 + "/approve", json={}, headers={**inst.auth("dan"),
                                                             "X-Request-ID": "corr-123"})
    assert response.status_code == 403
    page = http.get("/admin/audit/events", params={"request_id": "corr-123"},
                    headers=inst.auth("dan")).json()
    assert [(e["actor"], e["action"], e["outcome"]) for e in page["events"]] == [
        ("dan", "approve-model-version", "denied")]


def test_garrison_error_base_maps_to_500() -> None:
    assert status_for(GarrisonError("x")) == 500
