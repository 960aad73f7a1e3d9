"""The SDK turns error answers into the matching Garrison errors and never leaks the key."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from garrison import client as sdk_module
from garrison.client import GarrisonClient
from garrison.errors import (
    AuditChainBroken,
    DigestMismatch,
    GarrisonError,
    InvalidInput,
    RateLimited,
    all_error_classes,
)
from garrison.web import build_openapi, operations

KEY = "gk_0123456789ab_" + "s" * 43


def _client(handler) -> GarrisonClient:
    return GarrisonClient("http://garrison.test", KEY, transport=httpx.MockTransport(handler))


def _error(status: int, code: str, message: str = "m", **extra) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message,
                                                  "request_id": "rid-1", **extra}},
                          headers={"X-Request-ID": "rid-1"})


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.code)
def test_every_code_becomes_its_class(cls) -> None:
    extra = {"position": 7, "reason": "modified"} if cls is AuditChainBroken else {}
    client = _client(lambda request: _error(409, cls.code, "why", **extra))
    with client, pytest.raises(cls) as raised:
        client.list_versions()
    assert type(raised.value) is cls
    assert raised.value.message == "why"
    assert raised.value.detail["status"] == 409 and raised.value.detail["request_id"] == "rid-1"


def test_chain_break_and_retry_after_survive_the_trip() -> None:
    c = _client(lambda r: _error(409, "audit-chain-broken", position=12, reason="deleted"))
    with c, pytest.raises(AuditChainBroken) as broken:
        c.verify_audit()
    assert (broken.value.position, broken.value.reason) == (12, "deleted")
    response = _error(429, "rate-limited")
    response.headers["Retry-After"] = "3"
    with _client(lambda r: response) as c, pytest.raises(RateLimited) as limited:
        c.list_versions()
    assert limited.value.retry_after == 3.0


@pytest.mark.parametrize("response", [
    httpx.Response(500, json={"error": {"code": "internal-error", "message": "internal",
                                        "request_id": "r"}}),
    httpx.Response(405, json={"error": {"code": "method-not-allowed", "message": "no",
                                        "request_id": "r"}}),
    httpx.Response(502, text="<html>bad gateway</html>"),
    httpx.Response(400, json={"detail": "not garrison"}),
], ids=["internal", "http-only-code", "proxy-html", "foreign-json"])
def test_unknown_answers_raise_the_base_error(response) -> None:
    with _client(lambda r: response) as client, pytest.raises(GarrisonError) as raised:
        client.list_versions()
    assert type(raised.value) is GarrisonError
    assert raised.value.detail["status"] == response.status_code


def test_unreachable_server_is_a_garrison_error_without_the_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(refuse) as client, pytest.raises(GarrisonError) as raised:
        client.health()
    assert KEY not in str(raised.value) and "ConnectError" in str(raised.value)
    assert KEY not in repr(client) and "s" * 43 not in repr(client._http.headers)


def test_key_goes_only_to_the_server_and_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "http://evil.test/steal"})

    with _client(redirect) as client, pytest.raises(GarrisonError):
        client.list_versions()
    assert [r.url.host for r in seen] == ["garrison.test"]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_altered_download_is_refused(tmp_path) -> None:
    def tampered(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"evil bytes",
                              headers={"X-Garrison-SHA256": "0" * 64})

    with _client(tampered) as client:
        with pytest.raises(DigestMismatch):
            client.download("fraud", 1)
        with pytest.raises(DigestMismatch):
            client.download_to("fraud", 1, tmp_path / "out.pkl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call", [
    lambda c: c.show("../admin", 1),
    lambda c: c.show("fraud", 0),
    lambda c: c.approve("fraud", True),
    lambda c: c.list_versions("Fraud"),
])
def test_bad_arguments_never_reach_the_network(call) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with _client(fail) as client, pytest.raises(InvalidInput):
        call(client)


def test_an_api_key_is_required() -> None:
    with pytest.raises(InvalidInput):
        GarrisonClient("http://x", "  ")


def test_register_sends_multipart_with_metadata(tmp_path) -> None:
    captured: dict = {}

    def capture(request: httpx.Request) -> httpx.Response:
        captured["type"] = request.headers["content-type"]
        captured["body"] = request.read()
        return httpx.Response(201, json={f.name: None for f in
                                         dataclasses.fields(sdk_module.VersionInfo)})

    with _client(capture) as client:
        client.register("fraud", b"\x80\x05N.", metadata={"framework": "sk"}, filename="m.pkl")
    assert captured["type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="m.pkl"' in captured["body"]
    assert json.dumps({"framework": "sk"}).encode() in captured["body"]


@pytest.mark.parametrize("cls,schema", [
    (sdk_module.VersionInfo, "ModelVersionOut"),
    (sdk_module.VersionDetail, "ModelVersionDetail"),
    (sdk_module.StageChange, "TransitionOut"),
    (sdk_module.VerifyResult, "VerifyOut"),
    (sdk_module.AuditEvent, "AuditEventOut"),
    (sdk_module.AuditPage, "AuditEventList"),
    (sdk_module.AuditVerifyResult, "AuditVerifyOut"),
])
def test_sdk_types_match_the_openapi_document(cls, schema) -> None:
    """The SDK's dataclasses carry exactly the fields the server documents (no drift)."""
    doc = build_openapi(operations())
    properties = set(doc["components"]["schemas"][schema]["properties"])
    assert {f.name for f in dataclasses.fields(cls)} == properties
